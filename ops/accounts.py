"""A user's own data: "Export my data" (a ZIP built by a task) and "Delete my account"."""

from __future__ import annotations

import json
import logging
import secrets
import tempfile
import zipfile
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from chats.models import Chat
from images.models import GeneratedImage, Generation
from profiles.models import ApiKey, ImageProfile

from . import files
from .models import DataExport

logger = logging.getLogger(__name__)


class ExportBusy(Exception):
    """An export of this user is already being built."""


def export_request(*, owner) -> DataExport:
    """Queue an export; one at a time per user, so a double click builds one ZIP."""
    with transaction.atomic():
        if DataExport.objects.for_user(owner).filter(
            status__in=[DataExport.Status.QUEUED, DataExport.Status.RUNNING]
        ).exists():
            raise ExportBusy("Your export is already being prepared.")
        export = DataExport.objects.create(owner=owner)
        transaction.on_commit(partial(_enqueue_export, export.pk))
    return export


def _enqueue_export(export_id: int) -> None:
    from .tasks import build_data_export

    build_data_export.enqueue(export_id)


def _dump(data) -> str:
    return json.dumps(data, cls=DjangoJSONEncoder, indent=2, ensure_ascii=False)


def _generation_data(generation: Generation, image_paths: dict[int, str]) -> dict:
    return {
        "id": generation.pk,
        "status": generation.status,
        "provider": generation.provider,
        "model": generation.model,
        "prompt": generation.prompt,
        "refined_prompt": generation.refined_prompt,
        "negative_prompt": generation.negative_prompt,
        "parameters": generation.parameters,
        "edit_of": generation.edit_of_id,
        "error_code": generation.error_code,
        "queued_at": generation.queued_at,
        "finished_at": generation.finished_at,
        "estimated_cost_usd": generation.estimated_cost_usd,
        "images": [image_paths[i.pk] for i in generation.images.all() if i.pk in image_paths],
    }


def _chat_markdown(chat: Chat, messages: list, generations: dict[int, Generation], image_paths: dict[int, str]) -> str:
    lines = [f"# {chat.title}", "", f"Created {chat.created:%Y-%m-%d %H:%M} UTC", ""]
    for message in messages:
        lines += [f"## {message.role} · {message.created:%Y-%m-%d %H:%M}", ""]
        if message.content:
            lines += [message.content, ""]
        generation = generations.get(message.pk)
        if generation is not None:
            lines += [f"*{generation.provider} {generation.model} — {generation.status}*", ""]
            for image in generation.images.all():
                if image.pk in image_paths:
                    # Relative to chats/: the images folder sits next to it in the ZIP.
                    lines += [f"![{image.download_name}](../{image_paths[image.pk]})", ""]
    return "\n".join(lines)


def write_export_zip(owner, handle) -> None:
    """Everything the user made, readable without this app: JSON for programs, Markdown for people."""
    images = list(
        GeneratedImage.objects.for_user(owner).select_related("generation").prefetch_related("tags").order_by("pk")
    )
    image_paths = {image.pk: f"images/{image.pk}-{image.download_name}" for image in images}
    with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "README.txt",
            f"Your data from {settings.SITE_NAME}, exported {timezone.now():%Y-%m-%d %H:%M} UTC.\n"
            "account.json: your account. chats/: every chat as JSON and Markdown. images/: every image, with\n"
            "images/metadata.json describing each one. profiles.json: your image profiles and API keys (the keys\n"
            "themselves are never exported; only their last four characters).\n",
        )
        archive.writestr("account.json", _dump({
            "username": owner.get_username(), "email": owner.email, "date_joined": owner.date_joined,
        }))
        archive.writestr("profiles.json", _dump({
            "image_profiles": list(ImageProfile.objects.for_user(owner).values(
                "name", "provider", "model", "parameters", "base_url", "is_default", "created")),
            "api_keys": list(ApiKey.objects.for_user(owner).values("provider", "label", "last_four", "created")),
        }))
        for chat in Chat.objects.for_user(owner).order_by("pk"):
            messages = list(chat.messages.all())
            generations = {
                g.message_id: g
                for g in Generation.objects.for_user(owner).filter(message__chat=chat).prefetch_related("images")
            }
            data = {
                "id": chat.pk, "title": chat.title, "created": chat.created, "updated": chat.updated,
                "messages": [
                    {
                        "role": m.role, "kind": m.kind, "content": m.content, "metadata": m.metadata,
                        "created": m.created,
                        "generation": _generation_data(generations[m.pk], image_paths) if m.pk in generations else None,
                    }
                    for m in messages
                ],
            }
            stem = f"chats/{chat.pk}-{slugify(chat.title)[:50] or 'chat'}"
            archive.writestr(f"{stem}.json", _dump(data))
            archive.writestr(f"{stem}.md", _chat_markdown(chat, messages, generations, image_paths))
        metadata = []
        for image in images:
            g = image.generation
            try:
                with default_storage.open(image.file, "rb") as source:
                    # Images are compressed already; storing them keeps the build fast.
                    with archive.open(zipfile.ZipInfo(image_paths[image.pk], date_time=image.created.timetuple()[:6]), "w") as target:
                        while chunk := source.read(files.CHUNK):
                            target.write(chunk)
                missing = False
            except FileNotFoundError:
                missing = True
            metadata.append({
                "file": None if missing else image_paths[image.pk],
                "missing": missing,
                "id": image.pk, "sha256": image.sha256, "width": image.width, "height": image.height,
                "mime_type": image.mime_type, "bytes": image.bytes, "seed": image.seed,
                "revised_prompt": image.revised_prompt, "is_favorite": image.is_favorite,
                "tags": [t.name for t in image.tags.all()], "created": image.created,
                "prompt": g.prompt, "refined_prompt": g.refined_prompt, "negative_prompt": g.negative_prompt,
                "provider": g.provider, "model": g.model, "parameters": g.parameters, "chat_id": g.chat_id,
                "generation_id": g.pk, "edit_of": g.edit_of_id,  # the image id this one was edited from
            })
        archive.writestr("images/metadata.json", _dump(metadata))


