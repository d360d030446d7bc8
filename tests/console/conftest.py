"""Browser harness for the console: one headless Debian Chromium per test module, a fresh
context per test, screenshots under artifacts/console/ (gitignored), axe-core injected by the
test (vendored here, never served by the platform)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "console"
AXE = Path(__file__).parent / "vendor" / "axe.min.js"
XSS = ['<script>window.__xss=1</script>', '"><img src=x onerror="window.__xss=1">']


requires_chromium = pytest.mark.skipif(CHROMIUM is None,
                                       reason="Debian's chromium is not installed (scripts/test.sh installs it)")


# Module scope, not session: Playwright's sync API allows one running instance per thread, and
# other test modules (tests/widget) start their own after these.
@pytest.fixture(scope="module")
def chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield browser
        browser.close()


class Console:
    """A browser page on the console with the page errors it raised and helpers the tests share."""

    def __init__(self, page, base: str):
        self.page, self.base = page, base
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.prompt_answer = ""  # what a prompt() dialog is answered with
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.on("dialog", self._dialog)
        page.set_default_timeout(30_000)

    def _dialog(self, dialog):
        self.dialogs.append(dialog.message)
        dialog.accept(self.prompt_answer if dialog.type == "prompt" else "")

    def go(self, path: str):
        self.page.goto(self.base + path)
        self.page.wait_for_selector("h1")
        return self.page

    def sign_in(self, email: str, password: str):
        page = self.go("/app/login")
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_selector("main#main:not(.auth-main)")
        return page

    def shot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def axe(self) -> list[dict]:
        """Serious and critical axe-core violations of the current page. The script is evaluated
        through the DevTools protocol, so the console's CSP needs no exception for it."""
        page = self.page
        if not page.evaluate("typeof window.axe !== 'undefined'"):
            page.evaluate(AXE.read_text(encoding="utf-8") + "\n;true")
        result = page.evaluate("axe.run(document, {resultTypes: ['violations']}).then(r => JSON.stringify(r.violations))")
        return [{"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
                for v in json.loads(result) if v["impact"] in ("serious", "critical")]

    def no_xss(self):
        assert self.page.evaluate("window.__xss") is None, "an injected script ran"


@pytest.fixture
def console(chromium, live_server):
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    c = Console(context.new_page(), live_server)
    yield c
    context.close()
