"""Fallback profiles (seed 004 error recovery): a provider-side failure after retries continues on the fallback."""

from __future__ import annotations

import pytest
from django.urls import reverse

from images.models import GeneratedImage, Generation
from images.providers import ProviderError
from images.services import generation_run, generation_start
from profiles.models import ApiKey, ImageProfile
from profiles.services import ProfileError, check_fallback, image_profile_save
from tests.fakes import png_bytes
from tests.providers.support import reply

pytestmark = pytest.mark.django_db

OPENAI = "https://api.openai.com/v1/images/generations"
GEMINI = "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash-image:generateContent"


def key(owner, provider: str) -> ApiKey:
    k = ApiKey(owner=owner, provider=provider, label=provider)
    k.set_secret(f"secret-{provider}-0000")
    k.save()
    return k


@pytest.fixture
def openai_then_gemini(alice):
    gemini = ImageProfile.objects.create(owner=alice, name="Gemini", provider="gemini", api_key=key(alice, "gemini"))
    openai = ImageProfile.objects.create(owner=alice, name="OpenAI", provider="openai", model="dall-e-3",
                                         api_key=key(alice, "openai"), fallback=gemini, is_default=True)
    return openai, gemini


def run_until_done(generation: Generation, limit: int = 10) -> Generation:
    for _ in range(limit):
        generation_run(generation_id=generation.pk)
        generation.refresh_from_db()
        if not generation.is_pending:
            break
    return generation


def test_openai_503s_then_gemini_makes_it_and_the_card_says_so(alice, alice_client, openai_then_gemini, http):
    http.post(OPENAI, status=503, json={"error": {"message": "overloaded", "type": "server_error"}})
    http.post(GEMINI, **reply("gemini", "generate_content_image_success"))
    generation = run_until_done(generation_start(owner=alice, prompt="a fox", options={"type": "scene"}))
    openai_calls = [c for c in http.calls if c.request.url == OPENAI]
    assert len(openai_calls) == 3  # its own retries first
    assert (generation.status, generation.provider, generation.profile.name) == ("succeeded", "gemini", "Gemini")
    assert generation.warnings[0] == "OpenAI failed (503); made with Google Gemini instead"
    assert generation.parameters["fallback_from"]["provider"] == "openai"
    assert generation.parameters["type"] == "scene" and "quality" not in generation.parameters
    assert (generation.error_code, generation.error_message) == ("", "")
    assert GeneratedImage.objects.get().image_type == "scene"
    card = alice_client.get(reverse("generation-card", args=[generation.pk])).content.decode()
    assert "OpenAI failed (503); made with Google Gemini instead" in card
    api = alice_client.get(reverse("api:generation-detail", args=[generation.pk])).json()
    assert api["provider"] == "gemini" and api["warnings"][0].startswith("OpenAI failed (503)")


@pytest.fixture
def fake_chain(alice, fake_provider):
    b = ImageProfile.objects.create(owner=alice, name="B", provider="fake")
    a = ImageProfile.objects.create(owner=alice, name="A", provider="fake", fallback=b, is_default=True)
    return a, b


@pytest.mark.parametrize("code", ["content_policy", "validation_error", "missing_api_key", "url_forbidden"])
def test_no_fallback_for_refusals_and_the_requests_own_faults(alice, fake_chain, fake_provider, code):
    fake_provider.script = [ProviderError("no", code=code)]
    generation = run_until_done(generation_start(owner=alice, prompt="x"))
    assert (generation.status, generation.error_code, generation.profile.name) == ("failed", code, "A")
    assert len(fake_provider.calls) == 1 and generation.warnings == []


def test_a_non_retryable_provider_failure_falls_back_at_once(alice, fake_chain, fake_provider):
    fake_provider.script = [ProviderError("bad key", code="provider_auth_failed", status=401)]
    generation = run_until_done(generation_start(owner=alice, prompt="x"))
    assert (generation.status, generation.profile.name, len(fake_provider.calls)) == ("succeeded", "B", 2)
    assert generation.warnings == ["Fake failed (401); made with Fake instead"]


def test_no_loops_a_to_b_to_a(alice, fake_chain, fake_provider):
    a, b = fake_chain
    ImageProfile.objects.filter(pk=b.pk).update(fallback=a)  # a loop that got past the checks (older data)
    fake_provider.script = [ProviderError("down", code="provider_error", retryable=True, status=502)] * 6
    generation = run_until_done(generation_start(owner=alice, prompt="x"))
    assert (generation.status, generation.error_code, generation.profile.name) == ("failed", "provider_error", "B")
    assert len(fake_provider.calls) == 6  # 3 on A, 3 on B, never back to A
    assert generation.parameters["tried_profiles"] == [a.pk]


