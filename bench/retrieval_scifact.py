"""SciFact retrieval benchmark under the name the Knowledge issue uses; see bench/retrieval.py."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from retrieval import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main())
