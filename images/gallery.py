"""The gallery: filters with counts, search in prompts, tags, favorites, delete, ZIP, and "make it again".

Pages (images/views.py) and the API (images/api.py) both call these; neither holds gallery logic of its own.
"""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from functools import reduce
from operator import and_, or_
from tempfile import SpooledTemporaryFile
from urllib.parse import urlencode

from django import forms
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.db.models import Count, Q, QuerySet

from . import library_cache
from .metadata import provenance, with_metadata
from .models import GeneratedImage, Generation, ImageSource, ImageType, Tag
from .services import generation_start
from .styles import STYLES

MAX_TAGS_PER_IMAGE = 20
MAX_TAG_CHARS = 64
MAX_BULK = 500
FACET_LIMIT = 50
TAG_SPLIT = re.compile(r"[,\n]")

ORDERINGS = {
    "newest": ("-created", "-pk"),
    "oldest": ("created", "pk"),
    "favorites": ("-is_favorite", "-created", "-pk"),
}


class GalleryFilterForm(forms.Form):
    """The gallery's query string. Invalid fields are reported and ignored; the valid ones still apply."""

    q = forms.CharField(required=False, max_length=200, label="Search prompts")
    favorites = forms.BooleanField(required=False)
    chat = forms.IntegerField(required=False, min_value=1)
    provider = forms.CharField(required=False, max_length=32)
    model = forms.CharField(required=False, max_length=200)
    tag = forms.CharField(required=False, max_length=MAX_TAG_CHARS)
    source = forms.ChoiceField(required=False, choices=ImageSource.choices)
    type = forms.ChoiceField(required=False, choices=[(v, v) for v in ImageType.values if v] + [("none", "none")])
    date_from = forms.DateField(required=False, label="From")
    date_to = forms.DateField(required=False, label="To")
    sort = forms.ChoiceField(required=False, choices=[(k, k) for k in ORDERINGS])

    FIELDS = ("q", "favorites", "chat", "provider", "model", "tag", "source", "type", "date_from", "date_to", "sort")

    def clean(self):
        data = super().clean()
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            self.add_error("date_to", "The end date is before the start date.")
        return data

    @property
    def values(self) -> dict:
        """The filters that were valid, whatever else was wrong."""
        self.is_valid()
        values = {k: v for k, v in self.cleaned_data.items() if v not in (None, "", False)}
        if values.get("sort") == "newest":
            del values["sort"]  # the default order: keep links short
        return values

    def querystring(self, **changes) -> str:
        """This filter set as a query string, with `changes` applied (None removes a key)."""
        params = {k: v for k, v in self.values.items()}
        for key, value in changes.items():
            if value is None:
                params.pop(key, None)
            else:
                params[key] = value
        return urlencode({k: ("1" if v is True else v) for k, v in params.items()})


# Full-text search on PostgreSQL. "english" rather than "simple": it stems, so "foxes" finds "fox" and "running"
# finds "run" (issue 6); the price is that English stop words ("the", "a") are not searchable on their own.
SEARCH_CONFIG = "english"


def _search(words: str) -> Q:
    """Prompts that match `words`: full-text on PostgreSQL, every word as a substring elsewhere (SQLite)."""
    if connection.vendor == "postgresql":
        return _full_text(words)
    terms = words.split()[:10]
    per_word = [
        Q(generation__prompt__icontains=w) | Q(generation__refined_prompt__icontains=w) | Q(revised_prompt__icontains=w)
        for w in terms
    ]
    return reduce(and_, per_word, Q())


def search_document():
    """An image's search document as PostgreSQL indexes it: its search_text (the typed, refined and revised prompts,
    GeneratedImage.search_text). Migration 0011's GIN index repeats this expression: change both."""
    from django.contrib.postgres.search import SearchVector

    return SearchVector("search_text", config=SEARCH_CONFIG)


def _full_text(words: str) -> Q:
    """Web-search syntax ("fox -dog", "a \"red fox\"", "fox or owl"), stemmed, matched against the image's one
    search document, so the words may be split between its prompts ("red" typed, "fox" only in the revision).

    A condition on the image row itself, next to the owner filter in the same query: the planner combines the
    GIN index with the owner's, and no subquery collects other people's matches. Not ranked: the gallery's orders
    are keyset-paginated (newest, favorites), which a rank would break.
    """
    from django.contrib.postgres.search import SearchQuery, SearchVectorExact

    query = SearchQuery(words, search_type="websearch", config=SEARCH_CONFIG)
    return Q(SearchVectorExact(search_document(), query))


