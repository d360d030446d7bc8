"""The console's server side: the shell at every console path with a strict CSP, its assets,
and the chunk listing route it added to the public API (tenant-scoped like every route)."""
from __future__ import annotations

import re

import requests

from tests.documents.conftest import wait_documents
from tests.widget.helpers import make_agent


def test_root_redirects_to_the_console_and_every_console_path_gets_the_shell(live_server):
    root = requests.get(live_server + "/", allow_redirects=False, timeout=30)
    assert root.status_code == 302 and root.headers["Location"].endswith("/app")
    for path in ("/app", "/app/", "/app/agents/123", "/verify?token=x", "/reset-password?token=y"):
        resp = requests.get(live_server + path, timeout=30)
        assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/html"), path
        csp = resp.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert "frame-ancestors 'none'" in csp
        # No inline script at all: the only script is the module loaded from /console/.
        scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", resp.text, re.S)
        assert scripts == [(' type="module" src="/console/js/main.js"', "")]
    api_404 = requests.get(live_server + "/api/v1/nothing-here", timeout=30)
    assert api_404.status_code == 404 and api_404.json()["error_code"] == "NOT_FOUND"  # the API keeps JSON


def test_signup_flag_follows_the_setting(live_server, app, monkeypatch):
    settings = app.config["SETTINGS"]
    assert 'name="knowrithm-signup" content="true"' in requests.get(live_server + "/app", timeout=30).text
    monkeypatch.setattr(settings, "ALLOW_PUBLIC_REGISTRATION", False)
    assert 'name="knowrithm-signup" content="false"' in requests.get(live_server + "/app", timeout=30).text


def test_assets_are_served_as_modules_and_traversal_is_refused(live_server):
    js = requests.get(live_server + "/console/js/main.js", timeout=30)
    assert js.status_code == 200 and "javascript" in js.headers["Content-Type"]
    assert js.headers["Cache-Control"] == "no-cache" and js.headers["X-Content-Type-Options"] == "nosniff"
    assert requests.get(live_server + "/console/vendor/preact-htm.js", timeout=30).status_code == 200
    assert requests.get(live_server + "/console/../app.py", timeout=30).status_code == 404
    assert requests.get(live_server + "/console/%2e%2e/pages.py", timeout=30).status_code == 404


def test_chunk_listing_is_paged_ordered_and_tenant_scoped(app, companies, sdk_a, sdk_for, celery_worker, tmp_path,
                                                          live_server):
    agent_id = make_agent(app, companies[0], name="Chunky")
    doc = tmp_path / "guide.md"
    doc.write_text("# Guide\n\n" + "\n\n".join(f"## Part {i}\n\n" + f"Paragraph {i} " * 120 for i in range(6)))
    uploaded = sdk_a.documents.upload_documents(str(agent_id), file_paths=[doc])
    doc_id = uploaded["documents"][0]["id"]
    assert wait_documents(sdk_a, [doc_id])[doc_id]["status"] == "processed"
    first = sdk_a._make_request("GET", f"/document/{doc_id}/chunk", params={"page": 1, "per_page": 2})
    total = first["pagination"]["total"]
    assert total >= 3 and [c["chunk_index"] for c in first["chunks"]] == [0, 1]
    assert all(c["document_id"] == doc_id and c["content"] for c in first["chunks"])
    # Another company sees the same 404 as for a missing document.
    other = sdk_for(companies[1])
    resp = requests.get(f"{live_server}/api/v1/document/{doc_id}/chunk", timeout=30,
                        headers={"X-API-Key": other.api_key, "X-API-Secret": other.api_secret})
    assert resp.status_code == 404 and resp.json()["error_code"] in ("NOT_FOUND", "DOCUMENT_NOT_FOUND")
