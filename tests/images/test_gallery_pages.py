import io
import json
import re
import zipfile

import pytest
from django.core.files.storage import default_storage
from django.urls import reverse
from PIL import Image

from chats.models import Chat, Message
from images.models import GeneratedImage, Generation, Tag

from .conftest import image_bytes

pytestmark = pytest.mark.django_db


def shown_ids(response) -> list[int]:
    return [int(x) for x in re.findall(r'data-image-id="(\d+)"', response.content.decode())]


def test_gallery_filters_and_counts(alice_client, alice, bob, make_image):
    chat = Chat.objects.create(owner=alice, title="Foxes")
    fox = make_image(alice, prompt="a red fox in snow", chat=chat, favorite=True)
    owl = make_image(alice, prompt="an owl at night", provider="openai", model="gpt-image-1")
    lighthouse = make_image(alice, prompt="a lighthouse", chat=chat)
    make_image(bob, prompt="bob's red fox", favorite=True)
    Tag.objects.create(owner=alice, name="print").images.add(owl, lighthouse)

    everything = alice_client.get(reverse("gallery"))
    assert shown_ids(everything) == [lighthouse.pk, owl.pk, fox.pk]  # newest first, only alice's
    html = everything.content.decode()
    assert 'data-facet="favorites">1<' in html
    assert "openai (1)" in html and "offline (2)" in html and "print (2)" in html and "Foxes (2)" in html

    assert shown_ids(alice_client.get(reverse("gallery"), {"favorites": "1"})) == [fox.pk]
    assert shown_ids(alice_client.get(reverse("gallery"), {"provider": "openai"})) == [owl.pk]
    assert shown_ids(alice_client.get(reverse("gallery"), {"model": "gpt-image-1"})) == [owl.pk]
    assert shown_ids(alice_client.get(reverse("gallery"), {"tag": "print"})) == [lighthouse.pk, owl.pk]
    assert shown_ids(alice_client.get(reverse("gallery"), {"chat": chat.pk})) == [lighthouse.pk, fox.pk]
    # Search: every word, in any of the prompts, case-insensitive.
    assert shown_ids(alice_client.get(reverse("gallery"), {"q": "RED snow"})) == [fox.pk]
    assert shown_ids(alice_client.get(reverse("gallery"), {"q": "red owl"})) == []
    # Favorites first.
    assert shown_ids(alice_client.get(reverse("gallery"), {"sort": "favorites"}))[0] == fox.pk
    # Counts follow the other filters: within the chat, one favorite and no openai image.
    in_chat = alice_client.get(reverse("gallery"), {"chat": chat.pk}).content.decode()
    assert 'data-facet="favorites">1<' in in_chat and "openai" not in in_chat
    assert "Images from “Foxes”" in in_chat


def test_dates_filter_and_bad_dates_are_reported_not_fatal(alice_client, alice, make_image):
    image = make_image(alice)
    day = image.created.date().isoformat()
    assert shown_ids(alice_client.get(reverse("gallery"), {"date_from": day, "date_to": day})) == [image.pk]
    assert shown_ids(alice_client.get(reverse("gallery"), {"date_from": "2001-01-01", "date_to": "2001-01-02"})) == []
    response = alice_client.get(reverse("gallery"), {"date_from": "not-a-date", "provider": "offline"})
    assert response.status_code == 200
    assert "Enter a valid date" in response.content.decode() and shown_ids(response) == [image.pk]


def test_gallery_query_count_does_not_grow_with_the_library(alice_client, alice, make_image,
                                                            django_assert_max_num_queries):
    chat = Chat.objects.create(owner=alice, title="c")
    tag = Tag.objects.create(owner=alice, name="t")
    image = make_image(alice, chat=chat)
    tag.images.add(image)
    with django_assert_max_num_queries(12) as small:
        alice_client.get(reverse("gallery"))
    data = image_bytes()
    for i in range(60):  # more than one page, several chats, tags
        extra = make_image(alice, chat=Chat.objects.create(owner=alice, title=f"c{i}"), data=data)
        extra.tags.add(tag)
    with django_assert_max_num_queries(len(small.captured_queries)) as large:
        response = alice_client.get(reverse("gallery"), {"tag": "t", "q": "fox"})
    assert len(shown_ids(response)) == 48
    assert len(large.captured_queries) == len(small.captured_queries)


def test_infinite_scroll_returns_the_next_tiles(alice_client, alice, make_image):
    data = image_bytes()
    images = [make_image(alice, data=data) for _ in range(50)]
    first = alice_client.get(reverse("gallery"))
    assert 'hx-trigger="revealed"' in first.content.decode()
    more = alice_client.get(reverse("gallery"), {"page": 2}, HTTP_HX_REQUEST="true")
    assert shown_ids(more) == [images[1].pk, images[0].pk]
    assert "<html" not in more.content.decode()


