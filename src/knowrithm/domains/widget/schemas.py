"""Widget request bodies."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field



class HandshakeIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    agent_id: str = Field(min_length=1)
    url: str = Field(min_length=1, max_length=2048)
    title: str | None = Field(None, max_length=500)
    trigger_crawl: bool = False


class TestPageIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    body: str | None = Field(None, max_length=200_000)
    agent_id: str | None = None
    api_url: str | None = Field(None, max_length=500)
