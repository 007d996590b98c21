"""Key-encryption settings checks (T13), rotation (T12) and secrets kept out of logs (T14)."""

import logging

import pytest
import responses
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from images.models import Generation
from images.services import generation_start
from profiles.checks import check_field_encryption_keys
from profiles.crypto import EXAMPLE_FIELD_ENCRYPTION_KEY, KeyDecryptError
from profiles.models import ApiKey, ImageProfile

from .conftest import OPENAI_SECRET

pytestmark = pytest.mark.django_db


def ids(settings):
    return [message.id for message in check_field_encryption_keys()]


@pytest.mark.parametrize("keys, expected", [
    ([], ["profiles.E001"]),
    ([""], ["profiles.E001"]),
    (["not-a-key"], ["profiles.E002"]),
    ([EXAMPLE_FIELD_ENCRYPTION_KEY], ["profiles.E003"]),
    ([Fernet.generate_key().decode(), "short"], ["profiles.E002"]),
])
def test_missing_malformed_or_example_keys_fail_the_check(settings, keys, expected):
    settings.FIELD_ENCRYPTION_KEYS = keys
    assert ids(settings) == expected


def test_a_production_start_refuses_the_generated_key_file(settings):
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    settings.FIELD_ENCRYPTION_KEYS_FROM_FILE = True
    settings.DEBUG = False
    settings.DATABASE_URL = ""
    assert ids(settings) == []  # the embedded default: the generated file is fine
    settings.DATABASE_URL = "postgres://db/imagegen"
    assert ids(settings) == ["profiles.E004"]
    settings.FIELD_ENCRYPTION_KEYS_FROM_FILE = False
    assert ids(settings) == []


def test_the_check_fails_manage_py_check(settings):
    settings.FIELD_ENCRYPTION_KEYS = [EXAMPLE_FIELD_ENCRYPTION_KEY]
    with pytest.raises(Exception, match="profiles.E003"):
        call_command("check", "--deploy", "--tag", "security")


def test_rotation_reencrypts_everything_with_the_new_key(settings, alice, bob):
    k1, k2 = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [k1]
    for owner, secret in ((alice, "sk-alice-1234567890"), (bob, "sk-bob-0987654321")):
        key = ApiKey(owner=owner, provider="openai")
        key.set_secret(secret)
        key.save()
    settings.FIELD_ENCRYPTION_KEYS = [k2, k1]
    assert [k.get_secret() for k in ApiKey.objects.order_by("pk")] == ["sk-alice-1234567890", "sk-bob-0987654321"]
    call_command("rotate_field_keys")
    settings.FIELD_ENCRYPTION_KEYS = [k2]  # the old key is gone
    assert [k.get_secret() for k in ApiKey.objects.order_by("pk")] == ["sk-alice-1234567890", "sk-bob-0987654321"]
    assert ApiKey.objects.count() == 2
    settings.FIELD_ENCRYPTION_KEYS = [k1]
    with pytest.raises(KeyDecryptError):
        ApiKey.objects.first().get_secret()


def test_rotation_changes_nothing_when_a_key_is_unreadable(settings, alice):
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    key = ApiKey(owner=alice, provider="openai")
    key.set_secret("sk-alice-1234567890")
    key.save()
    before = key.secret_encrypted
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(CommandError, match="cannot be decrypted"):
        call_command("rotate_field_keys")
    key.refresh_from_db()
    assert key.secret_encrypted == before


@responses.activate
def test_no_log_record_carries_the_key(alice, alice_api, caplog, django_capture_on_commit_callbacks):
    """T14: save, validate (provider 401 echoing a masked key), and a generation failing with 401."""
    caplog.set_level(logging.DEBUG)
    responses.get("https://api.openai.com/v1/models", status=401,
                  json={"error": {"message": f"Incorrect API key provided: {OPENAI_SECRET[:5]}***{OPENAI_SECRET[-2:]}"}})
    responses.post("https://api.openai.com/v1/images/generations", status=401,
                   json={"error": {"message": "bad key", "code": "invalid_api_key"}})
    key_id = alice_api.post(reverse("api:api-key-list"), {"provider": "openai", "key": OPENAI_SECRET},
                            format="json").json()["id"]
    alice_api.post(reverse("api:api-key-validate", args=[key_id]))
    profile = ImageProfile.objects.create(owner=alice, name="p", provider="openai", api_key_id=key_id, model="gpt-image-1")
    with django_capture_on_commit_callbacks(execute=True):
        generation = generation_start(owner=alice, prompt="a fox", profile=profile)
    generation.refresh_from_db()
    assert generation.status == Generation.Status.FAILED and generation.error_code == "provider_auth_failed"
    assert OPENAI_SECRET not in generation.error_message
    # Also a careless log line by anyone: the exact secret and "Bearer …" are masked.
    logging.getLogger("some.library").warning("sending Authorization: Bearer %s", OPENAI_SECRET)
    logging.getLogger("some.library").error("boom", exc_info=RuntimeError(f"key={OPENAI_SECRET}"))
    assert caplog.records
    for record in caplog.records:
        text = record.getMessage() + (record.exc_text or "")
        assert OPENAI_SECRET not in text and OPENAI_SECRET[:8] not in text and "Bearer sk-" not in text
