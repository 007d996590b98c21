"""`POST /api/generate-image`: seed 000's modal endpoint, with its request and response shapes and error codes.

Synchronous: answers when the image is made (data URIs), up to IMAGEGEN_SYNC_WAIT_S. The image is not added to a
conversation. It is a normal generation (it counts toward limits, usage and cost), but its images stay out of the
gallery until the person presses "Save to gallery" (`POST /api/generations/{generation}/save/`, images/modal_images.py);
unsaved ones are deleted after a day.
"""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from chats.models import Chat
from chats.refine import ContextOptions, refine_for_request
from imagegen_site.api_errors import ApiError
from imagegen_site.ratelimits import check_generate_rate_api
from moderation.checks import PromptBlocked, check_prompt
from profiles.models import ImageProfile

from .models import Generation, ImageType
from .providers.base import ERROR_HTTP_STATUS
from .services import GenerationRequestError
from .styles import STYLES
from .sync import data_uris, run_and_wait, start_with_model

NO_IMAGE_WARNING = "Model did not return any images. Try a different prompt or model."
# Seed 000's statuses where they differ from DESIGN.md's.
SEED_STATUS = {"missing_api_key": 500}


class GenerateImageRequest(serializers.Serializer):
    prompt = serializers.CharField(allow_blank=True, trim_whitespace=True, required=False, default="")
    model = serializers.CharField(required=False, allow_blank=True, max_length=200)
    profile = serializers.IntegerField(required=False, allow_null=True, help_text="one of your image profiles")
    conversation_id = serializers.IntegerField(required=False, allow_null=True,
                                               help_text="a chat of yours: its image profile is used")
    include_summary = serializers.BooleanField(required=False, default=False)
    include_messages = serializers.BooleanField(required=False, default=False)
    include_memory_pad = serializers.BooleanField(required=False, default=False)
    history_count = serializers.IntegerField(required=False, min_value=0, max_value=50, default=10)
    deep_context = serializers.BooleanField(required=False, default=False)
    better_context = serializers.BooleanField(required=False, default=True)
    # The modal's own controls (chats/_image_modal.html); not in seed 000's body, all optional.
    style = serializers.ChoiceField(choices=list(STYLES), required=False, allow_blank=True)
    aspect_ratio = serializers.RegexField(r"^\d{1,2}:\d{1,2}$", required=False, allow_blank=True)
    n = serializers.IntegerField(required=False, min_value=1, max_value=4)
    image_type = serializers.ChoiceField(choices=ImageType.choices, required=False, allow_blank=True,
                                         help_text="scene, character, location or item: adds your world notes")


GenerateImageResponse = inline_serializer("GenerateImageResponse", {
    "status": serializers.CharField(),
    "images": serializers.ListField(child=serializers.CharField()),
    "text": serializers.CharField(allow_blank=True),
    "model": serializers.CharField(),
    "refined_prompt": serializers.CharField(allow_null=True),
    "warning": serializers.CharField(required=False),
    "generation": serializers.IntegerField(),
    "saved": serializers.BooleanField(help_text="False: not in the gallery until POST save_url"),
    "save_url": serializers.CharField(),
})


def seed_error(generation: Generation) -> ApiError:
    code = generation.error_code or "internal_error"
    if code == "provider_error" and generation.provider == "openrouter":
        code = "openrouter_error"
    status = SEED_STATUS.get(code) or ERROR_HTTP_STATUS.get(generation.error_code, 502)
    return ApiError(generation.error_message or "The image could not be made.", code=code, status_code=status)


class GenerateImageView(APIView):
    @extend_schema(request=GenerateImageRequest, responses=GenerateImageResponse)
    def post(self, request: Request) -> Response:
        body = GenerateImageRequest(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        if not data["prompt"]:
            raise ApiError("Empty prompt.", code="missing_prompt")
        profile, chat = None, None
        if data.get("profile"):
            profile = ImageProfile.objects.for_user(request.user).filter(pk=data["profile"]).first()
            if profile is None:
                raise ApiError("No such profile.", code="not_found", status_code=404)
        if data.get("conversation_id"):
            chat = Chat.objects.for_user(request.user).filter(pk=data["conversation_id"]).first()
            if chat is None:
                raise ApiError("No such conversation.", code="not_found", status_code=404)
            profile = profile or chat.image_profile
        check_generate_rate_api(request)
        options = {key: data[key] for key in ("style", "aspect_ratio", "n") if data.get(key)}
        if data.get("image_type"):
            options["type"] = data["image_type"]
        # Moderation before any provider call: the refinement below may send the prompt to a chat model.
        try:
            check_prompt(request.user, [data["prompt"]])
        except PromptBlocked as e:
            raise ApiError(e.message, code="content_policy", status_code=ERROR_HTTP_STATUS["content_policy"]) from None
        # Better context (seed 000): the chat model (or the offline refiner) rewrites the prompt with the context
        # the person ticked, before the image model is called.
        refined, _how = refine_for_request(
            request.user, data["prompt"], chat=chat, style_slug=options.get("style", ""),
            better_context=data["better_context"], image_type=options.get("type", ""),
            options=ContextOptions(include_summary=data["include_summary"], include_messages=data["include_messages"],
                                   history_count=data["history_count"], include_memory=data["include_memory_pad"]),
        )
        try:
            generation = start_with_model(owner=request.user, prompt=data["prompt"], profile=profile,
                                          model=data.get("model", ""), options=options, refined_prompt=refined,
                                          modal=True)
        except GenerationRequestError as e:
            status = 404 if e.code == "not_found" else ERROR_HTTP_STATUS.get(e.code, 400)
            raise ApiError(e.message, code=e.code, status_code=status, fields=e.fields or None,
                           retry_after=getattr(e, "retry_after_s", None)) from None
        generation = run_and_wait(generation)
        if generation.is_pending:
            raise ApiError(f"The provider did not finish in time. It is still working: GET /api/generations/"
                           f"{generation.pk}/ shows the image when it is done, and POST /api/generations/"
                           f"{generation.pk}/save/ keeps it in your gallery.", code="timeout", status_code=504)
        if generation.status == Generation.Status.CANCELED:
            raise ApiError("The generation was canceled.", code="canceled", status_code=409)
        if generation.status == Generation.Status.FAILED and generation.error_code != "empty_response":
            raise seed_error(generation)
        images = data_uris(generation) if generation.status == Generation.Status.SUCCEEDED else []
        refined = generation.refined_prompt if generation.refined_prompt != generation.prompt else None
        answer = {"status": "success", "images": images, "text": "", "model": generation.model,
                  "refined_prompt": refined, "generation": generation.pk, "saved": False,
                  "save_url": reverse("api:generation-save-to-gallery", args=[generation.pk])}
        if not images:
            answer["warning"] = NO_IMAGE_WARNING
        return Response(answer)
