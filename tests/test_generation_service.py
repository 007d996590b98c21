import pytest
from django.core.files.storage import default_storage

from images.models import GeneratedImage, Generation
from images.providers import ProviderError, ProviderImage, ProviderResult
from images.services import GenerationRequestError, generation_run, generation_start
from profiles.models import ApiKey, ImageProfile
from tests.fakes import png_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def fake_profile(alice, fake_provider):
    return ImageProfile.objects.create(owner=alice, name="Fake", provider="fake", is_default=True)


def start(alice, **kwargs):
    # No on_commit capture: the job stays queued, and each test runs it by hand.
    return generation_start(owner=alice, prompt=kwargs.pop("prompt", "a fox"), **kwargs)


def test_the_owners_default_profile_is_used(alice, fake_profile, fake_provider):
    generation = start(alice, options={"aspect_ratio": "16:9", "n": 1, "seed": 9})
    generation_run(generation_id=generation.pk)
    generation.refresh_from_db()
    assert generation.status == "succeeded" and generation.provider == "fake"
    assert fake_provider.calls[0].aspect_ratio == "16:9" and fake_provider.calls[0].seed == 9


def test_a_job_delivered_twice_runs_once(alice, fake_profile, fake_provider):
    generation = start(alice)
    generation_run(generation_id=generation.pk)
    generation_run(generation_id=generation.pk)
    assert len(fake_provider.calls) == 1
    assert GeneratedImage.objects.count() == 1


def test_the_same_bytes_are_stored_once(alice, fake_profile, fake_provider):
    for _ in range(2):
        generation_run(generation_id=start(alice).pk)
    names = set(GeneratedImage.objects.values_list("file", flat=True))
    assert len(names) == 1
    assert default_storage.exists(names.pop())


def test_a_canceled_running_job_discards_its_result(alice, fake_profile, fake_provider):
    generation = start(alice)

    def cancel_meanwhile():
        Generation.objects.filter(pk=generation.pk).update(status="canceled")
        return png_bytes()

    fake_provider.script = [cancel_meanwhile]
    generation_run(generation_id=generation.pk)
    generation.refresh_from_db()
    assert generation.status == "canceled"
    assert GeneratedImage.objects.count() == 0


def test_a_retryable_error_is_queued_again_with_its_attempt_count(alice, fake_profile, fake_provider, django_capture_on_commit_callbacks):
    generation = start(alice)
    fake_provider.script = [ProviderError("busy", code="provider_error", retryable=True, status=503)]
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        generation_run(generation_id=generation.pk)
    generation.refresh_from_db()
    assert (generation.status, generation.attempts, generation.error_code) == ("queued", 1, "provider_error")
    assert generation.next_attempt_at is not None
    assert len(callbacks) == 1  # the re-enqueue, with a delay
    generation_run(generation_id=generation.pk)
    generation.refresh_from_db()
    assert (generation.status, generation.attempts) == ("succeeded", 2)


def test_retries_stop_after_three_attempts(alice, fake_profile, fake_provider):
    generation = start(alice)
    fake_provider.script = [ProviderError("busy", retryable=True) for _ in range(3)]
    for _ in range(3):
        generation_run(generation_id=generation.pk)
    generation.refresh_from_db()
    assert (generation.status, generation.attempts, generation.error_code) == ("failed", 3, "provider_error")


def test_a_retry_after_beyond_the_cap_fails_at_once(alice, fake_profile, fake_provider):
    generation = start(alice)
    fake_provider.script = [ProviderError("slow down", code="provider_rate_limited", retryable=True, retry_after=600)]
    generation_run(generation_id=generation.pk)
    generation.refresh_from_db()
    assert (generation.status, generation.error_code) == ("failed", "provider_rate_limited")


