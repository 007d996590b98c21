"""Helpers for the page-experience browser tests (issue 9): a fast login, a guard that fails on console errors and on
any request to another host, the axe-core scan, and screenshots.

Screenshots go to $IMAGEGEN_SCREENSHOT_DIR when set (docs/screenshots/ holds a few committed ones), else to the
test's tmp_path.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.test import Client
from playwright.sync_api import BrowserContext, Page

AXE = Path(settings.BASE_DIR) / "static" / "vendor" / "axe-core-4.11.1" / "axe.min.js"
PHONE = {"width": 375, "height": 740}
DESKTOP = {"width": 1280, "height": 860}


def log_in(context: BrowserContext, base_url: str, user) -> None:
    """A session cookie made by Django's test client: no trip through the login form (tested elsewhere)."""
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": base_url}])


class Guard:
    """Collects console errors, uncaught page errors and requests to any host but the app's own (those are
    aborted, so nothing leaves the machine even when a test is about to fail)."""

    def __init__(self, page: Page, base_url: str) -> None:
        self.origin = urlsplit(base_url).netloc
        self.problems: list[str] = []
        page.on("console", lambda m: self.problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        page.route("**/*", self._route)

    def _route(self, route) -> None:
        url = route.request.url
        if url.startswith(("data:", "blob:")) or urlsplit(url).netloc == self.origin:
            route.continue_()
        else:
            self.problems.append(f"request to another host: {url}")
            route.abort()

    def check(self, where: str = "") -> None:
        problems, self.problems[:] = list(self.problems), []
        assert not problems, f"{where}: {problems}"


# The rules a colour theme can change: enough for a page already scanned in full in the other theme, at half the time.
COLOUR_RULES = ("color-contrast", "link-in-text-block")


def axe_violations(page: Page, rules: tuple[str, ...] | None = None) -> list[str]:
    """Serious and critical axe-core violations on the page as it is now (WCAG 2.1 A/AA rules and best practice),
    or only those of `rules`."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text())  # through the DevTools protocol: the page's CSP does not apply
    results = page.evaluate("""async (rules) => {
        const options = {resultTypes: ['violations']};
        if (rules) options.runOnly = {type: 'rule', values: rules};
        const r = await axe.run(document, options);
        return r.violations.filter(v => ['serious', 'critical'].includes(v.impact)).map(v =>
            `${v.id} (${v.impact}): ${v.help} -> ${v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(' | ')}`);
    }""", list(rules) if rules else None)
    return results


def shot(page: Page, tmp_path, name: str, *, full_page: bool = True) -> Path:
    folder = Path(os.environ.get("IMAGEGEN_SCREENSHOT_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    page.screenshot(path=str(path), full_page=full_page)
    return path


def wait_images(page: Page, selector: str) -> None:
    # Not page.wait_for_function: it evaluates a string, which the app's CSP (no 'unsafe-eval') forbids.
    for _ in range(200):
        if page.locator(selector).evaluate_all("imgs => imgs.every(i => i.complete && i.naturalWidth > 0)"):
            return
        page.wait_for_timeout(50)
    raise AssertionError(f"images {selector} did not load")
