"""Issue 7, parallel fan-out: n images from a model that makes one per call run as n concurrent calls inside the one
attempt (images/fanout.py); all-or-partial results; cancel still honoured while the calls are in flight."""

import threading
import time

import pytest
from django.db import connections

from images.models import GeneratedImage, Generation
from images.providers import PROVIDERS, Capabilities, ImageRequest, Provider, ProviderError, ProviderImage, ProviderResult
from images.services import GenerationRequestError, generation_cancel, generation_run, generation_start
from profiles.models import ImageProfile
from tests.fakes import png_bytes


class OnePerCallProvider(Provider):
    """Makes one image per call, like dall-e-3, Gemini or OpenRouter; `answer(request, call_number)` scripts it."""

    kind = "one"
    label = "One per call"
    capabilities = Capabilities(n_max=1, needs_key=False, seed=True)
    calls: list[ImageRequest] = []
    answer = None
    lock = threading.Lock()

    def generate(self, request: ImageRequest) -> ProviderResult:
        with self.lock:
            type(self).calls.append(request)
            number = len(type(self).calls)
        return type(self).answer(request, number)


def image(request: ImageRequest, number: int) -> ProviderResult:
    colour = (number * 40 % 256, 90, 200)  # different bytes per call, so different files
    return ProviderResult(images=[ProviderImage(png_bytes(colour=colour), "image/png", seed=request.seed)], model="one-1")


@pytest.fixture
def one(monkeypatch, alice):
    monkeypatch.setitem(PROVIDERS, "one", ("One per call", f"{__name__}.OnePerCallProvider"))
    OnePerCallProvider.calls = []
    OnePerCallProvider.answer = staticmethod(image)
    return ImageProfile.objects.create(owner=alice, name="One", provider="one", is_default=True)


def start(alice, profile, **options) -> Generation:
    """Queue it (the enqueue waits for a commit that these tests never make) and run the attempt here."""
    generation = generation_start(owner=alice, prompt="a lighthouse", options=options, profile=profile)
    generation_run(generation_id=generation.pk)
    generation.refresh_from_db()
    return generation


@pytest.mark.django_db
def test_four_images_from_a_one_per_call_model_are_four_concurrent_calls(alice, one):
    # Every call waits for the other three: sequential calls would break the barrier (and fail the job).
    barrier = threading.Barrier(4, timeout=10)

    def together(request, number):
        barrier.wait()
        return image(request, number)

    OnePerCallProvider.answer = staticmethod(together)
    generation = start(alice, one, n=4, seed=100)
    assert generation.status == Generation.Status.SUCCEEDED, generation.error_message
    assert [r.n for r in OnePerCallProvider.calls] == [1, 1, 1, 1]
    assert sorted(r.seed for r in OnePerCallProvider.calls) == [100, 101, 102, 103]  # four different images
    images = list(GeneratedImage.objects.filter(generation=generation).order_by("index"))
    assert [i.index for i in images] == [0, 1, 2, 3]
    assert [i.seed for i in images] == [100, 101, 102, 103]
    assert len({i.file for i in images}) == 4
    assert generation.warnings == [] and generation.progress is None


@pytest.mark.django_db
def test_the_calls_overlap_in_time(alice, one):
    """Four 0.3 s calls take about 0.3 s, not 1.2 s."""

    def slow(request, number):
        time.sleep(0.3)
        return image(request, number)

    OnePerCallProvider.answer = staticmethod(slow)
    began = time.monotonic()
    generation = start(alice, one, n=4)
    elapsed = time.monotonic() - began
    assert generation.status == Generation.Status.SUCCEEDED and generation.images.count() == 4
    assert elapsed < 0.9, f"4 calls of 0.3 s took {elapsed:.2f} s: not concurrent"


@pytest.mark.django_db
def test_three_of_four_succeed_is_a_success_with_a_warning(alice, one):
    def third_fails(request, number):
        if number == 3:
            raise ProviderError("upstream 503", code="provider_error", retryable=True, status=503)
        return image(request, number)

    OnePerCallProvider.answer = staticmethod(third_fails)
    generation = start(alice, one, n=4)
    assert generation.status == Generation.Status.SUCCEEDED
    assert generation.images.count() == 3
    assert sorted(generation.images.values_list("index", flat=True)) == [0, 1, 2]
    assert generation.warnings == ["3 of 4 images were made; 1 failed (provider_error: upstream 503)."]
    assert generation.attempts == 1  # a partial result is kept, not retried


@pytest.mark.django_db
def test_an_unsafe_image_in_one_call_drops_only_that_image(alice, one):
    def one_is_html(request, number):
        if number == 2:
            return ProviderResult(images=[ProviderImage(b"<html><script>x</script></html>", "image/png")])
        return image(request, number)

    OnePerCallProvider.answer = staticmethod(one_is_html)
    generation = start(alice, one, n=2)
    assert generation.status == Generation.Status.SUCCEEDED and generation.images.count() == 1
    assert "1 of 2 images were made; 1 failed (image_invalid" in generation.warnings[0]