def apply_filters(images: QuerySet, values: dict, *, skip: str = "") -> QuerySet:
    """Narrow `images` by the valid filter values; `skip` leaves one dimension out (for its own facet counts)."""
    conditions = []
    if values.get("q") and skip != "q":
        conditions.append(_search(values["q"]))
    if values.get("favorites") and skip != "favorites":
        conditions.append(Q(is_favorite=True))
    if values.get("chat") and skip != "chat":
        conditions.append(Q(generation__chat_id=values["chat"]))
    if values.get("provider") and skip != "provider":
        conditions.append(Q(generation__provider=values["provider"]))
    if values.get("model") and skip != "model":
        conditions.append(Q(generation__model=values["model"]))
    if values.get("tag") and skip != "tag":
        conditions.append(Q(tags__name=values["tag"]))
    if values.get("source") and skip != "source":
        conditions.append(Q(source=values["source"]))
    if values.get("type") and skip != "type":
        conditions.append(Q(image_type="" if values["type"] == "none" else values["type"]))
    if values.get("date_from") and skip != "date":
        conditions.append(Q(created__date__gte=values["date_from"]))
    if values.get("date_to") and skip != "date":
        conditions.append(Q(created__date__lte=values["date_to"]))
    return images.filter(*conditions) if conditions else images


def tag_names(image_ids: list[int]) -> dict[int, list[str]]:
    """Each image's tag names in name order (as image.tags.all() lists them), in one query."""
    names: dict[int, list[str]] = {}
    rows = (GeneratedImage.tags.through.objects.filter(generatedimage_id__in=image_ids)
            .order_by("tag__name").values_list("generatedimage_id", "tag__name"))
    for image_id, name in rows:
        names.setdefault(image_id, []).append(name)
    return names


def ordered(images: QuerySet, values: dict) -> QuerySet:
    return images.order_by(*ORDERINGS[values.get("sort") or "newest"])


def library(owner) -> QuerySet:
    return GeneratedImage.objects.for_user(owner)


@dataclass
class Facets:
    total: int
    favorites: int
    providers: list[dict]
    models: list[dict]
    tags: list[dict]
    chats: list[dict]
    sources: list[dict]  # {"source", "label", "n"}
    types: list[dict]  # {"image_type" ("none" for none), "label", "n"}

    def matching(self, values: dict) -> int:
        """How many images the filters these counts were made for select (the paginator's count, no COUNT query)."""
        return self.favorites if values.get("favorites") else self.total


def facets(owner, values: dict) -> Facets:
    """Counts per filter value, each within the other active filters.

    Cached per owner and filter set until the owner's library changes (images/library_cache.py): the aggregates over
    the whole library were most of a gallery page's time. Chat titles are read fresh from a cached answer (renaming
    a chat is not a library change).
    """
    from chats.models import Chat

    data, from_cache = library_cache.cached("facets", owner.pk, values, lambda: asdict(_facets(owner, values)))
    found = Facets(**data)
    if from_cache and found.chats:
        titles = dict(Chat.objects.for_user(owner).filter(pk__in=[r["generation__chat"] for r in found.chats])
                      .values_list("pk", "title"))
        found.chats = [{**r, "generation__chat__title": titles[r["generation__chat"]]} for r in found.chats
                       if r["generation__chat"] in titles]
    return found


def _facets(owner, values: dict) -> Facets:
    """The facet counts from the database: six or seven aggregates, whatever the library's size."""
    base = library(owner)

    def grouped(skip: str, *fields: str, **extra) -> list[dict]:
        rows = (
            apply_filters(base, values, skip=skip).values(*fields)
            .annotate(n=Count("pk", distinct=True), **extra).order_by("-n")
        )
        return list(rows[:FACET_LIMIT])

    if values.get("favorites") or values.get("source"):
        head = apply_filters(base, values, skip="favorites").aggregate(
            total=Count("pk", distinct=True), favorites=Count("pk", filter=Q(is_favorite=True), distinct=True)
        )
        sources = grouped("source", "source")
    else:
        # Neither filter is set, so "all but favorites" and "all but source" select the same images: every image has
        # one source, and the source rows add up to the total (one query fewer).
        sources = grouped("source", "source", fav=Count("pk", filter=Q(is_favorite=True), distinct=True))
        head = {"total": sum(r["n"] for r in sources), "favorites": sum(r.pop("fav") for r in sources)}

    return Facets(
        total=head["total"],
        favorites=head["favorites"],
        providers=grouped("provider", "generation__provider"),
        models=grouped("model", "generation__model"),
        tags=[r for r in grouped("tag", "tags__name") if r["tags__name"]],
        chats=[r for r in grouped("chat", "generation__chat", "generation__chat__title") if r["generation__chat"]],
        sources=[{**r, "label": ImageSource(r["source"]).label} for r in sources],
        types=[{"image_type": r["image_type"] or "none", "label": ImageType(r["image_type"]).label, "n": r["n"]}
               for r in grouped("type", "image_type")],
    )


