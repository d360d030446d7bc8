"""Opening an event stream needs no database connection once the conversation's access facts are
in Redis (written when the conversation is created), and every change to those facts reaches the
next open: a deactivated lead, a deleted conversation, another company, another visitor session.
(The browser-origin allow-list is covered with the other widget routes in
tests/security/test_public_surface.py.)"""
from __future__ import annotations

import contextlib

from sqlalchemy import event

from tests.infra.test_conventions import assert_envelope
from tests.widget.helpers import make_agent


def _lead(http, agent_id, email):
    resp = http.post("/api/v1/lead/register", json={"agent_id": str(agent_id), "first_name": "Vi",
                                                     "last_name": "Sitor", "email": email})
    assert resp.status_code == 200, resp.text
    return {"Authorization": f"Bearer {resp.json()['access_token']}"}


@contextlib.contextmanager
def _database_use(app):
    """Counts connections checked out of the pool and statements sent, in every thread."""
    from knowrithm.infra.db import db

    seen = {"checkouts": 0, "statements": []}
    with app.app_context():
        engine = db.engine

    def checkout(*_):
        seen["checkouts"] += 1

    def statement(conn, cursor, sql, *_):
        seen["statements"].append(sql)

    event.listen(engine.pool, "checkout", checkout)
    event.listen(engine, "before_cursor_execute", statement)
    try:
        yield seen
    finally:
        event.remove(engine.pool, "checkout", checkout)
        event.remove(engine, "before_cursor_execute", statement)


def _first_event(http, url, headers) -> str:
    with http.get(url, headers=headers, stream=True, timeout=30) as resp:
        assert resp.status_code == 200, resp.text
        return next(resp.iter_lines(decode_unicode=True))


def test_a_stream_open_takes_no_database_connection(app, companies, http):
    from tests.conftest import make_api_key

    agent_id = make_agent(app, companies[0])
    visitor = _lead(http, agent_id, "fast@visitors.io")
    conv_id = http.post("/api/v1/conversation", headers=visitor, json={"agent_id": str(agent_id)}).json()["id"]
    key, secret = make_api_key(app, companies[0])
    staff = {"X-API-Key": key, "X-API-Secret": secret}
    assert http.get("/api/v1/conversation", headers=staff).status_code == 200  # the key is cached
    url = f"/api/v1/conversation/{conv_id}/messages/stream"

    with _database_use(app) as used:
        assert _first_event(http, url, visitor) == "retry: 3000"  # the first open: written at creation
        assert _first_event(http, url, visitor) == "retry: 3000"
        assert _first_event(http, url, staff) == "retry: 3000"
    assert used == {"checkouts": 0, "statements": []}, used

    # After a change to any conversation's facts the next open reads them once, then never again.
    doomed = http.post("/api/v1/conversation", headers=staff, json={"agent_id": str(agent_id)}).json()["id"]
    assert http.delete(f"/api/v1/conversation/{doomed}", headers=staff).status_code == 200
    with _database_use(app) as used:
        _first_event(http, url, visitor)
    assert used["checkouts"] == 1
    with _database_use(app) as used:
        _first_event(http, url, visitor)
    assert used == {"checkouts": 0, "statements": []}, used


def test_stream_opens_follow_access_changes(app, companies, http):
    from knowrithm.domains.leads.models import Lead
    from knowrithm.infra.db import db
    from tests.conftest import make_api_key

    agent_id = make_agent(app, companies[0])
    first = _lead(http, agent_id, "one@visitors.io")
    conv_id = http.post("/api/v1/conversation", headers=first, json={"agent_id": str(agent_id)}).json()["id"]
    url = f"/api/v1/conversation/{conv_id}/messages/stream"
    _first_event(http, url, first)

    # Another visitor session of the same email, another company: not theirs.
    again = _lead(http, agent_id, "one@visitors.io")
    assert_envelope(http.get(url, headers=again), 404, "NOT_FOUND")
    key_b, secret_b = make_api_key(app, companies[1])
    assert_envelope(http.get(url, headers={"X-API-Key": key_b, "X-API-Secret": secret_b}), 404, "NOT_FOUND")
    assert_envelope(http.get("/api/v1/conversation/not-a-uuid/messages/stream", headers=first), 404, "NOT_FOUND")

    # The lead deactivated: its tokens stop opening streams at once.
    with app.app_context():
        lead = db.session.execute(db.select(Lead).where(Lead.email == "one@visitors.io")
                                  .execution_options(all_companies=True)).scalar_one()
        lead.is_active = False
        db.session.commit()
        db.session.remove()
    assert_envelope(http.get(url, headers=first), 401, "LEAD_INACTIVE")

    # The conversation deleted by staff: gone for everyone.
    second = _lead(http, agent_id, "two@visitors.io")
    other = http.post("/api/v1/conversation", headers=second, json={"agent_id": str(agent_id)}).json()["id"]
    other_url = f"/api/v1/conversation/{other}/messages/stream"
    _first_event(http, other_url, second)
    key, secret = make_api_key(app, companies[0])
    staff = {"X-API-Key": key, "X-API-Secret": secret}
    assert http.delete(f"/api/v1/conversation/{other}", headers=staff).status_code == 200
    assert_envelope(http.get(other_url, headers=second), 404, "NOT_FOUND")
    assert_envelope(http.get(other_url, headers=staff), 404, "NOT_FOUND")
