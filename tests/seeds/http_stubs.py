"""The `http` fixture for the issue-12 seed tests: import it into a test module (`from .http_stubs import http`)."""

from __future__ import annotations

from typing import Iterator

import pytest
import responses

from imagegen_site import http as safe_http

PUBLIC_IP = "93.184.216.34"


@pytest.fixture
def http(monkeypatch: pytest.MonkeyPatch) -> Iterator[responses.RequestsMock]:
    """Provider HTTP stubbed with `responses` (an unmatched request fails); fake hosts resolve to a public IP."""
    monkeypatch.setattr(safe_http, "resolve_host", lambda host, port: [PUBLIC_IP])
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        yield rsps
