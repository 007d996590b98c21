"""Operator commands: generate_image, list_generations, retry_failed, prune."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from chats.models import Chat, Message
from images.models import GeneratedImage, Generation
from ops.durations import parse_span
from profiles.models import ImageProfile

pytestmark = pytest.mark.django_db(transaction=True)


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=out)
    return out.getvalue()


def test_generate_image_prints_the_stored_file_and_id(alice):
    ImageProfile.objects.create(owner=alice, name="sketchbook", provider="offline")
    output = run("generate_image", "--user", "alice", "--profile", "sketchbook", "a lighthouse --ar 16:9 --seed 4")
    image = GeneratedImage.objects.get()
    assert f"image {image.pk}: " in output and default_storage.path(image.file) in output
    assert image.generation.profile.name == "sketchbook" and image.generation.parameters["seed"] == 4
    assert image.generation.prompt == "a lighthouse" and image.width > image.height


def test_generate_image_with_the_db_queue_and_no_worker_runs_it_itself(alice, settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
    output = run("generate_image", "--user", "alice", "a heron")
    assert Generation.objects.get().status == "succeeded" and "image " in output


def test_generate_image_names_bad_input(alice):
    with pytest.raises(CommandError, match="No user named 'nobody'"):
        run("generate_image", "--user", "nobody", "x")
    with pytest.raises(CommandError, match="no profile named 'nope'"):
        run("generate_image", "--user", "alice", "--profile", "nope", "x")
    with pytest.raises(CommandError):
        run("generate_image", "--user", "alice", "x --n 9")
    assert not Generation.objects.exists()


def _failed(owner, *, finished_ago: timedelta, code="provider_unavailable", with_message=True):
    chat = Chat.objects.create(owner=owner)
    message = Message.objects.create(chat=chat, role="assistant", kind="image") if with_message else None
    return Generation.objects.create(
        owner=owner, chat=chat, message=message, provider="offline", prompt="a fox", status="failed",
        error_code=code, finished_at=timezone.now() - finished_ago,
    )


def test_list_generations_filters_by_status_and_hides_prompts(alice):
    recent = _failed(alice, finished_ago=timedelta(minutes=5))
    Generation.objects.create(owner=alice, provider="offline", prompt="a fox", status="succeeded")
    output = run("list_generations", "--status", "failed")
    lines = [line for line in output.splitlines()[1:] if line.strip() and "shown" not in line]
    assert len(lines) == 1 and str(recent.pk) in lines[0] and "provider_unavailable" in lines[0]
    assert "a fox" not in output
    assert "a fox" in run("list_generations", "--show-prompt")
    with pytest.raises(CommandError, match="not a time span"):
        run("list_generations", "--since", "yesterday")


def test_retry_failed_retries_only_those_in_the_window_and_only_once(alice):
    recent = _failed(alice, finished_ago=timedelta(minutes=20))
    old = _failed(alice, finished_ago=timedelta(hours=3))
    output = run("retry_failed", "--since", "1h")
    assert f"retried {recent.pk} as" in output and f"retried {old.pk} " not in output
    new = Generation.objects.exclude(pk__in=[recent.pk, old.pk]).get()
    assert new.status == "succeeded" and new.message_id == Message.objects.get(chat=recent.chat).pk
    assert "0 generation(s) retried" in run("retry_failed", "--since", "1h")  # its message moved on: not again


def test_prune_deletes_old_canceled_generations_and_task_results_but_never_images(alice, settings):
    from django_tasks_db.models import DBTaskResult

    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
    old = timezone.now() - timedelta(days=100)
    canceled = Generation.objects.create(owner=alice, provider="offline", prompt="x", status="canceled")
    recent_canceled = Generation.objects.create(owner=alice, provider="offline", prompt="x", status="canceled")
    succeeded = Generation.objects.create(owner=alice, provider="offline", prompt="x", status="succeeded")
    canceled_with_image = Generation.objects.create(owner=alice, provider="offline", prompt="x", status="canceled")
    GeneratedImage.objects.create(generation=canceled_with_image, owner=alice, file="images/x.png",
                                  thumbnail="images/x.webp", sha256="0" * 64, width=1, height=1,
                                  mime_type="image/png", bytes=1)
    Generation.objects.filter(pk__in=[canceled.pk, succeeded.pk, canceled_with_image.pk]).update(queued_at=old)
    from images.tasks import run_generation

    result = run_generation.enqueue(succeeded.pk)
    DBTaskResult.objects.filter(pk=result.id).update(status="SUCCESSFUL", finished_at=old)
    assert "would delete 1 canceled generations and 1 task results" in run("prune", "--older-than", "90d", "--dry-run")
    output = run("prune", "--older-than", "90d")
    assert "deleted 1 canceled generations, 1 task results" in output
    assert set(Generation.objects.values_list("pk", flat=True)) == {recent_canceled.pk, succeeded.pk, canceled_with_image.pk}
    assert GeneratedImage.objects.count() == 1


def test_parse_span():
    assert parse_span("90d") == timedelta(days=90) and parse_span("1h") == timedelta(hours=1)
    assert parse_span("2w") == timedelta(weeks=2) and parse_span("30m") == timedelta(minutes=30)
    for bad in ("", "10", "d", "1y", "-1d"):
        with pytest.raises(ValueError):
            parse_span(bad)


def test_retry_failed_retries_an_api_generation_once_across_overlapping_runs(alice):
    """A generation started through the API has no chat message to move: the `retried` mark keeps a second run
    (an overlapping --since span) from paying for it again, and a direct second retry is refused."""
    failed = Generation.objects.create(owner=alice, provider="offline", prompt="a fox", status="failed",
                                       error_code="provider_error", parameters={"n": 1},
                                       finished_at=timezone.now() - timedelta(minutes=5))
    assert f"retried {failed.pk} as" in run("retry_failed", "--since", "1h")
    assert "0 generation(s) retried" in run("retry_failed", "--since", "2h")
    assert Generation.objects.count() == 2
    failed.refresh_from_db()
    assert failed.parameters == {"n": 1, "retried": True}
    new = Generation.objects.exclude(pk=failed.pk).get()
    assert "retried" not in new.parameters  # the new attempt can itself be retried later

    from images.services import GenerationRequestError, generation_retry

    with pytest.raises(GenerationRequestError) as refused:
        generation_retry(generation=failed)
    assert refused.value.code == "validation_error" and Generation.objects.count() == 2
