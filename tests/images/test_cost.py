"""The cost ledger: the price table, token pricing, and the cost recorded on every generation (images/pricing.py)."""

import json
from decimal import Decimal

import pytest
import responses
from django.urls import reverse

from images import pricing
from images.models import Generation
from images.providers import ProviderImage, ProviderResult
from images.services import generation_cancel, generation_run, generation_start
from imagegen_site import http as safe_http
from profiles.models import ApiKey, ImageProfile
from tests.fakes import png_bytes
from tests.providers.support import B64_PNG, reply

pytestmark = pytest.mark.django_db
D = Decimal


# The table -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("provider,model,quality,size,price", [
    # seed 001's Pricing Reference
    ("openai", "dall-e-3", "standard", "1024x1024", "0.040"),
    ("openai", "dall-e-3", "hd", "1024x1024", "0.080"),
    ("imagen", "imagen-3.0-generate-002", None, "1024x1024", "0.030"),
    ("imagen", "imagen-4.0-fast-generate-001", None, "1024x1024", "0.020"),
    ("gemini", "gemini-2.5-flash-image", None, "1024x1024", "0.039"),
    # sizes, default qualities, the other family's quality words, dated model ids
    ("openai", "dall-e-3", None, "1792x1024", "0.080"),
    ("openai", "dall-e-3", "high", "1024x1024", "0.080"),
    ("openai", "gpt-image-1", "low", "1536x1024", "0.016"),
    ("openai", "gpt-image-1", "auto", "1024x1024", "0.042"),
    ("openai", "gpt-image-1", "hd", "1024x1024", "0.167"),
    ("openai", "gpt-image-1-mini", "high", "1024x1024", "0.036"),  # the longer prefix wins over gpt-image-1
    ("openai", "gpt-image-2-2026-04-21", "medium", "1024x1024", "0.034"),
    ("openai", "dall-e-2", None, "256x256", "0.016"),
    ("stability", "sd3.5-large-turbo", None, "1024x1024", "0.040"),
    ("xai", "grok-imagine-image", None, "1024x768", "0.020"),
    # free: the offline renderer and self-hosted servers
    ("offline", "sketch-v1", None, "512x512", "0"),
    ("automatic1111", "anything", None, "512x512", "0"),
    ("comfyui", "", None, "512x512", "0"),
])
def test_the_price_table(provider, model, quality, size, price):
    assert pricing.table_price(provider, model, quality=quality, size=size) == D(price)


def test_a_model_the_table_does_not_know_has_no_price():
    assert pricing.table_price("openai", "some-future-model", quality="high", size="1024x1024") is None
    assert pricing.table_price("fake", "fake-1") is None


def test_openai_token_usage_is_priced_per_kind_of_token():
    usage = {"total_tokens": 100, "input_tokens": 50, "output_tokens": 50,
             "input_tokens_details": {"text_tokens": 10, "image_tokens": 40}}
    # gpt-image-1.5: text in $5/M, image in $8/M, image out $32/M
    assert pricing.token_cost("openai", "gpt-image-1.5", usage) == D(10 * 5 + 40 * 8 + 50 * 32) / D(1_000_000)
    # no details: the input counts as text
    assert pricing.token_cost("openai", "gpt-image-1", {"input_tokens": 1000, "output_tokens": 4160}) == \
        (D(1000 * 5) + D(4160 * 40)) / D(1_000_000)


def test_gemini_usage_metadata_is_priced_from_output_image_tokens():
    usage = {"promptTokenCount": 11, "candidatesTokenCount": 1290, "totalTokenCount": 1301}
    cost = pricing.token_cost("gemini", "gemini-2.5-flash-image", usage)
    assert cost.quantize(D("0.0001")) == D("0.0387")  # seed 001: ~$0.039 for 1290 output tokens
    by_modality = {"promptTokenCount": 11, "candidatesTokenCount": 1300,
                   "candidatesTokensDetails": [{"modality": "IMAGE", "tokenCount": 1290},
                                               {"modality": "TEXT", "tokenCount": 10}]}
    assert pricing.token_cost("gemini", "gemini-2.5-flash-image", by_modality) > cost


