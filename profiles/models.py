from django.conf import settings
from django.db import models
from django.db.models import Q

from images.providers import PROVIDER_CHOICES

from .crypto import decrypt_secret, encrypt_secret


class ApiKeyQuerySet(models.QuerySet):
    def for_user(self, user) -> "ApiKeyQuerySet":
        return self.filter(owner=user)


class ApiKey(models.Model):
    class Status(models.TextChoices):
        UNCHECKED = "unchecked"
        VALID = "valid"
        INVALID = "invalid"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys")
    provider = models.CharField(max_length=32, choices=PROVIDER_CHOICES)
    label = models.CharField(max_length=100, blank=True)
    secret_encrypted = models.TextField(editable=False)
    last_four = models.CharField(max_length=4, editable=False)
    created = models.DateTimeField(auto_now_add=True)
    last_validated = models.DateTimeField(null=True, blank=True)
    validation_status = models.CharField(max_length=16, choices=Status.choices, default=Status.UNCHECKED)

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.get_provider_display()} …{self.last_four}" + (f" ({self.label})" if self.label else "")

    def set_secret(self, secret: str) -> None:
        self.secret_encrypted = encrypt_secret(secret, owner_id=self.owner_id)
        self.last_four = secret[-4:]

    def get_secret(self) -> str:
        return decrypt_secret(self.secret_encrypted, owner_id=self.owner_id)


class ImageProfileQuerySet(models.QuerySet):
    def for_user(self, user) -> "ImageProfileQuerySet":
        return self.filter(owner=user)


class ImageProfile(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="image_profiles")
    name = models.CharField(max_length=100)
    provider = models.CharField(max_length=32, choices=PROVIDER_CHOICES)
    api_key = models.ForeignKey(ApiKey, null=True, blank=True, on_delete=models.SET_NULL)
    base_url = models.URLField(blank=True, help_text="Only for self-hosted servers (AUTOMATIC1111, ComfyUI).")
    model = models.CharField(max_length=200, blank=True)
    parameters = models.JSONField(default=dict, blank=True)
    is_default = models.BooleanField(default=False)
    # Error recovery (seed 004): when this profile's provider fails after its retries, the job continues here.
    # Same owner and no loops: checked by profiles.services.check_fallback, and again when the job runs.
    fallback = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="fallback_for",
                                 help_text="Another of your profiles to use when this one's provider fails.")
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    objects = ImageProfileQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="profile_name_unique_per_owner"),
            models.UniqueConstraint(fields=["owner"], condition=Q(is_default=True), name="one_default_profile_per_owner"),
        ]

    def __str__(self) -> str:
        return self.name


class ApiTokenQuerySet(models.QuerySet):
    def for_user(self, user) -> "ApiTokenQuerySet":
        return self.filter(owner=user)


class ApiToken(models.Model):
    """A personal token for API clients (Authorization: Bearer igt_…). Only its SHA-256 is stored; the token is
    shown once, when it is created, and revoking deletes the row."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(max_length=12, editable=False, help_text="The first characters, to recognise it.")
    created = models.DateTimeField(auto_now_add=True)
    last_used = models.DateTimeField(null=True, blank=True, editable=False)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        verbose_name = "API token"
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class WorldNotes(models.Model):
    """Per-user "world notes" (seed 004's domain enhancement): a prompt prefix per image type that the refiner adds,
    offline too, e.g. "cyberpunk Seattle, neon, rain" for scenes. One row per user, created on first save."""

    MAX_CHARS = 500

    owner = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="world_notes")
    scene = models.CharField(max_length=MAX_CHARS, blank=True)
    character = models.CharField(max_length=MAX_CHARS, blank=True)
    location = models.CharField(max_length=MAX_CHARS, blank=True)
    item = models.CharField(max_length=MAX_CHARS, blank=True)
    updated = models.DateTimeField(auto_now=True)

    TYPES = ("scene", "character", "location", "item")

    class Meta:
        verbose_name_plural = "world notes"

    def __str__(self) -> str:
        return f"world notes of {self.owner}"

    def for_type(self, image_type: str) -> str:
        return getattr(self, image_type, "").strip() if image_type in self.TYPES else ""
