"""Processes for the parallel-cards browser test: `python -m tests.e2e.gate_procs setup|worker`, and
`tests.e2e.gate_procs:application` for gunicorn. Each registers the "gate" provider, which reports 40 % with a partial
image and then holds while the file $GATE_DIR/block exists (at most 60 s), so the test decides when images finish."""

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "imagegen_site.settings")

import django  # noqa: E402

django.setup()

from images.providers import (  # noqa: E402
    PROVIDERS, Capabilities, ImageRequest, Provider, ProviderImage, ProviderResult,
)
from tests.fakes import png_bytes  # noqa: E402


class GateProvider(Provider):
    kind = "gate"
    label = "Gate (tests)"
    capabilities = Capabilities(needs_key=False)

    def generate(self, request: ImageRequest) -> ProviderResult:
        colour = (40, 120, 200) if "owl" in request.prompt else (200, 60, 40)
        self.progress(40, png_bytes(640, 480, colour))
        block, deadline = Path(os.environ["GATE_DIR"]) / "block", time.monotonic() + 60
        while block.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        return ProviderResult(images=[ProviderImage(png_bytes(640, 480, colour), "image/png")], model="gate-1")


PROVIDERS["gate"] = ("Gate (tests)", "tests.e2e.gate_procs.GateProvider")

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()


def setup(username: str) -> None:
    """A user whose default profile is the gate provider; prints a signed-in session key."""
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model

    from profiles.models import ImageProfile

    user = get_user_model().objects.create_user(username, password=f"{username}-pass-123")
    ImageProfile.objects.create(owner=user, name="Gate", provider="gate", is_default=True)
    session = import_module(settings.SESSION_ENGINE).SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    print(session.session_key)


def worker() -> None:
    from django.core.management import call_command

    call_command("db_worker", "--no-reload", "--no-startup-delay", "--interval", "0.1",
                 "--worker-id", f"e2e-{os.getpid()}")


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    {"setup": setup, "worker": worker}[command](*args)
