"""Creating, revoking, resolving and copying from share links. Pages (sharing/views.py), the API (sharing/api.py)
and the admin all call these.

What a visitor sees is deliberately narrow: the images, the prompt as the owner typed it, size and date. Never the
refined prompt (offline refinement adds words from the owner's chat), the provider's revised prompt (made from the
refined one), chat titles, tags, favourites or the username (unless the owner ticked "show my username").
"""

from __future__ import annotations

from datetime import timedelta

from django.core.files.storage import default_storage
from django.db.models import F, QuerySet
from django.http import Http404
from django.utils import timezone

from images.models import GeneratedImage, Generation, ImageSource, Tag
from images.uploads import UploadError, add_external_image

from .models import Share

EXPIRY_CHOICES = [("", "Never"), ("1", "1 day"), ("7", "7 days"), ("30", "30 days")]
MAX_EXPIRY_DAYS = 365
MAX_SHARED_IMAGES = 500  # a collection page shows at most this many, newest first


class ShareError(Exception):
    def __init__(self, message: str, *, code: str = "validation_error", field: str = "") -> None:
        super().__init__(message)
        self.message, self.code, self.field = message, code, field


def parse_expiry_days(value) -> int | None:
    """"" / None: never; otherwise whole days from 1 to 365."""
    if value in (None, ""):
        return None
    try:
        days = int(value)
    except (TypeError, ValueError):
        raise ShareError("Expiry must be a number of days.", field="expires_in_days") from None
    if not 1 <= days <= MAX_EXPIRY_DAYS:
        raise ShareError(f"Expiry must be between 1 and {MAX_EXPIRY_DAYS} days.", field="expires_in_days")
    return days


def share_create(*, owner, image: GeneratedImage | None = None, tag: Tag | None = None, title: str = "",
                 show_owner: bool = False, expires_in_days: int | None = None) -> Share:
    if (image is None) == (tag is None):
        raise ShareError("Share either one image or one tag.")
    target = image if image is not None else tag
    if target.owner_id != owner.pk:  # callers look these up scoped to the owner; this is the last line
        raise ShareError("No such image or tag.", code="not_found")
    title = " ".join((title or "").split())[: Share._meta.get_field("title").max_length]
    return Share.objects.create(
        owner=owner, kind=Share.Kind.IMAGE if image is not None else Share.Kind.TAG, image=image, tag=tag,
        title=title, show_owner=bool(show_owner),
        expires_at=timezone.now() + timedelta(days=expires_in_days) if expires_in_days else None,
    )


def share_revoke(share: Share) -> bool:
    """Every URL of the share is a 404 from the next request on (each one checks the row; nothing is cached)."""
    return bool(Share.objects.filter(pk=share.pk, revoked_at__isnull=True).update(revoked_at=timezone.now()))


def active_share(token: str) -> Share:
    """The share behind a public token, or Http404: unknown, revoked and expired look the same to a visitor."""
    share = Share.objects.active().select_related("owner", "image", "tag").filter(token=token).first()
    if share is None:
        raise Http404("No such share.")
    return share


def shared_images(share: Share) -> QuerySet[GeneratedImage]:
    """The images a share shows now: its image, or the owner's images with its tag (tagging more adds them)."""
    # in_gallery: an unsaved image-modal image is in no gallery, so in no share (images/modal_images.py).
    images = GeneratedImage.objects.filter(owner_id=share.owner_id, in_gallery=True).select_related("generation")
    if share.kind == Share.Kind.IMAGE:
        images = images.filter(pk=share.image_id)
    else:
        images = images.filter(tags=share.tag_id)
    return images.order_by("-created", "-pk")


def shared_image(share: Share, image_id: int) -> GeneratedImage:
    image = shared_images(share).filter(pk=image_id).first()
    if image is None:
        raise Http404("No such image in this share.")
    return image


def count_view(share: Share) -> None:
    Share.objects.filter(pk=share.pk).update(views=F("views") + 1)


def save_to_gallery(share: Share, image: GeneratedImage, user) -> GeneratedImage:
    """Copy a shared image into `user`'s own gallery: the bytes go through the sanitiser into their own
    content-addressed folder (images/<their id>/…) as a new row (source "import"), with the typed prompt only."""
    if user.pk == share.owner_id:
        raise ShareError("This image is already in your gallery.", code="validation_error")
    try:
        with default_storage.open(image.file, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        raise Http404("The image file is gone.") from None
    prompt = image.generation.prompt
    try:
        copy = add_external_image(user, data, source=ImageSource.IMPORT, description=prompt,
                                  parameters={"saved_from": "share link"})
    except UploadError as e:
        raise ShareError(e.message, code=e.code) from None
    # add_external_image shortens a description to 500 characters; a prompt may be longer.
    Generation.objects.filter(pk=copy.generation_id).update(prompt=prompt, model=image.generation.model)
    copy.generation.prompt = prompt
    GeneratedImage.objects.filter(pk=copy.pk).refresh_search_text()  # the whole prompt, for the gallery's search
    return copy
