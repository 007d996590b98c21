"""API shapes for keys, profiles, tokens and the signed-in user. The key is write-only; only `key_hint` (…abcd)
ever leaves the server (SECURITY.md T9)."""

from collections.abc import Mapping

from rest_framework import serializers

from images.providers import PROVIDER_CHOICES

from .models import ApiKey, ApiToken, ImageProfile
from .services import MAX_KEY_CHARS, key_providers


class ApiKeySerializer(serializers.ModelSerializer):
    provider = serializers.ChoiceField(choices=key_providers())
    key = serializers.CharField(write_only=True, max_length=MAX_KEY_CHARS, trim_whitespace=True,
                                style={"input_type": "password"}, help_text="The secret; never returned.")
    key_hint = serializers.SerializerMethodField()

    class Meta:
        model = ApiKey
        fields = ["id", "provider", "label", "key", "key_hint", "validation_status", "last_validated", "created"]
        read_only_fields = ["id", "key_hint", "validation_status", "last_validated", "created"]

    def get_key_hint(self, obj: ApiKey) -> str:
        return f"…{obj.last_four}"


class ApiKeyUpdateSerializer(serializers.ModelSerializer):
    """Only the label can change; a new secret is a new key."""

    class Meta:
        model = ApiKey
        fields = ["label"]


class KeyCheckSerializer(serializers.Serializer):
    valid = serializers.BooleanField(allow_null=True, help_text="null: the provider offers no check, or it failed")
    message = serializers.CharField()
    code = serializers.CharField(allow_blank=True)
    models = serializers.ListField(child=serializers.CharField())


class ValidateKeyRequestSerializer(serializers.Serializer):
    """Seed 002's validate-key body: a stored key (`api_key` / `apiKeyId`) or a key to try (`key` / `apiKey`)."""

    provider = serializers.ChoiceField(choices=key_providers())
    api_key = serializers.IntegerField(required=False)
    key = serializers.CharField(required=False, write_only=True, max_length=MAX_KEY_CHARS)
    base_url = serializers.CharField(required=False, allow_blank=True)

    def to_internal_value(self, data):
        if isinstance(data, Mapping):  # a list or a string is left to DRF, which answers 400
            data = data.copy()
            for seed_name, name in (("apiKeyId", "api_key"), ("apiKey", "key"), ("baseUrl", "base_url")):
                if seed_name in data and name not in data:
                    data[name] = data.pop(seed_name)
        return super().to_internal_value(data)

    def validate(self, attrs):
        if not attrs.get("api_key") and not attrs.get("key"):
            raise serializers.ValidationError({"api_key": "Give a stored key's id or a key to check."})
        return attrs


class ImageProfileSerializer(serializers.ModelSerializer):
    """Field checks beyond types (ownership of `api_key`, parameters against capabilities, base URL rules) are
    the service's, so the page and the API apply the same ones."""

    provider = serializers.ChoiceField(choices=PROVIDER_CHOICES)
    api_key = serializers.IntegerField(source="api_key_id", required=False, allow_null=True)
    api_key_hint = serializers.SerializerMethodField()
    parameters = serializers.JSONField(required=False)
    # A plain string: the outbound rules (imagegen_site.http.check_url) judge it, with their url_forbidden code.
    base_url = serializers.CharField(required=False, allow_blank=True, max_length=200)
    # Another of your profiles, used when this one's provider fails after its retries (checked by the service).
    fallback = serializers.IntegerField(source="fallback_id", required=False, allow_null=True)

    class Meta:
        model = ImageProfile
        fields = ["id", "name", "provider", "api_key", "api_key_hint", "model", "parameters", "base_url",
                  "is_default", "fallback", "created", "updated"]
        read_only_fields = ["id", "api_key_hint", "created", "updated"]
        extra_kwargs = {"base_url": {"required": False}, "model": {"required": False},
                        "is_default": {"required": False}}

    def get_api_key_hint(self, obj: ImageProfile) -> str | None:
        return f"…{obj.api_key.last_four}" if obj.api_key_id else None

    def to_internal_value(self, data):
        # Seed 002 names (camelCase) are accepted too.
        if isinstance(data, Mapping):  # a list or a string is left to DRF, which answers 400
            data = data.copy()
            for seed_name, name in (("apiKeyId", "api_key"), ("modelName", "model"), ("baseUrl", "base_url"),
                                    ("isDefault", "is_default")):
                if seed_name in data and name not in data:
                    data[name] = data.pop(seed_name)
            if isinstance(data.get("provider"), str):
                data["provider"] = SEED_PROVIDERS.get(data["provider"], data["provider"])
        return super().to_internal_value(data)


# Seed 002's enum values for providers.
SEED_PROVIDERS = {"OPENAI": "openai", "GROK": "xai", "GOOGLE_IMAGEN": "imagen"}


class ModelsSerializer(serializers.Serializer):
    provider = serializers.CharField()
    models = serializers.ListField(child=serializers.CharField())
    supportedModels = serializers.ListField(child=serializers.CharField())  # noqa: N815 - seed 002's name
    live = serializers.BooleanField()
    # Only when a live list was asked of a server address and the built-in list came back instead:
    # connection_failed (refused, unreachable or too slow: one answer for all, T22), provider_auth_failed or
    # key_invalid (a stored key that cannot be decrypted).
    code = serializers.CharField(required=False)
    message = serializers.CharField(required=False)


class ApiTokenSerializer(serializers.ModelSerializer):
    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "created", "last_used"]
        read_only_fields = ["id", "prefix", "created", "last_used"]


class ApiTokenCreatedSerializer(ApiTokenSerializer):
    token = serializers.CharField(read_only=True, help_text="Shown once; store it now.")

    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "token"]


class MeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    email = serializers.EmailField(allow_blank=True)
    date_joined = serializers.DateTimeField()
    default_profile = serializers.IntegerField(allow_null=True)
    api_keys = serializers.IntegerField()
    image_profiles = serializers.IntegerField()


class ProviderSerializer(serializers.Serializer):
    kind = serializers.CharField()
    label = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    capabilities = serializers.DictField()
    models = serializers.ListField(child=serializers.CharField())
    parameters = serializers.DictField(help_text="JSON-schema-like description of a profile's parameters")
