"""Fair dispatch: one user's 50 queued jobs don't starve another user's one; priority 1–3 runs first; the card and the
API show the position in line."""

import pytest
from django.core.management import call_command
from django.utils.html import strip_tags

from images.jobs import dispatch_priority, queue_position
from images.models import Generation
from images.services import enqueue_generation

pytestmark = pytest.mark.django_db(transaction=True)


def queued(owner, prompt, *, priority=0):
    generation = Generation.objects.create(owner=owner, prompt=prompt, provider="offline", model="sketch-v1",
                                           parameters={"n": 1, "seed": 1}, priority=priority)
    enqueue_generation(generation.pk)
    return generation


def test_another_users_single_job_runs_right_after_the_first_of_a_50_job_backlog(alice, bob, database_queue):
    backlog = [queued(alice, f"fox {i}") for i in range(50)]
    bobs = queued(bob, "owl")
    assert dispatch_priority(bobs.pk) > dispatch_priority(backlog[1].pk)
    assert queue_position(bobs) == 2 and queue_position(backlog[0]) == 1 and queue_position(backlog[2]) == 4

    call_command("db_worker", "--batch", "--max-tasks", "2", "--no-startup-delay", "--no-reload", verbosity=0)
    bobs.refresh_from_db()
    assert bobs.status == "succeeded"
    assert Generation.objects.filter(owner=alice, status="succeeded").count() == 1
    Generation.objects.filter(status="queued").update(status="canceled")


def test_a_higher_priority_job_goes_first(alice, bob, database_queue):
    first = queued(alice, "fox")
    urgent = queued(bob, "owl", priority=2)
    assert queue_position(urgent) == 1 and queue_position(first) == 2
    call_command("db_worker", "--batch", "--max-tasks", "1", "--no-startup-delay", "--no-reload", verbosity=0)
    urgent.refresh_from_db()
    first.refresh_from_db()
    assert (urgent.status, first.status) == ("succeeded", "queued")
    Generation.objects.filter(pk=first.pk).update(status="canceled")


def test_the_card_and_the_api_show_the_place_in_line(alice, bob, alice_client, database_queue):
    for i in range(2):
        queued(bob, f"owl {i}")
    mine = queued(alice, "fox")  # bob's second job waits behind alice's first: 2nd in line
    card = " ".join(strip_tags(alice_client.get(f"/generations/{mine.pk}/card/").content.decode()).split())
    assert "Queued, 2nd in line" in card
    assert alice_client.get(f"/api/generations/{mine.pk}/").json()["queue_position"] == 2
    Generation.objects.filter(status="queued").update(status="canceled")
