"""T46–T47: retryable provider errors come back later (Retry-After honoured up to 120 s, full-jitter backoff, at most
3 attempts); permanent ones fail on the first call. The card says when the next attempt is due."""

import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from django.utils.html import strip_tags

from images.models import Generation
from images.providers import ProviderError
from images.services import generation_run, generation_start
from tests.jobs.conftest import task_rows


def rate_limited(after):
    return ProviderError("slow down", code="provider_rate_limited", retryable=True, retry_after=after, status=429)


def unavailable():
    return ProviderError("busy", code="provider_error", retryable=True, status=503)


def card_text(client, generation) -> str:
    return " ".join(strip_tags(client.get(f"/generations/{generation.pk}/card/").content.decode()).split())


@pytest.fixture
def enqueued_delays(monkeypatch):
    delays = []
    monkeypatch.setattr("images.services.enqueue_generation", lambda pk, delay_s=0: delays.append(delay_s))
    return delays


@pytest.mark.django_db
def test_t46_retry_after_7_s_is_honoured_and_shown_on_the_card(
    alice, alice_client, fake_profile, fake_provider, database_queue, django_capture_on_commit_callbacks
):
    generation = generation_start(owner=alice, prompt="a fox")
    fake_provider.script = [rate_limited(7)]
    before = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        generation_run(generation_id=generation.pk)
    generation.refresh_from_db()
    assert (generation.status, generation.attempts) == ("queued", 1)
    assert generation.next_attempt_at >= before + timedelta(seconds=7)
    (task,) = task_rows(generation.pk).order_by("-enqueued_at")[:1]
    assert task.run_after >= before + timedelta(seconds=7)  # the queue will not hand it out sooner

    assert "Retrying in 7 s (attempt 2 of 3)" in card_text(alice_client, generation)
    api = alice_client.get(f"/api/generations/{generation.pk}/").json()
    assert api["retry_in_s"] == 7 and api["queue_position"] is None

    Generation.objects.filter(pk=generation.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    assert "Retrying (attempt 2 of 3), next in line" in card_text(alice_client, generation)
    generation_run(generation_id=generation.pk)
    generation.refresh_from_db()
    assert generation.status == "succeeded"


@pytest.mark.django_db
def test_t46_retry_after_beyond_the_120_s_cap_fails_without_retrying(
    alice, fake_profile, fake_provider, enqueued_delays, django_capture_on_commit_callbacks
):
    generation = generation_start(owner=alice, prompt="a fox")
    fake_provider.script = [rate_limited(600)]
    with django_capture_on_commit_callbacks(execute=True):
        generation_run(generation_id=generation.pk)
    generation.refresh_from_db()
    assert (generation.status, generation.error_code, generation.attempts) == ("failed", "provider_rate_limited", 1)
    assert enqueued_delays == []  # no retry enqueued


@pytest.mark.django_db
def test_t47_503_503_200_succeeds_on_attempt_3_with_full_jitter_delays(
    alice, fake_profile, fake_provider, enqueued_delays, django_capture_on_commit_callbacks
):
    generation = generation_start(owner=alice, prompt="a fox")
    fake_provider.script = [unavailable(), unavailable()]
    for _ in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            generation_run(generation_id=generation.pk)
    generation.refresh_from_db()
    assert (generation.status, generation.attempts, generation.error_code) == ("succeeded", 3, "")
    assert len(enqueued_delays) == 2
    for n, delay in enumerate(enqueued_delays, start=1):
        assert 0 <= delay <= min(60, 2 * 2**n)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "error",
    [
        ProviderError("Could not connect", code="provider_error", retryable=True),
        ProviderError("did not finish in time", code="timeout", retryable=True),  # the POST may be billed: counted
    ],
)
def test_t47_connect_errors_and_read_timeouts_stop_after_three_attempts(alice, fake_profile, fake_provider, enqueued_delays, error):
    generation = generation_start(owner=alice, prompt="a fox")
    fake_provider.script = [error, error, error, error]
    for _ in range(4):
        generation_run(generation_id=generation.pk)
    generation.refresh_from_db()
    assert (generation.status, generation.attempts, generation.error_code) == ("failed", 3, error.code)
    assert len(fake_provider.calls) == 3


@pytest.mark.django_db
@pytest.mark.parametrize(
    "status,code",
    [(400, "validation_error"), (401, "provider_auth_failed"), (403, "provider_auth_failed"), (404, "provider_error"),
     (422, "validation_error"), (400, "content_policy")],
)
def test_t47_client_errors_fail_on_the_first_call(
    alice, fake_profile, fake_provider, enqueued_delays, django_capture_on_commit_callbacks, status, code
):
    generation = generation_start(owner=alice, prompt="a fox")
    fake_provider.script = [ProviderError("no", code=code, status=status)]
    with django_capture_on_commit_callbacks(execute=True):
        generation_run(generation_id=generation.pk)
    generation.refresh_from_db()
    assert (generation.status, generation.attempts, generation.error_code) == ("failed", 1, code)
    assert enqueued_delays == []


@pytest.mark.django_db(transaction=True)
def test_t47_through_the_real_queue_429_then_503_then_200_succeeds_on_attempt_3_after_the_retry_after(
    alice, fake_profile, fake_provider, database_queue, monkeypatch
):
    # Full jitter may pick 0 s; take it, so the test waits only for the provider's Retry-After.
    monkeypatch.setattr("images.services.random.uniform", lambda low, high: low)
    fake_provider.script = [rate_limited(2), unavailable()]
    started = time.monotonic()
    generation = generation_start(owner=alice, prompt="a fox")  # commits: enqueued in the database queue
    deadline = started + 20
    while time.monotonic() < deadline:
        call_command("db_worker", "--batch", "--no-startup-delay", "--no-reload", verbosity=0)
        generation.refresh_from_db()
        if not generation.is_pending:
            break
        time.sleep(0.2)
    assert (generation.status, generation.attempts) == ("succeeded", 3)
    assert time.monotonic() - started >= 2
    assert len(fake_provider.calls) == 3


@pytest.mark.django_db
def test_a_database_error_mid_attempt_is_retried_not_failed_as_our_bug(
    alice, fake_profile, fake_provider, database_queue, django_capture_on_commit_callbacks
):
    from django.db import OperationalError

    generation = generation_start(owner=alice, prompt="a fox")
    task_rows(generation.pk).delete()  # this test is the worker that took it
    fake_provider.script = [OperationalError("server closed the connection unexpectedly")]
    with django_capture_on_commit_callbacks(execute=True):
        generation_run(generation_id=generation.pk)
    generation.refresh_from_db()
    assert (generation.status, generation.attempts, generation.error_code) == ("queued", 1, "internal_error")
    assert generation.next_attempt_at is not None and task_rows(generation.pk).count() == 1  # the retry, enqueued
    Generation.objects.filter(pk=generation.pk).update(next_attempt_at=timezone.now())
    generation_run(generation_id=generation.pk)
    generation.refresh_from_db()
    assert (generation.status, generation.attempts, generation.error_code) == ("succeeded", 2, "")
