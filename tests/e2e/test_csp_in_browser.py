"""The pages work under the Content-Security-Policy (imagegen_site/security.py) with no violation reported.

A listener for `securitypolicyviolation` is added before any page script runs (Playwright init scripts are not
subject to the page's CSP), and the console is watched for CSP messages as well.
"""

import pytest
from playwright.sync_api import Page, expect

from images.models import GeneratedImage

from .test_chat_in_browser import log_in

pytestmark = pytest.mark.browser

WATCH = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI} at ${e.sourceFile}:${e.lineNumber}`);
});
"""


@pytest.fixture
def watched(page: Page):
    page.add_init_script(WATCH)
    console = []
    page.on("console", lambda msg: console.append(msg.text) if "Content Security Policy" in msg.text else None)
    return page, console


def violations(page: Page, console: list[str]) -> list[str]:
    return page.evaluate("window.__cspViolations") + console


def test_the_chat_gallery_and_docs_work_under_the_csp_with_no_violation(watched, django_user_model, tmp_path):
    page, console = watched
    django_user_model.objects.create_user("ada", password="ada-pass-123", is_staff=True, is_superuser=True)
    log_in(page, "ada", "ada-pass-123")
    csp = page.request.get("/chats/").headers["content-security-policy"]
    assert "script-src 'self' 'nonce-" in csp and "frame-ancestors 'none'" in csp
    assert violations(page, console) == []

    # The chat: htmx posts the message, the card polls and the image appears (scripts from our origin run).
    page.click("#new-chat")
    page.wait_for_load_state()  # the composer's keys work once app.js has run
    page.fill("#message-input", "/image a watercolour fox at dawn")
    page.keyboard.press("Enter")
    image = page.locator(".gen-succeeded .gen-image img")
    expect(image).to_be_visible(timeout=15_000)
    page.wait_for_function("document.querySelector('.gen-succeeded .gen-image img').complete")
    assert image.evaluate("img => img.naturalWidth") > 0
    page.screenshot(path=str(tmp_path / "chat-under-csp.png"), full_page=True)
    assert violations(page, console) == [], "chat page"

    # An inline script injected into the page is refused by the policy (and reported): the policy is live.
    page.evaluate("""() => { const s = document.createElement('script');
                              s.textContent = 'window.__injected = 1'; document.body.appendChild(s); }""")
    page.wait_for_function("window.__cspViolations.length > 0")
    assert page.evaluate("window.__injected") is None
    page.evaluate("window.__cspViolations = []")
    console.clear()

    for url, ready in [("/gallery/", ".gallery-item img"), ("/api/docs/", ".swagger-ui .info"), ("/admin/", "#content")]:
        page.goto(url)
        expect(page.locator(ready).first).to_be_visible(timeout=15_000)
        page.wait_for_load_state("networkidle")
        assert violations(page, console) == [], url
    assert GeneratedImage.objects.count() == 1
