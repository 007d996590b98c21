"""Issue 9's proof for the pages test_layout_in_browser.py does not already scan: every other page a person can open
(signed out, signed in, staff, the public shared page, and the third-party admin / API pages) gets an axe-core scan
with no serious or critical violation, a clean console and no request to another host, at desktop and phone width
in light and dark (CONFIGS), and nothing wider than a phone.

PAGE_ROUTES is the single table of every GET-able page route; test_every_page_route_is_in_the_table fails when a new
route appears in the URL conf without being scanned here, in test_layout_in_browser.py, or listed as not a page.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.tokens import default_token_generator
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from playwright.sync_api import Browser, expect

from images.models import Tag
from profiles.models import ImageProfile
from sharing.services import share_create
from tests.images.conftest import create_image, image_bytes

from .test_layout_in_browser import make_things
from .ui import COLOUR_RULES, DESKTOP, PHONE, Guard, axe_violations, log_in

pytestmark = pytest.mark.browser

# Known serious/critical violations in markup we do not own, by (page name, axe rule id). Each one is checked to
# still occur (a stale entry fails the test), so the list cannot silently hide a violation of our own.
# Console errors are keyed the same way, by a name for the message (CONSOLE_KINDS). Requests to another host are never
# allowed. Our own markup on these pages was fixed instead: Swagger's <html lang>, the admin image links' names, the
# ops dashboard's breadcrumb links.
DRF = "DRF browsable API template (rest_framework/base.html)"
THIRD_PARTY_ALLOWED: dict[tuple[str, str], str] = {
    # Swagger UI's own markup (rendered by its bundle).
    ("api-docs", "color-contrast"): "Swagger UI: grey version stamp and URL text",
    ("api-docs", "nested-interactive"): "Swagger UI: the operation summary is a button holding buttons",
    **{(page, rule): DRF for page in ("api:api-root", "api:chat-list") for rule in (
        "button-name",  # the format dropdown's caret button has no text
        "color-contrast",  # the active breadcrumb
        "html-has-lang",  # base.html's <html> has no lang and no block to add one
        "console:csp-inline-style",  # style="float: right" attributes; our CSP allows no inline style
        "console:csp-inline-event-handler",  # an inline onclick; our CSP allows no inline script
    )},
    ("api:chat-list", "label"): DRF + ": the raw-data form's inputs have no label",
    ("api:chat-list", "scrollable-region-focusable"): DRF + ": the response <pre> scrolls sideways on a phone",
    # Django admin's own markup and JavaScript.
    ("admin:images_generatedimage_changelist", "label-title-only"): "Django admin: the search box has only a title",
    ("admin:images_generatedimage_changelist", "link-in-text-block"): "Django admin: breadcrumb links are colour-only",
    ("admin:images_generatedimage_change", "aria-prohibited-attr"): "Django admin: filter_horizontal's help icons",
    ("admin:images_generatedimage_change", "console:csp-inline-style"):
        "Django admin: SelectFilter2.js (filter_horizontal) sets style attributes",
}
CONSOLE_KINDS = {"Applying inline style violates": "console:csp-inline-style",
                 "Executing inline event handler violates": "console:csp-inline-event-handler"}

# Routes that are not pages someone opens: POST-only actions, htmx fragments, files, feeds and health probes.
NOT_PAGES = {
    "logout", "settings", "settings-api-key-validate", "settings-api-key-delete", "settings-profile-fields",
    "settings-profile-delete", "settings-profile-default", "settings-token-revoke", "chat-profile",
    "chat-message-create", "chat-delete", "chat-model-update", "chat-model-options", "chat-message-stream", "generation-reroll",
    "generation-card", "generation-preview", "generation-cancel", "generation-retry", "style-preview", "chat-rename",
    "shared-file", "shared-thumbnail", "shared-save", "share-revoke", "gallery-share", "tag-share", "gallery-bulk",
    "gallery-import", "gallery-type", "gallery-edit", "tag-rename", "tag-delete", "gallery-favorite",
    "gallery-tags", "gallery-delete", "gallery-generate", "image-file", "image-download", "image-thumbnail",
    "image-signed", "api-schema", "healthz", "readyz", "metrics", "account-export", "account-export-download",
    "csp-report",
}
# Scanned by test_layout_in_browser.py at two widths and in dark mode.
IN_LAYOUT_TEST = {"chat-list", "chat-detail", "images-home", "gallery", "gallery-detail", "settings-api-keys",
                  "settings-profiles", "settings-tokens", "chat-settings", "account-data"}


def make_objects(user, staff) -> dict:
    things = make_things(user)
    tag = Tag.objects.create(owner=user, name="harbour")
    things["image"].tags.add(tag)
    create_image(user, prompt="a quiet harbour", data=image_bytes(colour=(200, 120, 40), size=(480, 320)))
    profile = ImageProfile.objects.create(owner=user, name="Sketches", provider="offline", model="sketch-1")
    share = share_create(owner=user, tag=tag, title="Harbour pictures", show_owner=True)
    share_create(owner=user, image=things["image"], title="One lighthouse")
    return {**things, "profile": profile, "share": share, "reset": reset_path(staff)}


def reset_path(user) -> str:
    # A reset link is good until the user next logs in (the token covers last_login): one per browser context.
    user.refresh_from_db()
    return f"{urlsafe_base64_encode(force_bytes(user.pk))}/{default_token_generator.make_token(user)}"


# (route name, who, path, something visible once the page is ready). who: "out" signed out, "staff" signed in as a
# staff member (who also owns the objects, so the owner's pages work too).
def page_routes(o) -> list[tuple[str, str, str, str]]:
    return [
        ("login", "out", "/accounts/login/", "main form"),
        ("signup", "out", "/accounts/signup/", "main form"),
        ("password_reset", "out", "/accounts/password/reset/", "main form"),
        ("password_reset_done", "out", "/accounts/password/reset/sent/", "main"),
        ("password_reset_confirm", "out", f"/accounts/password/reset/{o['reset']}/", "main form"),
        ("password_reset_complete", "out", "/accounts/password/reset/done/", "main"),
        ("shared-page", "out", f"/s/{o['share'].token}/", "main img"),
        ("password_change", "staff", "/accounts/password/change/", "main form"),
        ("password_change_done", "staff", "/accounts/password/change/done/", "main"),
        ("tag-list", "staff", "/gallery/tags/", "main"),
        ("share-list", "staff", "/gallery/shares/", "main"),
        ("gallery-upload", "staff", "/gallery/upload/", "main form"),
        ("settings-profile-create", "staff", "/settings/profiles/new/", "main form"),
        ("settings-profile-edit", "staff", f"/settings/profiles/{o['profile'].pk}/", "main form"),
        ("settings-usage", "staff", "/settings/usage/", "main"),
        ("settings-world-notes", "staff", "/settings/world-notes/", "main form"),
        ("account-delete", "staff", "/account/delete/", "main form"),
        ("ops-dashboard", "staff", "/ops/dashboard/", "main"),
        ("api-docs", "staff", "/api/docs/", ".swagger-ui .info"),
        ("api:api-root", "staff", "/api/", "body"),
        ("api:chat-list", "staff", "/api/chats/", "body"),
        ("admin:index", "staff", "/admin/", "#content"),
        ("admin:images_generatedimage_changelist", "staff", "/admin/images/generatedimage/", "#result_list"),
        ("admin:images_generatedimage_change", "staff", f"/admin/images/generatedimage/{o['image'].pk}/change/",
         "#content form"),
    ]


def route_names(patterns=None, namespace: str = ""):
    for entry in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(entry, URLResolver):
            if entry.namespace in ("api", "admin") or entry.app_name == "rest_framework":
                continue  # the API's JSON endpoints and the admin's own pages: sampled in the table above
            yield from route_names(entry.url_patterns, namespace)
        elif isinstance(entry, URLPattern) and entry.name:
            yield entry.name


def test_every_page_route_is_in_the_table(django_user_model):
    user = django_user_model.objects.create_user("ada", password="ada-pass-123")
    staff = django_user_model.objects.create_user("boss", password="boss-pass-123", is_staff=True, is_superuser=True)
    scanned = {name for name, *_ in page_routes(make_objects(user, staff))}
    unlisted = set(route_names()) - scanned - NOT_PAGES - IN_LAYOUT_TEST
    assert not unlisted, f"routes neither scanned nor listed as not a page: {sorted(unlisted)}"


# Each configuration opens every page of the table in a fresh browser context: (viewport, colour scheme, axe rules).
# The light ones run every rule; the dark ones only the colour rules (the structure is the light run's), which keeps
# the four passes near 30 s. The phone ones also check that nothing is wider than the screen (the pseudo-rule
# "overflow", allowlisted like an axe rule).
CONFIGS = {"desktop-light": (DESKTOP, "light", None), "phone-light": (PHONE, "light", None),
           "desktop-dark": (DESKTOP, "dark", COLOUR_RULES), "phone-dark": (PHONE, "dark", COLOUR_RULES)}


def scan_pages(browser: Browser, base_url: str, staff, objects, config: str) -> tuple[list[str], set]:
    viewport, scheme, rules = CONFIGS[config]
    context = browser.new_context(viewport=viewport, color_scheme=scheme, base_url=base_url)
    page = context.new_page()
    guard = Guard(page, base_url)
    failures, allowed_seen = [], set()

    def found(name: str, rule: str, text: str) -> None:
        if (name, rule) in THIRD_PARTY_ALLOWED:
            allowed_seen.add((name, rule))
        else:
            failures.append(f"{config} {name}: {text}")

    signed_in = False
    for name, who, path, ready in page_routes({**objects, "reset": reset_path(staff)}):  # the table lists signed-out pages first
        if who == "staff" and not signed_in:
            log_in(context, base_url, staff)
            signed_in = True
        response = page.goto(path)
        assert response is not None and response.status == 200, f"{name}: {path} -> {response and response.status}"
        expect(page.locator(ready).first).to_be_visible()
        for violation in axe_violations(page, rules):
            found(name, violation.split(" ", 1)[0], violation)
        if viewport is PHONE:
            overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
            if overflow > 0:
                found(name, "overflow", f"{overflow}px wider than the phone")
        for problem in list(guard.problems):
            kind = next((k for text, k in CONSOLE_KINDS.items() if problem.startswith("console") and text in problem),
                         None)
            if (name, kind) in THIRD_PARTY_ALLOWED:
                allowed_seen.add((name, kind))
                guard.problems.remove(problem)
        try:
            guard.check(f"{config} {name}")
        except AssertionError as error:
            failures.append(str(error))
    context.close()
    return failures, allowed_seen


def test_every_other_page_is_accessible_and_clean(browser: Browser, django_user_model, base_url):
    staff = django_user_model.objects.create_user("boss", password="boss-pass-123", is_staff=True, is_superuser=True)
    objects = make_objects(staff, staff)
    failures, allowed_seen = [], set()
    for config in CONFIGS:
        config_failures, config_seen = scan_pages(browser, base_url, staff, objects, config)
        failures += config_failures
        allowed_seen |= config_seen
    stale = set(THIRD_PARTY_ALLOWED) - allowed_seen
    assert not failures, "\n".join(failures)
    assert not stale, f"allowlisted violations that no longer occur (remove them): {sorted(stale)}"
