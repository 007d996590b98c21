"""Every page in Chromium at desktop and phone width, in light and dark: axe-core finds no serious or critical
violation, the console stays clean, nothing is fetched from another host, nothing is wider than a phone; plus the
navigation, the account menu and the theme switch."""

import pytest
from playwright.sync_api import Browser, Page, expect

from chats.models import Chat, Message
from images.models import Generation
from tests.images.conftest import create_image, image_bytes

from .ui import COLOUR_RULES, DESKTOP, PHONE, Guard, axe_violations, log_in, shot, wait_images

pytestmark = pytest.mark.browser


def make_things(user) -> dict:
    chat = Chat.objects.create(owner=user, title="Lighthouses")
    Message.objects.create(chat=chat, role="user", content="/image a lighthouse in a storm")
    card = Message.objects.create(chat=chat, role="assistant", kind="image")
    image = create_image(user, prompt="a lighthouse in a storm", chat=chat,
                         data=image_bytes(colour=(40, 90, 160), size=(640, 400)))
    Generation.objects.filter(pk=image.generation_id).update(message=card)
    Message.objects.create(chat=chat, role="user", content="/image a fox")
    failed_card = Message.objects.create(chat=chat, role="assistant", kind="image")
    Generation.objects.create(owner=user, chat=chat, message=failed_card, provider="openai", model="gpt-image-1",
                              prompt="a fox", status=Generation.Status.FAILED, error_code="missing_api_key",
                              error_message="OpenAI needs an API key.")
    Message.objects.create(chat=chat, role="user", content="/image --n 9 a fox")
    Message.objects.create(chat=chat, role="assistant", kind="error", content="--n takes a number from 1 to 4.",
                           metadata={"code": "validation_error"})
    return {"chat": chat, "image": image}


# (name, path, something that shows the page is ready)
def pages(things) -> list[tuple[str, str, str]]:
    return [
        ("chats", "/chats/", "#start-chat"),
        ("chat", things["chat"].get_absolute_url(), ".gen-succeeded img"),
        ("images", "/images/", "#images-form"),
        ("gallery", "/gallery/", ".gallery-item img"),
        ("image-detail", things["image"].get_absolute_url(), ".details"),
        ("settings-keys", "/settings/api-keys/", "#api-key-form"),
        ("settings-profiles", "/settings/profiles/", "main"),
        ("settings-tokens", "/settings/tokens/", "main"),
        ("settings-chat", "/settings/chat/", "main"),
        ("account-data", "/account/data/", "main"),
    ]


# Dark runs only axe's colour rules: the structure is the light run's (ui.COLOUR_RULES).
@pytest.mark.parametrize(("width", "scheme"), [("desktop", "light"), ("phone", "light"), ("desktop", "dark"),
                                               ("phone", "dark")])
def test_every_page_is_accessible_clean_and_fits(width, scheme, browser: Browser, django_user_model, base_url,
                                                 tmp_path):
    ada = django_user_model.objects.create_user("ada", password="ada-pass-123")
    things = make_things(ada)
    context = browser.new_context(viewport=PHONE if width == "phone" else DESKTOP, color_scheme=scheme,
                                  base_url=base_url)
    log_in(context, base_url, ada)
    page = context.new_page()
    guard = Guard(page, base_url)
    failures = []
    for name, path, ready in pages(things):
        page.goto(path)
        expect(page.locator(ready).first).to_be_visible()
        wait_images(page, "main img:not([loading=lazy])")
        for violation in axe_violations(page, COLOUR_RULES if scheme == "dark" else None):
            failures.append(f"{name}: {violation}")
        overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        if overflow > 0:
            failures.append(f"{name}: {overflow}px wider than the {width} screen")
        shot(page, tmp_path, f"{name}-{width}-{scheme}.png")
        guard.check(name)
    context.close()
    assert not failures, "\n".join(failures)


def test_dark_mode_follows_the_system_and_the_choice_persists(browser: Browser, django_user_model, base_url, tmp_path):
    ada = django_user_model.objects.create_user("ada", password="ada-pass-123")
    things = make_things(ada)
    context = browser.new_context(color_scheme="dark", viewport=DESKTOP, base_url=base_url)
    log_in(context, base_url, ada)
    page = context.new_page()
    guard = Guard(page, base_url)
    page.goto(things["chat"].get_absolute_url())
    html = page.locator("html")
    expect(html).to_have_attribute("data-bs-theme", "dark")  # the system says dark; nothing chosen yet
    expect(page.locator("[data-theme-value=auto]")).to_have_attribute("aria-pressed", "true")
    wait_images(page, ".gen-image img")
    assert axe_violations(page) == []
    shot(page, tmp_path, "chat-dark.png")
    page.goto("/images/")
    wait_images(page, ".style-tile img")
    assert axe_violations(page) == []
    shot(page, tmp_path, "images-dark.png")

    page.click("[data-theme-value=light]")
    expect(html).to_have_attribute("data-bs-theme", "light")
    page.reload()  # the choice is kept, and applied before the page paints
    expect(html).to_have_attribute("data-bs-theme", "light")
    expect(page.locator("[data-theme-value=light]")).to_have_attribute("aria-pressed", "true")
    page.click("[data-theme-value=auto]")
    expect(html).to_have_attribute("data-bs-theme", "dark")
    guard.check("theme")
    context.close()


def test_navigation_account_menu_and_the_phone_menu(page: Page, django_user_model, base_url):
    boss = django_user_model.objects.create_user("boss", password="boss-pass-123", is_staff=True, is_superuser=True)
    log_in(page.context, base_url, boss)
    guard = Guard(page, base_url)
    page.goto("/chats/")
    expect(page.locator("#nav-admin")).to_be_visible()  # staff only (tests/chats/test_chat_list_pages.py: not others)
    page.click("#nav-images")
    expect(page.locator("#nav-images")).to_have_attribute("aria-current", "page")

    # Keyboard: the skip link comes first and jumps past the bar.
    page.goto("/chats/")
    page.keyboard.press("Tab")
    expect(page.locator(".skip-link")).to_be_focused()
    page.keyboard.press("Enter")
    assert page.evaluate("() => location.hash") == "#main"

    # The account menu opens from the keyboard and logs out.
    page.focus("#account-menu")
    page.keyboard.press("Enter")
    expect(page.locator("#log-out")).to_be_visible()
    page.click("#log-out")
    page.wait_for_url("**/accounts/login/**")

    # A phone: the links fold into a menu button; the chat list is a panel behind a button.
    log_in(page.context, base_url, boss)
    page.set_viewport_size(PHONE)
    chat = Chat.objects.create(owner=boss, title="Harbour at night")
    page.goto(chat.get_absolute_url())
    expect(page.locator("#nav-images")).to_be_hidden()
    page.click(".navbar-toggler")
    expect(page.locator("#nav-images")).to_be_visible()
    expect(page.locator("#chat-sidebar .chat-link")).to_be_hidden()
    page.click("[data-bs-target='#chat-sidebar'][aria-controls]")
    expect(page.locator("#chat-sidebar .chat-link", has_text="Harbour at night")).to_be_visible()
    guard.check("navigation")
