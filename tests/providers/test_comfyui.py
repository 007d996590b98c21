"""ComfyUI (self-hosted): payloads in tests/fixtures/providers/comfyui (providers.md §7)."""

from __future__ import annotations

import base64
import copy
import json
from typing import Callable

import pytest
import responses
from responses import matchers

from images.providers import comfyui
from images.providers.base import ImageRequest, ProviderError
from images.providers.comfyui import ComfyUIProvider

from .support import PNG, fixture, reply, sent_files, sent_form, sent_json

BASE = "http://127.0.0.1:8188"
PROMPT_ID = "9f1c2d3e-4b5a-6789-8abc-def012345678"
HISTORY = f"{BASE}/history/{PROMPT_ID}"
VIEW = {"filename": "ComfyUI_00001_.png", "subfolder": "", "type": "output"}


@pytest.fixture(autouse=True)
def server_allowed(allowlist: Callable[..., None], monkeypatch: pytest.MonkeyPatch) -> None:
    allowlist("127.0.0.1:8188")
    monkeypatch.setattr(ComfyUIProvider, "poll_interval", 0)  # no sleeping between polls in tests


def provider() -> ComfyUIProvider:
    return ComfyUIProvider(base_url=BASE)


def queue_and_finish(http: responses.RequestsMock) -> None:
    http.post(f"{BASE}/prompt", **reply("comfyui", "post_prompt_success"))
    http.get(HISTORY, **reply("comfyui", "history_pending"))
    http.get(HISTORY, **reply("comfyui", "history_done"))
    http.get(f"{BASE}/view", match=[matchers.query_param_matcher(VIEW)], **reply("comfyui", "view_image_success"))


def test_it_fills_the_built_in_workflow_polls_history_and_fetches_the_output(http: responses.RequestsMock) -> None:
    queue_and_finish(http)
    result = provider().generate(ImageRequest(
        prompt="masterpiece best quality girl", negative_prompt="bad hands", seed=8566257, width=512, height=512,
        steps=20, guidance=8, model="v1-5-pruned-emaonly.safetensors"))
    sent = sent_json(http.calls[0])
    expected = copy.deepcopy(fixture("comfyui", "post_prompt_success")["request"]["json"]["prompt"])
    expected["9"]["inputs"]["filename_prefix"] = "imagegen"
    assert sent["prompt"] == expected
    assert len(sent["client_id"]) == 32
    assert [c.request.method for c in http.calls] == ["POST", "GET", "GET", "GET"]
    assert result.images[0].data == PNG and result.images[0].seed == 8566257
    assert result.request_id == PROMPT_ID


