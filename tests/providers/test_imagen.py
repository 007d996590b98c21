"""Google Imagen on the Gemini API (deprecated): payloads in tests/fixtures/providers/imagen (providers.md §3)."""

from __future__ import annotations

import pytest
import responses

from images.providers.base import ImageRequest, ProviderError
from images.providers.imagen import ImagenProvider

from .support import B64_PNG, PNG, reply, sent_json

ROOT = "https://generativelanguage.googleapis.com/v1beta/models"
PREDICT = f"{ROOT}/imagen-4.0-generate-001:predict"


def provider() -> ImagenProvider:
    return ImagenProvider(api_key="AIza-test")


def test_it_sends_sample_count_aspect_ratio_person_generation_and_size(http: responses.RequestsMock) -> None:
    http.post(PREDICT, **reply("imagen", "predict_success"))
    result = provider().generate(ImageRequest(prompt="A hairy bunny in my kitchen playing with a tomato.",
                                              aspect_ratio="1:1",
                                              extra={"person_generation": "allow_adult", "image_size": "1k"}))
    assert http.calls[0].request.headers["x-goog-api-key"] == "AIza-test"
    assert sent_json(http.calls[0]) == {
        "instances": [{"prompt": "A hairy bunny in my kitchen playing with a tomato."}],
        "parameters": {"sampleCount": 1, "aspectRatio": "1:1", "personGeneration": "allow_adult",
                       "sampleImageSize": "1K"}}
    assert result.images[0].data == PNG and result.warnings == []


def test_it_says_when_the_safety_filter_removed_some_images(http: responses.RequestsMock) -> None:
    http.post(PREDICT, json={"predictions": [{"bytesBase64Encoded": B64_PNG, "mimeType": "image/png"},
                                             {"bytesBase64Encoded": B64_PNG, "mimeType": "image/png"},
                                             {"raiFilteredReason": "filtered for safety"}]})
    result = provider().generate(ImageRequest(prompt="bunny", n=3, aspect_ratio="16:9"))
    assert sent_json(http.calls[0])["parameters"] == {"sampleCount": 3, "aspectRatio": "16:9"}
    assert len(result.images) == 2
    assert result.warnings == ["Imagen made 2 of 3 images; the safety filter removed the rest."]


def test_it_drops_negative_prompt_and_seed_which_only_vertex_takes(http: responses.RequestsMock) -> None:
    http.post(PREDICT, **reply("imagen", "predict_success"))
    result = provider().generate(ImageRequest(prompt="bunny", negative_prompt="carrots", seed=5,
                                              extra={"person_generation": "ALLOW_ALL"}))
    assert sent_json(http.calls[0])["parameters"] == {"sampleCount": 1}
    assert result.warnings == [
        "Imagen imagen-4.0-generate-001 takes it only on Vertex AI, not on the Gemini API; "
        "dropped negative_prompt='carrots'.",
        "Imagen imagen-4.0-generate-001 takes it only on Vertex AI, not on the Gemini API; dropped seed=5.",
        "Imagen imagen-4.0-generate-001 allows dont_allow and allow_adult only; dropped person_generation=allow_all."]


def test_it_asks_imagen_ultra_for_one_image_only(http: responses.RequestsMock) -> None:
    http.post(f"{ROOT}/imagen-4.0-ultra-generate-001:predict", **reply("imagen", "predict_success"))
    result = provider().generate(ImageRequest(prompt="bunny", model="imagen-4.0-ultra-generate-001", n=2))
    assert sent_json(http.calls[0])["parameters"]["sampleCount"] == 1
    assert "made 1" in result.warnings[0]


def test_it_maps_an_all_filtered_answer_to_content_policy(http: responses.RequestsMock) -> None:
    http.post(PREDICT, json={"predictions": [{"raiFilteredReason": "Unable to show generated images."}]})
    with pytest.raises(ProviderError) as exc:
        provider().generate(ImageRequest(prompt="bad"))
    assert exc.value.code == "content_policy"


def test_it_points_to_gemini_when_the_gemini_api_refuses_imagen(http: responses.RequestsMock) -> None:
    http.post(PREDICT, status=404, json={"error": {"code": 404, "status": "NOT_FOUND",
                                                   "message": "models/imagen-4.0-generate-001 is not found"}})
    with pytest.raises(ProviderError) as exc:
        provider().generate(ImageRequest(prompt="bunny"))
    assert exc.value.code == "provider_error"
    assert "use the Google Gemini provider" in exc.value.message


def test_it_lists_only_predict_models(http: responses.RequestsMock) -> None:
    http.get(f"{ROOT}", **reply("gemini", "models_list_success", json={"models": [
        {"name": "models/gemini-2.5-flash-image", "supportedGenerationMethods": ["generateContent"]},
        {"name": "models/imagen-4.0-generate-001", "supportedGenerationMethods": ["predict"]}]}))
    assert provider().list_models() == ["imagen-4.0-generate-001"]