@pytest.mark.parametrize("code", ["content_policy", "provider_auth_failed", "validation_error"])
def test_permanent_errors_fail_on_the_first_attempt(alice, fake_profile, fake_provider, code):
    generation = start(alice)
    fake_provider.script = [ProviderError("no", code=code)]
    generation_run(generation_id=generation.pk)
    generation.refresh_from_db()
    assert (generation.status, generation.error_code, generation.attempts) == ("failed", code, 1)


def test_an_unsafe_image_from_the_provider_fails_the_job_and_stores_nothing(alice, fake_profile, fake_provider, media_root):
    generation = start(alice)
    fake_provider.script = [b"<svg onload=alert(1)>"]
    generation_run(generation_id=generation.pk)
    generation.refresh_from_db()
    assert (generation.status, generation.error_code) == ("failed", "image_invalid")
    assert not media_root.exists() or not any(media_root.rglob("*.*"))


def test_an_empty_answer_is_empty_response(alice, fake_profile, fake_provider):
    generation = start(alice)
    fake_provider.script = [ProviderResult(images=[])]
    generation_run(generation_id=generation.pk)
    generation.refresh_from_db()
    assert generation.error_code == "empty_response"


def test_warnings_and_revised_prompt_are_kept(alice, fake_profile, fake_provider):
    generation = start(alice)
    fake_provider.script = [
        ProviderResult(
            images=[ProviderImage(png_bytes(), "image/png", revised_prompt="A fox, revised")],
            warnings=["style dropped"],
            cost_usd=0.04,
        )
    ]
    generation_run(generation_id=generation.pk)
    generation.refresh_from_db()
    assert generation.warnings == ["style dropped"] and float(generation.estimated_cost_usd) == 0.04
    assert generation.images.get().revised_prompt == "A fox, revised"


def test_a_bug_in_a_provider_is_an_internal_error_not_a_crash(alice, fake_profile, fake_provider):
    generation = start(alice)
    fake_provider.script = [ZeroDivisionError("oops")]
    generation_run(generation_id=generation.pk)
    generation.refresh_from_db()
    assert (generation.status, generation.error_code) == ("failed", "internal_error")
    assert "oops" not in generation.error_message


def test_a_provider_that_needs_a_key_fails_with_missing_api_key(alice, fake_provider, monkeypatch):
    from tests.fakes import FakeProvider

    monkeypatch.setattr(FakeProvider, "capabilities", FakeProvider.capabilities.__class__(needs_key=True))
    profile = ImageProfile.objects.create(owner=alice, name="Keyed", provider="fake")
    generation = start(alice, profile=profile)
    generation_run(generation_id=generation.pk)
    generation.refresh_from_db()
    assert generation.error_code == "missing_api_key"
    assert fake_provider.calls == []


def test_the_owners_key_is_decrypted_and_passed_to_the_provider(alice, fake_provider, monkeypatch):
    from tests.fakes import FakeProvider

    seen = {}
    monkeypatch.setattr(FakeProvider, "__init__", lambda self, api_key=None, base_url=None: seen.update(key=api_key))
    key = ApiKey(owner=alice, provider="fake")
    key.set_secret("sk-alice-1234")
    key.save()
    profile = ImageProfile.objects.create(owner=alice, name="Keyed", provider="fake", api_key=key)
    generation_run(generation_id=start(alice, profile=profile).pk)
    assert seen["key"] == "sk-alice-1234"