def _after(fields: tuple[str, ...], image: GeneratedImage) -> Q:
    """Rows strictly after `image` in the order `fields` (keyset pagination, index friendly)."""
    clauses = []
    for i, field in enumerate(fields):
        name = field.lstrip("-")
        value = getattr(image, name)
        op = "lt" if field.startswith("-") else "gt"
        equal_before = {f.lstrip("-"): getattr(image, f.lstrip("-")) for f in fields[:i]}
        clauses.append(Q(**equal_before, **{f"{name}__{op}": value}))
    return reduce(or_, clauses)


def neighbours(owner, image: GeneratedImage, values: dict) -> tuple[GeneratedImage | None, GeneratedImage | None]:
    """The images before and after this one in the gallery as filtered and sorted (← and → on the detail page)."""
    fields = ORDERINGS[values.get("sort") or "newest"]
    reverse_fields = tuple(f[1:] if f.startswith("-") else f"-{f}" for f in fields)
    images = apply_filters(library(owner), values).distinct()
    following = images.filter(_after(fields, image)).order_by(*fields).only("pk").first()
    previous = images.filter(_after(reverse_fields, image)).order_by(*reverse_fields).only("pk").first()
    return previous, following


# Tags --------------------------------------------------------------------------------------------------------------


class TagError(ValueError):
    pass


def parse_tag_names(text: str | Iterable[str]) -> list[str]:
    """Tag names from "a, b" or a list; whitespace collapsed, duplicates (ignoring case) dropped, limits enforced."""
    raw = TAG_SPLIT.split(text) if isinstance(text, str) else list(text)
    names: list[str] = []
    for item in raw:
        if not isinstance(item, str):
            raise TagError("Tags must be text.")
        name = " ".join(item.split())
        if not name:
            continue
        if len(name) > MAX_TAG_CHARS:
            raise TagError(f"A tag can be at most {MAX_TAG_CHARS} characters: {name[:20]}…")
        if name.lower() not in {n.lower() for n in names}:
            names.append(name)
    if len(names) > MAX_TAGS_PER_IMAGE:
        raise TagError(f"At most {MAX_TAGS_PER_IMAGE} tags per image.")
    return names


def _tags_for(owner, names: list[str]) -> list[Tag]:
    existing = {t.name.lower(): t for t in Tag.objects.filter(owner=owner)
                .filter(reduce(or_, [Q(name__iexact=n) for n in names], Q(pk__in=[])))}
    tags = []
    for name in names:
        tag = existing.get(name.lower())
        if tag is None:
            tag, _ = Tag.objects.get_or_create(owner=owner, name=name)
            existing[name.lower()] = tag
        tags.append(tag)
    return tags


@transaction.atomic
def image_set_tags(image: GeneratedImage, names: list[str]) -> list[Tag]:
    tags = _tags_for(image.owner, names) if names else []
    image.tags.set(tags)
    return tags


@transaction.atomic
def images_add_tag(images: QuerySet, owner, name: str) -> int:
    names = parse_tag_names([name])
    if not names:
        raise TagError("Type a tag name first.")
    (tag,) = _tags_for(owner, names)
    through = GeneratedImage.tags.through
    pks = list(images.values_list("pk", flat=True))
    have = set(through.objects.filter(tag=tag, generatedimage_id__in=pks).values_list("generatedimage_id", flat=True))
    through.objects.bulk_create([through(tag=tag, generatedimage_id=pk) for pk in pks if pk not in have])
    library_cache.library_changed(owner.pk)  # bulk_create sends no m2m_changed
    return len(pks)


def tag_rename(tag: Tag, new_name: str) -> Tag:
    names = parse_tag_names([new_name])
    if not names:
        raise TagError("Type a tag name first.")
    name = names[0]
    if Tag.objects.filter(owner=tag.owner, name__iexact=name).exclude(pk=tag.pk).exists():
        raise TagError(f"You already have a tag named {name!r}.")
    tag.name = name
    tag.save(update_fields=["name"])
    return tag


# Delete ------------------------------------------------------------------------------------------------------------