def test_bulk_favorite_tag_delete(alice_client, alice, bob, make_image, django_capture_on_commit_callbacks):
    a, b, c = (make_image(alice) for _ in range(3))
    bobs = make_image(bob)
    url = reverse("gallery-bulk")
    alice_client.post(url, {"ids": [a.pk, b.pk, bobs.pk], "action": "favorite"})
    assert set(GeneratedImage.objects.filter(is_favorite=True).values_list("pk", flat=True)) == {a.pk, b.pk}

    alice_client.post(url, {"ids": [a.pk, c.pk, bobs.pk], "action": "tag", "tag": "  best   of "})
    tag = Tag.objects.get(owner=alice)
    assert tag.name == "best of" and set(tag.images.values_list("pk", flat=True)) == {a.pk, c.pk}
    assert not bobs.tags.exists() and not Tag.objects.filter(owner=bob).exists()
    alice_client.post(url, {"ids": [a.pk], "action": "tag", "tag": "BEST OF"})  # same tag, any case: no duplicate
    assert Tag.objects.filter(owner=alice).count() == 1

    with django_capture_on_commit_callbacks(execute=True):  # files go once the rows are gone for good
        response = alice_client.post(url, {"ids": [a.pk, bobs.pk], "action": "delete", "next": "/gallery/?favorites=1"})
    assert response.status_code == 302 and response["Location"] == "/gallery/?favorites=1"
    assert not GeneratedImage.objects.filter(pk=a.pk).exists() and GeneratedImage.objects.filter(pk=bobs.pk).exists()
    assert not default_storage.exists(a.file) and default_storage.exists(bobs.file)

    # An off-site "next" is ignored.
    response = alice_client.post(url, {"ids": [b.pk], "action": "unfavorite", "next": "https://evil.example/"})
    assert response["Location"] == reverse("gallery")


def test_bulk_zip_has_the_images_with_metadata(alice_client, alice, bob, make_image):
    a = make_image(alice, prompt="zip fox")
    b = make_image(alice, prompt="zip owl", data=image_bytes("JPEG"))
    bobs = make_image(bob, prompt="bob's secret")
    response = alice_client.post(reverse("gallery-bulk"), {"ids": [a.pk, b.pk, bobs.pk], "action": "zip"})
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    names = archive.namelist()
    assert len(names) == 3 and "manifest.json" in names
    manifest = json.loads(archive.read("manifest.json"))
    assert {m["prompt"] for m in manifest} == {"zip fox", "zip owl"}
    png = next(n for n in names if n.endswith(".png"))
    assert json.loads(Image.open(io.BytesIO(archive.read(png))).text["imagegen"])["prompt"] == "zip fox"


def test_bulk_with_nothing_selected_says_so(alice_client):
    response = alice_client.post(reverse("gallery-bulk"), {"action": "delete"}, follow=True)
    assert "Select one or more images first." in response.content.decode()


def test_delete_keeps_the_file_while_another_row_uses_the_same_bytes(alice_client, alice, make_image,
                                                                    django_capture_on_commit_callbacks):
    data = image_bytes()
    first, second = make_image(alice, data=data), make_image(alice, data=data)
    assert first.file == second.file  # content-addressed: stored once
    with django_capture_on_commit_callbacks(execute=True):
        alice_client.post(reverse("gallery-delete", args=[first.pk]))
    assert not GeneratedImage.objects.filter(pk=first.pk).exists()
    assert default_storage.exists(second.file) and default_storage.exists(second.thumbnail)
    with django_capture_on_commit_callbacks(execute=True):
        alice_client.post(reverse("gallery-delete", args=[second.pk]))
    assert not default_storage.exists(second.file) and not default_storage.exists(second.thumbnail)


def test_detail_page_shows_everything_and_neighbours(alice_client, alice, make_image):
    chat = Chat.objects.create(owner=alice, title="Story")
    older = make_image(alice, prompt="older", chat=chat)
    middle = make_image(alice, prompt="middle", chat=chat, estimated_cost_usd="0.0400",
                        parameters={"n": 1, "aspect_ratio": "16:9", "seed": 9})
    make_image(alice, prompt="elsewhere")  # not in the chat
    newer = make_image(alice, prompt="newer", chat=chat)
    html = alice_client.get(reverse("gallery-detail", args=[middle.pk]), {"chat": chat.pk}).content.decode()
    assert f'data-previous-url="/gallery/{newer.pk}/?chat={chat.pk}"' in html
    assert f'data-next-url="/gallery/{older.pk}/?chat={chat.pk}"' in html
    assert f'data-back-url="/gallery/?chat={chat.pk}"' in html
    for text in ("middle", "$0.0400", "aspect_ratio=16:9", "Story", "Same seed", "Re-roll", "Reuse these settings",
                 "PNG with metadata", "Copy prompt"):
        assert text in html, text
    # At the end of the list there is no "next".
    html = alice_client.get(reverse("gallery-detail", args=[older.pk]), {"chat": chat.pk}).content.decode()
    assert 'data-next-url=""' in html


