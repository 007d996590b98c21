"""Issue 12 follow-up: after a fallback, attempts are counted per profile, by the retry logic, the card and the
sweeper alike (Generation.attempt_base = the attempts made before the fallback took over)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from images.jobs import MAX_ATTEMPTS, find_violations, sweep
from images.models import Generation
from images.providers import ProviderError
from images.services import generation_run, generation_start

pytestmark = pytest.mark.django_db


def busy(code: str = "provider_error") -> ProviderError:
    return ProviderError("upstream is down", code=code, status=503, retryable=True)


def run_once(generation: Generation) -> Generation:
    Generation.objects.filter(pk=generation.pk, status="queued").update(next_attempt_at=None)  # due now
    generation_run(generation_id=generation.pk)
    generation.refresh_from_db()
    return generation


def fall_back(alice, fake_provider) -> Generation:
    """A's three attempts fail; the job moves to B, queued."""
    fake_provider.script = [busy(), busy(), busy()]
    generation = generation_start(owner=alice, prompt="a fox")
    for _ in range(MAX_ATTEMPTS):
        generation = run_once(generation)
    assert (generation.status, generation.profile.name) == ("queued", "B")
    return generation


def test_the_fallback_starts_its_own_count(alice, fake_chain, fake_provider):
    generation = fall_back(alice, fake_provider)
    assert (generation.attempts, generation.attempt_base, generation.attempts_on_profile) == (3, 3, 0)
    assert "attempt_base" not in generation.parameters  # a column now, not a provider parameter
    # B fails twice, and is still retried: 2 < 3 on B, although 5 attempts were made in all.
    fake_provider.script = [busy(), busy()]
    generation = run_once(generation)
    generation = run_once(generation)
    assert (generation.status, generation.attempts, generation.attempts_on_profile) == ("queued", 5, 2)
    generation = run_once(generation)  # the third on B succeeds
    assert (generation.status, generation.attempts) == ("succeeded", 6)


def test_the_card_counts_attempts_on_the_current_profile(alice, alice_client, fake_chain, fake_provider):
    generation = fall_back(alice, fake_provider)
    card = alice_client.get(reverse("generation-card", args=[generation.pk])).content.decode()
    assert "Trying Fake instead" in card and "attempt" not in card  # not "Retrying (attempt 4 of 3)"
    fake_provider.script = [busy(), busy()]
    generation = run_once(generation)
    generation = run_once(generation)
    card = alice_client.get(reverse("generation-card", args=[generation.pk])).content.decode()
    assert "attempt 3 of 3" in card and "of 3" in card and "attempt 6" not in card
    api = alice_client.get(reverse("api:generation-detail", args=[generation.pk])).json()
    assert (api["attempts"], api["attempts_on_profile"]) == (5, 2)


def lose_worker(generation: Generation) -> None:
    """What a SIGKILLed worker leaves: the row running with its lease in the past."""
    Generation.objects.filter(pk=generation.pk).update(
        status="running", attempts=generation.attempts + 1, started_at=timezone.now() - timedelta(minutes=12),
        lease_until=timezone.now() - timedelta(seconds=1))


def test_the_sweeper_requeues_a_job_lost_on_the_fallback(alice, fake_chain, fake_provider, database_queue):
    generation = fall_back(alice, fake_provider)
    lose_worker(generation)  # attempt 4 in all, the first on B
    report = sweep(files=False)
    assert report.requeued == [generation.pk] and report.worker_lost == []
    generation.refresh_from_db()
    assert (generation.status, generation.error_code) == ("queued", "worker_lost")
    generation = run_once(generation)
    assert generation.status == "succeeded" and generation.attempts == 5
    assert find_violations() == []


def test_the_sweeper_fails_a_job_lost_on_the_fallbacks_last_attempt(alice, fake_chain, fake_provider,
                                                                     database_queue):
    generation = fall_back(alice, fake_provider)
    fake_provider.script = [busy(), busy()]
    generation = run_once(generation)
    generation = run_once(generation)
    lose_worker(generation)  # the third attempt on B: none left
    assert sweep(files=False).worker_lost == [generation.pk]
    generation.refresh_from_db()
    assert (generation.status, generation.error_code) == ("failed", "worker_lost")


def test_without_a_fallback_the_count_is_unchanged(alice, fake_provider, database_queue):
    generation = generation_start(owner=alice, prompt="a fox")
    Generation.objects.filter(pk=generation.pk).update(attempts=2)
    generation.refresh_from_db()
    lose_worker(generation)  # attempt 3 of 3
    assert sweep(files=False).worker_lost == [generation.pk]


def test_the_migration_moves_a_base_kept_in_parameters_to_the_column(alice):
    """Rows that fell back before the column existed kept the base in parameters["attempt_base"]."""
    import importlib

    from django.apps import apps

    migration = importlib.import_module("images.migrations.0008_attempts_per_profile_unsaved_modal_images_daily_limit")
    old = generation_start(owner=alice, prompt="a fox")
    Generation.objects.filter(pk=old.pk).update(attempts=4, parameters={"n": 1, "attempt_base": 3})
    untouched = generation_start(owner=alice, prompt="a heron")
    migration.attempt_base_from_parameters(apps, None)
    old.refresh_from_db()
    untouched.refresh_from_db()
    assert (old.attempt_base, old.attempts_on_profile, old.parameters) == (3, 1, {"n": 1})
    assert untouched.attempt_base == 0
