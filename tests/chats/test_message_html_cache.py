"""Finished chat messages are rendered once per process (chats/message_html.py); any change to their rows shows."""

import pytest
from django.utils import timezone
from django.urls import reverse

from chats import message_html
from chats.models import Chat, Message
from images.models import GeneratedImage, Generation

pytestmark = pytest.mark.django_db


@pytest.fixture
def card(alice):
    chat = Chat.objects.create(owner=alice, title="c")
    message = Message.objects.create(chat=chat, role="assistant", kind="image", metadata={"command": "image"})
    generation = Generation.objects.create(owner=alice, chat=chat, message=message, provider="offline",
                                           prompt="a fox", status="succeeded", attempts=1)
    image = GeneratedImage.objects.create(generation=generation, owner=alice, file="images/1/a.png",
                                          thumbnail="images/1/thumbs/a.webp", sha256="0" * 64, width=8, height=8,
                                          mime_type="image/png", bytes=10)
    return chat, message, generation, image


def page(client, chat) -> str:
    response = client.get(reverse("chat-detail", args=[chat.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_a_finished_card_is_rendered_once(alice_client, card, monkeypatch):
    chat, message, *_ = card
    page(alice_client, chat)
    renders = []
    real = message_html.render_to_string
    monkeypatch.setattr(message_html, "render_to_string", lambda *a, **k: renders.append(1) or real(*a, **k))
    assert f'id="message-{message.pk}"' in page(alice_client, chat)
    assert renders == []


def test_a_favorite_shows_at_once(alice_client, card):
    chat, _, _, image = card
    assert "is-favorite" not in page(alice_client, chat)
    alice_client.post(reverse("gallery-favorite", args=[image.pk]), {"value": "1"})
    assert "is-favorite" in page(alice_client, chat)
    GeneratedImage.objects.filter(pk=image.pk).update(is_favorite=False)  # even without signals: the row is the key
    assert "is-favorite" not in page(alice_client, chat)


def test_a_changed_message_or_generation_shows_at_once(alice_client, card):
    chat, message, generation, _ = card
    page(alice_client, chat)
    Generation.objects.filter(pk=generation.pk).update(refined_prompt="a sly fox at dawn")
    assert "a sly fox at dawn" in page(alice_client, chat)
    text = Message.objects.create(chat=chat, role="assistant", content="first words")
    assert "first words" in page(alice_client, chat)
    Message.objects.filter(pk=text.pk).update(content="second words")
    html = page(alice_client, chat)
    assert "second words" in html and "first words" not in html


def test_queued_and_running_cards_are_never_kept(alice_client, card):
    chat, _, generation, _ = card
    Generation.objects.filter(pk=generation.pk).update(status="queued")
    assert 'data-status="queued"' in page(alice_client, chat)
    Generation.objects.filter(pk=generation.pk).update(status="running", started_at=timezone.now())
    assert 'data-status="running"' in page(alice_client, chat)
    generation.refresh_from_db()
    assert message_html.fingerprint(generation.message) is None


def test_the_key_names_the_message_so_identical_rows_elsewhere_never_share_it(alice, bob):
    mine = Message.objects.create(chat=Chat.objects.create(owner=alice), role="user", content="hello")
    theirs = Message.objects.create(chat=Chat.objects.create(owner=bob), role="user", content="hello")
    assert message_html.fingerprint(mine) != message_html.fingerprint(theirs)
    assert f'id="message-{theirs.pk}"' in message_html.render_message(theirs)
    assert f'id="message-{mine.pk}"' in message_html.render_message(mine)
