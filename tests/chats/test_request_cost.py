"""What the chat page and a /image post leave out of the request (issue 10, P1/P5), and that nothing is lost by it:
the sidebar's list comes from its own request, the new card's place in line from its first poll, and the
refinement's context is the same turns as before."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.html import strip_tags

from chats import page_html
from chats.models import Chat, Message
from chats.refine import recent_messages
from images.models import Generation

pytestmark = pytest.mark.django_db


def page_queries(client, chat) -> tuple[int, str]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("chat-detail", args=[chat.pk]))
    assert response.status_code == 200
    return len(queries), response.content.decode()


def test_the_chat_page_loads_its_sidebar_list_afterwards_and_costs_the_same_with_many_chats(alice, bob, alice_client):
    chat = Chat.objects.create(owner=alice, title="Harbour")
    other = Chat.objects.create(owner=alice, title="Foxes at dawn")
    Chat.objects.create(owner=bob, title="Bob's chat")
    Message.objects.create(chat=chat, role="user", content="hello")
    few, body = page_queries(alice_client, chat)
    # The page has the placeholder that fetches the list, marking this chat, and none of the list's items.
    assert f'hx-get="{reverse("chat-list")}?current={chat.pk}" hx-trigger="load"' in body
    assert f'id="chat-link-{other.pk}"' not in body and "Loading your chats…" in body
    kept, _ = page_queries(alice_client, chat)  # the same rows: the page this process drew (chats/page_html.py)
    for i in range(30):
        Chat.objects.create(owner=alice, title=f"Older {i}")
    page_html.clear()
    many, _ = page_queries(alice_client, chat)
    # Drawn: session, user, the page's rows (3), the render (5 here), the rows again (3); kept: session, user, rows.
    assert many == few <= 13
    assert page_queries(alice_client, chat)[0] == kept <= 5

    # What the placeholder fetches: the owner's chats only, this one marked as the current one.
    listing = alice_client.get(reverse("chat-list"), {"current": chat.pk}, headers={"HX-Request": "true"})
    items = listing.content.decode()
    assert f'id="chat-link-{other.pk}"' in items and "Bob&#x27;s chat" not in items and "Bob's chat" not in items
    assert f'id="chat-link-{chat.pk}" class="chat-link' in items and 'aria-current="page">Harbour</a>' in items


def test_the_chat_page_still_has_both_pickers_with_the_owners_profiles_only(alice, bob, alice_client):
    from profiles.models import ImageProfile

    chat = Chat.objects.create(owner=alice, title="Harbour")
    mine = ImageProfile.objects.create(owner=alice, name="Alice's watercolour", provider="offline")
    ImageProfile.objects.create(owner=bob, name="Bob's secret profile", provider="offline")
    chat.image_profile = mine
    chat.save()
    _, body = page_queries(alice_client, chat)
    assert f'<option value="{mine.pk}" selected>' in body  # the header's selector
    assert body.count("Alice&#x27;s watercolour") >= 2  # the selector and the image modal share one list
    assert "Bob" not in body and 'id="chat-model-button"' in body and 'id="command-menu"' in body


def test_the_answer_to_a_post_leaves_out_the_place_in_line_and_the_first_poll_shows_it(alice, alice_client):
    chat = Chat.objects.create(owner=alice, title="Harbour")
    url = reverse("chat-message-create", args=[chat.pk])
    alice_client.post(url, {"content": "/image a fox"}, headers={"HX-Request": "true"})
    response = alice_client.post(url, {"content": "/image an owl"}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    posted = " ".join(strip_tags(response.content.decode()).split())
    assert "Queued" in posted and "in line" not in posted
    owl = Generation.objects.get(prompt="an owl")
    card = " ".join(strip_tags(alice_client.get(reverse("generation-card", args=[owl.pk])).content.decode()).split())
    assert "Queued, 2nd in line" in card


def test_the_refinement_context_is_the_turns_before_the_message_newest_last(alice):
    chat = Chat.objects.create(owner=alice, title="Harbour")
    said = [Message.objects.create(chat=chat, role="user" if i % 2 == 0 else "assistant", content=f"turn {i}")
            for i in range(9)]
    Message.objects.create(chat=chat, role="assistant", kind="error", content="an error card is no context")
    before = Message.objects.create(chat=chat, role="user", content="/image the latest")
    Message.objects.create(chat=chat, role="assistant", content="after it: not context")
    got = recent_messages(chat, history_count=2, before=before)
    assert [m.content for m in got] == ["turn 5", "turn 6", "turn 7", "turn 8"]
    assert [m.content for m in recent_messages(chat, history_count=2, before=said[3])] == [
        "turn 0", "turn 1", "turn 2"]
