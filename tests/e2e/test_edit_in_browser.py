"""/edit from the chat, in Chromium: make an image, start an edit from the card's Edit action (which fills in
`/edit --image <id> `), then a plain `/edit …` of the chat's latest image; each edit is a new card that says it is an
edit and links to the image it started from, and the provider was handed that very image.

The first test's default profile is an editing provider registered for the test (the live server runs in this process
and the suite's task backend runs the job inside the request): it answers an edit with the colour negative of the
image it was given, so the test can prove which bytes the provider received. The second runs on the embedded default,
the built-in offline renderer, which edits with plain image operations.
"""

from __future__ import annotations

import io

import pytest
from django.core.files.storage import default_storage
from PIL import Image, ImageOps
from playwright.sync_api import Page, expect

from chats.models import Chat
from images.models import GeneratedImage
from images.providers import PROVIDERS, Capabilities, ImageRequest, ProviderImage, ProviderResult
from images.providers.offline import OfflineProvider
from profiles.models import ImageProfile

from .ui import PHONE, Guard, axe_violations, log_in, shot, wait_images

pytestmark = pytest.mark.browser


class NegativeEditor(OfflineProvider):
    kind = "negative-editor"
    label = "Negative editor (tests)"
    disclaimer = ""
    capabilities = Capabilities(edit=True, n_max=4, aspect_ratios=OfflineProvider.capabilities.aspect_ratios,
                                needs_key=False, seed=True)
    received: list[ImageRequest] = []

    def edit(self, request: ImageRequest) -> ProviderResult:
        type(self).received.append(request)
        (data, _mime), = request.input_images
        out = io.BytesIO()
        ImageOps.invert(Image.open(io.BytesIO(data)).convert("RGB")).save(out, format="PNG")
        return ProviderResult(images=[ProviderImage(data=out.getvalue(), mime_type="image/png")], model="negative-1")


@pytest.fixture
def editor(monkeypatch):
    monkeypatch.setitem(PROVIDERS, NegativeEditor.kind, (NegativeEditor.label, f"{__name__}.NegativeEditor"))
    monkeypatch.setattr(NegativeEditor, "received", [])
    return NegativeEditor


def send(page: Page, text: str) -> None:
    page.fill("#message-input", text)
    page.keyboard.press("Enter")
    expect(page.locator("#message-input")).to_have_value("")


def centre_pixel(image: GeneratedImage) -> tuple:
    with default_storage.open(image.file) as f:
        picture = Image.open(f).convert("RGB")
        return picture.getpixel((picture.width // 2, picture.height // 2))


def test_edit_an_image_from_the_chat(editor, page: Page, django_user_model, base_url, tmp_path):
    ada = django_user_model.objects.create_user("ada", password="ada-pass-123")
    ImageProfile.objects.create(owner=ada, name="Editor", provider=NegativeEditor.kind, is_default=True)
    chat = Chat.objects.create(owner=ada, title="Foxes")
    log_in(page.context, base_url, ada)
    page.set_viewport_size(PHONE)
    guard = Guard(page, base_url)
    page.goto(chat.get_absolute_url())
    page.wait_for_load_state()  # the composer's keys work once app.js has run

    send(page, "/image a red fox in the snow")
    cards = page.locator(".gen-succeeded")
    expect(cards).to_have_count(1, timeout=15_000)
    parent = GeneratedImage.objects.get()

    # The card's Edit action starts an /edit of that image; the instruction is typed after it.
    page.locator(".gen-image").first.hover()
    page.click(f"[data-edit-image='{parent.pk}']")
    message = page.locator("#message-input")
    expect(message).to_be_focused()
    expect(message).to_have_value(f"/edit --image {parent.pk} ")
    page.keyboard.type("make it darker")
    page.keyboard.press("Enter")

    expect(cards).to_have_count(2, timeout=15_000)
    edited_card = cards.nth(1)
    expect(edited_card.locator(".used-prompt")).to_have_text("Image edited • make it darker")
    parent_link = edited_card.locator(".edit-of a")
    expect(parent_link).to_have_text(f"image #{parent.pk}")
    assert parent_link.get_attribute("href") == parent.get_absolute_url()
    wait_images(page, ".gen-image img")
    edited = GeneratedImage.objects.exclude(pk=parent.pk).get()
    assert edited.generation.parameters["edit_of"] == parent.pk
    (request,) = editor.received
    assert request.prompt == "make it darker"
    with default_storage.open(parent.file) as f:
        assert request.input_images == ((f.read(), parent.mime_type),)  # the parent itself, read from storage
    assert centre_pixel(edited) == tuple(255 - c for c in centre_pixel(parent))
    assert (edited.width, edited.height) == (parent.width, parent.height)

    # A plain /edit changes the chat's latest image: the edit just made.
    send(page, "/edit make it brighter")
    expect(cards).to_have_count(3, timeout=15_000)
    expect(cards.nth(2).locator(".edit-of a")).to_have_text(f"image #{edited.pk}")
    assert [r.prompt for r in editor.received] == ["make it darker", "make it brighter"]
    wait_images(page, ".gen-image img")
    assert axe_violations(page) == []
    shot(page, tmp_path, "chat-edit-phone.png")

    # The parent link opens the image the edit started from.
    parent_link.click()
    page.wait_for_url(f"**{parent.get_absolute_url()}")
    expect(page.locator(".details")).to_be_visible()
    guard.check("edit")


def test_edit_on_the_offline_renderer_with_no_key(page: Page, django_user_model, base_url):
    """The embedded default: no key, no profile. /edit before any image says so; after one, the built-in renderer
    edits it and the card names what it did."""
    ada = django_user_model.objects.create_user("ada", password="ada-pass-123")
    chat = Chat.objects.create(owner=ada, title="Foxes")
    log_in(page.context, base_url, ada)
    guard = Guard(page, base_url)
    page.goto(chat.get_absolute_url())
    page.wait_for_load_state()
    send(page, "/edit make it darker")
    expect(page.locator(".error-card")).to_contain_text("no image in this chat to edit yet")
    send(page, "/image a red fox")
    cards = page.locator(".gen-succeeded")
    expect(cards).to_have_count(1, timeout=15_000)
    parent = GeneratedImage.objects.get()
    page.locator(".gen-image").hover()
    page.click("[data-edit-image]")
    page.keyboard.type("make it darker")
    page.keyboard.press("Enter")
    expect(cards).to_have_count(2, timeout=15_000)
    edited_card = cards.nth(1)
    expect(edited_card).to_contain_text("Offline edit (not AI): darker.")
    expect(edited_card.locator(".edit-of a")).to_have_text(f"image #{parent.pk}")
    wait_images(page, ".gen-image img")
    edited = GeneratedImage.objects.exclude(pk=parent.pk).get()
    assert sum(centre_pixel(edited)) < sum(centre_pixel(parent))
    guard.check("offline edit")
