"""A company with data everywhere, and searches for any trace of it (database, files, Redis)."""
from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import text

from tests.conftest import Tenant, make_api_key, poll_task
from tests.documents.conftest import wait_documents
from tests.widget.helpers import make_agent


@dataclass
class Footprint:
    """What one company left behind: the ids and words by which a trace is recognised."""

    tenant: Tenant
    word: str  # a word found only in this company's content
    agent_id: str = ""
    document_id: str = ""
    lead_id: str = ""
    lead_email: str = ""
    lead_headers: dict = field(default_factory=dict)
    conversation_ids: list[str] = field(default_factory=list)
    key: str = ""

    @property
    def markers(self) -> list[str]:
        return [str(self.tenant.company_id), str(self.tenant.admin_id), self.tenant.admin_email, self.word,
                self.agent_id, self.document_id, self.lead_id, self.lead_email, self.key, *self.conversation_ids]


def populate(app, tenant: Tenant, sdk_factory, http, tmp_path: Path, word: str) -> Footprint:
    """Documents with files, website pages, a database connection, a lead's chats with streamed
    answers and feedback, API-key requests (request logs, rate-limit counters)."""
    fp = Footprint(tenant, word)
    key, secret = make_api_key(app, tenant)
    fp.key = key
    sdk = sdk_factory(key, secret)
    fp.agent_id = str(make_agent(app, tenant, name=f"{word} helper"))
    path = tmp_path / f"{word}-policy.txt"
    path.write_text(f"The {word} refund policy: customers of {word} get their money back within 30 days. "
                    f"Shipping with {word} takes five days.\n")
    body = sdk.documents.upload_documents(fp.agent_id, file_paths=[path])
    fp.document_id = body["documents"][0]["id"]
    wait_documents(sdk, [fp.document_id])
    _website_and_database(app, tenant, fp)
    # A visitor registers, chats (answers are streamed through Redis) and rates a reply.
    fp.lead_email = f"visitor.{word}@example.org"
    reg = http.post("/api/v1/lead/register", json={"agent_id": fp.agent_id, "first_name": "Vi", "last_name": word,
                                                   "email": fp.lead_email}).json()
    fp.lead_id, fp.lead_headers = reg["lead"]["id"], {"Authorization": f"Bearer {reg['access_token']}"}
    conv_id = http.post("/api/v1/conversation", headers=fp.lead_headers, json={"agent_id": fp.agent_id}).json()["id"]
    fp.conversation_ids.append(conv_id)
    ack = http.post(f"/api/v1/conversation/{conv_id}/chat", headers=fp.lead_headers,
                    json={"message": f"What is the {word} refund policy?"}).json()
    reply = poll_task(http, ack["status_url"], timeout=90)
    assert reply["status"] == "completed", reply
    assert http.post(f"/api/v1/message/{reply['assistant_message_id']}/feedback", headers=fp.lead_headers,
                     json={"rating": "up", "comment": f"{word} thanks"}).status_code == 200
    # Staff use the API key: request logs, per-company rate-limit counters.
    sdk.leads.list_company_leads()
    http.post("/api/v1/search/document", headers={"X-API-Key": key, "X-API-Secret": secret},
              json={"query": f"{word} refund", "agent_id": fp.agent_id})
    return fp


def _website_and_database(app, tenant: Tenant, fp: Footprint) -> None:
    from knowrithm.domains.databases.models import DatabaseConnection
    from knowrithm.domains.websites.models import WebsitePage, WebsiteSource
    from knowrithm.infra.crypto import encrypt
    from knowrithm.infra.db import db

    with app.app_context():
        source = WebsiteSource(company_id=tenant.company_id, agent_id=uuid.UUID(fp.agent_id),
                               domain=f"{fp.word}.example", base_url=f"https://{fp.word}.example/")
        db.session.add(source)
        db.session.flush()
        db.session.add(WebsitePage(company_id=tenant.company_id, agent_id=uuid.UUID(fp.agent_id),
                                   website_source_id=source.id, canonical_url=f"https://{fp.word}.example/faq",
                                   title=f"{fp.word} FAQ"))
        db.session.add(DatabaseConnection(company_id=tenant.company_id, agent_id=uuid.UUID(fp.agent_id),
                                          user_id=tenant.admin_id, name=f"{fp.word} shop", database_type="postgres",
                                          url_encrypted=encrypt(f"postgresql://{fp.word}@127.0.0.1/shop")))
        db.session.commit()
        db.session.remove()


# --- looking for traces ------------------------------------------------------------------------

def all_tables(app) -> list[str]:
    """Every base table, from the catalog: a table added later is searched too."""
    from knowrithm.infra.db import db

    with app.app_context():
        rows = db.session.execute(text("SELECT table_name FROM information_schema.tables WHERE "
                                       "table_schema = current_schema() AND table_type = 'BASE TABLE'")).scalars()
        names = sorted(rows)
        db.session.remove()
    return names


def db_traces(app, markers: list[str]) -> dict[str, int]:
    """table -> rows whose text (every column) contains a marker; erasure certificates excepted."""
    from knowrithm.infra.db import db

    pats = [f"%{m}%" for m in markers if m]
    found = {}
    with app.app_context():
        for table in all_tables(app):
            extra = " AND r.event_type NOT LIKE 'erasure.%'" if table == "audit_logs" else ""
            n = db.session.execute(text(f'SELECT count(*) FROM "{table}" r WHERE CAST(r AS text) ILIKE ANY(:pats)'
                                        f"{extra}"), {"pats": pats}).scalar_one()
            if n:
                found[table] = n
        db.session.remove()
    return found


def file_traces(folder: str, markers: list[str]) -> list[str]:
    hits = []
    for root, _, names in os.walk(folder):
        for name in names:
            path = Path(root) / name
            content = path.read_bytes().decode("utf-8", "replace").lower()
            if any(m.lower() in str(path).lower() or m.lower() in content for m in markers if m):
                hits.append(str(path))
    return hits


def redis_traces(app, markers: list[str]) -> list[str]:
    """Keys of this test's Redis database whose name or value contains a marker."""
    r = app.extensions["redis"]
    wanted = [m.lower() for m in markers if m]
    hits = []
    for key in r.scan_iter("*", count=1000):
        kind = _text(r.type(key))
        if kind == "string":
            value = [r.get(key)]
        elif kind == "list":
            value = r.lrange(key, 0, -1)
        elif kind == "hash":
            value = [*r.hkeys(key), *r.hvals(key)]
        elif kind == "set":
            value = list(r.smembers(key))
        elif kind == "zset":
            value = r.zrange(key, 0, -1)
        elif kind == "stream":
            value = [repr(entry) for entry in r.xrange(key)]
        else:
            value = []
        blob = " ".join(_text(v) for v in [key, *value] if v is not None).lower()
        if any(m in blob for m in wanted):
            hits.append(_text(key))
    return hits


def _text(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