def test_no_usage_or_an_odd_one_gives_no_token_cost():
    assert pricing.token_cost("openai", "gpt-image-1", {}) is None
    assert pricing.token_cost("openai", "gpt-image-1", {"input_tokens": "many", "output_tokens": -5}) is None
    assert pricing.token_cost("openai", "dall-e-3", {"input_tokens": 10}) is None  # no token rates for DALL·E
    assert pricing.token_cost("xai", "grok-imagine-image", {"cost_in_usd_ticks": 1}) is None


def test_the_providers_own_figure_beats_tokens_which_beat_the_table():
    tokens = {"input_tokens": 10, "output_tokens": 1000}
    common = {"provider": "openai", "model": "gpt-image-1", "parameters": {"quality": "high"},
              "sizes": [(1024, 1024)]}
    assert pricing.generation_cost(**common, usage=tokens, reported_usd=0.5) == pricing.Cost(D("0.5000"), "provider")
    assert pricing.generation_cost(**common, usage=tokens, reported_usd=None) == \
        pricing.Cost(D("0.0401"), "tokens")  # (10·5 + 1000·40) / 1e6, to four places
    assert pricing.generation_cost(**common, usage={}, reported_usd=None) == pricing.Cost(D("0.1670"), "table")
    two = {**common, "sizes": [(1024, 1024), (1536, 1024)]}
    assert pricing.generation_cost(**two, usage={}, reported_usd=None) == pricing.Cost(D("0.4170"), "table")
    unknown = {**common, "model": "gpt-future"}
    assert pricing.generation_cost(**unknown, usage={}, reported_usd=None) == pricing.Cost(None, "unknown")


# Recorded on every generation -----------------------------------------------------------------------------------


def run(generation: Generation) -> Generation:
    generation_run(generation_id=generation.pk)
    generation.refresh_from_db()
    return generation


def test_the_offline_renderer_costs_nothing(alice):
    generation = run(generation_start(owner=alice, prompt="a lighthouse"))
    assert generation.status == "succeeded"
    assert generation.estimated_cost_usd == D("0") and generation.cost_source == "provider"


@pytest.fixture
def http(monkeypatch):
    monkeypatch.setattr(safe_http, "resolve_host", lambda host, port: ["93.184.216.34"])
    # Not all fired: the moderation check (moderation/) calls OpenAI's endpoint only when it is configured to.
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def paid_profile(owner, provider: str, model: str, **parameters) -> ImageProfile:
    key = ApiKey(owner=owner, provider=provider, label="test")
    key.set_secret(f"{provider}-test-key-1234")
    key.save()
    return ImageProfile.objects.create(owner=owner, name=provider, provider=provider, model=model, api_key=key,
                                       parameters=parameters, is_default=True)


def test_xai_reports_its_cost_in_ticks_and_that_is_what_is_recorded(alice, alice_api, http):
    paid_profile(alice, "xai", "grok-imagine-image")
    http.post("https://api.x.ai/v1/images/generations", **reply("xai", "images_generate_b64_success"))
    generation = run(generation_start(owner=alice, prompt="A cat in a tree"))
    assert generation.status == "succeeded"
    assert generation.estimated_cost_usd == D("0.0200") and generation.cost_source == "provider"
    assert generation.usage == {"cost_in_usd_ticks": 200000000}
    api = alice_api.get(reverse("api:generation-detail", args=[generation.pk])).json()
    assert (api["estimated_cost_usd"], api["cost_source"]) == ("0.0200", "provider")


def test_openai_gpt_image_usage_tokens_are_priced(alice, http):
    paid_profile(alice, "openai", "gpt-image-1.5", quality="high")
    usage = reply("openai", "images_generate_gpt_image_success")["json"]["usage"]
    # One image streams (live previews): the completed event carries the usage (providers.md §1.1).
    completed = {"type": "image_generation.completed", "b64_json": B64_PNG, "usage": usage}
    http.post("https://api.openai.com/v1/images/generations", body=f"event: image_generation.completed\n"
              f"data: {json.dumps(completed)}\n\n", content_type="text/event-stream")
    http.post("https://api.openai.com/v1/moderations", json={"results": [{"flagged": False, "categories": {}}]})
    generation = run(generation_start(owner=alice, prompt="A cute baby sea otter"))
    assert generation.status == "succeeded" and generation.cost_source == "tokens", generation.error_message
    assert generation.estimated_cost_usd == D("0.0020")  # (10·5 + 40·8 + 50·32) / 1e6 = 0.00197


