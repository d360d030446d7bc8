"""A self-hosting team's first steps through knowrithm-py against a running installation:
register a company, take an API key, create an agent, upload a document, ask about it."""
from __future__ import annotations

import time
import uuid
from pathlib import Path

import requests

POLICY = ("# Refund policy\n\nRefunds are processed within five business days after we receive the returned "
          "item. Shipping costs are not refunded.\n\n# Opening hours\n\nThe support desk is open Monday to "
          "Friday, 9am to 5pm.\n")
PASSWORD = "Deploy-Test-Passw0rd!"


def sdk(base_url: str, key: str = "ak_none", secret: str = "as_none"):
    from knowrithm_py.dataclass.config import KnowrithmConfig
    from knowrithm_py.knowrithm.client import KnowrithmClient

    config = KnowrithmConfig(base_url=f"{base_url}/api", task_poll_interval=0.3, task_poll_timeout=180,
                             max_retries=1, timeout=60)
    return KnowrithmClient(api_key=key, api_secret=secret, config=config)


def register(base_url: str):
    """A new company and its admin (public sign-up); returns an SDK client with a full-access key."""
    tag = uuid.uuid4().hex[:8]
    body = sdk(base_url).auth.register_admin({
        "first_name": "Ada", "last_name": "Ops", "email": f"ops-{tag}@deploy.test", "password": PASSWORD,
        "company_name": f"Deploy {tag}", "accept_terms": True})
    token = body["access_token"]
    resp = requests.post(f"{base_url}/api/v1/auth/api-keys", json={"name": "deploy check", "scopes": ["full_access"]},
                         headers={"Authorization": f"Bearer {token}"}, timeout=60)
    assert resp.status_code == 201, resp.text
    return sdk(base_url, resp.json()["api_key"], resp.json()["api_secret"])


def create_agent(client) -> str:
    result = client.agents.create_agent_with_provider_names(
        {"name": "Support", "description": "deployment check"},
        settings={"llm_provider": "knowrithm", "llm_model": "extractive", "embedding_provider": "knowrithm",
                  "embedding_model": "all-MiniLM-L6-v2"})
    assert result["agent"]["id"], result
    return result["agent"]["id"]


def upload(client, agent_id: str, path: Path, text: str = POLICY) -> str:
    path.write_text(text)
    body = client.documents.upload_documents(agent_id, file_paths=[path])
    return body["documents"][0]["id"]


def wait_processed(client, doc_id: str, timeout: float = 300) -> dict:
    deadline = time.time() + timeout
    doc = {}
    while time.time() < deadline:
        docs = client.documents.list_documents(per_page=100)["documents"]
        doc = next((d for d in docs if d["id"] == doc_id), {})
        if doc.get("status") in ("processed", "failed"):
            return doc
        time.sleep(0.5)
    raise AssertionError(f"document {doc_id} did not finish: {doc}")


def ask(client, agent_id: str, question: str) -> dict:
    conv_id = client.conversations.create_conversation(agent_id)["id"]
    return client.messages.send_message(conv_id, question)


def assert_cited_answer(result: dict) -> None:
    assert "five business days" in result["content"], result
    cited = result["metadata"]["cited_sources"]
    assert cited and f"[Source {cited[0]}]" in result["content"], result