def test_it_picks_a_seed_and_the_first_checkpoint_when_none_is_given(http: responses.RequestsMock,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(comfyui.random, "randrange", lambda top: 1234)
    http.get(f"{BASE}/models/checkpoints", json=["sdxl.safetensors", "v1-5.safetensors"])
    queue_and_finish(http)
    result = provider().generate(ImageRequest(prompt="fox", aspect_ratio="16:9", n=2))
    nodes = sent_json(http.calls[1])["prompt"]
    assert nodes["4"]["inputs"]["ckpt_name"] == "sdxl.safetensors"
    assert nodes["3"]["inputs"]["seed"] == 1234 and nodes["3"]["inputs"]["steps"] == 20
    assert nodes["5"]["inputs"] == {"width": 704, "height": 384, "batch_size": 2}
    assert result.images[0].seed == 1234  # reported, so the image can be made again


def test_it_fills_an_operator_workflow_with_typed_placeholders(http: responses.RequestsMock) -> None:
    workflow = {"1": {"class_type": "Custom", "inputs": {"text": "photo of {{prompt}}", "seed": "{{seed}}",
                                                         "size": ["{{width}}", "{{height}}"]}},
                "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0]}}}
    queue_and_finish(http)
    provider().generate(ImageRequest(prompt="a fox", seed=7, width=640, height=448,
                                     extra={"workflow": json.dumps(workflow)}))
    assert sent_json(http.calls[0])["prompt"]["1"]["inputs"] == {"text": "photo of a fox", "seed": 7,
                                                                 "size": [640, 448]}


def test_it_refuses_a_workflow_without_a_prompt_placeholder(http: responses.RequestsMock) -> None:
    with pytest.raises(ProviderError) as exc:
        provider().generate(ImageRequest(prompt="fox", extra={"workflow": {"1": {"inputs": {"text": "fixed"}}}}))
    assert exc.value.code == "validation_error"
    assert len(http.calls) == 0


def test_it_maps_workflow_validation_errors_naming_the_node(http: responses.RequestsMock) -> None:
    http.post(f"{BASE}/prompt", **reply("comfyui", "error_400_invalid_prompt"))
    with pytest.raises(ProviderError) as exc:
        provider().generate(ImageRequest(prompt="fox", model="missing.safetensors"))
    assert exc.value.code == "validation_error"
    assert "node 4 (CheckpointLoaderSimple): ckpt_name: 'missing.safetensors' not in" in exc.value.message


def test_it_maps_the_no_prompt_error(http: responses.RequestsMock) -> None:
    http.post(f"{BASE}/prompt", **reply("comfyui", "error_400_no_prompt"))
    with pytest.raises(ProviderError) as exc:
        provider().generate(ImageRequest(prompt="fox", model="m.safetensors"))
    assert exc.value.code == "validation_error" and "No prompt provided" in exc.value.message


def test_it_reports_an_execution_error_from_history(http: responses.RequestsMock) -> None:
    http.post(f"{BASE}/prompt", **reply("comfyui", "post_prompt_success"))
    failure = {"node_type": "KSampler", "exception_message": "CUDA out of memory."}
    http.get(HISTORY, json={PROMPT_ID: {"outputs": {}, "status": {
        "status_str": "error", "completed": False, "messages": [["execution_error", failure]]}}})
    with pytest.raises(ProviderError) as exc:
        provider().generate(ImageRequest(prompt="fox", model="m.safetensors"))
    assert exc.value.code == "provider_error" and "KSampler: CUDA out of memory." in exc.value.message


def test_it_times_out_when_the_queue_never_finishes(http: responses.RequestsMock,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(comfyui, "DEADLINE", -1)
    http.post(f"{BASE}/prompt", **reply("comfyui", "post_prompt_success"))
    with pytest.raises(ProviderError) as exc:
        provider().generate(ImageRequest(prompt="fox", model="m.safetensors"))
    assert (exc.value.code, exc.value.retryable) == ("timeout", True)


def test_it_maps_a_run_with_only_preview_images_to_empty_response(http: responses.RequestsMock) -> None:
    http.post(f"{BASE}/prompt", **reply("comfyui", "post_prompt_success"))
    http.get(HISTORY, json={PROMPT_ID: {"outputs": {"9": {"images": [dict(VIEW, type="temp")]}}}})
    with pytest.raises(ProviderError) as exc:
        provider().generate(ImageRequest(prompt="fox", model="m.safetensors"))
    assert exc.value.code == "empty_response"


def test_it_drops_what_comfyui_cannot_take_and_says_so(http: responses.RequestsMock) -> None:
    queue_and_finish(http)
    result = provider().generate(ImageRequest(prompt="fox", model="m.safetensors", quality="hd", style="vivid", n=6))
    assert sent_json(http.calls[0])["prompt"]["5"]["inputs"]["batch_size"] == 4
    text = " ".join(result.warnings)
    assert "quality=hd" in text and "style=vivid" in text and "asked for 6, made 4" in text


def test_it_validates_the_server_and_lists_checkpoints(http: responses.RequestsMock) -> None:
    http.get(f"{BASE}/system_stats", **reply("comfyui", "system_stats_success"))
    http.get(f"{BASE}/models/checkpoints", json=["v1-5-pruned-emaonly.safetensors"])
    assert provider().validate_key() == {"version": "v0.3.40"}
    assert provider().list_models() == ["v1-5-pruned-emaonly.safetensors"]


def test_it_refuses_a_private_server_the_operator_has_not_allowed(allowlist: Callable[..., None]) -> None:
    allowlist()
    with pytest.raises(ProviderError) as exc:
        provider().validate_key()
    assert exc.value.code == "url_forbidden"


def test_it_needs_a_base_url_and_no_key() -> None:
    from images.providers import get_provider

    with pytest.raises(ProviderError) as exc:
        get_provider("comfyui")
    assert exc.value.code == "validation_error"
    assert isinstance(get_provider("comfyui", base_url=BASE), ComfyUIProvider)


# Edits: the source (and a painted area) go up through POST /upload/image, then the built-in graph made
# image-to-image is queued. Payloads: upload_*.json and post_prompt_img2img/inpaint.json.
UPLOAD = f"{BASE}/upload/image"


def upload_fixture(name: str) -> tuple[str, str, bytes]:
    """The file part a recorded upload sent: its file name, content type and bytes (as sent_files gives them)."""
    part = fixture("comfyui", name)["request"]["multipart"]["image"]
    return part["filename"], part["content_type"], base64.b64decode(part["body_base64"])


SOURCE_NAME, _, SOURCE = upload_fixture("upload_image_success")
MASK_NAME, _, MASK = upload_fixture("upload_mask_success")
EDIT = dict(prompt="a red fox wearing a hat", negative_prompt="blurry", seed=8566257, steps=20, guidance=8,
            model="v1-5-pruned-emaonly.safetensors", input_images=((SOURCE, "image/png"),), extra={"strength": 0.6})


def test_an_edit_uploads_the_source_and_starts_the_sampler_from_it(http: responses.RequestsMock) -> None:
    http.post(UPLOAD, **reply("comfyui", "upload_image_success"))
    queue_and_finish(http)
    result = provider().edit(ImageRequest(**EDIT))
    assert [(c.request.method, c.request.url.split("?")[0]) for c in http.calls] == [
        ("POST", UPLOAD), ("POST", f"{BASE}/prompt"), ("GET", HISTORY), ("GET", HISTORY), ("GET", f"{BASE}/view")]
    recorded = fixture("comfyui", "upload_image_success")["request"]["multipart"]
    assert sent_form(http.calls[0]) == {"type": recorded["type"], "overwrite": recorded["overwrite"]}
    assert sent_files(http.calls[0]) == {"image": upload_fixture("upload_image_success")}
    assert sent_json(http.calls[1])["prompt"] == fixture("comfyui", "post_prompt_img2img")["request"]["json"]["prompt"]
    assert result.images[0].data == PNG and result.images[0].seed == 8566257 and result.warnings == []


def test_a_masked_edit_uploads_the_painted_area_and_renoises_only_there(http: responses.RequestsMock) -> None:
    built_in = copy.deepcopy(comfyui.WORKFLOW)
    http.post(UPLOAD, **reply("comfyui", "upload_image_success"))
    http.post(UPLOAD, **reply("comfyui", "upload_mask_success"))
    queue_and_finish(http)
    provider().edit(ImageRequest(**EDIT, mask=MASK))
    # The canonical mask goes up as it is (white = change), read by LoadImageMask's red channel.
    assert sent_files(http.calls[1]) == {"image": upload_fixture("upload_mask_success")}
    assert sent_form(http.calls[1]) == {"type": "input", "overwrite": "true"}
    nodes = sent_json(http.calls[2])["prompt"]
    assert nodes == fixture("comfyui", "post_prompt_inpaint")["request"]["json"]["prompt"]
    assert nodes["10"]["inputs"]["image"] == SOURCE_NAME and nodes["11"]["inputs"]["image"] == MASK_NAME
    assert comfyui.WORKFLOW == built_in  # the txt2img graph is not touched by an edit


def test_the_txt2img_workflow_is_unchanged_after_an_edit(http: responses.RequestsMock) -> None:
    http.post(UPLOAD, **reply("comfyui", "upload_image_success"))
    queue_and_finish(http)
    provider().edit(ImageRequest(**EDIT))
    queue_and_finish(http)
    provider().generate(ImageRequest(prompt="masterpiece best quality girl", negative_prompt="bad hands",
                                     seed=8566257, width=512, height=512, steps=20, guidance=8,
                                     model="v1-5-pruned-emaonly.safetensors"))
    expected = copy.deepcopy(fixture("comfyui", "post_prompt_success")["request"]["json"]["prompt"])
    expected["9"]["inputs"]["filename_prefix"] = "imagegen"
    assert sent_json(http.calls[-4])["prompt"] == expected


def test_an_edit_loads_the_name_comfyui_answered(http: responses.RequestsMock) -> None:
    http.post(UPLOAD, **reply("comfyui", "upload_image_success",
                              json={"name": "imagegen_x (1).png", "subfolder": "edits", "type": "input"}))
    queue_and_finish(http)
    provider().edit(ImageRequest(**EDIT))
    assert sent_json(http.calls[1])["prompt"]["10"]["inputs"] == {"image": "edits/imagegen_x (1).png"}


def test_several_variations_repeat_the_encoded_source(http: responses.RequestsMock) -> None:
    http.post(UPLOAD, **reply("comfyui", "upload_image_success"))
    queue_and_finish(http)
    provider().edit(ImageRequest(**{**EDIT, "n": 3}))
    nodes = sent_json(http.calls[1])["prompt"]
    assert nodes["13"] == {"class_type": "RepeatLatentBatch", "inputs": {"samples": ["5", 0], "amount": 3}}
    assert nodes["3"]["inputs"]["latent_image"] == ["13", 0]


def test_an_edit_without_a_strength_uses_a1111s_default(http: responses.RequestsMock) -> None:
    http.post(UPLOAD, **reply("comfyui", "upload_image_success"))
    queue_and_finish(http)
    provider().edit(ImageRequest(**{**EDIT, "extra": {}}))
    assert sent_json(http.calls[1])["prompt"]["3"]["inputs"]["denoise"] == comfyui.DEFAULT_STRENGTH == 0.75


@pytest.mark.parametrize("strength", [0, 1.5, "lots"])
def test_an_edit_refuses_a_strength_outside_0_to_1(http: responses.RequestsMock, strength: object) -> None:
    with pytest.raises(ProviderError) as exc:
        provider().edit(ImageRequest(**{**EDIT, "extra": {"strength": strength}}))
    assert exc.value.code == "validation_error" and "strength" in exc.value.message
    assert len(http.calls) == 0


def test_a_failed_upload_is_a_clear_error_and_nothing_is_queued(http: responses.RequestsMock) -> None:
    http.post(UPLOAD, **reply("comfyui", "upload_image_error_400"))
    with pytest.raises(ProviderError) as exc:
        provider().edit(ImageRequest(**EDIT))
    assert (exc.value.code, exc.value.status) == ("provider_error", 400)
    assert exc.value.message == "ComfyUI's image upload failed (HTTP 400)."
    assert len(http.calls) == 1


def test_a_server_without_the_upload_route_is_named(http: responses.RequestsMock) -> None:
    http.post(UPLOAD, status=404, body="404: Not Found", content_type="text/plain")
    with pytest.raises(ProviderError) as exc:
        provider().edit(ImageRequest(**EDIT))
    assert "no upload route here" in exc.value.message


def test_an_upload_answer_without_a_name_is_an_error(http: responses.RequestsMock) -> None:
    http.post(UPLOAD, json={"subfolder": "", "type": "input"})
    with pytest.raises(ProviderError) as exc:
        provider().edit(ImageRequest(**EDIT))
    assert exc.value.code == "provider_error" and "without a file name" in exc.value.message
    assert len(http.calls) == 1


def test_an_edit_with_an_operator_workflow_uses_the_built_in_graph_and_says_so(http: responses.RequestsMock) -> None:
    http.post(UPLOAD, **reply("comfyui", "upload_image_success"))
    queue_and_finish(http)
    custom = {"1": {"class_type": "Custom", "inputs": {"text": "{{prompt}}"}}}
    result = provider().edit(ImageRequest(**{**EDIT, "extra": {"strength": 0.6, "workflow": custom}}))
    assert sent_json(http.calls[1])["prompt"] == fixture("comfyui", "post_prompt_img2img")["request"]["json"]["prompt"]
    assert result.warnings == ["ComfyUI edits use the built-in image-to-image graph; the profile's own workflow "
                               "makes new images only."]


def test_an_edit_needs_an_input_image(http: responses.RequestsMock) -> None:
    with pytest.raises(ProviderError) as exc:
        provider().edit(ImageRequest(prompt="fox"))
    assert exc.value.code == "validation_error" and len(http.calls) == 0


def test_comfyui_edits_and_edits_inside_a_painted_area() -> None:
    caps = ComfyUIProvider.capabilities_for("")
    assert caps.edit and caps.mask
