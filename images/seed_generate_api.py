"""`POST /api/images/generate`: seed 002's endpoint, a thin view over the one generation service.

Seed 002's field names in and out (`prompt`, `profileId`, `tags`, `options` → `data[]` + `metadata`), camelCase as
the seed has it. The work is the modal endpoint's (images/sync.py: generation_start, the first attempt in this
request, retries in the workers, waiting up to IMAGEGEN_SYNC_WAIT_S), so rate limit, active cap, daily quota,
monthly cap, moderation and usage all apply. Unlike the modal, the images go straight into the gallery, with the
tags given. Where this app differs from the seed, on purpose:
- errors are this API's one shape, `{"code", "detail"}` (+ `fields`), with DESIGN.md's statuses (a provider
  failure is 502, not the seed's 500);
- ids are this app's integers (sent as strings, the seed's type); `profileId` may be left out: the default profile,
  else the offline renderer, as everywhere else;
- `options.n` is 1–4 here (the seed allows 10; more is a validation error naming the field);
- a tag is a gallery tag: a plain name, or the seed's `{"tagType", "tagId"}`, stored as "<tagtype>:<tagId>".
"""

from __future__ import annotations

from math import gcd

from django.db import transaction
from drf_spectacular.utils import extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from imagegen_site.api_errors import ApiError
from imagegen_site.ratelimits import check_generate_rate_api
from profiles.models import ImageProfile

from .delivery import short_lived_url
from .gallery import TagError, image_set_tags, parse_tag_names
from .models import GeneratedImage, Generation
from .providers.base import ERROR_HTTP_STATUS
from .services import GenerationRequestError
from .sync import run_and_wait, start_with_model

TAG_TYPES = ("CHARACTER", "PERSONA", "CHAT", "THEME")
# The seed's OpenAI sizes as aspect ratios (the providers take ratios; each maps them to its own sizes).
SIZE_RATIOS = {"1024x1024": "1:1", "1792x1024": "16:9", "1024x1792": "9:16", "1536x1024": "3:2",
               "1024x1536": "2:3", "512x512": "1:1", "256x256": "1:1"}


class SeedOptions(serializers.Serializer):
    n = serializers.IntegerField(required=False, min_value=1, max_value=10, help_text="1–4 here")
    size = serializers.RegexField(r"^\d{1,5}[x:]\d{1,5}$", required=False, help_text='"1024x1792" or "16:9"')
    quality = serializers.ChoiceField(choices=["standard", "hd"], required=False)
    style = serializers.ChoiceField(choices=["vivid", "natural"], required=False)
    aspectRatio = serializers.RegexField(r"^\d{1,2}:\d{1,2}$", required=False)


@extend_schema_field({"oneOf": [
    {"type": "string", "description": "a tag name"},
    {"type": "object", "required": ["tagType", "tagId"],
     "properties": {"tagType": {"type": "string", "enum": list(TAG_TYPES)}, "tagId": {"type": "string"}}},
]})
class SeedTag(serializers.Field):
    """A tag name, or the seed's {"tagType": "CHARACTER"|…, "tagId": "…"}; represented as the stored name."""

    def to_internal_value(self, data) -> str:
        if isinstance(data, str):
            return data
        if isinstance(data, dict) and data.get("tagType") in TAG_TYPES and isinstance(data.get("tagId"), str) \
                and data["tagId"].strip():
            return f"{data['tagType'].lower()}:{data['tagId'].strip()}"
        raise serializers.ValidationError(f"A tag is a name or {{\"tagType\": one of {', '.join(TAG_TYPES)}, "
                                          "\"tagId\": text}.")

    def to_representation(self, value: str) -> str:
        return value


class SeedGenerateRequest(serializers.Serializer):
    prompt = serializers.CharField(min_length=1, max_length=4000, trim_whitespace=True)
    profileId = serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=40,
                                      help_text="one of your image profiles; empty: your default")
    tags = serializers.ListField(child=SeedTag(), required=False, default=list, max_length=20)
    options = SeedOptions(required=False, default=dict)

    def validate_tags(self, value: list[str]) -> list[str]:
        try:
            return parse_tag_names(value)
        except TagError as e:
            raise serializers.ValidationError(str(e)) from None


