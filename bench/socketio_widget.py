"""Send-to-answer-shown in headless Chromium through Socket.IO (BENCHMARKS.md).

    python bench/socketio_widget.py [--questions 20]

Starts `knowrithm up` (gunicorn gevent workers, Celery, embedded PostgreSQL and Redis), registers a
company, creates an agent with the offline answerer and one policy document, then opens the page
shaped like the official widget bundle (tests/conversations/test_socketio_deployed.py: client library
from `<api>/socket.io/socket.io.js`, lead token in `auth.token`, answer shown on `chat_response`) on
another origin in Debian's Chromium. Each question is timed by the page itself: `performance.now()`
just before the chat POST, and again when the answer's text is in the DOM.
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "bench"), str(ROOT)]
from client import create_agent, register, wait_processed  # noqa: E402
from common import Platform, percentile  # noqa: E402

DOC = ("# Shipping\n\nWe ship to every country in the European Union within three business days. "
       "Orders above 50 euros ship for free.\n\n# Returns\n\nReturns are accepted within 30 days.\n")
QUESTIONS = ("Do you ship abroad?", "How long does shipping take?", "Is shipping free?", "Can I return an item?")


def setup(url: str) -> str:
    s, _ = register(url)
    agent_id = create_agent(s, url, "Shop helper", status="active")
    s.post(f"{url}/api/v1/document/upload", data={"agent_id": agent_id},
           files={"files": ("shipping.md", DOC.encode(), "text/markdown")})
    wait_processed(s, url)
    return agent_id


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--questions", type=int, default=20)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    from tests.conversations.test_socketio_deployed import BUNDLE_PAGE, ask_in_browser
    from tests.widget.helpers import serve_pages

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    with tempfile.TemporaryDirectory(prefix="kn-bench-sio-") as tmp, Platform(Path(tmp) / "data") as node:
        agent_id = setup(node.url)
        with serve_pages() as (pages, origin), sync_playwright() as p:
            pages["/shop"] = BUNDLE_PAGE.format(api=node.url, api_origin=node.url, agent_id=agent_id)
            browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-dev-shm-usage"])
            page = browser.new_page()
            page.goto(f"{origin}/shop")
            page.wait_for_function("window.state.joined === true", timeout=60_000)
            ask_in_browser(page, "warm-up question", 0)  # first answer loads the embedder in the worker
            samples = [ask_in_browser(page, QUESTIONS[i % len(QUESTIONS)], i + 1) for i in range(args.questions)]
            texts = page.locator(".answer").all_inner_texts()
            browser.close()
    assert len(texts) == args.questions + 1
    print(f"send-to-answer-shown over Socket.IO in Chromium, offline answerer, n={len(samples)}: "
          f"median {statistics.median(samples):.0f} ms, p95 {percentile(samples, 95):.0f} ms, "
          f"min {min(samples):.0f} ms, max {max(samples):.0f} ms")


if __name__ == "__main__":
    main()
