"""The monthly cap under concurrency, on the real PostgreSQL (./run test's scale pass): simultaneous requests of one
user are checked one at a time under the owner-row lock generation_start takes for every per-user limit, so they
cannot all slip under the cap before any of them is committed."""

import threading
import time
from decimal import Decimal

import pytest
from django.db import connections

from images import usage
from images.models import Generation
from images.services import GenerationRequestError, generation_start
from profiles.models import ImageProfile

pytestmark = pytest.mark.django_db(transaction=True)
REQUESTS = 6


def test_scale_simultaneous_requests_cannot_both_slip_under_the_monthly_cap(postgresql, alice, settings, monkeypatch):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend", "QUEUES": ["default"]}}
    settings.IMAGEGEN_MONTHLY_CAP_USD = "1.00"
    settings.IMAGEGEN_MAX_ACTIVE_PER_USER = 0  # the cap alone decides here (the active-jobs cap has its own tests)
    profile = ImageProfile.objects.create(owner=alice, name="OpenAI", provider="openai", model="gpt-image-1")
    Generation.objects.create(owner=alice, provider="openai", model="gpt-image-1", prompt="earlier", status="canceled",
                              estimated_cost_usd=Decimal("0.97"), cost_source="provider")
    # $0.97 spent (a canceled job keeps what it cost); one more gpt-image-1 image is estimated at $0.042, so exactly one more request fits under $1.00.

    real_spend = usage.committed_spend

    def slow_spend(owner, now=None):
        spent = real_spend(owner, now)
        time.sleep(0.2)  # a slow read widens the window between checking the cap and committing the new row
        return spent

    monkeypatch.setattr(usage, "committed_spend", slow_spend)
    barrier = threading.Barrier(REQUESTS, timeout=10)
    outcomes: list[str] = []
    lock = threading.Lock()

    def request(i: int) -> None:
        try:
            barrier.wait()
            generation_start(owner=alice, prompt=f"fox {i}", profile=profile)
            outcome = "queued"
        except GenerationRequestError as e:
            outcome = e.code
        finally:
            connections.close_all()  # this thread's PostgreSQL connection
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=request, args=(i,)) for i in range(REQUESTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(outcomes) == ["queued"] + ["quota_exceeded"] * (REQUESTS - 1), outcomes
    assert Generation.objects.filter(owner=alice, status="queued").count() == 1
    assert usage.committed_spend(alice) == Decimal("1.012")
