import math
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import User  # the project keeps Django's user model (UserUsage proxies it)
from django.db import models
from django.urls import reverse
from django.utils import timezone

from .providers import PROVIDERS, ProviderError, get_provider_class
from .providers.base import ERROR_HINTS


class GenerationQuerySet(models.QuerySet):
    def for_user(self, user) -> "GenerationQuerySet":
        return self.filter(owner=user)

    def pending(self) -> "GenerationQuerySet":
        return self.filter(status__in=[Generation.Status.QUEUED, Generation.Status.RUNNING])


class Generation(models.Model):
    """One request for images. This row, not the task queue, is the truth about its status."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELED = "canceled"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="generations")
    chat = models.ForeignKey("chats.Chat", null=True, blank=True, on_delete=models.SET_NULL, related_name="generations")
    message = models.OneToOneField(
        "chats.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="generation"
    )
    # A snapshot of the profile at request time: later edits to the profile don't change history.
    profile = models.ForeignKey("profiles.ImageProfile", null=True, blank=True, on_delete=models.SET_NULL)
    provider = models.CharField(max_length=32)
    model = models.CharField(max_length=200, blank=True)
    parameters = models.JSONField(default=dict, blank=True)
    prompt = models.TextField()
    negative_prompt = models.TextField(blank=True)
    refined_prompt = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    error_code = models.CharField(max_length=40, blank=True)
    error_message = models.TextField(blank=True)
    warnings = models.JSONField(default=list, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    # `attempts` counts every attempt of the job (it is the fencing token, so it never goes back); this is how many
    # of them were made before the current profile took over after a fallback (images/fallback.py). Retries, the
    # card's "attempt 2 of 3" and the sweeper count attempts - attempt_base: each profile gets MAX_ATTEMPTS.
    attempt_base = models.PositiveSmallIntegerField(default=0)
    priority = models.SmallIntegerField(default=0)
    lease_until = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    queued_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    estimated_cost_usd = models.DecimalField(max_digits=10, decimal_places=4, null=True, blank=True)
    usage = models.JSONField(default=dict, blank=True)
    # Where estimated_cost_usd came from: the provider's own figure, its token usage, or the price table
    # (images/pricing.py); "unknown" when none applied. Empty until the generation finishes.
    cost_source = models.CharField(max_length=16, blank=True)
    # Live preview while running (images/previews.py): percent done as the provider reports it (null: it reports
    # nothing, the card shows elapsed time only) and the storage name of the latest partial image, a small WEBP.
    progress = models.PositiveSmallIntegerField(null=True, blank=True)
    preview = models.CharField(max_length=255, blank=True)
    # Made in the standalone image modal (seed 000, POST /api/generate-image): its images are created unsaved
    # (GeneratedImage.in_gallery False) and join the gallery, as source "modal", only when the person saves them.
    modal = models.BooleanField(default=False)
    # The image this generation edits (/edit, the gallery's Edit button, the chat model's edit_image tool): the
    # lineage the gallery shows both ways. parameters["edit_of"] keeps the same id for retries, fallbacks and
    # re-rolls; this link is the one that can be queried, and it empties (the edit stays) when the source goes.
    edit_of = models.ForeignKey(
        "GeneratedImage", null=True, blank=True, on_delete=models.SET_NULL, related_name="edits"
    )

    objects = GenerationQuerySet.as_manager()

    class Meta:
        ordering = ["-queued_at"]
        indexes = [
            models.Index(fields=["owner", "-queued_at"]),
            # Per-owner status counts on every post (the cap on images in progress, dispatch fairness in jobs.py):
            # an index range instead of a scan of the owner's whole history.
            models.Index(fields=["owner", "status"], name="generation_owner_status"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.status}: {self.prompt[:50]}"

    def save(self, *args, **kwargs):
        adding = self._state.adding
        super().save(*args, **kwargs)
        fields = kwargs.get("update_fields")
        if not adding and (fields is None or {"prompt", "refined_prompt"} & set(fields)):
            self.images.refresh_search_text()  # an edit (the admin's) after the images were made

    @property
    def is_pending(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.RUNNING)

    @property
    def duration(self) -> timedelta | None:
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return None

    @property
    def used_prompt(self) -> str:
        return self.refined_prompt or self.prompt

    @property
    def elapsed_s(self) -> int:
        start = self.started_at if self.status == self.Status.RUNNING else self.queued_at
        return max(0, int((timezone.now() - start).total_seconds()))

    @property
    def retry_in_s(self) -> int | None:
        """Seconds until a queued retry is due (None when it is due now or this is no retry)."""
        if self.status != self.Status.QUEUED or not self.next_attempt_at:
            return None
        left = (self.next_attempt_at - timezone.now()).total_seconds()
        return math.ceil(left) if left > 0 else None

    @property
    def queue_position(self) -> int | None:
        """1 = next in line; None unless queued and due. See images/jobs.py for the dispatch order."""
        from .jobs import queue_position

        return queue_position(self)

    @property
    def queue_label(self) -> str:
        """"next in line", "3rd in line" for the card; empty when not waiting in the queue."""
        position = self.queue_position
        if position is None:
            return ""
        if position == 1:
            return "next in line"
        suffix = "th" if 10 <= position % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(position % 10, "th")
        return f"{position}{suffix} in line"

    @property
    def attempts_on_profile(self) -> int:
        """Attempts made with the current profile (a fallback starts again at 0)."""
        return max(0, self.attempts - self.attempt_base)

    @property
    def next_attempt_number(self) -> int:
        """The attempt a queued retry will be, on this profile: the card's "attempt 2 of 3"."""
        return self.attempts_on_profile + 1

    @property
    def max_attempts(self) -> int:
        from .jobs import MAX_ATTEMPTS

        return MAX_ATTEMPTS

    @property
    def provider_label(self) -> str:
        entry = PROVIDERS.get(self.provider)
        return entry[0] if entry else SOURCE_PROVIDER_LABELS.get(self.provider, self.provider)

    @property
    def disclaimer(self) -> str:
        try:
            return get_provider_class(self.provider).disclaimer
        except ProviderError:
            return ""

    @property
    def preview_version(self) -> str:
        """Changes with every new partial image, so the card's <img> URL does too (no stale browser cache)."""
        return self.preview.rsplit("_", 1)[-1].split(".")[0] if self.preview else ""

    @property
    def error_hint(self) -> str:
        return ERROR_HINTS.get(self.error_code, "")


