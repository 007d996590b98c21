"""Issue 5: the image modal's image is not saved into the conversation and is kept in the gallery only when the
person presses "Save to gallery"; it still counts in usage and cost. Unsaved ones are pruned after a day."""

from __future__ import annotations

import io
import os
import time
import zipfile
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.urls import reverse
from django.utils import timezone

from chats.models import Chat
from images.jobs import find_violations, sweep
from images.models import GeneratedImage, Generation, Tag
from images.services import generation_run, generation_start
from images.usage import month_summary
from ops.accounts import write_export_zip
from sharing.services import share_create, shared_images

pytestmark = pytest.mark.django_db


def modal(api, prompt: str = "a red kite over the dunes", **extra) -> dict:
    response = api.post(reverse("api:generate-image"), {"prompt": prompt, **extra}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def listed(api) -> list[dict]:
    body = api.get(reverse("api:image-list")).json()
    return body["results"] if isinstance(body, dict) else body


def test_the_modal_image_is_in_no_list_until_saved_but_counts_in_usage(alice, alice_api, alice_client):
    chat = Chat.objects.create(owner=alice)
    answer = modal(alice_api, conversation_id=chat.pk)
    assert answer["images"][0].startswith("data:image/png;base64,") and answer["saved"] is False
    image = GeneratedImage.objects.get()
    assert (image.in_gallery, image.source) == (False, "modal")
    assert chat.messages.count() == 0  # not in the conversation either
    # Out of the gallery page, the API's list and facets, the Images page's recent row, and the export.
    assert listed(alice_api) == []
    assert alice_api.get(reverse("api:image-facets")).json()["total"] == 0
    assert alice_api.get(reverse("api:image-detail", args=[image.pk])).status_code == 404
    assert alice_client.get(reverse("gallery-detail", args=[image.pk])).status_code == 404
    assert image.file_url not in alice_client.get(reverse("gallery")).content.decode()
    assert image.thumbnail_url not in alice_client.get(reverse("images-home")).content.decode()
    handle = io.BytesIO()
    write_export_zip(alice, handle)
    archive = zipfile.ZipFile(handle)
    assert not [n for n in archive.namelist() if n.startswith(f"images/{image.pk}-")]
    assert image.sha256 not in archive.read("images/metadata.json").decode()
    # ...but it was made and paid for: usage counts it.
    summary = month_summary(alice)
    assert (summary.generations, summary.images) == (1, 1)
    assert Generation.objects.get().estimated_cost_usd is not None
    # The owner can still fetch its file (GET /api/generations/{id}/ links it: the async path).
    detail = alice_api.get(reverse("api:generation-detail", args=[answer["generation"]])).json()
    assert detail["modal"] is True and detail["images"][0]["in_gallery"] is False
    assert alice_client.get(image.file_url).status_code == 200


def test_save_to_gallery_puts_it_in_the_gallery_as_modal_and_is_idempotent(alice, alice_api, alice_client):
    answer = modal(alice_api)
    response = alice_api.post(answer["save_url"])
    assert response.status_code == 200, response.content
    saved = response.json()
    assert [i["source"] for i in saved] == ["modal"] and saved[0]["in_gallery"] is True
    image = GeneratedImage.objects.get()
    assert [i["id"] for i in listed(alice_api)] == [image.pk]
    assert alice_api.get(reverse("api:image-list"), {"source": "modal"}).json()
    assert alice_client.get(reverse("gallery-detail", args=[image.pk])).status_code == 200
    assert alice_api.post(answer["save_url"]).status_code == 200  # again: nothing changes
    assert GeneratedImage.objects.filter(in_gallery=True).count() == 1


def test_another_user_cannot_save_it(alice_api, bob):
    from rest_framework.test import APIClient

    answer = modal(alice_api)
    bob_api = APIClient()
    bob_api.force_authenticate(bob)
    response = bob_api.post(answer["save_url"])
    assert response.status_code == 404 and not GeneratedImage.objects.get().in_gallery


def test_saving_while_it_is_still_being_made_is_409(alice, alice_api):
    generation = generation_start(owner=alice, prompt="a fox")
    Generation.objects.filter(pk=generation.pk).update(modal=True)
    response = alice_api.post(reverse("api:generation-save-to-gallery", args=[generation.pk]))
    assert response.status_code == 409 and response.json()["code"] == "not_ready"


def test_an_unsaved_image_is_in_no_share(alice, alice_api):
    modal(alice_api)
    image = GeneratedImage.objects.get()
    tag = Tag.objects.create(owner=alice, name="kites")
    image.tags.add(tag)  # not possible from the pages or the API (they do not see it); the share filters anyway
    assert list(shared_images(share_create(owner=alice, tag=tag))) == []
    assert list(shared_images(share_create(owner=alice, image=image))) == []


def age(name: str, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(default_storage.path(name), (then, then))


def test_the_sweeper_deletes_unsaved_images_after_a_day_with_their_files(alice, alice_api, settings):
    unsaved, kept = modal(alice_api, "one"), modal(alice_api, "two")
    alice_api.post(kept["save_url"])
    normal = generation_start(owner=alice, prompt="three")
    generation_run(generation_id=normal.pk)
    day_old = timezone.now() - timedelta(seconds=settings.IMAGEGEN_UNSAVED_IMAGE_TTL_S + 60)
    GeneratedImage.objects.update(created=day_old)
    doomed = GeneratedImage.objects.get(generation_id=unsaved["generation"])
    for image in GeneratedImage.objects.all():
        age(image.file, settings.IMAGEGEN_ORPHAN_FILE_AGE_S + 60)
        age(image.thumbnail, settings.IMAGEGEN_ORPHAN_FILE_AGE_S + 60)

    report = sweep()
    assert report.unsaved_deleted == [doomed.pk]
    assert set(report.orphans_deleted) == {doomed.file, doomed.thumbnail}
    assert not default_storage.exists(doomed.file)
    assert GeneratedImage.objects.count() == 2  # the saved modal image and the chat's stay
    # The generation stays for usage and cost, and the invariants checker knows why it has no image.
    assert Generation.objects.filter(pk=unsaved["generation"], status="succeeded").exists()
    assert find_violations() == []
    # Saving now is too late.
    response = alice_api.post(unsaved["save_url"])
    assert response.status_code == 404 and "deleted" in response.json()["detail"]


def test_a_fresh_unsaved_image_is_left_alone(alice_api):
    modal(alice_api)
    assert sweep().unsaved_deleted == []
    assert GeneratedImage.objects.count() == 1


def test_shared_bytes_stay_when_an_unsaved_twin_goes(alice, alice_api, fake_provider):
    """Content addressing: the same bytes are one file for two rows; the saved row keeps it."""
    from profiles.models import ImageProfile

    profile = ImageProfile.objects.create(owner=alice, name="Fake", provider="fake")
    modal(alice_api, "same", profile=profile.pk)
    saved = modal(alice_api, "same", profile=profile.pk)
    alice_api.post(saved["save_url"])
    first, second = GeneratedImage.objects.order_by("pk")
    assert first.file == second.file
    GeneratedImage.objects.update(created=timezone.now() - timedelta(days=2))
    age(first.file, 3 * 86400)
    assert sweep().unsaved_deleted == [first.pk]
    assert default_storage.exists(second.file)
