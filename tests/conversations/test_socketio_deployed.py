"""Socket.IO as deployed: under gunicorn's gevent workers (the production config), and in headless
Chromium from a page shaped like the official widget bundle (another origin, the client library
loaded from `<api>/socket.io/socket.io.js`, `auth.token` = the lead token, answer shown on
`chat_response`)."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from knowrithm.infra.embedded import free_port as _port
from tests.conversations.test_socketio import Client, _lead
from tests.widget.helpers import make_agent, serve_pages

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

# What the official widget bundle does (connect, join, send, receive), reduced to the realtime path.
BUNDLE_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Shop</title></head><body>
<div id="log"></div>
<script src="{api}/socket.io/socket.io.js"></script>
<script>
window.state = {{joined: false, answers: []}};
(async function () {{
  const api = "{api}/api/v1";
  const json = (r) => r.json();
  const lead = await fetch(api + "/lead/register", {{method: "POST", headers: {{"Content-Type": "application/json"}},
    body: JSON.stringify({{first_name: "Dana", last_name: "Visitor", email: "dana@example.com", agent_id: "{agent_id}"}})}}).then(json);
  const auth = {{"Content-Type": "application/json", "Authorization": "Bearer " + lead.access_token}};
  const conv = await fetch(api + "/conversation", {{method: "POST", headers: auth,
    body: JSON.stringify({{agent_id: "{agent_id}", title: "Website Chat"}})}}).then(json);
  window.state.conversationId = conv.conversation.id;
  const socket = io("{api_origin}", {{path: "/socket.io", transports: ["websocket", "polling"], withCredentials: true,
    auth: {{token: lead.access_token}}}});
  socket.on("connect", () => socket.emit("join_conversation", {{conversation_id: conv.conversation.id}}));
  socket.on("conversation_joined", () => {{ window.state.joined = true; }});
  socket.on("chat_response", (data) => {{
    if (data.conversation_id !== window.state.conversationId) return;
    const div = document.createElement("div");
    div.className = "answer";
    div.textContent = data.message.content;
    document.getElementById("log").appendChild(div);
    window.state.answers.push({{shownAt: performance.now(), status: data.status || "completed"}});
  }});
  window.ask = async (text) => {{
    window.state.sentAt = performance.now();
    await fetch(api + "/conversation/" + conv.conversation.id + "/chat", {{method: "POST", headers: auth,
      body: JSON.stringify({{message: text}})}});
  }};
}})();
</script></body></html>"""


@pytest.fixture
def gunicorn_api(settings, tmp_path, app):
    """The API under gunicorn with the production config (gevent workers), on the test database and
    Redis; the in-process Celery worker answers and emits through Redis to gunicorn's workers."""
    port = _port()
    env = {**os.environ, "SQLALCHEMY_DATABASE_URI": settings.SQLALCHEMY_DATABASE_URI, "REDIS_URL": settings.redis_url,
           "SECRET_KEY": settings.SECRET_KEY, "JWT_SECRET_KEY": settings.JWT_SECRET_KEY,
           "UPLOAD_FOLDER": settings.UPLOAD_FOLDER, "LOG_LEVEL": "WARNING", "ALLOW_PRIVATE_URLS": "true",
           "SUPER_ADMIN_EMAIL": settings.SUPER_ADMIN_EMAIL, "SUPER_ADMIN_PASSWORD": settings.SUPER_ADMIN_PASSWORD}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log = open(tmp_path / "api.log", "wb")
    proc = subprocess.Popen([str(Path(sys.executable).parent / "gunicorn"), "-c", "python:knowrithm.gunicorn_conf",
                             "knowrithm.wsgi:app", "--bind", f"127.0.0.1:{port}", "--workers", "2", "--preload"],
                            cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                if requests.get(f"{url}/api/health", timeout=5).status_code in (200, 503):
                    break
            except requests.RequestException:
                time.sleep(0.5)
        else:
            pytest.fail("gunicorn did not start: " + (tmp_path / "api.log").read_text()[-3000:])
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def test_socketio_under_gunicorn_gevent(app, companies, sdk_factory, gunicorn_api, celery_worker):
    agent_id = make_agent(app, companies[0])
    token, headers = _lead(sdk_factory, agent_id, "gunicorn@visitors.io")
    conv_id = requests.post(f"{gunicorn_api}/api/v1/conversation", json={"agent_id": str(agent_id)},
                            headers=headers, timeout=30).json()["conversation"]["id"]
    clients = [Client(gunicorn_api, token, transports=("websocket",)) for _ in range(3)]  # spread over both workers
    try:
        for client in clients:
            assert client.join(conv_id)[0] == "conversation_joined"
        ack = requests.post(f"{gunicorn_api}/api/v1/conversation/{conv_id}/chat", json={"message": "Hi?"},
                            headers=headers, timeout=30).json()
        for client in clients:
            response = client.until("chat_response")[-1][1]
            assert response["message_id"] == ack["message_id"] and response["message"]["role"] == "assistant"
        js = requests.get(f"{gunicorn_api}/socket.io/socket.io.js", timeout=30)
        assert js.status_code == 200 and "Socket.IO v4" in js.text[:100]
    finally:
        for client in clients:
            client.close()


@pytest.fixture
def host_site():
    with serve_pages() as site:
        yield site


def ask_in_browser(page, text: str, answers_before: int, timeout_ms: int = 60_000) -> float:
    """Sends `text` from the page; returns send -> answer shown, in ms, as the page measured it."""
    page.evaluate("(t) => window.ask(t)", text)
    page.wait_for_function(f"window.state.answers.length > {answers_before}", timeout=timeout_ms)
    return page.evaluate(f"window.state.answers[{answers_before}].shownAt - window.state.sentAt")


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (scripts/test.sh installs it)")
def test_bundle_shaped_page_gets_answers_over_socketio(app, companies, sdk_a, live_server, celery_worker, host_site):
    from playwright.sync_api import sync_playwright

    agent_id = make_agent(app, companies[0], name="Shop helper")
    pages, origin = host_site
    pages["/shop"] = BUNDLE_PAGE.format(api=live_server, api_origin=live_server, agent_id=agent_id)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            console: list[str] = []
            page.on("console", lambda msg: console.append(msg.text) if msg.type == "error" else None)
            page.goto(f"{origin}/shop")
            try:
                page.wait_for_function("window.state.joined === true", timeout=60_000)
            except Exception:
                raise AssertionError(f"not joined: {errors} {console} {page.evaluate('JSON.stringify(window.state)')}")
            assert page.evaluate("typeof io") == "function"  # loaded from <api>/socket.io/socket.io.js
            elapsed = [ask_in_browser(page, q, n) for n, q in enumerate(("Do you ship abroad?", "Opening hours?"))]
            shown = page.locator(".answer").all_inner_texts()
            conv_id = page.evaluate("window.state.conversationId")
            stored = sdk_a.conversations.list_conversation_messages(conv_id)["messages"]
            assert shown == [m["content"] for m in stored if m["role"] == "assistant"] and not errors
            assert len(elapsed) == 2  # measured by the page (bench/socketio_widget.py reports the figures)
        finally:
            browser.close()
