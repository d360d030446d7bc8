"""Fixtures for ingestion tests: agents, real files of every format generated on the fly."""
from __future__ import annotations

import io
import time
import uuid

import pytest

from tests.documents import files as make  # noqa: F401  (re-exported for tests)


def create_agent(app, tenant, name: str = "Support bot") -> str:
    from knowrithm.domains.agents.models import Agent
    from knowrithm.infra.db import db

    with app.app_context():
        agent = Agent(id=uuid.uuid4(), company_id=tenant.company_id, name=name, status="active",
                      personality_traits={}, capabilities=[], operating_hours={}, languages=[])
        db.session.add(agent)
        db.session.commit()
        agent_id = str(agent.id)
        db.session.remove()
    return agent_id


@pytest.fixture
def agent_factory(app):
    return lambda tenant, name="Support bot": create_agent(app, tenant, name)


@pytest.fixture
def agent_a(companies, agent_factory):
    return agent_factory(companies[0])


def wait_documents(sdk, ids, timeout: float = 90.0) -> dict[str, dict]:
    """Poll the document list until every id is processed or failed; returns id -> document."""
    ids = set(ids)
    deadline = time.time() + timeout
    seen: dict[str, dict] = {}
    while time.time() < deadline:
        docs = sdk.documents.list_documents(per_page=100)["documents"]
        seen = {d["id"]: d for d in docs if d["id"] in ids}
        if len(seen) == len(ids) and all(d["status"] in ("processed", "failed") for d in seen.values()):
            return seen
        time.sleep(0.2)
    raise AssertionError(f"documents did not finish: {[(d['id'], d['status']) for d in seen.values()]}")


@pytest.fixture
def upload_and_wait(tmp_path):
    def run(sdk, agent_id, named_files: dict[str, bytes], **kw):
        paths = []
        for name, data in named_files.items():
            path = tmp_path / name
            path.write_bytes(data)
            paths.append(path)
        body = sdk.documents.upload_documents(agent_id, file_paths=paths, **kw)
        ids = [d["id"] for d in body["documents"] if not d.get("duplicate")]
        return body, wait_documents(sdk, ids) if ids else {}

    return run


@pytest.fixture
def allow_private_urls(app, monkeypatch):
    monkeypatch.setattr(app.config["SETTINGS"], "ALLOW_PRIVATE_URLS", True)


@pytest.fixture
def loopback_site():
    """A tiny HTTP server on 127.0.0.1 serving the given path -> (content_type, bytes) map."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    pages: dict[str, tuple[str, bytes]] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            if self.path not in pages:
                self.send_response(404)
                self.end_headers()
                return
            ctype, body = pages[self.path]
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", pages
    server.shutdown()
    server.server_close()


__all__ = ["create_agent", "wait_documents", "io"]
