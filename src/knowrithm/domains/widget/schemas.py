"""Widget request bodies and the handshake answer."""
from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict, Field

from knowrithm.domains.websites.schemas import PageOut, SourceOut
from knowrithm.infra.parsing import UuidText
from knowrithm.infra.responses import Open


class HandshakeIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    agent_id: UuidText = Field(min_length=1)
    url: str = Field(min_length=1, max_length=2048)
    title: str | None = Field(None, max_length=500)
    trigger_crawl: bool = False


class TestPageIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    body: str | None = Field(None, max_length=200_000)
    agent_id: UuidText | None = None
    api_url: str | None = Field(None, max_length=500)


class HandshakeOut(Open):
    website_source: SourceOut
    website_page: PageOut
    crawl_task_id: uuid.UUID | None