def test_without_usage_the_table_prices_each_image(alice, fake_provider, monkeypatch):
    ImageProfile.objects.create(owner=alice, name="Fake", provider="fake", is_default=True,
                                parameters={"quality": "hd"})
    monkeypatch.setitem(pricing.PER_IMAGE, "fake", {"fake-1": {("hd", pricing.ANY): D("0.08")}})
    fake_provider.script = [ProviderResult(images=[ProviderImage(png_bytes(colour=(i, 0, 0)), "image/png")
                                                   for i in range(2)], model="fake-1")]
    generation = run(generation_start(owner=alice, prompt="two foxes", options={"n": 2}))
    assert generation.estimated_cost_usd == D("0.1600") and generation.cost_source == "table"


def test_an_unknown_model_is_recorded_as_unknown_not_guessed(alice, fake_provider):
    ImageProfile.objects.create(owner=alice, name="Fake", provider="fake", is_default=True)
    generation = run(generation_start(owner=alice, prompt="a fox"))
    assert generation.status == "succeeded"
    assert generation.estimated_cost_usd is None and generation.cost_source == "unknown"


def test_a_generation_canceled_while_the_provider_worked_keeps_what_it_cost(alice, fake_provider):
    ImageProfile.objects.create(owner=alice, name="Fake", provider="fake", is_default=True)
    generation = generation_start(owner=alice, prompt="a fox")

    def cancel_midway():
        generation_cancel(generation=Generation.objects.get(pk=generation.pk))
        return ProviderResult(images=[ProviderImage(png_bytes(), "image/png")], model="fake-1", cost_usd=0.05)

    fake_provider.script = [cancel_midway]
    generation = run(generation)
    assert generation.status == "canceled" and not generation.images.exists()
    assert generation.estimated_cost_usd == D("0.0500") and generation.cost_source == "provider"


def test_a_failed_generation_records_no_cost(alice, fake_provider):
    from images.providers import ProviderError

    ImageProfile.objects.create(owner=alice, name="Fake", provider="fake", is_default=True)
    fake_provider.script = [ProviderError("refused", code="content_policy")]
    generation = run(generation_start(owner=alice, prompt="a fox"))
    assert generation.status == "failed" and generation.estimated_cost_usd is None


def test_the_detail_page_says_where_the_cost_came_from(alice, alice_client, make_image):
    image = make_image(alice, estimated_cost_usd=D("0.0200"), cost_source="provider")
    html = alice_client.get(image.get_absolute_url()).content.decode()
    assert "$0.0200" in html and "(reported by the provider)" in html


# Billed, then refused: the provider charged for an answer whose images we did not keep -------------------------


def test_an_unsafe_image_fails_the_generation_but_keeps_what_the_provider_charged(alice, fake_provider):
    ImageProfile.objects.create(owner=alice, name="Fake", provider="fake", is_default=True)
    fake_provider.script = [ProviderResult(images=[ProviderImage(b"<html><script>x</script></html>", "image/png")],
                                           model="fake-1", usage={"cost": 0.04}, cost_usd=0.04)]
    generation = run(generation_start(owner=alice, prompt="a fox"))
    assert (generation.status, generation.error_code) == ("failed", "image_invalid")
    assert generation.estimated_cost_usd == D("0.0400") and generation.cost_source == "provider"
    assert generation.usage == {"cost": 0.04} and not generation.images.exists()


def test_more_images_than_asked_fails_and_is_priced_by_the_table_for_the_number_asked(alice, fake_provider,
                                                                                       monkeypatch):
    ImageProfile.objects.create(owner=alice, name="Fake", provider="fake", is_default=True,
                                parameters={"quality": "hd"})
    monkeypatch.setitem(pricing.PER_IMAGE, "fake", {"fake-1": {("hd", "1024x1024"): D("0.08"),
                                                               ("hd", pricing.ANY): D("0.12")}})
    fake_provider.script = [ProviderResult(images=[ProviderImage(png_bytes(colour=(i, 0, 0)), "image/png")
                                                   for i in range(3)], model="fake-1")]
    generation = run(generation_start(owner=alice, prompt="a fox"))  # n=1, square: priced 1 × 1024×1024
    assert (generation.status, generation.error_code) == ("failed", "provider_error")
    assert generation.estimated_cost_usd == D("0.0800") and generation.cost_source == "table"
    assert not generation.images.exists()