def images_delete(images: QuerySet) -> int:
    """Delete the rows, then each file that no remaining row uses (same bytes ⇒ same content-addressed name).

    Files go only after the transaction commits, so a rollback never leaves rows pointing at nothing.
    """
    with transaction.atomic():
        rows = list(images.values_list("pk", "owner_id", "file", "thumbnail"))
        if not rows:
            return 0
        GeneratedImage.objects.filter(pk__in=[r[0] for r in rows]).delete()
        names = {r[2] for r in rows} | {r[3] for r in rows}
        still_used = set(GeneratedImage.objects.filter(file__in=names).values_list("file", flat=True))
        still_used |= set(GeneratedImage.objects.filter(thumbnail__in=names).values_list("thumbnail", flat=True))
        unused = sorted(n for n in names - still_used if n)
        transaction.on_commit(lambda: _delete_files(unused))
    return len(rows)


def _delete_files(names: list[str]) -> None:
    for name in names:
        default_storage.delete(name)  # a missing file is not an error: the storage API ignores it


# ZIP ---------------------------------------------------------------------------------------------------------------


def images_zip(images: QuerySet) -> SpooledTemporaryFile:
    """A ZIP of the originals with their provenance embedded, plus manifest.json. Kept in memory up to 32 MB."""
    out = SpooledTemporaryFile(max_size=32 * 1024 * 1024)
    manifest = []
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as archive:  # images are compressed already
        for image in images.select_related("generation"):
            try:
                with default_storage.open(image.file, "rb") as handle:
                    data = handle.read()
            except FileNotFoundError:
                manifest.append({"id": image.pk, "missing": True})
                continue
            meta = provenance(image)
            name = f"{image.pk}_{image.download_name}"
            archive.writestr(name, with_metadata(data, image.mime_type, meta))
            manifest.append({"id": image.pk, "file": name, **meta})
        archive.writestr("manifest.json", json.dumps(manifest, ensure_ascii=False, indent=2))
    out.seek(0)
    return out


# Make it again -----------------------------------------------------------------------------------------------------


def reuse_options(image: GeneratedImage) -> dict:
    """The settings of the generation that made `image`, as the reuse form's initial values."""
    generation = image.generation
    params = generation.parameters or {}
    style = STYLES.get(params.get("style", ""))
    negative = generation.negative_prompt
    if style and style.negative and not params.get("raw"):
        # generation_start appends the style's negative prompt again; strip it so it is not doubled.
        negative = negative.removesuffix(style.negative).rstrip(", ").strip()
    return {
        "prompt": generation.prompt,
        "negative_prompt": negative,
        "aspect_ratio": params.get("aspect_ratio", ""),
        "n": params.get("n", 1),
        "seed": image.seed,
        "style": params.get("style", ""),
        "raw": bool(params.get("raw")),
    }


def describe_command(prompt: str, options: dict, negative_prompt: str) -> str:
    """How the request reads as a chat command, for the user's message in the chat."""
    parts = ["/image", prompt]
    if options.get("edit_of") is not None:  # an edit of a gallery image (images/upload_views.image_edit)
        parts = ["/edit", "--image", str(options["edit_of"]), prompt]
    for flag, key in (("--ar", "aspect_ratio"), ("--n", "n"), ("--seed", "seed"), ("--style", "style"),
                      ("--type", "type")):
        if options.get(key) not in (None, "", 1 if key == "n" else None):
            parts += [flag, str(options[key])]
    if options.get("raw"):
        parts.append("--raw")
    if negative_prompt:
        parts += ["--no", negative_prompt]
    return " ".join(parts)


def generate_again(image: GeneratedImage, *, prompt: str, options: dict, negative_prompt: str = "") -> Generation:
    """Start a generation from an image's settings (reuse, same seed, re-roll) in the image's chat.

    It goes through generation_start like every other request; the chat gets the request as a user message and a
    card that shows progress. With no source chat (API-made images), it starts a new chat, as the images page does.
    Raises GenerationRequestError on bad input; then nothing is saved.
    """
    from chats.models import Chat, Message
    from chats.services import chat_create

    source = image.generation
    with transaction.atomic():
        chat = Chat.objects.filter(pk=source.chat_id, owner=image.owner).first() or chat_create(
            owner=image.owner, title=prompt[:60]
        )
        text = describe_command(prompt, options, negative_prompt)
        Message.objects.create(chat=chat, role=Message.Role.USER, content=text)
        card = Message.objects.create(
            chat=chat, role=Message.Role.ASSISTANT, kind=Message.Kind.IMAGE,
            metadata={"command": "image", "from_image": image.pk},
        )
        generation = generation_start(
            owner=image.owner, prompt=prompt, options=options, negative_prompt=negative_prompt,
            chat=chat, message=card, profile=source.profile,
        )
        chat.save(update_fields=["updated"])
    return generation


def zip_filename(count: int) -> str:
    return f"imagegen-{count}-images.zip"


def bulk_ids(raw: Iterable[str]) -> list[int]:
    ids = [int(x) for x in raw if str(x).isdigit()]
    return ids[:MAX_BULK]

