import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create the demo account on first run and print its password once."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--username", default="demo")

    def handle(self, *args, username: str, **options) -> None:
        User = get_user_model()
        if User.objects.filter(username=username).exists():
            self.stdout.write(
                f"Demo account: {username} (its password was printed on the first run; "
                f"set a new one with: .venv/bin/python manage.py changepassword {username})"
            )
            return
        password = secrets.token_urlsafe(12)
        # A superuser, so a fresh install's operator pages (/admin/) are one login away.
        User.objects.create_superuser(username=username, password=password, email="")
        bar = "=" * 60
        self.stdout.write(
            f"\n{bar}\n Demo account created (shown only this once):\n"
            f"   user name: {username}\n   password:  {password}\n{bar}\n"
        )