@pytest.mark.django_db
def test_when_every_call_fails_the_attempt_fails_with_the_error_retrying_cannot_fix(alice, one):
    def refused(request, number):
        if number == 1:
            raise ProviderError("busy", code="provider_rate_limited", retryable=True, retry_after=1)
        raise ProviderError("The provider refused this prompt.", code="content_policy")

    OnePerCallProvider.answer = staticmethod(refused)
    generation = start(alice, one, n=3)
    assert generation.status == Generation.Status.FAILED and generation.error_code == "content_policy"
    assert generation.images.count() == 0


@pytest.mark.django_db
def test_when_every_call_fails_retryably_the_job_is_retried(alice, one, settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend", "QUEUES": ["default"]}}

    def busy(request, number):
        raise ProviderError("busy", code="provider_rate_limited", retryable=True, retry_after=1)

    OnePerCallProvider.answer = staticmethod(busy)
    generation = start(alice, one, n=2)
    assert (generation.status, generation.error_code, generation.attempts) == ("queued", "provider_rate_limited", 1)
    assert len(OnePerCallProvider.calls) == 2


@pytest.mark.django_db(transaction=True)
def test_cancel_while_the_calls_are_in_flight_stops_waiting_and_stores_nothing(alice, one, settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend", "QUEUES": ["default"]}}
    release_first, release_rest = threading.Event(), threading.Event()
    started = threading.Semaphore(0)

    def held(request, number):
        started.release()
        (release_first if number == 1 else release_rest).wait(timeout=20)
        return image(request, number)

    OnePerCallProvider.answer = staticmethod(held)
    generation = generation_start(owner=alice, prompt="a lighthouse", options={"n": 4}, profile=one)
    def run_then_close() -> None:
        try:
            generation_run(generation_id=generation.pk)
        finally:
            connections.close_all()  # this thread's database connection

    runner = threading.Thread(target=run_then_close)
    try:
        runner.start()
        for _ in range(4):
            assert started.acquire(timeout=10), "the four calls did not start at once"
        assert generation_cancel(generation=generation)
        release_first.set()  # one answer comes back; the other three calls are still out
        runner.join(timeout=5)
        assert not runner.is_alive(), "generation_run kept waiting for calls of a canceled job"
    finally:
        release_rest.set()
        runner.join(timeout=20)
    generation.refresh_from_db()
    assert generation.status == Generation.Status.CANCELED
    assert GeneratedImage.objects.filter(generation=generation).count() == 0


@pytest.mark.django_db
def test_n_up_to_4_is_accepted_for_one_per_call_models_and_more_is_refused(alice, one, settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend", "QUEUES": ["default"]}}
    assert generation_start(owner=alice, prompt="four", options={"n": 4}, profile=one).parameters["n"] == 4
    with pytest.raises(GenerationRequestError, match="between 1 and 4"):
        generation_start(owner=alice, prompt="five", options={"n": 5}, profile=one)


@pytest.mark.django_db
def test_models_that_make_several_per_call_keep_one_call(alice, fake_provider):
    profile = ImageProfile.objects.create(owner=alice, name="Fake", provider="fake")
    fake_provider.script = [
        ProviderResult(images=[ProviderImage(png_bytes(colour=(i, 0, 0)), "image/png") for i in range(3)], model="f")
    ]
    generation = start(alice, profile, n=3)
    assert generation.status == Generation.Status.SUCCEEDED and generation.images.count() == 3
    assert [r.n for r in fake_provider.calls] == [3]


def billed(result: ProviderResult, usd: float) -> ProviderResult:
    result.cost_usd, result.usage = usd, {"cost": usd}
    return result


@pytest.mark.django_db
def test_a_call_whose_image_is_refused_is_still_charged_beside_the_kept_ones(alice, one):
    def second_is_html(request, number):
        if number == 2:
            return billed(ProviderResult(images=[ProviderImage(b"<html></html>", "image/png")], model="one-1"), 0.03)
        if number == 3:
            raise ProviderError("upstream 503", code="provider_error", retryable=True, status=503)  # no answer: free
        return billed(image(request, number), 0.02)

    OnePerCallProvider.answer = staticmethod(second_is_html)
    generation = start(alice, one, n=3)
    assert generation.status == Generation.Status.SUCCEEDED and generation.images.count() == 1
    assert str(generation.estimated_cost_usd) == "0.0500" and generation.cost_source == "provider"
    assert generation.usage == {"cost": 0.05}


@pytest.mark.django_db
def test_when_every_answer_is_refused_the_job_fails_with_the_charges_recorded(alice, one):
    OnePerCallProvider.answer = staticmethod(
        lambda request, number: billed(ProviderResult(images=[ProviderImage(b"junk", "image/png")]), 0.01))
    generation = start(alice, one, n=2)
    assert (generation.status, generation.error_code) == ("failed", "image_invalid")
    assert str(generation.estimated_cost_usd) == "0.0200" and generation.cost_source == "provider"


@pytest.mark.django_db
def test_when_every_call_fails_without_an_answer_nothing_is_charged(alice, one):
    def refused(request, number):
        raise ProviderError("The provider refused this prompt.", code="content_policy")

    OnePerCallProvider.answer = staticmethod(refused)
    generation = start(alice, one, n=2)
    assert generation.status == Generation.Status.FAILED and generation.estimated_cost_usd is None
