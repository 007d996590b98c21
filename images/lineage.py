"""An image's edit lineage for the gallery's detail page: the image it was edited from, and the edits made of it.

Both directions go through the owner's gallery (GeneratedImage.objects.for_user), so another user's image is never
shown, and cost a fixed number of queries however many edits there are.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import F

from .models import GeneratedImage

EDITS_SHOWN = 12


@dataclass
class Lineage:
    source: GeneratedImage | None = None
    # An edit whose source is gone: the link emptied (SET_NULL) while parameters still name the old id.
    source_deleted: bool = False
    edits: list[GeneratedImage] = field(default_factory=list)  # newest first, at most EDITS_SHOWN
    edits_count: int = 0


def image_lineage(owner, image: GeneratedImage) -> Lineage:
    """`image.generation` must be loaded (the detail view selects it). Each image shown carries `prompt`, its
    generation's, for the thumbnail's alt text and title."""
    generation = image.generation
    lineage = Lineage()
    gallery = GeneratedImage.objects.for_user(owner)
    with_prompt = F("generation__prompt")
    if generation.edit_of_id is not None:
        lineage.source = gallery.filter(pk=generation.edit_of_id).annotate(prompt=with_prompt).first()
    is_edit = generation.edit_of_id is not None or generation.parameters.get("edit_of") is not None
    lineage.source_deleted = is_edit and lineage.source is None
    edits = gallery.filter(generation__edit_of=image)
    lineage.edits = list(edits.annotate(prompt=with_prompt).order_by("-created", "-pk")[:EDITS_SHOWN])
    # Counted only when the shown ones may not be all of them: one query in the usual case.
    lineage.edits_count = len(lineage.edits) if len(lineage.edits) < EDITS_SHOWN else edits.count()
    return lineage
