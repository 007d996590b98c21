"""The Images landing page (/images/): the form starts the chat's /image pipeline in a new chat; bad input keeps
the form and saves nothing; the pickers follow the default profile; style previews are rendered once and cached."""

import io

import pytest
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import reverse
from PIL import Image

from chats.models import Chat, Message
from images.landing import PREVIEW_SIZE, preview_name
from images.models import Generation
from images.styles import STYLES
from profiles.models import ImageProfile

from .conftest import create_image

pytestmark = pytest.mark.django_db
URL = reverse("images-home")


def test_generating_creates_a_new_chat_with_the_command_and_its_image_card(alice_client, alice):
    response = alice_client.post(URL, {"prompt": "a lighthouse in a storm", "style": "watercolour",
                                       "aspect_ratio": "16:9", "n": "2"})
    chat = Chat.objects.get(owner=alice)
    assert response.status_code == 302 and response["Location"] == chat.get_absolute_url()
    user_message, card = chat.messages.all()
    assert user_message.content == "/image a lighthouse in a storm --ar 16:9 --n 2 --style watercolour"
    assert card.kind == Message.Kind.IMAGE
    generation = Generation.objects.get(message=card)
    assert generation.prompt == "a lighthouse in a storm"
    assert generation.parameters["aspect_ratio"] == "16:9" and generation.parameters["n"] == 2
    assert generation.parameters["style"] == "watercolour"
    assert chat.title == "a lighthouse in a storm"


def test_a_typed_command_word_is_not_doubled_and_defaults_add_no_options(alice_client, alice):
    alice_client.post(URL, {"prompt": "  /image   a   fox ", "style": "", "aspect_ratio": "1:1", "n": "1"})
    assert Chat.objects.get(owner=alice).messages.first().content == "/image a fox"


@pytest.mark.parametrize(
    "data, expected",
    [
        ({"prompt": "", "aspect_ratio": "1:1", "n": "1"}, "Describe the image you want first."),
        ({"prompt": "/image", "aspect_ratio": "1:1", "n": "1"}, "Describe the image you want first."),
        ({"prompt": "a fox --zoom 3", "aspect_ratio": "1:1", "n": "1"}, "Unknown option --zoom"),
        ({"prompt": "a fox", "aspect_ratio": "7:5", "n": "1"}, "Select a valid choice"),
        ({"prompt": "a fox", "aspect_ratio": "1:1", "n": "9"}, "Select a valid choice"),
        ({"prompt": "a fox", "style": "nope", "aspect_ratio": "1:1", "n": "1"}, "Select a valid choice"),
    ],
)
def test_bad_input_keeps_the_form_and_saves_nothing(alice_client, data, expected):
    response = alice_client.post(URL, data)
    assert response.status_code == 200  # the form again, with the reason
    assert expected in response.content.decode()
    assert not Chat.objects.exists() and not Generation.objects.exists()
    if data["prompt"].startswith("a fox"):
        assert "a fox" in response.content.decode()  # what was typed is still in the box


def test_the_pickers_follow_the_default_profile(alice_client, alice, fake_provider):
    ImageProfile.objects.create(owner=alice, name="Fake", provider="fake", is_default=True)
    page = alice_client.get(URL).content.decode()
    assert 'id="ar-169"' in page and 'id="ar-43"' not in page  # FakeProvider offers 1:1 and 16:9 only
    assert 'id="n-4"' in page
    assert "With Fake" in page and 'id="offline-note"' not in page
    # A ratio the profile's provider lacks is refused before anything is saved.
    response = alice_client.post(URL, {"prompt": "a fox", "aspect_ratio": "4:3", "n": "1"})
    assert "Aspect ratio: Select a valid choice" in response.content.decode() and not Chat.objects.exists()


def test_empty_state_and_recent_images_link_to_their_chat(alice_client, alice, bob):
    page = alice_client.get(URL).content.decode()
    assert 'id="recent-empty"' in page and 'id="offline-note"' in page and "Add an API key" in page
    chat = Chat.objects.create(owner=alice, title="Foxes")
    mine = create_image(alice, prompt="a red fox", chat=chat)
    create_image(bob, prompt="bob's secret owl")
    page = alice_client.get(URL).content.decode()
    assert f'href="{chat.get_absolute_url()}#generation-{mine.generation_id}"' in page
    assert 'alt="a red fox"' in page
    assert "secret owl" not in page


def test_style_previews_are_made_once_and_cached_in_storage(alice_client, monkeypatch):
    style = STYLES["pixel-art"]
    response = alice_client.get(reverse("style-preview", args=[style.slug]))
    assert response.status_code == 200 and response["Content-Type"] == "image/webp"
    picture = Image.open(io.BytesIO(response.content))
    assert picture.format == "WEBP" and picture.size == (PREVIEW_SIZE, PREVIEW_SIZE)
    assert default_storage.exists(preview_name(style))

    def no_render(*args, **kwargs):
        raise AssertionError("rendered again instead of using the cached file")

    monkeypatch.setattr("images.landing.render", no_render)
    again = alice_client.get(reverse("style-preview", args=[style.slug]))
    assert again.content == response.content


def test_the_no_style_tile_has_a_preview_of_the_plain_scene(alice_client):
    plain = alice_client.get(reverse("style-preview", args=["none"]))
    sketch = alice_client.get(reverse("style-preview", args=["sketch"]))
    assert plain.status_code == sketch.status_code == 200
    assert plain.content != sketch.content


def test_style_previews_need_a_login_and_a_known_style(alice_client):
    assert Client().get(reverse("style-preview", args=["sketch"])).status_code == 302
    assert alice_client.get(reverse("style-preview", args=["no-such-style"])).status_code == 404


def test_the_landing_page_needs_a_login(client):
    response = client.get(URL)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
