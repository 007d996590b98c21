import logging

from django_tasks import task

logger = logging.getLogger(__name__)

# Images per thumbnail task: a few seconds of work each, so a big admin selection is spread over the workers.
THUMBNAILS_PER_TASK = 200


@task()
def run_generation(generation_id: int, request_id: str = "") -> None:
    from ops.logs import request_id_context

    from . import services

    # The web request's id (or a fresh one for jobs queued before it existed) on every log line of this run.
    with request_id_context(request_id):
        services.generation_run(generation_id=generation_id)


@task()
def rebuild_thumbnails(image_ids: list[int]) -> dict:
    """The admin's "re-run thumbnails", off the request (images/admin.py). Idempotent: delivered twice, the second
    run finds every thumbnail already right and writes nothing (images/storage.rebuild_thumbnail)."""
    from django.core.exceptions import SuspiciousFileOperation

    from .models import GeneratedImage
    from .storage import rebuild_thumbnail

    rebuilt, missing, refused = 0, [], []
    fields = ("pk", "owner_id", "file", "thumbnail", "sha256", "mime_type", "width", "height")
    for image in GeneratedImage.objects.filter(pk__in=image_ids).order_by("pk").only(*fields):
        try:
            rebuild_thumbnail(image)
            rebuilt += 1
        except FileNotFoundError:
            missing.append(image.pk)
        except SuspiciousFileOperation:
            refused.append(image.pk)
    if missing:
        logger.warning("thumbnails: the original file is missing for image(s) %s; `manage.py media_orphans` lists "
                       "every row whose files are gone", ", ".join(map(str, missing)))
    if refused:
        logger.warning("thumbnails: image(s) %s name files outside their owner's folder; left alone",
                       ", ".join(map(str, refused)))
    # Deleted meanwhile: nothing to do (image_ids may name rows gone since the action).
    return {"rebuilt": rebuilt, "missing": missing, "refused": refused}
