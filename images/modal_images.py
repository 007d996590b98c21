"""The image modal's images (seed 000, issue 5): kept only when the person presses "Save to gallery".

`POST /api/generate-image` makes a normal generation (limits, usage and cost apply) marked `modal`; its images are
created with `in_gallery=False`, so `GeneratedImage.objects.for_user` (the gallery, the API's image list, the
data export, share links, /edit sources) leaves them out. Saving flips them into the gallery as source "modal".
Unsaved ones are deleted by the sweeper after IMAGEGEN_UNSAVED_IMAGE_TTL_S (images/jobs.py), and their files
then go with the orphan-file pass when no other image has the same bytes.
"""

from __future__ import annotations

from django.db import transaction

from .library_cache import library_changed
from .models import GeneratedImage, Generation


class NothingToSave(Exception):
    """The generation has no image to save (yet, or any more); `code` is from the error taxonomy."""

    def __init__(self, message: str, *, code: str, status: int) -> None:
        super().__init__(message)
        self.message, self.code, self.status = message, code, status


def save_to_gallery(generation: Generation) -> list[GeneratedImage]:
    """Put the generation's images into the owner's gallery; returns them. Idempotent: saving twice is fine, and
    a generation that was never the modal's is already there. The caller has checked the owner."""
    if generation.is_pending:
        raise NothingToSave("The image is still being made; save it when it is done.", code="not_ready", status=409)
    with transaction.atomic():
        saved = GeneratedImage.objects.filter(generation=generation, in_gallery=False).update(in_gallery=True)
        if saved:
            library_changed(generation.owner_id)  # the gallery's cached counts change
    images = list(GeneratedImage.objects.filter(generation=generation).order_by("index"))
    if not images:
        if generation.modal and generation.status == Generation.Status.SUCCEEDED:
            raise NothingToSave("This image was not saved within a day and has been deleted.", code="not_found",
                                status=404)
        raise NothingToSave("This generation made no image to save.", code="not_found", status=404)
    return images
