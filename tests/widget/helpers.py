"""Test data the widget, lead and conversation tests share."""
from __future__ import annotations

import contextlib
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def make_agent(app, tenant, name: str = "Helpdesk", status: str = "active", description: str = "Answers questions"):
    """An agent created directly with the model (the agents domain has its own tests)."""
    from knowrithm.domains.agents.models import Agent
    from knowrithm.infra.db import db

    with app.app_context():
        agent = Agent(company_id=tenant.company_id, name=name, status=status, description=description)
        db.session.add(agent)
        db.session.commit()
        agent_id = agent.id
        db.session.remove()
    return uuid.UUID(str(agent_id))


def add_messages(app, conversation_id, contents, role="user") -> list[str]:
    """Messages with increasing timestamps, inserted directly (ordering tests need many)."""
    from datetime import timedelta

    from knowrithm.domains.conversations.models import Conversation, Message
    from knowrithm.infra.db import db, utcnow

    with app.app_context():
        conv = db.session.get(Conversation, uuid.UUID(str(conversation_id)))
        start = utcnow() - timedelta(minutes=len(contents))
        ids = []
        for i, content in enumerate(contents):
            msg = Message(company_id=conv.company_id, conversation_id=conv.id, agent_id=conv.agent_id, role=role,
                          content=content, created_at=start + timedelta(seconds=i), sources=[], extra_metadata={})
            db.session.add(msg)
            db.session.flush()
            ids.append(str(msg.id))
        conv.message_count += len(contents)
        db.session.commit()
        db.session.remove()
    return ids


@contextlib.contextmanager
def serve_pages():
    """A customer's site on another origin (localhost vs 127.0.0.1, own port): yields (pages, origin)."""
    pages: dict[str, str] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            body = pages.get(self.path.split("?")[0], "").encode()
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield pages, f"http://localhost:{server.server_port}"
    finally:
        server.shutdown()
