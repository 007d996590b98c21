"""Print job invariant violations (SECURITY.md T50); exit 1 if there are any."""

import sys

from django.core.management.base import BaseCommand

from images.jobs import find_violations


class Command(BaseCommand):
    help = "Check that every job is terminal or leased, every success has its images, and no file is lost or orphaned."

    def handle(self, *args, **options) -> None:
        problems = find_violations()
        for problem in problems:
            self.stdout.write(problem)
        if problems:
            self.stderr.write(f"{len(problems)} violation(s)")
            sys.exit(1)
        self.stdout.write("no violations")
