"""SECURITY.md T22: "test connection" (validating a key against a server address) answers the same code and body for a
closed port, a forbidden host and a timeout, so it cannot be used to map a network it must not reach; and it is
limited to IMAGEGEN_KEY_CHECK_RATE (10 an hour) per user.

Real sockets on 127.0.0.1 (allowlisted, as an operator allowlists a self-hosted A1111): a port nobody listens on, and
a server that accepts and never answers.
"""

import socket
import threading

import pytest
from django.urls import reverse

from imagegen_site import http
from profiles.models import ApiKey, ImageProfile

URL = "api:image-profile-validate-key"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again on exit: nothing listens there


@pytest.fixture
def silent_server():
    """Accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    held, stop = [], threading.Event()

    def accept():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(timeout=2)
    for conn in held:
        conn.close()
    listener.close()


@pytest.fixture
def addresses(settings, silent_server, monkeypatch):
    closed = closed_port()
    settings.IMAGEGEN_PRIVATE_ALLOWLIST = [f"127.0.0.1:{closed}", f"127.0.0.1:{silent_server}"]
    monkeypatch.setattr(http, "MAX_DEADLINE", 0.5)  # the silent server times out in half a second, not 30
    return {
        "closed port": f"http://127.0.0.1:{closed}",
        "forbidden host": "http://10.0.0.1:7860",  # private and not allowlisted
        "forbidden metadata": "http://169.254.169.254",
        "unresolvable name": "http://no-such-host.example:7860",
        "timeout": f"http://127.0.0.1:{silent_server}",
    }


@pytest.fixture
def nowhere_dns(monkeypatch):
    """The profiles suite resolves every name to a public address; here one name does not resolve at all."""
    real = http.resolve_host

    def resolve(host, port):
        if host == "no-such-host.example":
            raise socket.gaierror("unknown name")
        return real(host, port)

    monkeypatch.setattr(http, "resolve_host", resolve)


def test_t22_closed_port_forbidden_host_and_timeout_get_the_same_answer(alice_api, addresses, nowhere_dns, settings):
    settings.IMAGEGEN_KEY_CHECK_RATE = "100/h"
    answers = {}
    for case, base_url in addresses.items():
        response = alice_api.post(reverse(URL), {"provider": "automatic1111", "key": "user:secret-pass",
                                                 "base_url": base_url}, format="json")
        answers[case] = (response.status_code, response.content)
    assert len(set(answers.values())) == 1, answers
    status, body = answers["closed port"]
    assert status == 200
    assert alice_api.post(reverse(URL), {"provider": "automatic1111", "key": "u:p", "base_url": addresses["timeout"]},
                          format="json").json() == {
        "valid": None, "code": "connection_failed", "models": [],
        "message": "Could not reach the provider to check the key. Check the server address, or try again later.",
    }
    assert b"127.0.0.1" not in body and b"10.0.0.1" not in body


def test_t22_a_stored_key_on_a_profile_with_an_unreachable_server_gets_the_same_answer(alice, alice_api, addresses):
    key = ApiKey(owner=alice, provider="automatic1111", label="home")
    key.set_secret("user:secret-pass")
    key.save()
    ImageProfile.objects.create(owner=alice, name="Home", provider="automatic1111", api_key=key,
                                base_url=addresses["closed port"])
    body = alice_api.post(reverse("api:api-key-validate", args=[key.pk])).json()
    assert body["code"] == "connection_failed" and body["valid"] is None
    key.refresh_from_db()
    assert key.validation_status == ApiKey.Status.UNCHECKED  # not the key's fault: it is not marked invalid


def test_t22_a_wrong_kind_of_input_is_still_a_plain_400(alice_api):
    response = alice_api.post(reverse(URL), {"provider": "openai", "key": "sk-1234567890", "base_url": "http://x.test"},
                              format="json")
    assert response.status_code == 400 and response.json()["code"] == "validation_error"


def test_t22_test_connection_is_limited_to_10_an_hour(alice_api, bob_api, addresses):
    ask = {"provider": "automatic1111", "key": "u:p", "base_url": addresses["forbidden host"]}
    codes = [alice_api.post(reverse(URL), ask, format="json").status_code for _ in range(11)]
    assert codes == [200] * 10 + [429]
    limited = alice_api.post(reverse(URL), ask, format="json")
    assert limited.json()["code"] == "rate_limited" and int(limited["Retry-After"]) > 0
    assert bob_api.post(reverse(URL), ask, format="json").status_code == 200  # per user


def test_t22_the_settings_page_validate_button_shares_the_limit(alice, alice_client, settings):
    settings.IMAGEGEN_KEY_CHECK_RATE = "2/h"
    key = ApiKey(owner=alice, provider="automatic1111", label="home")
    key.set_secret("user:secret-pass")
    key.save()
    url = reverse("settings-api-key-validate", args=[key.pk])
    pages = [alice_client.post(url, follow=True).content.decode() for _ in range(3)]
    assert "Too many key checks" not in pages[1]
    assert "Too many key checks" in pages[2]


# ---- T22 for the model listing: GET /api/image-profiles/models/?base_url=… calls the address the user chose too.

MODELS = "api:image-profile-models"


def test_t22_model_listing_answers_the_same_for_every_unreachable_address(alice_api, addresses, nowhere_dns, settings):
    settings.IMAGEGEN_KEY_CHECK_RATE = "100/h"
    answers = {}
    for case, base_url in addresses.items():
        response = alice_api.get(reverse(MODELS), {"provider": "automatic1111", "base_url": base_url})
        answers[case] = (response.status_code, response.content)
    assert len(set(answers.values())) == 1, answers  # no url_forbidden: the refused address looks like a closed port
    status, body = answers["forbidden host"]
    assert status == 200
    data = alice_api.get(reverse(MODELS), {"provider": "automatic1111", "base_url": addresses["closed port"]}).json()
    assert data["code"] == "connection_failed" and data["live"] is False
    assert data["models"] == data["supportedModels"]  # the built-in list, so the form still works
    assert b"127.0.0.1" not in body and b"10.0.0.1" not in body and b"169.254" not in body


@pytest.mark.parametrize("base_url", ["ftp://example.com/", "http://user:pw@example.com:7860", "http://exa mple.com"])
def test_t22_model_listing_answers_malformed_addresses_the_same_way(alice_api, base_url, settings):
    settings.IMAGEGEN_KEY_CHECK_RATE = "100/h"
    response = alice_api.get(reverse(MODELS), {"provider": "automatic1111", "base_url": base_url})
    assert response.status_code == 200 and response.json()["code"] == "connection_failed"


def test_t22_model_listing_still_lists_a_reachable_server(alice_api):
    import responses

    with responses.RequestsMock() as stub:
        stub.get("http://a1111.example:7860/sdapi/v1/sd-models", json=[{"title": "sdxl.safetensors"}])
        data = alice_api.get(reverse(MODELS), {"provider": "automatic1111",
                                               "base_url": "http://a1111.example:7860/"}).json()
    assert data["live"] is True and data["models"] == ["sdxl.safetensors"] and "code" not in data


def test_t22_model_listing_a_wrong_kind_of_input_is_still_a_plain_400(alice_api, alice):
    response = alice_api.get(reverse(MODELS), {"provider": "openai", "base_url": "http://x.test"})
    assert response.status_code == 400 and response.json()["code"] == "validation_error"
    key = ApiKey(owner=alice, provider="openai", label="work")
    key.set_secret("sk-proj-AbCdEfGh1234567890SECRETxyz9")
    key.save()
    # A key goes only to its own provider: not to a self-hosted server at an address the user typed.
    response = alice_api.get(reverse(MODELS), {"provider": "automatic1111", "api_key": key.pk,
                                               "base_url": "http://a1111.example:7860"})
    assert response.status_code == 400 and response.json()["fields"] == {"api_key": "wrong provider"}


def test_t22_model_listing_with_an_address_shares_the_test_connection_limit(alice_api, bob_api, addresses, settings):
    settings.IMAGEGEN_KEY_CHECK_RATE = "3/h"
    ask = {"provider": "automatic1111", "base_url": addresses["forbidden host"]}  # refused ones count too
    assert alice_api.post(reverse(URL), {**ask, "key": "u:p"}, format="json").status_code == 200
    codes = [alice_api.get(reverse(MODELS), ask).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    limited = alice_api.get(reverse(MODELS), ask)
    assert limited.json()["code"] == "rate_limited" and int(limited["Retry-After"]) > 0
    assert bob_api.get(reverse(MODELS), ask).status_code == 200  # per user
    # The built-in list (no address, nothing called) is not limited.
    assert alice_api.get(reverse(MODELS), {"provider": "automatic1111"}).status_code == 200


# ---- T22, timing: a refused address must not answer sooner than a silent one. Every failed check answers no sooner
# than CONNECTION_FAILED_MIN_SECONDS (the connect timeout) after it started; a fake clock stands in for waiting.

@pytest.fixture
def clock(monkeypatch):
    """services' view of time: the check starts at 100.0 and every later reading is `elapsed` seconds on; sleeps
    are recorded, not slept. Only profiles.services sees it (the outbound module keeps the real clock)."""
    from types import SimpleNamespace

    from profiles import services

    monkeypatch.setattr(services, "CONNECTION_FAILED_MIN_SECONDS", http.CONNECT_TIMEOUT)  # conftest makes it 0
    fake = SimpleNamespace(elapsed=1.25, readings=0, slept=[])

    def monotonic() -> float:
        fake.readings += 1
        return 100.0 if fake.readings == 1 else 100.0 + fake.elapsed

    monkeypatch.setattr(services, "time", SimpleNamespace(monotonic=monotonic, sleep=fake.slept.append))
    return fake


@pytest.mark.parametrize("case", ["closed port", "forbidden host", "forbidden metadata", "unresolvable name",
                                  "timeout"])
def test_t22_every_failed_check_answers_after_the_connect_timeout(alice_api, addresses, nowhere_dns, settings, clock,
                                                                   case):
    settings.IMAGEGEN_KEY_CHECK_RATE = "100/h"
    response = alice_api.post(reverse(URL), {"provider": "automatic1111", "key": "u:p", "base_url": addresses[case]},
                              format="json")
    assert response.json()["code"] == "connection_failed"
    assert clock.slept == [http.CONNECT_TIMEOUT - 1.25]  # the rest of the minimum, counted from the start
    clock.readings, clock.slept[:] = 0, []
    listing = alice_api.get(reverse(MODELS), {"provider": "automatic1111", "base_url": addresses[case]})
    assert listing.json()["code"] == "connection_failed"
    assert clock.slept == [http.CONNECT_TIMEOUT - 1.25]


def test_t22_a_stored_keys_check_at_an_unreachable_server_is_padded_too(alice, alice_api, addresses, clock):
    key = ApiKey(owner=alice, provider="automatic1111", label="home")
    key.set_secret("user:secret-pass")
    key.save()
    ImageProfile.objects.create(owner=alice, name="Home", provider="automatic1111", api_key=key,
                                base_url=addresses["closed port"])
    assert alice_api.post(reverse("api:api-key-validate", args=[key.pk])).json()["code"] == "connection_failed"
    assert clock.slept == [http.CONNECT_TIMEOUT - 1.25]


def test_t22_a_failure_slower_than_the_minimum_is_not_slowed_further(alice_api, addresses, clock):
    clock.elapsed = http.CONNECT_TIMEOUT + 2
    response = alice_api.post(reverse(URL), {"provider": "automatic1111", "key": "u:p",
                                             "base_url": addresses["timeout"]}, format="json")
    assert response.json()["code"] == "connection_failed" and clock.slept == []


def test_t22_a_successful_check_is_never_slowed(alice_api, clock):
    import responses

    base_url = "http://a1111.example:7860"
    with responses.RequestsMock() as stub:
        stub.get(f"{base_url}/sdapi/v1/sd-models", json=[{"title": "sdxl.safetensors"}])
        stub.get(f"{base_url}/sdapi/v1/sd-models", json=[{"title": "sdxl.safetensors"}])
        stub.get(f"{base_url}/sdapi/v1/sd-models", json=[{"title": "sdxl.safetensors"}])
        checked = alice_api.post(reverse(URL), {"provider": "automatic1111", "key": "u:p", "base_url": base_url},
                                 format="json").json()
        listed = alice_api.get(reverse(MODELS), {"provider": "automatic1111", "base_url": base_url}).json()
    assert checked["valid"] is True and listed["live"] is True
    assert clock.slept == []


def test_t22_a_rejected_key_is_a_verdict_not_padded(alice_api, clock):
    import responses

    base_url = "http://a1111.example:7860"
    with responses.RequestsMock() as stub:
        stub.get(f"{base_url}/sdapi/v1/sd-models", status=401, json={"detail": "Not authenticated"})
        checked = alice_api.post(reverse(URL), {"provider": "automatic1111", "key": "u:p", "base_url": base_url},
                                 format="json").json()
    assert checked["valid"] is False and clock.slept == []
