"""Web console: first-load bytes and time to interactive in headless Chromium, and the time from
dropping 20 files on the documents page to all 20 shown as processed.

Runs against a running platform (`knowrithm up`); registers a fresh company for the upload part
(uploads are rate limited per company: 20 a minute).

Run: .venv/bin/python bench/console_load.py --url http://127.0.0.1:8000 [--runs 5] [--files 20]
"""
from __future__ import annotations

import argparse
import gzip
import shutil
import statistics
import time
import uuid

import requests
from playwright.sync_api import sync_playwright

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def first_load(browser, url: str, path: str, ready: str, storage: dict | None = None) -> dict:
    """A cold load (fresh context, empty cache): bytes as served, gzip-compressed bytes (what a
    compressing proxy would send), requests, and milliseconds until `ready` is on screen."""
    context = browser.new_context(storage_state=storage) if storage else browser.new_context()
    page = context.new_page()
    bodies: list[bytes] = []
    page.on("response", lambda r: bodies.append(r.body()) if r.ok and r.request.method == "GET" else None)
    t0 = time.perf_counter()
    page.goto(url + path)
    page.wait_for_selector(ready)
    tti_ms = (time.perf_counter() - t0) * 1000
    page.wait_for_load_state("networkidle")
    nav = page.evaluate("JSON.stringify(performance.getEntriesByType('navigation')[0].toJSON())")
    context.close()
    raw = sum(len(b) for b in bodies)
    gz = sum(len(gzip.compress(b, 6)) for b in bodies)
    import json as _json

    n = _json.loads(nav)
    return {"requests": len(bodies), "raw": raw, "gzip": gz, "tti_ms": tti_ms, "dcl_ms": n["domContentLoadedEventEnd"]}


def drop_files(browser, url: str, storage: dict, agent_name: str, count: int) -> float:
    """Seconds from a synthetic drop of `count` small Markdown files to all rows `processed`."""
    context = browser.new_context(storage_state=storage)
    page = context.new_page()
    page.goto(url + "/app/documents")
    page.get_by_label("Agent").select_option(label=agent_name)
    page.wait_for_load_state("networkidle")
    t0 = time.perf_counter()
    page.evaluate("""count => {
        const dt = new DataTransfer();
        for (let i = 0; i < count; i++) {
            const text = `# Policy ${i}\\n\\nItem ${i}: refunds within ${i + 1} days; shipping ${i * 3} euros. ` +
                         'Returns need the receipt and the original packaging. '.repeat(20);
            dt.items.add(new File([text], `policy-${i}.md`, { type: 'text/markdown' }));
        }
        const zone = document.querySelector('.dropzone');
        zone.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    }""", count)
    page.wait_for_function(
        "n => document.querySelectorAll('.uploads li').length === n && "
        "[...document.querySelectorAll('.uploads li')].every(li => li.dataset.state === 'processed')",
        arg=count, timeout=600_000, polling=200)
    seconds = time.perf_counter() - t0
    failed = page.evaluate("[...document.querySelectorAll('.uploads li')].filter(li => li.dataset.state === 'failed').length")
    context.close()
    assert failed == 0, f"{failed} uploads failed"
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default="http://127.0.0.1:8000")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--files", type=int, default=20)
    args = ap.parse_args()
    api = args.url + "/api/v1"
    email = f"bench-{uuid.uuid4().hex[:8]}@console.test"
    reg = requests.post(api + "/auth/register", timeout=30, json={
        "email": email, "password": "Bench-Console-2026", "first_name": "Bench", "last_name": "Console",
        "company_name": f"Console bench {uuid.uuid4().hex[:6]}"})
    reg.raise_for_status()
    tokens = reg.json()
    headers = {"Authorization": "Bearer " + tokens["access_token"]}
    agent_name = "Bench agent"
    ack = requests.post(api + "/agent", json={"name": agent_name}, headers=headers, timeout=30).json()
    while requests.get(args.url + ack["status_url"], timeout=30).json()["status"] not in ("completed", "failed"):
        time.sleep(0.2)
    session = {"access_token": tokens["access_token"], "refresh_token": tokens["refresh_token"], "user": tokens["user"]}
    import json

    storage = {"cookies": [], "origins": [{"origin": args.url, "localStorage": [
        {"name": "knowrithm.console.session", "value": json.dumps(session)}]}]}

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"])
        first_load(browser, args.url, "/app/login", "button[type=submit]")  # warm the server, not the browser
        for label, path, ready, store in (
                ("sign-in page", "/app/login", "button[type=submit]:not([disabled])", None),
                ("analytics (signed in)", "/app/analytics", ".kpis", storage)):
            runs = [first_load(browser, args.url, path, ready, store) for _ in range(args.runs)]
            r = runs[0]
            print(f"first load, {label}: {r['requests']} requests, {r['raw'] / 1024:.1f} KB as served, "
                  f"{r['gzip'] / 1024:.1f} KB gzip; time to interactive median "
                  f"{statistics.median(x['tti_ms'] for x in runs):.0f} ms (min {min(x['tti_ms'] for x in runs):.0f}, "
                  f"max {max(x['tti_ms'] for x in runs):.0f}, n={args.runs}); DOMContentLoaded median "
                  f"{statistics.median(x['dcl_ms'] for x in runs):.0f} ms")
        seconds = drop_files(browser, args.url, storage, agent_name, args.files)
        print(f"drop {args.files} files -> all processed: {seconds:.1f} s")
        browser.close()


if __name__ == "__main__":
    main()
