"""The chat page is drawn once per set of rows and process (chats/page_html.py): a kept page is the same page with
this request's CSRF token and CSP nonce, any change to a row it shows draws it again (even a queryset.update() that
sends no signal), and a page is never kept for another user, while a card is in progress, or with flash messages."""

import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from chats import page_html
from chats.models import Chat, ChatPreferences, Message
from images.models import GeneratedImage, Generation
from profiles.models import ApiKey, ImageProfile

pytestmark = pytest.mark.django_db


@pytest.fixture
def chat(alice):
    chat = Chat.objects.create(owner=alice, title="Harbour")
    Message.objects.create(chat=chat, role="user", content="/image a fox")
    card = Message.objects.create(chat=chat, role="assistant", kind="image", metadata={"command": "image"})
    generation = Generation.objects.create(owner=alice, chat=chat, message=card, provider="offline", prompt="a fox",
                                           status="succeeded", attempts=1)
    GeneratedImage.objects.create(generation=generation, owner=alice, file="images/1/a.png",
                                  thumbnail="images/1/thumbs/a.webp", sha256="0" * 64, width=8, height=8,
                                  mime_type="image/png", bytes=10)
    return chat


def get(client, chat):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("chat-detail", args=[chat.pk]))
    assert response.status_code == 200
    response.queries = len(queries)
    return response


def page(client, chat) -> str:
    return get(client, chat).content.decode()


def tokens(html: str) -> tuple[set[str], set[str]]:
    csrf = set(re.findall(r'name="csrfmiddlewaretoken" value="([^"]+)"', html))
    csrf |= set(re.findall(r'<meta name="csrf-token" content="([^"]+)"', html))
    return csrf, set(re.findall(r' nonce="([^"]+)"', html))


def test_a_kept_page_is_the_same_page_with_this_requests_token_and_nonce(alice_client, chat):
    drawn = get(alice_client, chat)
    kept = get(alice_client, chat)
    assert kept.queries == 5 < drawn.queries  # session, user and the page's three row reads; no template work
    first, second = drawn.content.decode(), kept.content.decode()
    (csrf1,), (nonce1,) = tokens(first)
    (csrf2,), (nonce2,) = tokens(second)
    assert csrf1 != csrf2 and nonce1 != nonce2  # each answer has its own (every form uses the same one)
    assert first.replace(csrf1, "T").replace(nonce1, "N") == second.replace(csrf2, "T").replace(nonce2, "N")
    assert "\x00" not in second
    assert f"'nonce-{nonce2}'" in kept["Content-Security-Policy"]  # the scripts on the kept page may run
    # The kept page's token works: the composer posts with it.
    strict = Client(enforce_csrf_checks=True)
    strict.cookies = alice_client.cookies
    posted = strict.post(reverse("chat-message-create", args=[chat.pk]),
                         {"content": "hello", "csrfmiddlewaretoken": csrf2}, headers={"HX-Request": "true"})
    assert posted.status_code == 200


def test_every_change_to_what_the_page_shows_draws_it_again(alice, alice_client, chat):
    image = GeneratedImage.objects.get(owner=alice)
    generation = image.generation
    checks = [
        (lambda: Chat.objects.filter(pk=chat.pk).update(title="Renamed harbour"), "Renamed harbour"),
        (lambda: GeneratedImage.objects.filter(pk=image.pk).update(is_favorite=True), "is-favorite"),
        (lambda: Generation.objects.filter(pk=generation.pk).update(refined_prompt="a sly fox"), "a sly fox"),
        (lambda: Generation.objects.filter(pk=generation.pk).update(status="failed", error_message="it broke"),
         "it broke"),
        (lambda: Message.objects.create(chat=chat, role="user", content="one more thing"), "one more thing"),
        (lambda: ImageProfile.objects.create(owner=alice, name="Ink wash", provider="offline"), "Ink wash"),
        (lambda: ChatPreferences.objects.create(owner=alice, llm_provider="ollama", llm_model="tinyllama"),
         "tinyllama"),
        (lambda: type(alice).objects.filter(pk=alice.pk).update(is_staff=True), 'id="nav-admin"'),
    ]
    for change, shows in checks:
        assert shows not in page(alice_client, chat)
        assert get(alice_client, chat).queries == 5  # kept
        change()
        assert shows in page(alice_client, chat), shows


def test_an_api_key_shows_on_an_empty_chat(alice, alice_client):
    chat = Chat.objects.create(owner=alice, title="Empty")
    assert "add a key" in page(alice_client, chat)
    ApiKey.objects.create(owner=alice, provider="openai", label="mine")
    assert "add a key" not in page(alice_client, chat)


def test_a_page_is_never_served_to_another_user(alice_client, bob_client, bob, chat):
    page(alice_client, chat)
    assert bob_client.get(reverse("chat-detail", args=[chat.pk])).status_code == 404
    mine = Chat.objects.create(owner=bob, title="Harbour")
    assert "a fox" not in page(bob_client, mine)


def test_a_page_with_a_card_in_progress_is_drawn_every_time(alice_client, chat):
    Generation.objects.update(status="running", started_at=timezone.now())
    assert 'data-status="running"' in page(alice_client, chat)
    assert get(alice_client, chat).queries > 5 and not page_html._pages
    Message.objects.create(chat=chat, role="assistant", metadata={"reply": "pending"})
    Generation.objects.update(status="succeeded")
    assert "data-stream-url" in page(alice_client, chat)
    assert not page_html._pages


def test_flash_messages_show_once_and_the_page_with_them_is_not_kept(alice_client, chat):
    page(alice_client, chat)  # kept
    alice_client.post(reverse("chat-rename", args=[chat.pk]), {"title": " "})  # "A chat needs a name" (flash)
    flashed = page(alice_client, chat)
    assert "A chat needs a name" in flashed
    assert "A chat needs a name" not in page(alice_client, chat)


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_the_rows_are_read_again_after_any_commit(alice, alice_client):
    """Out of any transaction (as in production), SQLite's connection reuses the rows it read while nothing was
    committed anywhere (chats/page_html.py); a commit by another connection or by its own shows at once."""
    import threading

    from django.db import connection as db

    chat = Chat.objects.create(owner=alice, title="Harbour")
    assert "Harbour" in page(alice_client, chat)
    if db.vendor == "sqlite":
        assert get(alice_client, chat).queries == 2  # session and user: the rows are this connection's, unchanged

    def rename_elsewhere() -> None:  # another thread: another connection, as another gunicorn thread or a worker
        Chat.objects.filter(pk=chat.pk).update(title="Lighthouse")
        from django.db import connection as own

        own.close()

    thread = threading.Thread(target=rename_elsewhere)
    thread.start()
    thread.join()
    assert "Lighthouse" in page(alice_client, chat)
    Message.objects.create(chat=chat, role="user", content="said on this connection")
    assert "said on this connection" in page(alice_client, chat)
    Chat.objects.filter(pk=chat.pk).update(title="Harbour")  # back to rows seen before: still read again
    assert "Harbour" in page(alice_client, chat) and "said on this connection" in page(alice_client, chat)
