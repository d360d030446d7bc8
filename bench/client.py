"""HTTP steps the end-to-end benchmarks share: a company of their own, the wait for a queued
task, the wait for uploaded documents to be processed."""
from __future__ import annotations

import time

import requests

PASSWORD = "Bench-Pass-123!"


def register(url: str, *, email: str = "bench@example.com", company: str = "Bench Co") -> tuple[requests.Session, dict]:
    """A new company admin; returns a session and the Bearer header it carries."""
    s = requests.Session()
    reg = s.post(f"{url}/api/v1/auth/register", timeout=60, json={
        "first_name": "Bench", "last_name": "Mark", "email": email, "password": PASSWORD, "company_name": company,
        "accept_terms": True})
    reg.raise_for_status()
    bearer = {"Authorization": f"Bearer {reg.json()['access_token']}"}
    s.headers.update(bearer)
    return s, bearer


def wait_task(s: requests.Session, url: str, ack: dict, timeout: float = 120) -> dict:
    """The result of the task a 202 acknowledged (an immediate answer is returned as it is)."""
    if "status_url" not in ack:
        return ack
    deadline = time.time() + timeout
    while time.time() < deadline:
        body = s.get(f"{url}{ack['status_url']}", timeout=60).json()
        if body["status"] == "completed":
            return body["result"]
        if body["status"] == "failed":
            raise RuntimeError(body)
        time.sleep(0.2)
    raise RuntimeError(f"task did not finish in {timeout} s")


def create_agent(s: requests.Session, url: str, name: str, **fields) -> str:
    return wait_task(s, url, s.post(f"{url}/api/v1/agent", json={"name": name, **fields}, timeout=60).json()
                     )["agent"]["id"]


def wait_processed(s: requests.Session, url: str, count: int | None = None, timeout: float = 180) -> list[dict]:
    """The company's documents once all (and at least `count`) are processed."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        docs = s.get(f"{url}/api/v1/document", params={"per_page": 100}, timeout=60).json()["documents"]
        if docs and (count is None or len(docs) >= count) and all(d["status"] == "processed" for d in docs):
            return docs
        time.sleep(0.5)
    raise RuntimeError("documents not processed")
