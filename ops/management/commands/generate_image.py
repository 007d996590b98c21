"""`manage.py generate_image --user NAME [--profile NAME] "prompt [--ar 16:9 --seed 1 …]"`: an image from the console.

Runs the generation in this process (a worker may take it first; the row's compare-and-set claim makes that
harmless) and prints the stored files, so it works with or without workers running.
"""

import time

from django.contrib.auth import get_user_model
from django.core.files.storage import default_storage
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from chats.commands import CommandError as ParseError
from chats.commands import parse_message
from images.models import Generation
from images.services import GenerationRequestError, generation_run, generation_start
from profiles.models import ImageProfile


class Command(BaseCommand):
    help = "Generate an image as a user, with their profile, and print the stored file path and image id."

    def add_arguments(self, parser) -> None:
        parser.add_argument("prompt", help="the prompt; /image options such as --ar 16:9 --seed 42 --n 2 work too")
        parser.add_argument("--user", required=True, help="user name")
        parser.add_argument("--profile", default="", help="image profile name (default: the user's default)")
        parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for the result")

    def handle(self, *args, prompt: str, user: str, profile: str, timeout: float, **options) -> None:
        owner = get_user_model().objects.filter(username=user).first()
        if owner is None:
            raise CommandError(f"No user named {user!r}.")
        try:
            command = parse_message(f"/image {prompt}")
        except ParseError as e:
            raise CommandError(e.message) from e
        if command is None or command.action != "generate":
            raise CommandError("Give a prompt to draw, e.g. \"a lighthouse at dusk --ar 16:9\".")
        profile_name = profile or command.profile_name
        chosen = None
        if profile_name:
            chosen = ImageProfile.objects.for_user(owner).filter(name=profile_name).first()
            if chosen is None:
                names = ", ".join(ImageProfile.objects.for_user(owner).values_list("name", flat=True)) or "none"
                raise CommandError(f"{user} has no profile named {profile_name!r} (they have: {names}).")
        try:
            generation = generation_start(
                owner=owner, prompt=command.prompt, options=command.options,
                negative_prompt=command.negative_prompt, profile=chosen,
            )
        except GenerationRequestError as e:
            raise CommandError(e.message) from e
        self.stdout.write(f"generation {generation.pk} queued: {generation.provider} {generation.model}".rstrip())
        generation = self._wait(generation.pk, timeout)
        if generation.status != Generation.Status.SUCCEEDED:
            raise CommandError(
                f"generation {generation.pk} {generation.status}: {generation.error_code or 'timed out'} "
                f"{generation.error_message}".rstrip()
            )
        for image in generation.images.order_by("index"):
            try:
                where = default_storage.path(image.file)
            except NotImplementedError:  # S3 and other remote storage: the storage name is the path
                where = image.file
            self.stdout.write(f"image {image.pk}: {where} ({image.width}x{image.height}, sha256 {image.sha256[:16]}…)")

    def _wait(self, generation_id: int, timeout: float) -> Generation:
        deadline = time.monotonic() + timeout
        while True:
            generation = Generation.objects.get(pk=generation_id)
            if not generation.is_pending or time.monotonic() > deadline:
                return generation
            due = generation.next_attempt_at
            if generation.status == Generation.Status.QUEUED and (due is None or due <= timezone.now()):
                generation_run(generation_id=generation_id)  # a no-op if a worker claimed it first
                continue
            time.sleep(0.5)