def export_build(*, export_id: int) -> None:
    claimed = DataExport.objects.filter(pk=export_id, status=DataExport.Status.QUEUED).update(
        status=DataExport.Status.RUNNING
    )
    if not claimed:  # delivered twice, or already built
        return
    export = DataExport.objects.select_related("owner").get(pk=export_id)
    try:
        with tempfile.TemporaryFile() as handle:
            write_export_zip(export.owner, handle)
            size = handle.tell()
            handle.seek(0)
            # An unguessable name, though the download view checks the owner anyway.
            name = default_storage.save(f"exports/{export.owner_id}/export_{secrets.token_hex(16)}.zip", File(handle))
    except Exception:
        logger.exception("data export %s failed", export_id)
        DataExport.objects.filter(pk=export_id).update(
            status=DataExport.Status.FAILED, finished_at=timezone.now(),
            error_message="The export could not be built; please try again.",
        )
        return
    now = timezone.now()
    DataExport.objects.filter(pk=export_id).update(
        status=DataExport.Status.READY, file=name, bytes=size, finished_at=now,
        expires_at=now + timedelta(hours=settings.IMAGEGEN_EXPORT_TTL_HOURS),
    )


def delete_unreferenced(names: set[str]) -> list[str]:
    """Delete each stored file that no row references any more; return the names deleted."""
    deleted = []
    for name in sorted(names):
        if name and not files.is_referenced(name) and default_storage.exists(name):
            default_storage.delete(name)
            deleted.append(name)
    return deleted


def prune_expired_exports() -> int:
    expired = DataExport.objects.filter(expires_at__lt=timezone.now())
    names = set(expired.exclude(file="").values_list("file", flat=True))
    count = expired.delete()[0]
    delete_unreferenced(names)
    return count


def account_delete(*, user) -> dict:
    """Remove the user and everything they own (chats, generations, images, keys, profiles, exports), then every
    file of theirs that no remaining row references. Another user's files are never touched: each candidate is
    checked against every row first."""
    user_id = user.pk
    names: set[str] = set()
    for file, thumb in GeneratedImage.objects.filter(owner_id=user_id).values_list("file", "thumbnail"):
        names |= {file, thumb}
    names |= set(DataExport.objects.filter(owner_id=user_id).exclude(file="").values_list("file", flat=True))
    # Files under the user's own folders that no row lists (a crash between store and commit) go too.
    names |= set(files.walk(f"images/{user_id}")) | set(files.walk(f"exports/{user_id}"))
    with transaction.atomic():
        counts = {
            "chats": Chat.objects.filter(owner_id=user_id).count(),
            "images": GeneratedImage.objects.filter(owner_id=user_id).count(),
        }
        user.delete()  # cascades; a worker still running one of their jobs finds no row to complete
    counts["files_deleted"] = len(delete_unreferenced(names))
    logger.info("account deleted user_id=%s chats=%s images=%s files=%s", user_id, counts["chats"],
                counts["images"], counts["files_deleted"])
    return counts