def test_a_canceled_job_does_not_move_to_the_fallback(alice, fake_chain, fake_provider):
    generation = generation_start(owner=alice, prompt="x")

    def cancel_then_fail():
        Generation.objects.filter(pk=generation.pk).update(status="canceled")
        raise ProviderError("down", code="provider_error")

    fake_provider.script = [cancel_then_fail]
    generation = run_until_done(generation)
    assert (generation.status, generation.profile.name) == ("canceled", "A")


def test_the_fallback_adapts_options_it_cannot_take(alice, fake_provider, monkeypatch):
    from images.providers import PROVIDERS
    from images.providers.base import Capabilities
    from tests import fakes

    small = type("SmallFake", (fakes.FakeProvider,), {
        "kind": "small", "label": "Small", "capabilities": Capabilities(n_max=1, aspect_ratios=("1:1",),
                                                                        needs_key=False)})
    monkeypatch.setattr(fakes, "SmallFake", small, raising=False)
    monkeypatch.setitem(PROVIDERS, "small", ("Small", "tests.fakes.SmallFake"))
    b = ImageProfile.objects.create(owner=alice, name="B", provider="small")
    a = ImageProfile.objects.create(owner=alice, name="A", provider="fake", fallback=b, is_default=True)
    fake_provider.script = [ProviderError("down", code="timeout"), png_bytes()]
    generation = run_until_done(generation_start(owner=alice, prompt="x", options={"n": 3, "aspect_ratio": "16:9"},
                                                 profile=a))
    assert (generation.status, generation.provider) == ("succeeded", "small")
    assert generation.parameters["n"] == 1 and "aspect_ratio" not in generation.parameters
    assert generation.warnings == ["Fake failed (timeout); made with Small instead",
                                   "Small makes 1 image(s) at a time",
                                   "Small has no 16:9 aspect ratio; used its default"]
    assert fake_provider.calls[-1].n == 1 and fake_provider.calls[-1].aspect_ratio is None


# --- Saving: same owner, no self, no loop -----------------------------------------------------------------------


def test_the_fallback_must_be_the_owners_and_not_a_loop(alice, bob):
    a = image_profile_save(owner=alice, name="A", provider="offline")
    b = image_profile_save(owner=alice, name="B", provider="offline", fallback_id=a.pk)
    bobs = image_profile_save(owner=bob, name="Bob's", provider="offline")
    with pytest.raises(ProfileError, match="No such profile"):
        image_profile_save(owner=alice, profile=a, name="A", provider="offline", fallback_id=bobs.pk)
    with pytest.raises(ProfileError, match="its own fallback"):
        check_fallback(alice, a, a.pk)
    with pytest.raises(ProfileError, match="loop"):
        image_profile_save(owner=alice, profile=a, name="A", provider="offline", fallback_id=b.pk)
    a.refresh_from_db()
    assert a.fallback_id is None
    kept = image_profile_save(owner=alice, profile=b, name="B2", provider="offline")  # left out: kept
    assert kept.fallback_id == a.pk


def test_settings_page_and_api_set_the_fallback(alice, alice_client, alice_api, bob):
    a = image_profile_save(owner=alice, name="A", provider="offline")
    b = image_profile_save(owner=alice, name="B", provider="offline")
    form = alice_client.get(reverse("settings-profile-edit", args=[a.pk])).content.decode()
    assert 'name="fallback"' in form and ">B (" in form and ">A (" not in form
    saved = alice_client.post(reverse("settings-profile-edit", args=[a.pk]),
                              {"name": "A", "provider": "offline", "fallback": b.pk})
    assert saved.status_code == 302
    a.refresh_from_db()
    assert a.fallback_id == b.pk
    loop = alice_api.patch(reverse("api:image-profile-detail", args=[b.pk]), {"fallback": a.pk}, format="json")
    assert loop.status_code == 400 and loop.json()["code"] == "validation_error"
    bobs = image_profile_save(owner=bob, name="X", provider="offline")
    assert alice_api.patch(reverse("api:image-profile-detail", args=[b.pk]), {"fallback": bobs.pk},
                           format="json").status_code == 404
    cleared = alice_api.patch(reverse("api:image-profile-detail", args=[a.pk]), {"fallback": None}, format="json")
    assert cleared.status_code == 200 and cleared.json()["fallback"] is None


def test_admin_refuses_a_loop(alice, admin_client):
    a = ImageProfile.objects.create(owner=alice, name="A", provider="offline")
    b = ImageProfile.objects.create(owner=alice, name="B", provider="offline", fallback=a)
    url = reverse("admin:profiles_imageprofile_change", args=[a.pk])
    response = admin_client.post(url, {"owner": alice.pk, "name": "A", "provider": "offline", "parameters": "{}",
                                       "fallback": b.pk, "model": "", "base_url": ""})
    assert response.status_code == 200 and "would be a loop" in response.content.decode()
    a.refresh_from_db()
    assert a.fallback_id is None
