"""T43: the same job delivered twice, one after the other and at the same moment, runs once."""

import threading
import time

import pytest
from django.db import connection

from images.models import GeneratedImage, Generation
from images.services import generation_run, generation_start
from tests.fakes import png_bytes


def stored_files(media_root):
    return sorted(p.relative_to(media_root).as_posix() for p in media_root.rglob("*.*")) if media_root.exists() else []


@pytest.mark.django_db
def test_t43_delivered_twice_in_sequence_calls_the_provider_once(alice, fake_profile, fake_provider, media_root):
    generation = generation_start(owner=alice, prompt="a fox")
    generation_run(generation_id=generation.pk)
    generation_run(generation_id=generation.pk)
    generation.refresh_from_db()
    assert len(fake_provider.calls) == 1
    assert (generation.status, generation.attempts) == ("succeeded", 1)
    assert GeneratedImage.objects.count() == 1
    assert len(stored_files(media_root)) == 2  # the image and its thumbnail


def run_twice_at_once(generation_id: int) -> list[BaseException]:
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def deliver() -> None:
        try:
            start.wait(timeout=5)
            generation_run(generation_id=generation_id)
        except BaseException as e:  # noqa: BLE001 - reported by the test
            errors.append(e)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return errors


def slow_image():
    time.sleep(0.3)  # the winner is still inside the provider call when the loser tries to claim
    return png_bytes()


@pytest.mark.django_db(transaction=True)
def test_t43_delivered_twice_at_once_calls_the_provider_once(alice, fake_profile, fake_provider, media_root):
    generation = generation_start(owner=alice, prompt="a fox")
    fake_provider.script = [slow_image, slow_image]
    assert run_twice_at_once(generation.pk) == []
    generation.refresh_from_db()
    # The loser's compare-and-set matched 0 rows: one provider call, one attempt counted, one image, one file.
    assert len(fake_provider.calls) == 1
    assert (generation.status, generation.attempts) == ("succeeded", 1)
    assert GeneratedImage.objects.filter(generation=generation).count() == 1
    assert len(stored_files(media_root)) == 2


@pytest.mark.scale
@pytest.mark.django_db(transaction=True)
def test_t43_on_postgresql_two_deliveries_at_once_run_once(alice, fake_profile, fake_provider, media_root, postgresql):
    generation = generation_start(owner=alice, prompt="a fox")
    fake_provider.script = [slow_image, slow_image]
    assert run_twice_at_once(generation.pk) == []
    generation.refresh_from_db()
    assert len(fake_provider.calls) == 1 and generation.attempts == 1
    assert Generation.objects.get(pk=generation.pk).images.count() == 1
