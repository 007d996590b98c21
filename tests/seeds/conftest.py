"""Issue 12's seed features: uploads/imports, categories, fallback profiles, moderation."""

from __future__ import annotations

import pytest
import responses

from imagegen_site import http as safe_http

PUBLIC_IP = "93.184.216.34"


@pytest.fixture
def public_dns(monkeypatch):
    """Every host resolves to one public address (no real DNS); tests override it to point a host inward."""
    answers: dict[str, str] = {}

    def resolve(host: str, port: int) -> list[str]:
        return [answers.get(host, PUBLIC_IP)]

    monkeypatch.setattr(safe_http, "resolve_host", resolve)
    return answers


@pytest.fixture
def http(public_dns):
    """Outbound HTTP stubbed: an unmatched request fails; nothing reaches the network."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps
