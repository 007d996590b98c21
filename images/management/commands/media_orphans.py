"""Find image files no row references (orphans) and rows whose files are gone (missing).

    manage.py media_orphans            # report only
    manage.py media_orphans --delete   # also delete the orphans

Works on any storage backend (local disk or S3) through the storage API, and on both name layouts (images/storage.py:
the sharded images/<owner>/<xx>/<sha256>.<ext> and the older images/<owner>/img_<16 hex>.<ext>). A file younger than
--min-age (1 hour by default) is never treated as an orphan: a worker stores files first and writes their rows a
moment later. Nothing referenced is ever deleted: the set of referenced names is read after the listing, so a row
committed during the walk still protects its file.
"""

from __future__ import annotations

from datetime import timedelta

from django.core.files.storage import default_storage
from django.core.management.base import BaseCommand
from django.utils import timezone

from images.masks import referenced_masks
from images.models import GeneratedImage
from images.storage import walk

ROOT = "images"


def referenced_names() -> set[str]:
    names: set[str] = set()
    for file, thumb in GeneratedImage.objects.values_list("file", "thumbnail").iterator(chunk_size=2000):
        names.add(file)
        names.add(thumb)
    names |= referenced_masks()  # an edit's painted area: provenance, kept like its images
    names.discard("")
    return names


class Command(BaseCommand):
    help = "Report (and with --delete remove) image files that no database row references; report missing files."

    def add_arguments(self, parser):
        parser.add_argument("--delete", action="store_true", help="delete the orphan files (default: report only)")
        parser.add_argument("--min-age", type=int, default=3600, help="seconds a file must be old to count (3600)")

    def handle(self, *args, delete: bool = False, min_age: int = 3600, **options):
        storage = default_storage
        stored = list(walk(ROOT, storage))
        cutoff = timezone.now() - timedelta(seconds=min_age)
        referenced = referenced_names()  # read after the listing: see the module docstring
        orphans = []
        for name in stored:
            if name in referenced:
                continue
            try:
                if min_age and storage.get_modified_time(name) > cutoff:
                    continue  # maybe a worker's file whose row is not committed yet
            except (NotImplementedError, FileNotFoundError):
                continue
            orphans.append(name)
        stored_set = set(stored)
        missing = sorted(name for name in referenced if name not in stored_set)

        for name in orphans:
            if delete and name not in referenced_names_for(name):
                storage.delete(name)
            self.stdout.write(f"{'deleted' if delete else 'orphan'} {name}")
        for name in missing:
            self.stdout.write(f"missing {name}")
        self.stdout.write(
            f"{len(stored)} files, {len(orphans)} orphan{'s' * (len(orphans) != 1)}"
            f"{' deleted' if delete else ''}, {len(missing)} missing"
        )


def referenced_names_for(name: str) -> set[str]:
    """A last look right before deleting one file: a row may have been committed since the scan."""
    rows = GeneratedImage.objects.filter(file=name).values_list("file", flat=True)[:1]
    thumbs = GeneratedImage.objects.filter(thumbnail=name).values_list("thumbnail", flat=True)[:1]
    return set(rows) | set(thumbs) | referenced_masks(name)
