"""REST resources: api-keys, image-profiles, tokens, providers and me. Thin: parse, call profiles.services,
answer. Every queryset is the caller's own, so another user's id is a 404."""

from __future__ import annotations

from dataclasses import asdict

from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from imagegen_site.api_errors import ApiError
from imagegen_site.ratelimits import check_key_check_rate_api
from images.providers import PROVIDERS, get_provider_class

from . import services
from .models import ApiKey, ApiToken, ImageProfile
from .serializers import (
    ApiKeySerializer,
    ApiKeyUpdateSerializer,
    ApiTokenCreatedSerializer,
    ApiTokenSerializer,
    ImageProfileSerializer,
    KeyCheckSerializer,
    MeSerializer,
    ModelsSerializer,
    ProviderSerializer,
    ValidateKeyRequestSerializer,
)


def api_error(e: services.ProfileError) -> ApiError:
    return ApiError(e.message, code=e.code, status_code=e.status, fields=e.fields or None)


@method_decorator(sensitive_post_parameters("key", "apiKey"), name="dispatch")
class ApiKeyViewSet(mixins.CreateModelMixin, mixins.RetrieveModelMixin, mixins.UpdateModelMixin,
                    mixins.DestroyModelMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """Your provider API keys. `key` is write-only; responses carry `key_hint` (…abcd) only."""

    serializer_class = ApiKeySerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no user
            return ApiKey.objects.none()
        return ApiKey.objects.for_user(self.request.user).order_by("-created")

    def get_serializer_class(self):
        return ApiKeyUpdateSerializer if self.action in ("update", "partial_update") else ApiKeySerializer

    def perform_create(self, serializer: ApiKeySerializer) -> None:
        data = serializer.validated_data
        try:
            serializer.instance = services.api_key_create(
                owner=self.request.user, provider=data["provider"], secret=data["key"], label=data.get("label", "")
            )
        except services.ProfileError as e:
            raise api_error(e) from None

    def update(self, request: Request, *args, **kwargs) -> Response:
        super().update(request, *args, **kwargs)
        return Response(ApiKeySerializer(self.get_object()).data)

    @extend_schema(request=None, responses=KeyCheckSerializer)
    @action(detail=True, methods=["post"])
    def validate(self, request: Request, pk: str | None = None) -> Response:
        """Ask the provider whether this key works (its cheapest documented call)."""
        api_key = self.get_object()
        check_key_check_rate_api(request)
        outcome = services.api_key_validate(api_key=api_key)
        return Response(KeyCheckSerializer(asdict(outcome)).data)


@method_decorator(sensitive_post_parameters("key", "apiKey"), name="dispatch")
class ImageProfileViewSet(viewsets.ModelViewSet):
    """Your image profiles (seed 002's /api/image-profiles)."""

    serializer_class = ImageProfileSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ImageProfile.objects.none()
        return ImageProfile.objects.for_user(self.request.user).select_related("api_key").order_by("name")

    def _save(self, serializer: ImageProfileSerializer, profile: ImageProfile | None) -> None:
        data = serializer.validated_data
        current = {
            "name": profile.name, "provider": profile.provider, "api_key_id": profile.api_key_id,
            "model": profile.model, "parameters": profile.parameters, "base_url": profile.base_url,
            "is_default": profile.is_default,
        } if profile else {}
        merged = {**current, **data}
        if profile and "provider" in data and data["provider"] != profile.provider:
            # A new provider makes the old key, model and parameters meaningless unless given again.
            merged = {**merged, **{k: data.get(k, d) for k, d in
                                   (("api_key_id", None), ("model", ""), ("parameters", {}), ("base_url", ""))}}
        try:
            serializer.instance = services.image_profile_save(
                owner=self.request.user,
                profile=profile,
                name=merged.get("name", ""),
                provider=merged.get("provider", ""),
                api_key_id=merged.get("api_key_id"),
                model=merged.get("model", ""),
                parameters=merged.get("parameters") or {},
                base_url=merged.get("base_url", ""),
                is_default=merged.get("is_default", False),
                fallback_id=data["fallback_id"] if "fallback_id" in data else services.UNCHANGED,
            )
        except services.ProfileError as e:
            raise api_error(e) from None

    def perform_create(self, serializer: ImageProfileSerializer) -> None:
        self._save(serializer, None)

    def perform_update(self, serializer: ImageProfileSerializer) -> None:
        self._save(serializer, serializer.instance)

    @extend_schema(request=None, responses=ImageProfileSerializer)
    @action(detail=True, methods=["post"], url_path="set-default")
    def set_default(self, request: Request, pk: str | None = None) -> Response:
        profile = services.image_profile_set_default(profile=self.get_object())
        return Response(ImageProfileSerializer(profile).data)

    @extend_schema(
        parameters=[
            OpenApiParameter("provider", str, required=True, enum=list(PROVIDERS)),
            OpenApiParameter("api_key", int, description="a stored key's id: list the models it can use"),
            OpenApiParameter("base_url", str, description="a self-hosted server's address"),
        ],
        responses=ModelsSerializer,
    )
    @action(detail=False, methods=["get"])
    def models(self, request: Request) -> Response:
        """The provider's models: live with a key (or server), the built-in list otherwise."""
        provider = request.query_params.get("provider", "")
        key_id = request.query_params.get("api_key") or request.query_params.get("apiKeyId")
        base_url = request.query_params.get("base_url") or request.query_params.get("baseUrl") or ""
        if base_url:
            # A call to an address the user chose, like "test connection": the same per-user limit, counted before
            # anything is checked so a refused address costs as much as a reachable one (T22).
            check_key_check_rate_api(request, what="server checks")
        try:
            api_key = services.owned_api_key(request.user, key_id) if key_id else None
            if provider not in PROVIDERS:
                raise services.ProfileError("Choose a provider.", fields={"provider": list(PROVIDERS)})
            if api_key is not None and api_key.provider != provider:  # a key goes only to its own provider's API
                raise services.ProfileError("That key is for another provider.", fields={"api_key": "wrong provider"})
            if base_url:
                listing = services.provider_models_at(provider=provider, api_key=api_key, base_url=base_url)
            else:
                models, live = services.provider_models(provider=provider, api_key=api_key)
                listing = services.ModelList(models, live)
        except services.ProfileError as e:
            raise api_error(e) from None
        supported = list(get_provider_class(provider).capabilities.models)
        body = {"provider": provider, "models": listing.models, "supportedModels": supported, "live": listing.live}
        if listing.code:
            body |= {"code": listing.code, "message": listing.message}
        return Response(body)

    @extend_schema(request=ValidateKeyRequestSerializer, responses=KeyCheckSerializer)
    @action(detail=False, methods=["post"], url_path="validate-key")
    def validate_key(self, request: Request) -> Response:
        """Check a stored key (`api_key`) or a key you have not saved (`key`) with the provider."""
        body = ValidateKeyRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        check_key_check_rate_api(request)  # every check is an outbound call (T22: 10 an hour by default)
        try:
            if data.get("api_key"):
                api_key = services.owned_api_key(request.user, data["api_key"])
                if api_key.provider != data["provider"]:
                    raise services.ProfileError("That key is for another provider.", fields={"api_key": "wrong provider"})
                outcome = services.api_key_validate(api_key=api_key)
            elif data.get("base_url"):
                outcome = services.check_key_at(provider=data["provider"], secret=data["key"], base_url=data["base_url"])
            else:
                outcome = services.check_key(provider=data["provider"], secret=data["key"])
        except services.ProfileError as e:
            raise api_error(e) from None
        return Response(KeyCheckSerializer(asdict(outcome)).data)


class ApiTokenViewSet(mixins.CreateModelMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                      mixins.DestroyModelMixin, viewsets.GenericViewSet):
    """Personal API tokens (`Authorization: Bearer …`). The token is in the create response only; DELETE revokes."""

    serializer_class = ApiTokenSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ApiToken.objects.none()
        return ApiToken.objects.for_user(self.request.user)

    @extend_schema(responses={201: ApiTokenCreatedSerializer})
    def create(self, request: Request, *args, **kwargs) -> Response:
        serializer = ApiTokenSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        token, raw = services.api_token_create(owner=request.user, name=serializer.validated_data["name"])
        return Response({**ApiTokenSerializer(token).data, "token": raw}, status=status.HTTP_201_CREATED)


class ProviderViewSet(viewsets.ViewSet):
    """Image providers: capabilities, built-in models and the parameters a profile may set."""

    lookup_field = "kind"
    lookup_value_regex = "[a-z0-9_]+"

    def _describe(self, kind: str) -> dict:
        cls = get_provider_class(kind)
        caps = asdict(cls.capabilities)
        return {"kind": kind, "label": PROVIDERS[kind][0], "description": cls.description, "capabilities": caps,
                "models": list(cls.capabilities.models), "parameters": services.parameter_schema(kind)}

    @extend_schema(responses=ProviderSerializer(many=True))
    def list(self, request: Request) -> Response:
        return Response([self._describe(kind) for kind in PROVIDERS])

    @extend_schema(responses=ProviderSerializer)
    def retrieve(self, request: Request, kind: str | None = None) -> Response:
        if kind not in PROVIDERS:
            raise ApiError("No such provider.", code="not_found", status_code=404)
        return Response(self._describe(kind))


class MeView(APIView):
    """The signed-in user."""

    @extend_schema(responses=MeSerializer)
    def get(self, request: Request) -> Response:
        user = request.user
        default = ImageProfile.objects.for_user(user).filter(is_default=True).values_list("pk", flat=True).first()
        return Response(MeSerializer({
            "id": user.pk, "username": user.get_username(), "email": user.email, "date_joined": user.date_joined,
            "default_profile": default, "api_keys": ApiKey.objects.for_user(user).count(),
            "image_profiles": ImageProfile.objects.for_user(user).count(),
        }).data)
