"""Provider tests run with or without pytest-django: they need no database, only a settings object."""

from __future__ import annotations

import os
from typing import Callable, Iterator

import pytest
import responses
from django.conf import settings

if not settings.configured and not os.environ.get("DJANGO_SETTINGS_MODULE"):
    settings.configure(IMAGEGEN_PRIVATE_ALLOWLIST=[])  # running alone with -p no:django

from imagegen_site import http as safe_http  # noqa: E402  (needs settings to exist)

from .support import PUBLIC_IP  # noqa: E402


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "real_transport: send through the real adapter (no `responses`)")


@pytest.fixture(autouse=True)
def http(request: pytest.FixtureRequest) -> Iterator[responses.RequestsMock | None]:
    """Every provider test runs inside `responses`: an unmatched request fails, nothing reaches the network."""
    if request.node.get_closest_marker("real_transport"):
        yield None
        return
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        yield rsps


@pytest.fixture(autouse=True)
def public_dns(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Fake hosts resolve to one public address; tests never do real DNS. Returns the lookups made."""
    lookups: list[tuple[str, int]] = []

    def resolve(host: str, port: int) -> list[str]:
        lookups.append((host, port))
        return [PUBLIC_IP]

    monkeypatch.setattr(safe_http, "resolve_host", resolve)
    return lookups


@pytest.fixture(autouse=True)
def allowlist(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Empty by default; allowlist("127.0.0.1:7860") sets the operator's IMAGEGEN_PRIVATE_ALLOWLIST."""

    def allow(*entries: str) -> None:
        monkeypatch.setattr(settings, "IMAGEGEN_PRIVATE_ALLOWLIST", list(entries), raising=False)

    allow()
    return allow
