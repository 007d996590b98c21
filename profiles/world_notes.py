"""World notes (seed 004's domain enhancement): the owner's prompt prefix per image type, added by the refiner in
every mode (offline, chat model, plain start), never with --raw."""

from __future__ import annotations

from .models import WorldNotes

TYPES = WorldNotes.TYPES


def world_notes_of(owner) -> WorldNotes:
    """The owner's notes, unsaved and empty when they never wrote any."""
    return WorldNotes.objects.filter(owner=owner).first() or WorldNotes(owner=owner)


def world_note_for(owner, image_type: str) -> str:
    if not image_type or owner is None:
        return ""
    row = WorldNotes.objects.filter(owner=owner).values_list(image_type, flat=True).first() \
        if image_type in TYPES else None
    return " ".join((row or "").split())


def with_world_note(prompt: str, note: str) -> str:
    """"cyberpunk Seattle, neon, rain, <prompt>"; unchanged when there is no note or the prompt has it already."""
    note = " ".join((note or "").split()).rstrip(",.; ")
    if not note or prompt.lower().startswith(note.lower()):
        return prompt
    return f"{note}, {prompt}"


class WorldNotesError(ValueError):
    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.message, self.field = message, field


def world_notes_save(owner, **notes: str) -> WorldNotes:
    """Set any of scene/character/location/item (others unchanged); whitespace collapsed, length checked."""
    row = world_notes_of(owner)
    for name, value in notes.items():
        if name not in TYPES:
            raise WorldNotesError(f"Unknown type {name!r}.", name)
        value = " ".join(str(value or "").split())
        if len(value) > WorldNotes.MAX_CHARS:
            raise WorldNotesError(f"At most {WorldNotes.MAX_CHARS} characters per type.", name)
        setattr(row, name, value)
    row.save()
    return row
