"""The chat list: search (titles and messages, own chats only), rename and delete, the sidebar's live search."""

import pytest
from django.urls import reverse

from chats.models import Chat, Message

pytestmark = pytest.mark.django_db


@pytest.fixture
def chats(alice, bob):
    fox = Chat.objects.create(owner=alice, title="Foxes at dawn")
    sea = Chat.objects.create(owner=alice, title="Harbour")
    Message.objects.create(chat=sea, role="user", content="/image a lighthouse in a storm")
    Chat.objects.create(owner=bob, title="Bob's foxes")
    return fox, sea


def titles(response) -> list[str]:
    return [c.title for c in response.context["chats"]]


def test_search_matches_titles_and_message_text_of_own_chats_only(alice_client, chats):
    assert titles(alice_client.get(reverse("chat-list"), {"q": "fox"})) == ["Foxes at dawn"]
    assert titles(alice_client.get(reverse("chat-list"), {"q": "LIGHTHOUSE"})) == ["Harbour"]
    response = alice_client.get(reverse("chat-list"), {"q": "nothing like this"})
    assert titles(response) == [] and "No chat matches “nothing like this”." in response.content.decode()


def test_the_live_search_answers_just_the_list_and_keeps_the_current_chat_marked(alice_client, chats):
    fox, _ = chats
    response = alice_client.get(reverse("chat-list"), {"q": "", "current": str(fox.pk)}, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert '<nav id="chat-list-items"' in body and "<html" not in body
    assert f'href="{fox.get_absolute_url()}" aria-current="page"' in body
    # A chat deleted from the list goes back to the chat on screen, not to the list.
    assert f'name="next" value="{fox.get_absolute_url()}"' in body
    # A bad `current` is ignored, not an error.
    assert alice_client.get(reverse("chat-list"), {"current": "²"}, HTTP_HX_REQUEST="true").status_code == 200


def test_rename_trims_the_name_and_keeps_the_chat_in_place(alice_client, chats):
    fox, sea = chats
    updated = fox.updated
    response = alice_client.post(reverse("chat-rename", args=[fox.pk]), {"title": "  Red   foxes  "})
    assert response.status_code == 302 and response["Location"] == fox.get_absolute_url()
    fox.refresh_from_db()
    assert fox.title == "Red foxes" and fox.updated == updated
    long = alice_client.post(reverse("chat-rename", args=[fox.pk]),
                             {"title": "x" * 300, "next": sea.get_absolute_url()})
    assert long["Location"] == sea.get_absolute_url()
    fox.refresh_from_db()
    assert fox.title == "x" * 200


def test_an_empty_name_is_refused_with_a_message_and_nothing_changes(alice_client, chats):
    fox, _ = chats
    response = alice_client.post(reverse("chat-rename", args=[fox.pk]), {"title": "   "}, follow=True)
    fox.refresh_from_db()
    assert fox.title == "Foxes at dawn"
    assert "A chat needs a name; it was left as it was." in response.content.decode()


def test_delete_goes_to_a_safe_next_page_only(alice_client, chats):
    fox, sea = chats
    response = alice_client.post(reverse("chat-delete", args=[fox.pk]), {"next": sea.get_absolute_url()})
    assert response["Location"] == sea.get_absolute_url()
    assert not Chat.objects.filter(pk=fox.pk).exists()
    response = alice_client.post(reverse("chat-delete", args=[sea.pk]), {"next": "https://evil.example/"},
                                 follow=True)
    assert response.redirect_chain[0][0] == reverse("chat-list")
    assert "Deleted the chat “Harbour”. Its images stay in your gallery." in response.content.decode()


def test_the_chat_page_has_the_command_menu_and_the_last_prompt(alice_client, chats):
    _, sea = chats
    page = alice_client.get(sea.get_absolute_url()).content.decode()
    assert 'data-last-prompt="/image a lighthouse in a storm"' in page
    assert 'data-insert="/image help"' in page and 'data-insert="--style watercolour " data-kind="option" data-needs="--style "' in page
    assert 'id="command-menu"' in page and 'aria-controls="command-menu"' in page


def test_the_admin_link_is_for_staff_only_and_the_bar_has_every_section(alice_client, django_user_model, client):
    page = alice_client.get(reverse("chat-list")).content.decode()
    assert 'id="nav-admin"' not in page and "/admin/" not in page
    for name in ("chat-list", "images-home", "gallery", "settings", "logout"):
        assert f'href="{reverse(name)}"' in page or f'action="{reverse(name)}"' in page, name
    boss = django_user_model.objects.create_user("boss", password="x", is_staff=True)
    client.force_login(boss)
    assert 'id="nav-admin"' in client.get(reverse("chat-list")).content.decode()
