"""An edit's source as a link (Generation.edit_of): set for every kind of edit, filled for old rows by the migration,
kept when the source goes, never another user's, shown both ways on the detail page and in the API."""

import importlib
import json
import re

import pytest
from django.apps import apps
from django.urls import reverse

from chats.models import Chat
from images.gallery import images_delete
from images.lineage import EDITS_SHOWN
from images.metadata import a1111_infotext, provenance
from images.models import GeneratedImage, Generation
from images.services import GenerationRequestError, generation_start

from .conftest import image_bytes

migration = importlib.import_module("images.migrations.0010_generation_edit_of")


def post(client, chat, text, capture):
    with capture(execute=True):
        return client.post(reverse("chat-message-create", args=[chat.pk]), {"content": text})


def edit_of(make_image, source, *, prompt="make it darker", **fields):
    """An image made by editing `source`, as the worker leaves it."""
    return make_image(source.owner, prompt=prompt, parameters={"n": 1, "edit_of": source.pk}, edit_of=source,
                      data=fields.pop("data", None), **fields)


def test_a_chat_edit_links_its_source(alice, alice_client, django_capture_on_commit_callbacks):
    chat = Chat.objects.create(owner=alice, title="t")
    post(alice_client, chat, "/image a red fox --seed 4", django_capture_on_commit_callbacks)
    parent = GeneratedImage.objects.get()
    post(alice_client, chat, "/edit make it darker", django_capture_on_commit_callbacks)
    edit = Generation.objects.get(parameters__edit_of=parent.pk)
    assert edit.edit_of == parent and edit.status == "succeeded", edit.error_message
    assert list(parent.edits.all()) == [edit]


def test_the_gallery_edit_button_links_its_source(alice, alice_client, make_image):
    source = make_image(alice)
    alice_client.post(reverse("gallery-edit", args=[source.pk]), {"instruction": "make it night"})
    edit = Generation.objects.get(parameters__edit_of=source.pk)
    assert edit.edit_of_id == source.pk


def test_another_users_image_can_never_be_linked(alice, bob, alice_client, make_image,
                                                 django_capture_on_commit_callbacks):
    theirs = make_image(bob)
    with pytest.raises(GenerationRequestError) as refused:
        generation_start(owner=alice, prompt="make it mine", options={"edit_of": theirs.pk})
    assert refused.value.code == "not_found"
    chat = Chat.objects.create(owner=alice, title="t")
    post(alice_client, chat, f"/edit --image {theirs.pk} make it mine", django_capture_on_commit_callbacks)
    assert "no such image" in chat.messages.filter(role="assistant").last().content
    assert not Generation.objects.filter(edit_of=theirs).exists() and not theirs.edits.exists()
    assert alice_client.post(reverse("gallery-edit", args=[theirs.pk]), {"instruction": "x"}).status_code == 404


def test_the_migration_links_only_existing_images_of_the_same_owner(alice, bob, make_image):
    source = make_image(alice)
    bobs = make_image(bob)
    gone = make_image(alice)
    gone_pk = gone.pk
    gone.delete()

    def old_edit(owner, value):  # a row from before the link: the id only in parameters
        return Generation.objects.create(owner=owner, provider="offline", prompt="p", status="succeeded",
                                         parameters={"n": 1, "edit_of": value})

    own, own_as_text = old_edit(alice, source.pk), old_edit(alice, str(source.pk))
    across_users, deleted, nonsense = old_edit(alice, bobs.pk), old_edit(alice, gone_pk), old_edit(alice, "x")
    plain = Generation.objects.create(owner=alice, provider="offline", prompt="p", parameters={"n": 1})

    migration.link_edit_sources(apps, None)

    linked = dict(Generation.objects.values_list("pk", "edit_of_id"))
    assert linked[own.pk] == linked[own_as_text.pk] == source.pk
    assert linked[across_users.pk] is linked[deleted.pk] is linked[nonsense.pk] is linked[plain.pk] is None
    assert Generation.objects.get(pk=across_users.pk).parameters["edit_of"] == bobs.pk  # parameters stay as they were


def test_deleting_the_source_keeps_the_edit_and_the_page_says_so(alice, alice_client, make_image):
    source = make_image(alice)
    edit = edit_of(make_image, source)
    images_delete(GeneratedImage.objects.filter(pk=source.pk))
    edit.refresh_from_db()
    edit.generation.refresh_from_db()
    assert edit.generation.edit_of_id is None and edit.generation.parameters["edit_of"] == source.pk
    html = alice_client.get(reverse("gallery-detail", args=[edit.pk])).content.decode()
    assert "Edited from an image that was deleted" in html