SeedGenerateResponse = inline_serializer("SeedGenerateResponse", {
    "data": serializers.ListField(child=serializers.DictField()),
    "metadata": inline_serializer("SeedGenerateMetadata", {
        "prompt": serializers.CharField(), "provider": serializers.CharField(), "model": serializers.CharField(),
        "count": serializers.IntegerField(),
    }),
})


def aspect_ratio(options: dict) -> str:
    """aspectRatio wins; else `size` as a ratio ("16:9" as is, "1792x1024" by the table or reduced)."""
    if options.get("aspectRatio"):
        return options["aspectRatio"]
    size = options.get("size", "")
    if ":" in size:
        return size
    if size in SIZE_RATIOS:
        return SIZE_RATIOS[size]
    if "x" in size:
        w, h = (int(v) for v in size.split("x"))
        if w and h:
            g = gcd(w, h)
            return f"{w // g}:{h // g}"
    return ""


def tag_data(image: GeneratedImage) -> list[dict]:
    rows = []
    for tag in image.tags.all():
        kind, _, rest = tag.name.partition(":")
        typed = kind.upper() in TAG_TYPES and rest
        rows.append({"id": str(tag.pk), "imageId": str(image.pk), "tagType": kind.upper() if typed else None,
                     "tagId": rest if typed else tag.name, "createdAt": image.created.isoformat()})
    return rows


def image_data(image: GeneratedImage) -> dict:
    item = {
        "id": str(image.pk), "filename": image.download_name, "filepath": image.file,
        "url": short_lived_url(image),  # works without a session for 5 minutes; file_url with one
        "mimeType": image.mime_type, "size": image.bytes, "tags": tag_data(image),
    }
    if image.revised_prompt:
        item["revisedPrompt"] = image.revised_prompt
    return item


class SeedGenerateView(APIView):
    """Seed 002: make images with one of your profiles and answer them with the seed's shape (synchronous)."""

    @extend_schema(request=SeedGenerateRequest, responses=SeedGenerateResponse, operation_id="images_generate_seed")
    def post(self, request: Request) -> Response:
        body = SeedGenerateRequest(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        profile = None
        if data.get("profileId"):
            raw = str(data["profileId"]).strip()
            profile = ImageProfile.objects.for_user(request.user).filter(pk=int(raw)).first() if raw.isdigit() else None
            if profile is None:
                raise ApiError("Image profile not found.", code="not_found", status_code=404)
        check_generate_rate_api(request)
        seed_options = data["options"]
        options = {"n": seed_options.get("n", 1)}
        if ratio := aspect_ratio(seed_options):
            options["aspect_ratio"] = ratio
        parameters = {}
        if seed_options.get("quality"):
            parameters["quality"] = seed_options["quality"]
        if seed_options.get("style"):
            parameters["provider_style"] = seed_options["style"]  # the provider's own style (dall-e-3)
        try:
            generation = start_with_model(owner=request.user, prompt=data["prompt"], profile=profile,
                                          options=options, parameters=parameters)
        except GenerationRequestError as e:
            status = 404 if e.code == "not_found" else ERROR_HTTP_STATUS.get(e.code, 400)
            raise ApiError(e.message, code=e.code, status_code=status, fields=e.fields or None,
                           retry_after=e.retry_after_s) from None
        generation = run_and_wait(generation)
        if generation.is_pending:
            raise ApiError(f"The provider did not finish in time. It is still working: GET /api/generations/"
                           f"{generation.pk}/ shows the images when they are done.", code="timeout", status_code=504)
        if generation.status != Generation.Status.SUCCEEDED:
            code = generation.error_code or ("canceled" if generation.status == Generation.Status.CANCELED
                                             else "internal_error")
            raise ApiError(generation.error_message or "The images could not be made.", code=code,
                           status_code=409 if code == "canceled" else ERROR_HTTP_STATUS.get(code, 502))
        images = list(generation.images.order_by("index"))
        if data["tags"]:
            with transaction.atomic():
                for image in images:
                    image_set_tags(image, data["tags"])
        images = list(GeneratedImage.objects.filter(generation=generation).order_by("index").prefetch_related("tags"))
        return Response({
            "data": [image_data(image) for image in images],
            "metadata": {"prompt": generation.prompt, "provider": generation.provider, "model": generation.model,
                         "count": len(images)},
        })