def test_favorite_toggle_over_htmx(alice_client, alice, make_image):
    image = make_image(alice)
    url = reverse("gallery-favorite", args=[image.pk])
    response = alice_client.post(url, {"value": "1"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and 'aria-pressed="true"' in response.content.decode()
    image.refresh_from_db()
    assert image.is_favorite
    alice_client.post(url)  # no value: toggles
    image.refresh_from_db()
    assert not image.is_favorite


def test_tags_inline_edit(alice_client, alice, bob, make_image):
    image = make_image(alice)
    Tag.objects.create(owner=bob, name="fox")  # bob's tag of the same name is a different tag
    url = reverse("gallery-tags", args=[image.pk])
    response = alice_client.post(url, {"tags": "fox, Night ,fox, , night"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert sorted(image.tags.values_list("name", flat=True)) == ["Night", "fox"]
    assert image.tags.get(name="fox").owner == alice
    too_long = "x" * 65
    response = alice_client.post(url, {"tags": f"ok, {too_long}"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 422
    body = response.content.decode()
    assert "at most 64 characters" in body and too_long in body  # the typed text stays in the box
    assert sorted(image.tags.values_list("name", flat=True)) == ["Night", "fox"]
    alice_client.post(url, {"tags": ""})
    assert not image.tags.exists()


def test_tag_list_rename_delete(alice_client, alice, make_image):
    image = make_image(alice)
    fox, owl = Tag.objects.create(owner=alice, name="fox"), Tag.objects.create(owner=alice, name="owl")
    fox.images.add(image)
    html = alice_client.get(reverse("tag-list")).content.decode()
    assert re.search(r'data-tag="fox">.*?tag-count">1<', html, re.S)
    assert re.search(r'data-tag="owl">.*?tag-count">0<', html, re.S)
    response = alice_client.post(reverse("tag-rename", args=[owl.pk]), {"name": "FOX"}, follow=True)
    assert "already have a tag named" in response.content.decode()
    alice_client.post(reverse("tag-rename", args=[fox.pk]), {"name": "foxes"})
    assert Tag.objects.get(pk=fox.pk).name == "foxes"
    alice_client.post(reverse("tag-delete", args=[fox.pk]))
    assert not Tag.objects.filter(pk=fox.pk).exists() and GeneratedImage.objects.filter(pk=image.pk).exists()


@pytest.mark.parametrize("mode", ["same_seed", "reroll", "reuse"])
def test_make_it_again_goes_through_generation_start(mode, alice_client, alice, make_image, monkeypatch,
                                                     django_capture_on_commit_callbacks):
    import images.gallery as gallery_module

    calls = []
    real = gallery_module.generation_start

    def spy(**kwargs):
        calls.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(gallery_module, "generation_start", spy)
    chat = Chat.objects.create(owner=alice, title="Story")
    image = make_image(alice, prompt="a fox", chat=chat, seed=1234, negative_prompt="people",
                       parameters={"n": 2, "aspect_ratio": "16:9"})
    data = {"mode": mode}
    if mode == "reuse":
        data.update(prompt="a fox, at dusk", negative_prompt="", n="1", aspect_ratio="1:1", seed="77", style="")
    with django_capture_on_commit_callbacks(execute=True):  # the task runs at once in tests (immediate backend)
        response = alice_client.post(reverse("gallery-generate", args=[image.pk]), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    (call,) = calls
    new = Generation.objects.exclude(pk=image.generation_id).get()
    assert response["Location"] == f"/chats/{chat.pk}/#generation-{new.pk}"
    assert new.chat == chat and new.message.kind == Message.Kind.IMAGE
    if mode == "same_seed":
        assert call["options"] == {"n": 2, "aspect_ratio": "16:9", "seed": 1234} and call["negative_prompt"] == "people"
    elif mode == "reroll":
        assert call["options"] == {"n": 2, "aspect_ratio": "16:9"} and call["prompt"] == "a fox"
    else:
        assert call["options"] == {"n": 1, "aspect_ratio": "1:1", "seed": 77} and call["prompt"] == "a fox, at dusk"
    # The chat shows what was asked, as a command.
    assert Message.objects.filter(chat=chat, role="user").get().content.startswith("/image a fox")
    assert new.status == Generation.Status.SUCCEEDED and new.images.exists()  # the offline renderer ran


def test_make_it_again_with_bad_input_keeps_the_form_and_saves_nothing(alice_client, alice, make_image, settings):
    image = make_image(alice, prompt="a fox")
    before = (Generation.objects.count(), Message.objects.count(), Chat.objects.count())
    response = alice_client.post(reverse("gallery-generate", args=[image.pk]),
                                 {"mode": "reuse", "prompt": "a fox at dawn", "n": "9"})
    assert response.status_code == 422
    html = response.content.decode()
    assert "a fox at dawn" in html and "less than or equal to 4" in html and 'data-open-reuse="1"' in html
    # The service's own checks surface the same way, with nothing saved.
    settings.IMAGEGEN_MAX_PROMPT_CHARS = 3
    response = alice_client.post(reverse("gallery-generate", args=[image.pk]), {"mode": "reroll"})
    assert response.status_code == 422 and "the limit is 3" in response.content.decode()
    assert (Generation.objects.count(), Message.objects.count(), Chat.objects.count()) == before


def test_gallery_pages_are_read_straight_off_an_index(alice):
    from django.db import connection

    from images import gallery

    if connection.vendor != "sqlite":
        pytest.skip("the plan text checked here is SQLite's")
    for sort in ("newest", "favorites"):
        sql, params = gallery.ordered(gallery.library(alice), {"sort": sort})[:48].query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
            plan = " ".join(str(row) for row in cursor.fetchall())
        assert "USING INDEX image_owner_" in plan and "TEMP B-TREE" not in plan, plan


def test_tiles_are_drawn_once_and_show_every_change_to_what_they_draw(alice_client, alice, make_image, monkeypatch):
    """The gallery's tiles are kept per process, keyed by what they show (images/templatetags/gallery_extras.py)."""
    from images.templatetags import gallery_extras

    fox = make_image(alice, prompt="a red fox")
    page = alice_client.get(reverse("gallery")).content.decode()
    assert f'href="/gallery/{fox.pk}/" title="a red fox"' in page and "is-favorite" not in page
    drawn = []
    real = gallery_extras.render_to_string
    monkeypatch.setattr(gallery_extras, "render_to_string", lambda *a, **k: drawn.append(a[0]) or real(*a, **k))
    tiles = re.compile(r'<div class="gallery-tile".*?data-favorite-toggle>.*?</div>', re.S)
    assert tiles.findall(alice_client.get(reverse("gallery")).content.decode()) == tiles.findall(page)
    assert drawn == [] and len(tiles.findall(page)) == 1
    GeneratedImage.objects.filter(pk=fox.pk).update(is_favorite=True)  # no signal: the row itself is the key
    assert "is-favorite" in alice_client.get(reverse("gallery")).content.decode()
    Generation.objects.filter(pk=fox.generation_id).update(prompt="a sly fox")
    assert 'title="a sly fox"' in alice_client.get(reverse("gallery")).content.decode()
    filtered = alice_client.get(reverse("gallery"), {"q": "fox"}).content.decode()
    assert f'href="/gallery/{fox.pk}/?q=fox"' in filtered  # the filters are in the key: links keep them
    assert drawn == ["images/_gallery_tile.html"] * 3


def test_the_add_image_dialogs_drawn_once_carry_each_requests_csrf_token(alice_client):
    """The Upload / Import dialogs are drawn once a process around a marker (images/templatetags/gallery_extras.py):
    the same HTML as drawn afresh, with each request's own token in both forms."""
    from django.template import Context, Template
    from django.template.loader import render_to_string

    from images.models import ImageType

    tag = Template("{% load gallery_extras %}{% add_image_modals %}")
    for token in ("tokenA" * 8, "tokenB" * 8, "NOTPROVIDED", ""):
        fresh = render_to_string("images/_add_image_modals.html", {"types": ImageType.choices, "csrf_token": token})
        assert tag.render(Context({"csrf_token": token})) == fresh
        drawn = 2 if token not in ("", "NOTPROVIDED") else 0
        assert fresh.count(f'name="csrfmiddlewaretoken" value="{token}"') == fresh.count("csrfmiddlewaretoken") == drawn
    page = alice_client.get(reverse("gallery")).content.decode()
    tokens = re.findall(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert len(tokens) >= 3 and "csrftokenmark" not in page
    assert alice_client.get(reverse("gallery")).content.decode().count(tokens[-1]) == 0  # a fresh mask each time
