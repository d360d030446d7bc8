"""What the documents domain announces to the domains above it, so it never imports them.

`chunks_indexed` is sent after an ingestion committed an agent's new chunks; the search
domain listens (`search.hooks`) to start the agent's vector index once it is large enough.
"""
from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

# sender: the agent id (str); keyword: company_id (str or None).
chunks_indexed = _signals.signal("chunks-indexed")
