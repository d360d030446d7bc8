"""Adapter tests need no database: the vendors are loopback servers speaking their real protocols."""
from __future__ import annotations

import pytest

from .protocol_servers import AnthropicServer, GeminiServer, OpenAIServer


@pytest.fixture
def clean_db():
    """Overrides the suite-wide autouse fixture: nothing here touches PostgreSQL."""
    yield


@pytest.fixture
def openai_server():
    with OpenAIServer() as server:
        yield server


@pytest.fixture
def gemini_server():
    with GeminiServer() as server:
        yield server


@pytest.fixture
def anthropic_server():
    with AnthropicServer() as server:
        yield server