class Tag(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="image_tags")
    name = models.CharField(max_length=64)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="tag_name_unique_per_owner")]

    def __str__(self) -> str:
        return self.name


class ImageSource(models.TextChoices):
    """Where a gallery image came from. Uploads and imports get a Generation row of their own (provider "upload" /
    "import", status succeeded), so every page, query and export that reads image.generation keeps working."""

    GENERATED = "generated", "Generated"
    UPLOAD = "upload", "Uploaded"
    IMPORT = "import", "Imported from URL"
    MODAL = "modal", "Saved from the image modal"


class ImageType(models.TextChoices):
    """Seed 004's categories; "" is "none". The type picks the owner's world-notes prefix (profiles.WorldNotes)."""

    NONE = "", "None"
    SCENE = "scene", "Scene"
    CHARACTER = "character", "Character"
    LOCATION = "location", "Location"
    ITEM = "item", "Item"


# Generation.provider values that are not providers: images that came in from outside.
SOURCE_PROVIDER_LABELS = {ImageSource.UPLOAD.value: "Uploaded", ImageSource.IMPORT.value: "Imported from URL"}


class GeneratedImageQuerySet(models.QuerySet):
    def for_user(self, user, *, include_unsaved: bool = False) -> "GeneratedImageQuerySet":
        """The owner's gallery: without the image modal's unsaved images unless asked (only the modal's own save
        and the owner's file views see those)."""
        images = self.filter(owner=user)
        return images if include_unsaved else images.filter(in_gallery=True)

    def refresh_search_text(self) -> int:
        """Rewrite these images' search_text from their rows (a read and a bulk update): for a write that changes a
        generation's prompts after its images exist (GeneratedImage.save covers the image's own writes)."""
        images = list(self.select_related("generation").only(
            "revised_prompt", "generation__prompt", "generation__refined_prompt"))
        for image in images:
            image.search_text = search_text(image.generation.prompt, image.generation.refined_prompt,
                                            image.revised_prompt)
        return self.model.objects.bulk_update(images, ["search_text"])


def search_text(prompt: str, refined_prompt: str, revised_prompt: str) -> str:
    """One image's search document: the typed prompt, the refined prompt and the provider's revised prompt, a line
    each. Empty ones and the ends' whitespace are left out, so it survives the backup's XML dump as it is (Django's
    XML deserializer drops a trailing newline)."""
    return "\n".join(part.strip() for part in (prompt, refined_prompt, revised_prompt) if part and part.strip())


