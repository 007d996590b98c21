import pytest
from rest_framework.test import APIClient

from profiles.models import ApiKey

OPENAI_SECRET = "sk-proj-AbCdEfGh1234567890SECRETxyz9"


@pytest.fixture
def bob_api(bob):
    api = APIClient()
    api.force_authenticate(bob)
    return api


@pytest.fixture
def alice_key(alice) -> ApiKey:
    key = ApiKey(owner=alice, provider="openai", label="work")
    key.set_secret(OPENAI_SECRET)
    key.save()
    return key


@pytest.fixture(autouse=True)
def public_dns(monkeypatch):
    """Every host name resolves to a public documentation address; no test touches real DNS."""
    from imagegen_site import http

    monkeypatch.setattr(http, "resolve_host", lambda host, port: ["93.184.215.14"])
