"""Image profiles: ownership of the key (T3), parameters against capabilities (T29), base URLs (T16, T21), one
default, mass assignment (T8), and the chat's profile choice."""

import pytest
import responses
from django.db import IntegrityError, transaction
from django.urls import reverse

from chats.models import Chat
from profiles.models import ApiKey, ImageProfile

pytestmark = pytest.mark.django_db

LIST = "api:image-profile-list"


def create(api, **fields):
    return api.post(reverse(LIST), {"name": "DALL-E 3", "provider": "openai", **fields}, format="json")


def test_create_with_own_key_and_valid_parameters(alice_api, alice_key):
    response = create(alice_api, api_key=alice_key.pk, model="dall-e-3",
                      parameters={"quality": "hd", "style": "vivid", "size": "1024x1792"}, is_default=True)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["api_key"] == alice_key.pk and body["api_key_hint"] == "…xyz9" and body["is_default"] is True
    assert body["parameters"] == {"quality": "hd", "provider_style": "vivid", "size": "1024x1792",
                                  "width": 1024, "height": 1792}


def test_seed_002_field_names_are_accepted(alice_api, alice_key):
    response = alice_api.post(reverse(LIST), {"name": "Seed", "provider": "OPENAI", "apiKeyId": alice_key.pk,
                                              "modelName": "dall-e-3", "isDefault": True}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["model"] == "dall-e-3" and response.json()["provider"] == "openai"


def test_another_users_key_is_not_found_and_nothing_is_saved(bob_api, alice_key):
    response = create(bob_api, api_key=alice_key.pk)
    assert response.status_code == 404 and response.json()["code"] == "not_found"
    assert not ImageProfile.objects.exists()


def test_a_key_for_another_provider_is_refused(alice_api, alice_key):
    response = create(alice_api, provider="xai", api_key=alice_key.pk)
    assert response.status_code == 400 and "api_key" in response.json()["fields"]


@pytest.mark.parametrize("parameters, field", [
    ({"n": 11}, "n"),
    ({"n": 0}, "n"),
    ({"steps": 1_000_000}, "parameters"),  # OpenAI has no steps
    ({"aspect_ratio": "7:3"}, "aspect_ratio"),
    ({"quality": "ultra"}, "quality"),
    ({"zoom": 3}, "parameters"),
])
def test_parameters_outside_the_capabilities_are_refused(alice_api, parameters, field):
    response = create(alice_api, model="gpt-image-1", parameters=parameters)
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "validation_error" and field in response.json()["fields"]
    assert not ImageProfile.objects.exists()


def test_names_are_unique_per_owner_but_not_across_owners(alice_api, bob_api):
    assert create(alice_api).status_code == 201
    again = create(alice_api, name="dall-e 3")
    assert again.status_code == 400 and "name" in again.json()["fields"]
    assert create(bob_api).status_code == 201


def test_at_most_one_default_and_set_default_moves_it(alice_api, alice):
    first = create(alice_api, name="one", is_default=True).json()
    second = create(alice_api, name="two", is_default=True).json()
    assert list(ImageProfile.objects.filter(is_default=True).values_list("name", flat=True)) == ["two"]
    alice_api.post(reverse("api:image-profile-set-default", args=[first["id"]]))
    assert list(ImageProfile.objects.filter(is_default=True).values_list("name", flat=True)) == ["one"]
    assert second["id"] != first["id"]
    with pytest.raises(IntegrityError), transaction.atomic():  # the database enforces it too
        ImageProfile.objects.filter(name="two").update(is_default=True)


def test_owner_cannot_be_mass_assigned(alice_api, alice, bob):
    response = create(alice_api, owner=bob.pk, id=999)
    assert response.status_code == 201
    assert ImageProfile.objects.get().owner == alice and response.json()["id"] != 999
    pk = response.json()["id"]
    alice_api.patch(reverse("api:image-profile-detail", args=[pk]), {"owner": bob.pk}, format="json")
    assert ImageProfile.objects.get().owner == alice


def test_changing_the_provider_drops_the_old_key_and_model(alice_api, alice_key):
    pk = create(alice_api, api_key=alice_key.pk, model="dall-e-3").json()["id"]
    response = alice_api.patch(reverse("api:image-profile-detail", args=[pk]), {"provider": "xai"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["api_key"] is None and response.json()["model"] == "grok-imagine-image"


@pytest.mark.parametrize("url", ["http://127.0.0.1:7860", "http://192.168.1.50:7860", "http://[::1]:7860",
                                 "http://169.254.169.254/", "file:///etc/passwd", "http://localhost:7860"])
def test_private_or_odd_base_urls_are_refused(alice_api, url):
    response = create(alice_api, name="a1111", provider="automatic1111", base_url=url)
    assert response.status_code == 400 and response.json()["code"] == "url_forbidden", response.content
    assert "base_url" in response.json()["fields"]


def test_an_allowlisted_server_is_accepted(alice_api, settings):
    settings.IMAGEGEN_PRIVATE_ALLOWLIST = ["192.168.1.50:7860"]
    response = create(alice_api, name="a1111", provider="automatic1111", base_url="http://192.168.1.50:7860/")
    assert response.status_code == 201, response.content
    assert response.json()["base_url"] == "http://192.168.1.50:7860"
    # The port must match too (T21).
    assert create(alice_api, name="other", provider="automatic1111",
                  base_url="http://192.168.1.50:8188").status_code == 400


def test_base_url_only_for_self_hosted_kinds(alice_api):
    response = create(alice_api, base_url="https://example.com/v1")
    assert response.status_code == 400 and "base_url" in response.json()["fields"]
    assert create(alice_api, name="x", provider="automatic1111").json()["fields"] == {"base_url": "required"}


def test_a_provider_that_cannot_generate_is_refused(alice_api):
    response = create(alice_api, provider="anthropic")
    assert response.status_code == 400 and response.json()["code"] == "unsupported_provider"


def test_models_built_in_without_a_key(alice_api):
    body = alice_api.get(reverse("api:image-profile-models"), {"provider": "openai"}).json()
    assert body["live"] is False and "gpt-image-1" in body["models"] and body["supportedModels"]


@responses.activate
def test_models_live_with_a_key(alice_api, alice_key):
    responses.get("https://api.openai.com/v1/models", json={"data": [{"id": "gpt-image-1"}, {"id": "gpt-4o"}]})
    body = alice_api.get(reverse("api:image-profile-models"), {"provider": "openai", "api_key": alice_key.pk}).json()
    assert body == {**body, "live": True, "models": ["gpt-image-1"]}


def test_models_with_another_users_key_is_not_found(bob_api, alice_key):
    response = bob_api.get(reverse("api:image-profile-models"), {"provider": "openai", "api_key": alice_key.pk})
    assert response.status_code == 404


@responses.activate
def test_validate_key_with_a_key_not_saved(alice_api):
    responses.get("https://api.openai.com/v1/models", json={"data": [{"id": "dall-e-3"}]})
    response = alice_api.post(reverse("api:image-profile-validate-key"),
                              {"provider": "openai", "apiKey": "sk-unsaved-1234567890"}, format="json")
    assert response.json()["valid"] is True
    assert not ApiKey.objects.exists()


def test_validate_key_with_another_users_key_is_not_found(bob_api, alice_key):
    response = bob_api.post(reverse("api:image-profile-validate-key"),
                            {"provider": "openai", "api_key": alice_key.pk}, format="json")
    assert response.status_code == 404


def test_providers_describe_their_parameters(alice_api):
    body = alice_api.get(reverse("api:provider-detail", args=["openai"])).json()
    assert body["kind"] == "openai" and "quality" in body["parameters"] and body["models"]
    assert alice_api.get(reverse("api:provider-detail", args=["nope"])).status_code == 404


def test_the_profile_page_creates_and_edits(alice_client, alice_key):
    page = alice_client.get(reverse("settings-profile-create") + "?provider=openai")
    assert page.status_code == 200 and "…xyz9" in page.content.decode()
    response = alice_client.post(reverse("settings-profile-create"), {
        "name": "Page profile", "provider": "openai", "api_key": alice_key.pk, "model": "gpt-image-1",
        "quality": "high", "n": "2", "is_default": "on",
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    profile = ImageProfile.objects.get()
    assert profile.parameters == {"quality": "high", "n": 2} and profile.is_default
    bad = alice_client.post(reverse("settings-profile-edit", args=[profile.pk]),
                            {"name": "Page profile", "provider": "openai", "n": "99"})
    assert bad.status_code == 400 and ImageProfile.objects.get().parameters["n"] == 2


def test_the_fields_partial_follows_the_provider(alice_client):
    html = alice_client.get(reverse("settings-profile-fields"), {"provider": "automatic1111"}).content.decode()
    assert 'name="base_url"' in html and 'name="steps"' in html
    html = alice_client.get(reverse("settings-profile-fields"), {"provider": "openai"}).content.decode()
    assert 'name="base_url"' not in html and 'name="quality"' in html


def test_the_chat_header_picks_the_chats_profile(alice_client, alice, bob):
    chat = Chat.objects.create(owner=alice)
    mine = ImageProfile.objects.create(owner=alice, name="Mine", provider="offline")
    theirs = ImageProfile.objects.create(owner=bob, name="Theirs", provider="offline")
    page = alice_client.get(chat.get_absolute_url()).content.decode()
    assert 'id="chat-image-profile"' in page and "Mine" in page and "Theirs" not in page
    alice_client.post(reverse("chat-profile", args=[chat.pk]), {"image_profile": mine.pk})
    chat.refresh_from_db()
    assert chat.image_profile == mine
    assert alice_client.post(reverse("chat-profile", args=[chat.pk]), {"image_profile": theirs.pk}).status_code == 404
    chat.refresh_from_db()
    assert chat.image_profile == mine
    alice_client.post(reverse("chat-profile", args=[chat.pk]), {"image_profile": ""})
    chat.refresh_from_db()
    assert chat.image_profile is None


# OpenRouter's Image API options (providers.md §4.2): settable on a profile, each within its values -------------

OPENROUTER_OPTIONS = {"image_size": "2K", "output_format": "webp", "background": "transparent",
                      "output_compression": 80, "quality": "high", "seed": 42}


def test_openrouter_profiles_take_the_image_api_options(alice_api):
    response = create(alice_api, name="OR", provider="openrouter", model="google/gemini-2.5-flash-image",
                      parameters=OPENROUTER_OPTIONS)
    assert response.status_code == 201, response.content
    assert response.json()["parameters"] == OPENROUTER_OPTIONS
    described = alice_api.get(reverse("api:provider-detail", args=["openrouter"])).json()["parameters"]
    assert described["output_format"] == {"type": "string", "enum": ["png", "jpeg", "webp"]}
    assert described["image_size"]["enum"] == ["0.5K", "1K", "2K", "4K"]
    assert described["output_compression"] == {"type": "integer", "minimum": 0, "maximum": 100}


@pytest.mark.parametrize("parameters, field", [
    ({"output_format": "svg"}, "output_format"),  # the API makes SVG; we keep raster images only
    ({"background": "glass"}, "background"),
    ({"image_size": "8K"}, "image_size"),
    ({"output_compression": 101}, "output_compression"),
    ({"output_compression": "lots"}, "output_compression"),
    ({"quality": "hd"}, "quality"),
    ({"seed": -1}, "seed"),
    ({"resolution": "2K"}, "parameters"),  # the profile's name for it is image_size
])
def test_openrouter_options_outside_their_values_are_refused(alice_api, parameters, field):
    response = create(alice_api, name="OR", provider="openrouter", parameters=parameters)
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "validation_error" and field in response.json()["fields"]
    assert not ImageProfile.objects.exists()


def test_other_providers_do_not_take_openrouters_options(alice_api):
    response = create(alice_api, name="xAI", provider="xai", parameters={"output_format": "webp"})
    assert response.status_code == 400 and "parameters" in response.json()["fields"]


def test_the_profile_form_sets_and_checks_openrouters_options(alice_client):
    html = alice_client.get(reverse("settings-profile-fields"), {"provider": "openrouter"}).content.decode()
    for name in ("image_size", "output_format", "background", "output_compression", "quality", "seed"):
        assert f'name="{name}"' in html
    form = {"name": "OR page", "provider": "openrouter", "model": "google/gemini-2.5-flash-image"}
    response = alice_client.post(reverse("settings-profile-create"), {
        **form, "image_size": "4K", "output_format": "jpeg", "background": "opaque", "output_compression": "60"})
    assert response.status_code == 302, response.content.decode()[:2000]
    profile = ImageProfile.objects.get()
    assert profile.parameters == {"image_size": "4K", "output_format": "jpeg", "background": "opaque",
                                  "output_compression": 60}
    for bad in ({"output_format": "svg"}, {"output_compression": "101"}, {"background": "glass"}):
        refused = alice_client.post(reverse("settings-profile-edit", args=[profile.pk]), {**form, **bad})
        assert refused.status_code == 400, bad
    assert ImageProfile.objects.get().parameters["output_format"] == "jpeg"


def test_openrouters_profile_options_reach_the_image_api_request(alice):
    from images.providers.common import Mapping
    from images.providers.openrouter import OpenRouterProvider
    from images.services import build_image_request, generation_start

    model = "google/gemini-2.5-flash-image"
    profile = ImageProfile.objects.create(owner=alice, name="OR", provider="openrouter", model=model,
                                          parameters=OPENROUTER_OPTIONS)
    request = build_image_request(generation_start(owner=alice, prompt="a fox", profile=profile))
    body = OpenRouterProvider(api_key="k").image_fields(request, model, Mapping(f"OpenRouter {model}"))
    assert {k: body.get(k) for k in ("resolution", "output_format", "background", "output_compression",
                                     "quality", "seed")} == {
        "resolution": "2K", "output_format": "webp", "background": "transparent", "output_compression": 80,
        "quality": "high", "seed": 42}


# OpenAI's GPT image options (providers.md §1.1): settable on a GPT image model's profile, never on DALL·E's ---------

OPENAI_OPTIONS = {"background": "transparent", "output_format": "webp", "output_compression": 80, "moderation": "low"}


@pytest.mark.parametrize("model", ["gpt-image-2", "gpt-image-1.5", "gpt-image-1", "gpt-image-1-mini"])
def test_openai_gpt_image_profiles_take_openais_options(alice_api, model):
    response = create(alice_api, name="GPT", model=model, parameters=OPENAI_OPTIONS)
    assert response.status_code == 201, response.content
    assert response.json()["parameters"] == OPENAI_OPTIONS


def test_openai_describes_its_options_in_the_api(alice_api):
    described = alice_api.get(reverse("api:provider-detail", args=["openai"])).json()["parameters"]
    assert described["background"] == {"type": "string", "enum": ["auto", "transparent", "opaque"]}
    assert described["output_format"] == {"type": "string", "enum": ["png", "jpeg", "webp"]}
    assert described["moderation"] == {"type": "string", "enum": ["auto", "low"]}
    assert described["output_compression"] == {"type": "integer", "minimum": 0, "maximum": 100}


@pytest.mark.parametrize("model", ["dall-e-3", "dall-e-2"])
def test_dall_e_profiles_do_not_take_gpt_image_options(alice_api, model):
    response = create(alice_api, model=model, parameters={"output_format": "webp", "moderation": "low"})
    assert response.status_code == 400, response.content
    assert response.json()["fields"]["parameters"] == {"output_format": "not supported", "moderation": "not supported"}
    assert not ImageProfile.objects.exists()


@pytest.mark.parametrize("parameters, field", [
    ({"background": "glass"}, "background"),
    ({"output_format": "gif"}, "output_format"),
    ({"moderation": "off"}, "moderation"),
    ({"output_compression": 101}, "output_compression"),
    ({"output_compression": -1}, "output_compression"),
])
def test_openai_options_outside_their_values_are_refused(alice_api, parameters, field):
    response = create(alice_api, model="gpt-image-1", parameters=parameters)
    assert response.status_code == 400, response.content
    assert field in response.json()["fields"]
    assert not ImageProfile.objects.exists()


@pytest.mark.parametrize("provider, model", [("openai", "gpt-image-1.5"),
                                             ("openrouter", "google/gemini-2.5-flash-image")])
def test_a_transparent_jpeg_is_refused_at_save_time(alice_api, provider, model):
    response = create(alice_api, provider=provider, model=model,
                      parameters={"background": "transparent", "output_format": "jpeg"})
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "validation_error" and {"background", "output_format"} <= set(body["fields"])
    assert "JPEG cannot be transparent" in body["detail"]
    assert not ImageProfile.objects.exists()
    for fine in ({"background": "transparent", "output_format": "png"},
                 {"background": "opaque", "output_format": "jpeg"}, {"background": "transparent"}):
        assert create(alice_api, name=f"ok {len(fine)} {fine['background']}", provider=provider, model=model,
                      parameters=fine).status_code == 201, fine


def test_the_profile_form_sets_and_checks_openais_options(alice_client, alice_key):
    html = alice_client.get(reverse("settings-profile-fields"), {"provider": "openai"}).content.decode()
    for name in ("background", "output_format", "output_compression", "moderation"):
        assert f'name="{name}"' in html
    dall_e = alice_client.get(reverse("settings-profile-fields"), {"provider": "openai", "model": "dall-e-3"})
    assert 'name="background"' not in dall_e.content.decode()
    form = {"name": "GPT page", "provider": "openai", "api_key": alice_key.pk, "model": "gpt-image-1"}
    response = alice_client.post(reverse("settings-profile-create"), {
        **form, "background": "opaque", "output_format": "jpeg", "output_compression": "60", "moderation": "low"})
    assert response.status_code == 302, response.content.decode()[:2000]
    profile = ImageProfile.objects.get()
    assert profile.parameters == {"background": "opaque", "output_format": "jpeg", "output_compression": 60,
                                  "moderation": "low"}
    refused = alice_client.post(reverse("settings-profile-edit", args=[profile.pk]),
                                {**form, "background": "transparent", "output_format": "jpeg"})
    assert refused.status_code == 400
    assert "JPEG cannot be transparent" in refused.content.decode()
    for bad in ({"output_format": "gif"}, {"output_compression": "101"}, {"moderation": "off"}):
        refused = alice_client.post(reverse("settings-profile-edit", args=[profile.pk]), {**form, **bad})
        assert refused.status_code == 400, bad
    assert ImageProfile.objects.get().parameters["background"] == "opaque"


@responses.activate
def test_openais_profile_options_reach_the_generations_request(alice):
    from images.providers.openai import OpenAIProvider
    from images.services import build_image_request, generation_start
    from tests.providers.support import reply, sent_json

    responses.post("https://api.openai.com/v1/images/generations",
                   **reply("openai", "images_generate_gpt_image_success"))
    profile = ImageProfile.objects.create(owner=alice, name="GPT", provider="openai", model="gpt-image-1",
                                          parameters=OPENAI_OPTIONS)
    request = build_image_request(generation_start(owner=alice, prompt="a fox", profile=profile))
    result = OpenAIProvider(api_key="sk-test").generate(request)
    assert sent_json(responses.calls[0]) == {"model": "gpt-image-1", "prompt": request.prompt, "n": 1,
                                             "background": "transparent", "output_format": "webp",
                                             "output_compression": 80, "moderation": "low"}
    assert result.warnings == []


@pytest.mark.parametrize("provider, port", [("automatic1111", 7860), ("comfyui", 8188)])
def test_self_hosted_profiles_set_an_edits_strength(alice_api, settings, provider, port):
    settings.IMAGEGEN_PRIVATE_ALLOWLIST = [f"192.168.1.50:{port}"]
    base_url = f"http://192.168.1.50:{port}"
    made = create(alice_api, name=provider, provider=provider, base_url=base_url, parameters={"strength": "0.4"})
    assert made.status_code == 201, made.content
    assert made.json()["parameters"] == {"strength": 0.4}
    for wrong in (0, 1.5, "much"):
        refused = create(alice_api, name=f"{provider} {wrong}", provider=provider, base_url=base_url,
                         parameters={"strength": wrong})
        assert refused.status_code == 400 and "strength" in refused.json()["fields"], refused.content
    schema = alice_api.get(reverse("api:provider-list")).json()
    described = next(p for p in schema if p["kind"] == provider)
    assert described["parameters"]["strength"] == {"type": "number", "minimum": 0.01, "maximum": 1}


def test_providers_that_do_not_denoise_refuse_a_strength(alice_api):
    response = create(alice_api, parameters={"strength": 0.5})
    assert response.status_code == 400 and "parameters" in response.json()["fields"]


def test_a_profiles_strength_reaches_the_providers_edit(alice):
    from images.models import Generation
    from images.services import build_image_request

    generation = Generation.objects.create(owner=alice, provider="automatic1111", prompt="make it night",
                                           parameters={"n": 1, "strength": 0.4})
    # Both self-hosted providers read their edit's denoise from request.extra["strength"] (tests/providers cover the
    # bodies they send from it).
    assert build_image_request(generation).extra["strength"] == 0.4
