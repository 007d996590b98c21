"""The admin's "re-run thumbnails" is a task on the worker (images/tasks.py), not work in the request: queued by the
action, idempotent when delivered twice, and confined to each image's owner's folder."""

import io
import logging

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, default_storage
from django.core.management import call_command
from django.urls import reverse
from PIL import Image

from images import admin as images_admin
from images.models import GeneratedImage
from images.tasks import rebuild_thumbnails
from tests.images.conftest import create_image, image_bytes

CHANGELIST = "admin:images_generatedimage_changelist"


def thumbnail_tasks():
    from django_tasks_db.models import DBTaskResult

    return DBTaskResult.objects.filter(task_path="images.tasks.rebuild_thumbnails").order_by("enqueued_at")


def thumb_size(name: str) -> tuple[int, int]:
    with default_storage.open(name, "rb") as handle:
        return Image.open(io.BytesIO(handle.read())).size


@pytest.mark.django_db(transaction=True)
def test_the_action_queues_a_task_that_the_worker_runs(admin_client, alice, database_queue, monkeypatch):
    monkeypatch.setattr(images_admin, "THUMBNAILS_PER_TASK", 2)  # three images: two tasks
    images = [create_image(alice, prompt=f"fox {i}", data=image_bytes(size=(1200, 600))) for i in range(3)]
    for image in images:
        default_storage.delete(image.thumbnail)
    response = admin_client.post(reverse(CHANGELIST), {
        "action": "rebuild_thumbnails", "_selected_action": [image.pk for image in images],
    }, follow=True)
    assert "Queued 3 thumbnail(s) to be rebuilt by the worker." in response.content.decode()
    assert not any(default_storage.exists(image.thumbnail) for image in images)  # nothing done in the request
    assert [t.args_kwargs["args"] for t in thumbnail_tasks()] == [[[images[0].pk, images[1].pk]], [[images[2].pk]]]

    call_command("db_worker", "--batch", "--no-startup-delay", "--no-reload", verbosity=0)

    assert {t.status for t in thumbnail_tasks()} == {"SUCCESSFUL"}
    assert [t.return_value for t in thumbnail_tasks()] == [{"rebuilt": 2, "missing": [], "refused": []},
                                                           {"rebuilt": 1, "missing": [], "refused": []}]
    for image in images:
        assert thumb_size(image.thumbnail) == (512, 256)


@pytest.mark.django_db
def test_delivered_twice_the_task_changes_nothing_the_second_time(alice, media_root, monkeypatch):
    image = create_image(alice, data=image_bytes(size=(800, 800)))
    same_bytes = GeneratedImage.objects.create(  # another row of the same bytes shares the files
        generation=image.generation, owner=alice, index=1, file=image.file, thumbnail=image.thumbnail,
        sha256=image.sha256, width=image.width, height=image.height, mime_type=image.mime_type, bytes=image.bytes)
    default_storage.save(image.thumbnail, ContentFile(b"a broken thumbnail"))  # overwritten in place
    assert rebuild_thumbnails.call([image.pk, same_bytes.pk]) == {"rebuilt": 2, "missing": [], "refused": []}
    assert thumb_size(image.thumbnail) == (512, 512)
    thumbs = (media_root / "images" / str(alice.pk) / "thumbs").rglob("*.*")
    thumbs = sorted(p.relative_to(media_root).as_posix() for p in thumbs)
    assert thumbs == [image.thumbnail]  # one file, under its content name (no _AbCdEf1 copy)

    writes = []
    monkeypatch.setattr(FileSystemStorage, "save", lambda self, name, *a, **k: writes.append(name))
    monkeypatch.setattr(FileSystemStorage, "delete", lambda self, name: writes.append(f"delete {name}"))
    assert rebuild_thumbnails.call([image.pk, same_bytes.pk]) == {"rebuilt": 2, "missing": [], "refused": []}
    assert writes == []  # the thumbnail already has the right bytes
    assert set(GeneratedImage.objects.values_list("thumbnail", flat=True)) == {image.thumbnail}


@pytest.mark.django_db
def test_the_task_only_touches_the_owners_own_files(alice, bob):
    alices = create_image(alice, data=image_bytes(size=(600, 300)))
    with default_storage.open(alices.thumbnail, "rb") as handle:
        alices_thumb = handle.read()
    bobs = create_image(bob, data=image_bytes(size=(300, 600)))
    # Rows that name another user's files (damaged data, or a hostile edit in the admin's raw form):
    GeneratedImage.objects.filter(pk=bobs.pk).update(thumbnail=alices.thumbnail)
    reads_alices = create_image(bob, prompt="points at alice's original")
    GeneratedImage.objects.filter(pk=reads_alices.pk).update(file=alices.file)
    escapes = create_image(bob, prompt="climbs out of its folder")
    GeneratedImage.objects.filter(pk=escapes.pk).update(
        file=alices.file.replace(f"images/{alice.pk}/", f"images/{bob.pk}/../{alice.pk}/"))

    result = rebuild_thumbnails.call([bobs.pk, reads_alices.pk, escapes.pk])

    assert result == {"rebuilt": 1, "missing": [], "refused": [reads_alices.pk, escapes.pk]}
    with default_storage.open(alices.thumbnail, "rb") as handle:
        assert handle.read() == alices_thumb  # alice's thumbnail untouched
    bobs.refresh_from_db()
    assert bobs.thumbnail == f"images/{bob.pk}/thumbs/{bobs.sha256[:2]}/{bobs.sha256}.webp"  # bob's own folder
    assert thumb_size(bobs.thumbnail) == (256, 512)
    for image in (reads_alices, escapes):  # leave the invariants holding (T50)
        GeneratedImage.objects.filter(pk=image.pk).update(file=image.file)


@pytest.mark.django_db
def test_a_missing_original_is_logged_and_the_rest_are_rebuilt(alice, caplog):
    gone = create_image(alice, prompt="no original")
    fine = create_image(alice)
    default_storage.delete(gone.file)
    default_storage.delete(fine.thumbnail)
    with caplog.at_level(logging.WARNING, logger="images.tasks"):
        result = rebuild_thumbnails.call([gone.pk, fine.pk, 999_999])  # 999999: deleted since the action
    assert result == {"rebuilt": 1, "missing": [gone.pk], "refused": []}
    assert default_storage.exists(fine.thumbnail)
    assert f"missing for image(s) {gone.pk}" in caplog.text
    default_storage.save(gone.file, ContentFile(image_bytes()))  # leave the invariants holding (T50)


@pytest.mark.django_db
def test_the_action_says_so_when_the_queue_is_down(admin_client, alice, monkeypatch):
    class Down:
        def enqueue(self, *args):
            raise ConnectionError("broker down")

    monkeypatch.setattr(images_admin, "rebuild_thumbnails", Down())
    image = create_image(alice)
    response = admin_client.post(reverse(CHANGELIST), {"action": "rebuild_thumbnails", "_selected_action": [image.pk]},
                                 follow=True)
    html = response.content.decode()
    assert "no thumbnails were queued" in html and "to be rebuilt by the worker" not in html
