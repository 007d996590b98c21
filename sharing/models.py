"""Share links (seed 004 collaborative galleries; InvokeAI shared boards): one image or a tagged collection, read-only,
behind an unguessable token. Revoking or expiring a share makes every one of its URLs a 404 on the next request."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

TOKEN_BYTES = 32  # 256 bits: 43 URL-safe characters, not guessable, not enumerable


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


class ShareQuerySet(models.QuerySet):
    def for_user(self, user) -> "ShareQuerySet":
        return self.filter(owner=user)

    def active(self) -> "ShareQuerySet":
        return self.filter(revoked_at__isnull=True).filter(Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now()))


class Share(models.Model):
    class Kind(models.TextChoices):
        IMAGE = "image", "One image"
        TAG = "tag", "Tagged collection"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="shares")
    token = models.CharField(max_length=64, unique=True, default=new_token, editable=False)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    # Deleting the image or the tag ends the share with it.
    image = models.ForeignKey("images.GeneratedImage", null=True, blank=True, on_delete=models.CASCADE,
                              related_name="shares")
    tag = models.ForeignKey("images.Tag", null=True, blank=True, on_delete=models.CASCADE, related_name="shares")
    # What visitors see as the heading; empty: "A shared image" / "A shared collection" (never the tag's name unasked).
    title = models.CharField(max_length=120, blank=True)
    show_owner = models.BooleanField("show my username", default=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    views = models.PositiveIntegerField(default=0)  # page views of the shared page, for the owner's list

    objects = ShareQuerySet.as_manager()

    class Meta:
        ordering = ["-created", "-pk"]
        indexes = [models.Index(fields=["owner", "-created"])]
        constraints = [
            models.CheckConstraint(
                condition=(Q(kind="image", image__isnull=False, tag__isnull=True)
                           | Q(kind="tag", tag__isnull=False, image__isnull=True)),
                name="share_points_at_its_kind",
            ),
        ]

    def __str__(self) -> str:
        return f"share #{self.pk} ({self.kind}) of {self.owner}"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > timezone.now())

    @property
    def status(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= timezone.now():
            return "expired"
        return "active"

    @property
    def heading(self) -> str:
        return self.title or ("A shared image" if self.kind == self.Kind.IMAGE else "A shared collection")

    def get_absolute_url(self) -> str:
        return reverse("shared-page", args=[self.token])
