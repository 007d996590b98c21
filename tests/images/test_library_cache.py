"""The gallery's cached counts (images/library_cache.py): every change shows at once, and no owner sees another's."""

import re

import pytest
from django.urls import reverse

from chats.models import Chat
from images import library_cache
from images.models import GeneratedImage, LibraryState, Tag

pytestmark = pytest.mark.django_db


def facets(api) -> dict:
    response = api.get(reverse("api:image-facets"))
    assert response.status_code == 200
    return response.json()


def page_count(client, **params) -> int:
    html = client.get(reverse("gallery"), params).content.decode()
    return int(re.search(r'id="result-count">(\d+) image', html).group(1))


def test_counts_are_served_from_the_cache_until_the_library_changes(alice_client, alice, make_image,
                                                                    django_assert_max_num_queries):
    make_image(alice)
    assert page_count(alice_client) == 1
    assert LibraryState.objects.get(owner=alice).facets  # cached
    with django_assert_max_num_queries(7):  # session, user, cached counts, page, … — no aggregate over the library
        assert page_count(alice_client) == 1
    make_image(alice)  # the worker's path is tested below; this one saves the row (a signal)
    assert page_count(alice_client) == 2


def test_a_favorite_shows_at_once_by_toggle_bulk_and_api(alice_client, alice_api, alice, make_image):
    first, second = make_image(alice), make_image(alice)
    assert facets(alice_api)["favorites"] == 0
    alice_client.post(reverse("gallery-favorite", args=[first.pk]), {"value": "1"})
    assert facets(alice_api)["favorites"] == 1
    assert page_count(alice_client, favorites=1) == 1
    alice_client.post(reverse("gallery-bulk"), {"ids": [first.pk, second.pk], "action": "favorite"})  # update()
    assert facets(alice_api)["favorites"] == 2
    assert page_count(alice_client, favorites=1) == 2
    alice_api.patch(reverse("api:image-detail", args=[second.pk]), {"is_favorite": False}, format="json")
    assert facets(alice_api)["favorites"] == 1


def test_tags_set_added_renamed_and_deleted_show_at_once(alice_client, alice_api, alice, make_image):
    first, second = make_image(alice), make_image(alice)
    assert facets(alice_api)["tags"] == []
    alice_api.patch(reverse("api:image-detail", args=[first.pk]), {"tags": ["fox"]}, format="json")  # m2m set
    assert facets(alice_api)["tags"] == [{"value": "fox", "count": 1}]
    alice_client.post(reverse("gallery-bulk"), {"ids": [first.pk, second.pk], "action": "tag", "tag": "fox"})
    assert facets(alice_api)["tags"] == [{"value": "fox", "count": 2}]  # bulk_create of the through rows
    tag = Tag.objects.get(owner=alice, name="fox")
    alice_client.post(reverse("tag-rename", args=[tag.pk]), {"name": "vixen"})
    assert facets(alice_api)["tags"] == [{"value": "vixen", "count": 2}]
    alice_client.post(reverse("tag-delete", args=[tag.pk]))
    assert facets(alice_api)["tags"] == []


def test_deleting_an_image_shows_at_once(alice_client, alice_api, alice, make_image):
    image = make_image(alice)
    make_image(alice)
    assert page_count(alice_client) == 2
    alice_api.delete(reverse("api:image-detail", args=[image.pk]))
    assert page_count(alice_client) == 1 and facets(alice_api)["total"] == 1


def test_chat_titles_are_fresh_and_a_deleted_chat_drops_out(alice_client, alice_api, alice, make_image):
    chat = Chat.objects.create(owner=alice, title="Foxes")
    make_image(alice, chat=chat)
    assert facets(alice_api)["chats"] == [{"value": chat.pk, "count": 1, "label": "Foxes"}]
    alice_client.post(reverse("chat-rename", args=[chat.pk]), {"title": "Vixens"})
    assert facets(alice_api)["chats"] == [{"value": chat.pk, "count": 1, "label": "Vixens"}]
    alice_client.post(reverse("chat-delete", args=[chat.pk]))
    assert facets(alice_api)["chats"] == [] and facets(alice_api)["total"] == 1


def test_an_image_made_by_the_worker_shows_at_once(alice_client, alice, django_capture_on_commit_callbacks):
    chat = Chat.objects.create(owner=alice, title="c")
    assert page_count(alice_client) == 0
    with django_capture_on_commit_callbacks(execute=True):  # the immediate task backend runs generation_run
        alice_client.post(reverse("chat-message-create", args=[chat.pk]), {"content": "/image a fox"})
    assert GeneratedImage.objects.filter(owner=alice).count() == 1  # made with bulk_create: no post_save signal
    assert page_count(alice_client) == 1


def test_counts_are_per_owner(alice_api, bob, alice, make_image):
    from rest_framework.test import APIClient

    make_image(alice, favorite=True)
    make_image(alice)
    assert facets(alice_api)["total"] == 2
    bob_api = APIClient()
    bob_api.force_authenticate(bob)
    make_image(bob)
    assert facets(bob_api)["total"] == 1 and facets(bob_api)["favorites"] == 0
    assert facets(alice_api)["total"] == 2 and facets(alice_api)["favorites"] == 1


def test_counts_computed_while_the_library_changed_are_not_kept(alice):
    calls = []

    def compute_during_a_change():
        calls.append(1)
        library_cache.library_changed(alice.pk)  # another request changes the library while these are computed
        return {"n": len(calls)}

    assert library_cache.cached("x", alice.pk, {}, lambda: {"n": 0}) == ({"n": 0}, False)  # the row exists now
    library_cache.library_changed(alice.pk)
    assert library_cache.cached("x", alice.pk, {}, compute_during_a_change) == ({"n": 1}, False)
    # The compare-and-set on the version did not store them: the next reader computes again.
    assert library_cache.cached("x", alice.pk, {}, lambda: {"n": 99}) == ({"n": 99}, False)
    assert library_cache.cached("x", alice.pk, {}, lambda: {"n": 100}) == ({"n": 99}, True)


def test_deleting_a_user_with_a_cached_library_works(alice, alice_client, make_image):
    make_image(alice, chat=Chat.objects.create(owner=alice, title="c"))
    Tag.objects.create(owner=alice, name="t")
    alice_client.get(reverse("gallery"))
    assert LibraryState.objects.filter(owner=alice).exists()
    alice.delete()  # the cascade's signals must not write the state of a user being deleted
    assert not LibraryState.objects.exists()


def test_the_api_lists_total_is_cached_like_the_pages_and_follows_every_change(alice_api, alice_client, alice,
                                                                               make_image):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def listed(**params) -> tuple[int, list[str]]:
        with CaptureQueriesContext(connection) as queries:
            response = alice_api.get(reverse("api:image-list"), params)
        assert response.status_code == 200
        return response.json()["count"], [q["sql"] for q in queries]

    first, second = make_image(alice), make_image(alice, prompt="an owl")
    assert listed()[0] == 2
    count, sqls = listed()
    assert count == 2 and not any("COUNT(" in sql.upper() for sql in sqls)  # the total came from the cache
    assert listed(favorites="true")[0] == 0  # its own entry per filter set
    alice_client.post(reverse("gallery-bulk"), {"ids": [first.pk], "action": "favorite"})  # update(): no signal
    assert listed(favorites="true")[0] == 1
    assert listed(q="owl")[0] == 1
    alice_api.delete(reverse("api:image-detail", args=[second.pk]))
    assert listed()[0] == 1 and listed(q="owl")[0] == 0
    make_image(alice)
    assert listed()[0] == 2
