"""Chat tests: every outbound call is stubbed with `responses` (an unmatched request fails) and fake hosts
resolve to one public address, so no test touches DNS or the network."""

from __future__ import annotations

import json
import pathlib
from typing import Iterator

import pytest
import responses

from imagegen_site import http as safe_http

FIXTURES = pathlib.Path(__file__).resolve().parent.parent / "fixtures" / "llm"
PUBLIC_IP = "93.184.216.34"


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def sse(name: str) -> str:
    return (FIXTURES / name).read_text()


@pytest.fixture(autouse=True)
def http() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


@pytest.fixture(autouse=True)
def public_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(safe_http, "resolve_host", lambda host, port: [PUBLIC_IP])


def sent_json(call) -> dict:
    return json.loads(call.request.body)