class GeneratedImage(models.Model):
    generation = models.ForeignKey(Generation, on_delete=models.CASCADE, related_name="images")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="images")
    index = models.PositiveSmallIntegerField(default=0)
    # Storage names, content-addressed (images/storage.py): images/<owner id>/<sha256[:2]>/<sha256>.<ext>, or
    # images/<owner id>/img_<16 hex of sha256>.<ext> for rows made before that layout.
    file = models.CharField(max_length=255)
    thumbnail = models.CharField(max_length=255)
    sha256 = models.CharField(max_length=64, db_index=True)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    mime_type = models.CharField(max_length=32)
    bytes = models.PositiveIntegerField()
    seed = models.BigIntegerField(null=True, blank=True)
    revised_prompt = models.TextField(blank=True)
    is_favorite = models.BooleanField(default=False)
    source = models.CharField(max_length=16, choices=ImageSource.choices, default=ImageSource.GENERATED)
    image_type = models.CharField("type", max_length=16, choices=ImageType.choices, default=ImageType.NONE, blank=True)
    # False: made in the image modal and not saved (yet). Out of the gallery, the API's lists, exports and shares;
    # the sweeper deletes it after IMAGEGEN_UNSAVED_IMAGE_TTL_S (images/jobs.py prune_unsaved_images).
    in_gallery = models.BooleanField(default=True)
    tags = models.ManyToManyField(Tag, blank=True, related_name="images")
    # The generation's prompt and refined prompt and this image's revised prompt in one column (search_text()), so
    # PostgreSQL's full-text search matches words split between them with one GIN index on this table (migration
    # 0011) and the owner filter in the same query. Written by save(), the worker's bulk_create and
    # refresh_search_text(); the worker refines the prompt before the images exist, so creation sees the final one.
    search_text = models.TextField(blank=True, editable=False)
    created = models.DateTimeField(auto_now_add=True)

    objects = GeneratedImageQuerySet.as_manager()

    class Meta:
        ordering = ["-created", "-pk"]
        indexes = [
            models.Index(fields=["owner", "-created"]),
            # The gallery's two orders, tie-breaker included, so a page is read straight off the index.
            models.Index(fields=["owner", "-created", "-id"], name="image_owner_newest"),
            models.Index(fields=["owner", "-is_favorite", "-created", "-id"], name="image_owner_favorites_first"),
            # The sweeper's look for unsaved modal images past their day: a small partial index.
            models.Index(fields=["created"], condition=models.Q(in_gallery=False), name="image_unsaved_created"),
        ]
        constraints = [models.UniqueConstraint(fields=["generation", "index"], name="one_image_per_generation_index")]

    def __str__(self) -> str:
        return f"image #{self.pk}"

    def save(self, *args, **kwargs):
        fields = kwargs.get("update_fields")
        if fields is None or "revised_prompt" in fields:
            self.search_text = search_text(self.generation.prompt, self.generation.refined_prompt, self.revised_prompt)
            if fields is not None:
                kwargs["update_fields"] = {*fields, "search_text"}
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return reverse("gallery-detail", args=[self.pk])

    @property
    def file_url(self) -> str:
        return reverse("image-file", args=[self.pk])

    @property
    def thumbnail_url(self) -> str:
        return reverse("image-thumbnail", args=[self.pk])

    @property
    def download_url(self) -> str:
        return reverse("image-file", args=[self.pk]) + "?download=1"

    @property
    def download_name(self) -> str:
        # The same short name for both storage layouts (a 64-hex stored name is no name to save a file as); the
        # extension comes from the type, so nothing of a tampered `file` reaches a Content-Disposition header.
        ext = {"image/jpeg": "jpg", "image/webp": "webp"}.get(self.mime_type, "png")
        return f"img_{self.sha256[:16]}.{ext}"


class UsageLimit(models.Model):
    """An operator's per-user override of the monthly spending cap (settings.IMAGEGEN_MONTHLY_CAP_USD)."""

    owner = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="usage_limit")
    # Empty: the site-wide cap applies. 0 blocks every paid generation.
    monthly_cap_usd = models.DecimalField(
        max_digits=10, decimal_places=2, null=True, blank=True,
        help_text="USD per calendar month. Empty: the site default applies.",
    )
    unlimited = models.BooleanField(default=False, help_text="No cap for this user, whatever the site default.")
    # Empty: settings.IMAGEGEN_DAILY_IMAGE_LIMIT applies; 0: no daily limit for this user (images/usage.py).
    daily_image_limit = models.PositiveIntegerField(
        null=True, blank=True,
        help_text="Images per day (midnight to midnight in the site's TIME_ZONE). Empty: the site default "
                  "(IMAGEGEN_DAILY_IMAGE_LIMIT); 0: no daily limit for this user.",
    )

    def __str__(self) -> str:
        return f"usage limit of {self.owner}"


class UserUsage(User):
    """The users, as the admin's "usage per user" list (a proxy: no table of its own)."""

    class Meta:
        proxy = True
        verbose_name = "usage per user"
        verbose_name_plural = "usage per user"



class LibraryState(models.Model):
    """Per owner: a version that every change to the gallery's counts replaces, in the same transaction as the change,
    and the facet counts computed at that version, by filter set (images/library_cache.py)."""

    owner = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="+")
    version = models.BigIntegerField(default=0)
    facets = models.JSONField(default=dict, blank=True)  # {filter-set digest: counts}, at most library_cache.MAX_ENTRIES

    def __str__(self) -> str:
        return f"library state of user {self.owner_id}"
