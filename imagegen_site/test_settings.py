"""Settings for the test suite: the real settings with a throw-away data folder and synchronous tasks."""

import os
import tempfile

os.environ.setdefault("IMAGEGEN_DATA_DIR", tempfile.mkdtemp(prefix="imagegen-test-"))
os.environ.setdefault("TASKS_BACKEND", "django_tasks.backends.immediate.ImmediateBackend")

from .settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}  # noqa: F405
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: F405 - whitenoise warns when it is missing
# The moderation call (moderation/checks.py) would reach api.openai.com for any test user with an OpenAI key;
# tests that exercise it turn it on and stub it with `responses` (tests/seeds/test_moderation.py).
IMAGEGEN_MODERATION_API = False