def test_an_image_over_the_size_limit_is_priced_at_the_requested_aspect_ratio(alice, fake_provider, monkeypatch,
                                                                              settings):
    settings.IMAGEGEN_MAX_IMAGE_PIXELS = 16 * 16
    ImageProfile.objects.create(owner=alice, name="Fake", provider="fake", is_default=True)
    monkeypatch.setitem(pricing.PER_IMAGE, "fake", {"fake-1": {(pricing.ANY, "1024x1024"): D("0.04"),
                                                               (pricing.ANY, pricing.ANY): D("0.08")}})
    generation = run(generation_start(owner=alice, prompt="a fox", options={"aspect_ratio": "16:9"}))
    assert (generation.status, generation.error_code) == ("failed", "image_too_large")
    assert generation.estimated_cost_usd == D("0.0800") and generation.cost_source == "table"  # the wide price


def test_an_answer_without_an_image_keeps_only_a_reported_cost(alice, fake_provider):
    ImageProfile.objects.create(owner=alice, name="Fake", provider="fake", is_default=True)
    fake_provider.script = [ProviderResult(images=[], model="fake-1", cost_usd=0.003)]
    generation = run(generation_start(owner=alice, prompt="a fox"))
    assert (generation.status, generation.error_code) == ("failed", "empty_response")
    assert generation.estimated_cost_usd == D("0.0030") and generation.cost_source == "provider"


def test_a_provider_error_without_an_answer_costs_nothing(alice, fake_provider):
    from images.providers import ProviderError

    ImageProfile.objects.create(owner=alice, name="Fake", provider="fake", is_default=True)
    fake_provider.script = [ProviderError("upstream 500", code="provider_error", status=500)]
    generation = run(generation_start(owner=alice, prompt="a fox"))
    assert generation.status == "failed" and generation.estimated_cost_usd is None and generation.cost_source == ""


def test_a_refused_answer_then_a_fallback_counts_both_charges(alice, fake_provider):
    backup = ImageProfile.objects.create(owner=alice, name="Backup", provider="fake")
    ImageProfile.objects.create(owner=alice, name="Fake", provider="fake", is_default=True, fallback=backup)
    too_many = ProviderResult(images=[ProviderImage(png_bytes(), "image/png")] * 2, model="fake-1", cost_usd=0.03)
    fine = ProviderResult(images=[ProviderImage(png_bytes(), "image/png")], model="fake-1", usage={"n": 1},
                          cost_usd=0.02)
    fake_provider.script = [too_many, fine]
    generation = run(generation_start(owner=alice, prompt="a fox"))
    assert generation.status == "queued" and generation.estimated_cost_usd == D("0.0300")  # on the fallback now
    generation = run(generation)
    assert generation.status == "succeeded" and generation.images.count() == 1
    assert generation.estimated_cost_usd == D("0.0500") and generation.cost_source == "provider"


def test_usage_totals_count_a_failed_generation_that_was_billed(alice, alice_client, alice_api, fake_provider):
    ImageProfile.objects.create(owner=alice, name="Fake", provider="fake", is_default=True)
    fake_provider.script = [
        ProviderResult(images=[ProviderImage(png_bytes(), "image/png")], model="fake-1", cost_usd=0.02),
        ProviderResult(images=[ProviderImage(b"not an image", "image/png")], model="fake-1", cost_usd=0.04),
    ]
    made, refused = (run(generation_start(owner=alice, prompt="a fox")) for _ in range(2))
    assert (made.status, refused.status) == ("succeeded", "failed")
    api = alice_api.get(reverse("api:usage")).json()
    assert api["total_usd"] == "0.0600" and api["generations"] == 2 and api["images"] == 1
    # The failed row keeps the profile's model (the answer's model id is recorded on success only).
    assert sorted((r["cost_usd"], r["succeeded"]) for r in api["providers"]) == [("0.0200", 1), ("0.0400", 0)]
    html = alice_client.get(reverse("settings-usage")).content.decode()
    assert 'id="usage-total">$0.06<' in html
