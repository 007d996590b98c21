import ipaddress
import socket

import pytest
from rest_framework.test import APIClient

from images.providers import PROVIDERS

_real_connect = socket.socket.connect


def _loopback_only_connect(self, address):
    # Tests never touch the network: provider HTTP is stubbed with `responses`; only loopback (live server,
    # PostgreSQL, Redis, moto) may be dialled for real.
    host = address[0] if isinstance(address, tuple) else None
    if host is not None:
        try:
            allowed = ipaddress.ip_address(host).is_loopback
        except ValueError:
            allowed = host == "localhost"
        if not allowed:
            raise RuntimeError(f"Tests must not touch the network (tried to connect to {host}).")
    return _real_connect(self, address)


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    monkeypatch.setattr(socket.socket, "connect", _loopback_only_connect)


@pytest.fixture(autouse=True)
def no_failed_check_padding(monkeypatch):
    """A failed "test connection" answers no sooner than the connect timeout (T22); tests do not wait for it
    (tests/profiles/test_t22_test_connection.py patches it back to measure)."""
    from profiles import services

    monkeypatch.setattr(services, "CONNECTION_FAILED_MIN_SECONDS", 0)


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    """Each test writes its files to its own folder."""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": tmp_path / "media", "allow_overwrite": True},
        },
    }
    return tmp_path / "media"


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user("alice", password="alice-pass-123")


@pytest.fixture
def bob(django_user_model):
    return django_user_model.objects.create_user("bob", password="bob-pass-123")


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


@pytest.fixture
def bob_client(alice, bob):
    from django.test import Client

    c = Client()
    c.force_login(bob)
    return c


@pytest.fixture
def alice_api(alice):
    api = APIClient()
    api.force_authenticate(alice)
    return api


@pytest.fixture
def fake_provider(monkeypatch):
    """Register tests.fakes.FakeProvider as kind "fake"; set FakeProvider.behaviour to script its answers."""
    from tests.fakes import FakeProvider

    monkeypatch.setitem(PROVIDERS, "fake", ("Fake", "tests.fakes.FakeProvider"))
    FakeProvider.reset()
    return FakeProvider
