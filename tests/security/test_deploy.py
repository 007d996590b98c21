"""SECURITY.md T41: production settings pass `manage.py check --deploy --fail-level WARNING`.

Each test starts a fresh Python process, because the production switch (DJANGO_ENV=production) is read when the
settings module is imported. Nothing here dials anything: checks and the test client stay in-process.
"""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]


def production_env(tmp_path, **overrides) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SECURE_", "IMAGEGEN_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="imagegen_site.settings",
        DJANGO_ENV="production",
        SECRET_KEY=secrets.token_urlsafe(60),
        ALLOWED_HOSTS="imagegen.example.com",
        FIELD_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        REDIS_URL="redis://127.0.0.1:6379/0",  # production shares rate-limit counters through Redis
        IMAGEGEN_DATA_DIR=str(tmp_path),
        DEBUG="false",
    )
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def run(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_t41_check_deploy_is_clean_with_production_settings(tmp_path):
    result = run(production_env(tmp_path), "manage.py", "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr


def test_t41_the_embedded_default_is_not_production_and_check_deploy_says_so(tmp_path):
    # Proves the check above can fail: without DJANGO_ENV the HTTPS settings are off (http://127.0.0.1 works).
    env = production_env(tmp_path, DJANGO_ENV=None)
    result = run(env, "manage.py", "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode != 0
    for code in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert code in result.stderr + result.stdout, code


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"SECRET_KEY": None}, "SECRET_KEY"),
        ({"ALLOWED_HOSTS": ""}, "ALLOWED_HOSTS"),
        ({"DEBUG": "true"}, "DEBUG"),
    ],
)
def test_t41_production_refuses_to_start_without_its_secrets_or_with_debug(tmp_path, overrides, message):
    result = run(production_env(tmp_path, **overrides), "manage.py", "check")
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and message in result.stderr


PROBE = """
import django
django.setup()
from django.conf import settings
from django.test import Client, override_settings
c = Client(HTTP_HOST="imagegen.example.com")
# No collectstatic in a test: plain static storage instead of the manifest one.
with override_settings(STORAGES={**settings.STORAGES, "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}):
    plain = c.get("/accounts/login/")
    secure = c.get("/accounts/login/", secure=True)
print("redirect", plain.status_code, plain.get("Location"))
print("hsts", secure.get("Strict-Transport-Security"))
print("cookie_secure", [m["secure"] for m in secure.cookies.values()])
"""


def test_t41_production_redirects_to_https_and_sends_hsts_and_secure_cookies(tmp_path):
    result = run(production_env(tmp_path), "-c", PROBE)
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(" ", 1) for line in result.stdout.strip().splitlines())
    assert lines["redirect"] == "301 https://imagegen.example.com/accounts/login/"
    assert lines["hsts"] == "max-age=31536000; includeSubDomains; preload"
    assert lines["cookie_secure"] == "[True]"  # the CSRF cookie set by the login form


def test_url_fields_assume_https_and_forms_no_longer_warn():
    """FORMS_URLFIELD_ASSUME_HTTPS (Django 6.0's default, opted into on 5.2): an address typed without a scheme is
    https, and building a form with a URLField raises no RemovedInDjango60Warning on every request."""
    import warnings

    from chats.models import ChatPreferences
    from profiles.models import ImageProfile

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fields = [ImageProfile._meta.get_field("base_url").formfield(),
                  ChatPreferences._meta.get_field("llm_base_url").formfield()]
    assert [f.clean("ollama.example/v1") for f in fields] == ["https://ollama.example/v1"] * 2