def test_t15_a_profile_with_its_own_server_gets_only_the_key_it_picked(alice, fake_provider, monkeypatch):
    """The owner's key for the provider's own API is the default only without a server address: a key saved for
    api.openai.com is not sent to a proxy or local server the profile names, unless the profile picked it."""
    from tests.fakes import FakeProvider

    seen = {}
    monkeypatch.setattr(FakeProvider, "__init__",
                        lambda self, api_key=None, base_url=None: seen.update(key=api_key, base_url=base_url))
    key = ApiKey(owner=alice, provider="fake")
    key.set_secret("sk-alice-1234")
    key.save()
    proxy = ImageProfile.objects.create(owner=alice, name="Proxy", provider="fake", base_url="https://proxy.example/v1")
    generation_run(generation_id=start(alice, profile=proxy).pk)
    assert seen == {"key": None, "base_url": "https://proxy.example/v1"}
    picked = ImageProfile.objects.create(owner=alice, name="Picked", provider="fake", api_key=key,
                                         base_url="https://proxy.example/v1")
    generation_run(generation_id=start(alice, profile=picked).pk)
    assert seen["key"] == "sk-alice-1234"
    direct = ImageProfile.objects.create(owner=alice, name="Direct", provider="fake")
    generation_run(generation_id=start(alice, profile=direct).pk)
    assert seen == {"key": "sk-alice-1234", "base_url": None}


def test_someone_elses_profile_is_refused(alice, bob, fake_provider):
    profile = ImageProfile.objects.create(owner=bob, name="Bob's", provider="fake")
    with pytest.raises(GenerationRequestError) as excinfo:
        start(alice, profile=profile)
    assert excinfo.value.code == "not_found"
    assert Generation.objects.count() == 0


def test_an_option_the_provider_cannot_honour_is_refused_before_queueing(alice, fake_profile):
    with pytest.raises(GenerationRequestError) as excinfo:
        start(alice, options={"aspect_ratio": "21:9"})
    assert "21:9" in excinfo.value.message and "16:9" in excinfo.value.message


def test_a_style_adds_its_suffix_and_negative_unless_raw(alice):
    styled = start(alice, options={"style": "watercolour"})
    assert styled.refined_prompt == "a fox, watercolour painting, soft washes, paper texture"
    assert "photo" in styled.negative_prompt
    raw = start(alice, options={"style": "watercolour", "raw": True})
    assert raw.refined_prompt == "a fox" and raw.negative_prompt == ""


def test_a_provider_that_cannot_make_images_is_refused_before_queueing(alice):
    profile = ImageProfile.objects.create(owner=alice, name="Claude", provider="anthropic")
    with pytest.raises(GenerationRequestError) as excinfo:
        start(alice, profile=profile)
    assert excinfo.value.code == "unsupported_provider" and "cannot make images" in excinfo.value.message
    assert Generation.objects.count() == 0


def test_profile_parameters_reach_the_provider_as_style_and_extra(alice, fake_provider):
    profile = ImageProfile.objects.create(
        owner=alice, name="Tuned", provider="fake", parameters={"provider_style": "vivid", "sampler": "Euler a"}
    )
    generation_run(generation_id=start(alice, profile=profile, options={"style": "watercolour"}).pk)
    request = fake_provider.calls[0]
    assert request.style == "vivid"
    assert request.extra == {"sampler": "Euler a"}


def test_too_many_images_in_progress_are_refused_before_queueing(alice, settings):
    settings.IMAGEGEN_MAX_ACTIVE_PER_USER = 2
    start(alice)
    start(alice)
    with pytest.raises(GenerationRequestError) as excinfo:
        start(alice)
    assert excinfo.value.code == "rate_limited" and "2 images in progress" in excinfo.value.message
    assert Generation.objects.count() == 2
    Generation.objects.filter(pk=Generation.objects.first().pk).update(status="succeeded")
    start(alice)  # a finished job frees a place
    assert Generation.objects.pending().count() == 2


def test_the_api_answers_429_when_too_many_images_are_in_progress(alice, alice_api, settings):
    from django.urls import reverse

    from chats.models import Chat

    settings.IMAGEGEN_MAX_ACTIVE_PER_USER = 1
    start(alice)
    chat = Chat.objects.create(owner=alice)
    response = alice_api.post(reverse("api:chat-messages", args=[chat.pk]), {"content": "/image a fox"}, format="json")
    assert response.status_code == 429 and response.json()["code"] == "rate_limited"
    assert response["Retry-After"]
    assert chat.messages.count() == 0