def test_the_detail_page_shows_the_lineage_both_ways(alice, alice_client, make_image):
    source = make_image(alice, prompt="a red fox")
    first = edit_of(make_image, source, prompt="make it darker")
    second = edit_of(make_image, source, prompt="add snow")

    html = alice_client.get(reverse("gallery-detail", args=[first.pk])).content.decode()
    edited_from = re.search(r'id="edited-from">(.*?)</div>', html, re.S).group(1)
    assert f'href="/gallery/{source.pk}/" title="a red fox"' in edited_from
    assert f'src="{reverse("image-thumbnail", args=[source.pk])}' in edited_from
    assert 'id="edits-of-image"' not in html

    html = alice_client.get(reverse("gallery-detail", args=[source.pk])).content.decode()
    assert 'id="edited-from"' not in html
    edits = re.search(r'id="edits-of-image">(.*?)</div>\s*</div>', html, re.S).group(1)
    assert '<span class="badge text-bg-secondary">2</span>' in edits
    assert edits.index(f'href="/gallery/{second.pk}/"') < edits.index(f'href="/gallery/{first.pk}/"')  # newest first


def test_the_detail_page_lists_the_owners_edits_only_and_at_most_a_few(alice, bob, alice_client, make_image):
    source = make_image(alice)
    data = image_bytes()
    edits = [edit_of(make_image, source, data=data) for _ in range(EDITS_SHOWN + 3)]
    # A row pointing at alice's image from bob's generation can't be made by generation_start; the page still
    # shows only alice's images if one existed.
    make_image(bob, parameters={"edit_of": source.pk}, edit_of=source, data=data)
    html = alice_client.get(reverse("gallery-detail", args=[source.pk])).content.decode()
    shown = re.findall(r'href="/gallery/(\d+)/" title', re.search(r'id="edits-of-image">(.*?)</p>', html, re.S)[1])
    assert [int(pk) for pk in shown] == [e.pk for e in reversed(edits)][:EDITS_SHOWN]
    assert f'<span class="badge text-bg-secondary">{EDITS_SHOWN + 3}</span>' in html
    assert f"The newest {EDITS_SHOWN} of {EDITS_SHOWN + 3}." in html


def test_the_detail_pages_queries_do_not_grow_with_the_edits(alice, alice_client, make_image,
                                                              django_assert_max_num_queries):
    source = make_image(alice)
    data = image_bytes()
    edit_of(make_image, source, data=data)
    with django_assert_max_num_queries(30) as few:
        alice_client.get(reverse("gallery-detail", args=[source.pk]))
    for _ in range(EDITS_SHOWN + 5):
        edit_of(make_image, source, data=data)
    # One more at most: the count, once there are more edits than the page shows.
    with django_assert_max_num_queries(len(few.captured_queries) + 1):
        alice_client.get(reverse("gallery-detail", args=[source.pk]))
    edit = edit_of(make_image, source, data=data)
    with django_assert_max_num_queries(len(few.captured_queries) + 1):  # the source's own lookup
        alice_client.get(reverse("gallery-detail", args=[edit.pk]))


def test_the_api_names_the_source(alice, alice_api, make_image):
    source = make_image(alice)
    edit = edit_of(make_image, source)
    generation = alice_api.get(reverse("api:generation-detail", args=[edit.generation_id])).json()
    assert generation["edit_of"] == source.pk
    assert alice_api.get(reverse("api:generation-detail", args=[source.generation_id])).json()["edit_of"] is None
    assert alice_api.get(reverse("api:image-detail", args=[edit.pk])).json()["edit_of"] == source.pk
    listed = {r["id"]: r["edit_of"] for r in alice_api.get(reverse("api:image-list")).json()["results"]}
    assert listed == {edit.pk: source.pk, source.pk: None}


def test_the_openapi_schema_types_edit_of_as_a_nullable_id(alice_client):
    schema = alice_client.get(reverse("api-schema"), {"format": "json"}).json()
    for name in ("Generation", "GalleryImage"):
        field = schema["components"]["schemas"][name]["properties"]["edit_of"]
        assert field["type"] == "integer" and field["nullable"] is True and field["readOnly"] is True


def test_downloads_name_the_source(alice, make_image):
    source = make_image(alice)
    edit = edit_of(make_image, source)
    meta = provenance(GeneratedImage.objects.select_related("generation").get(pk=edit.pk))
    assert meta["edit_of"] == source.pk and f"Edit of image: {source.pk}" in a1111_infotext(meta)
    plain = provenance(GeneratedImage.objects.select_related("generation").get(pk=source.pk))
    assert plain["edit_of"] is None and "Edit of image" not in a1111_infotext(plain)
    json.dumps(meta)  # still plain JSON for the PNG chunk and the XMP packet


def test_the_chat_card_links_the_source_and_says_when_it_was_deleted(alice, alice_client,
                                                                    django_capture_on_commit_callbacks):
    chat = Chat.objects.create(owner=alice, title="t")
    post(alice_client, chat, "/image a red fox --seed 4", django_capture_on_commit_callbacks)
    source = GeneratedImage.objects.get()
    post(alice_client, chat, "/edit make it darker", django_capture_on_commit_callbacks)
    page = alice_client.get(chat.get_absolute_url()).content.decode()
    assert f'An edit of <a href="{reverse("gallery-detail", args=[source.pk])}">image #{source.pk}</a>' in page
    images_delete(GeneratedImage.objects.filter(pk=source.pk))
    page = alice_client.get(chat.get_absolute_url()).content.decode()  # the card's cached HTML is keyed by the row
    assert "An edit of an image that was deleted" in page
    assert reverse("gallery-detail", args=[source.pk]) not in page
