"""Fuzzing the REST API from its own OpenAPI schema (/api/schema/) with schemathesis, in-process over WSGI.

Signed in as a user who owns a chat, a generation and an image, with a valid CSRF token, every operation gets a
bounded, deterministic set of generated requests (derandomized hypothesis). A 5xx, or a documented response that
does not match the schema, fails the test. No socket is opened: the WSGI app is called directly.
"""

import json

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from django.test import Client
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from chats.models import Chat, Message
from images.models import GeneratedImage, Generation

pytestmark = [pytest.mark.fuzz, pytest.mark.django_db]

CSRF = "schemathesisCsrfToken0123456789a"  # 32 alphanumerics: a valid CSRF secret, sent as cookie and header
EXAMPLES_PER_OPERATION = 12
# Generated examples only: the coverage phase alone makes hundreds of boundary cases per operation (minutes).
FUZZ_CONFIG = SchemathesisConfig.from_dict({
    "generation": {"max-examples": EXAMPLES_PER_OPERATION, "deterministic": True, "no-shrink": True, "mode": "all"},
    "phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}},
})


def load_schema() -> schemathesis.schemas.BaseSchema:
    """The document /api/schema/ serves, built by the same generator at import time (no request, no database).

    schemathesis.pytest.from_fixture would fetch it lazily, but it does not work with pytest 9 (it reads the
    removed Node._nodeid), so the schema is built here and the calls still go to the real WSGI app."""
    raw = json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(request=None, public=True)))
    loaded = schemathesis.openapi.from_dict(raw, config=FUZZ_CONFIG)
    loaded.app = get_wsgi_application()
    return loaded


def test_the_fuzzed_schema_is_the_one_the_api_serves(alice_client):
    served = alice_client.get("/api/schema/", {"format": "json"}).json()
    assert served["paths"].keys() == schema.raw_schema["paths"].keys()


@pytest.fixture
def signed_in(alice, settings) -> dict:
    settings.IMAGEGEN_SYNC_WAIT_S = 1  # POST /api/generate-image runs the job inline; retries are not waited for
    chat = Chat.objects.create(owner=alice, title="fuzzed")
    message = Message.objects.create(chat=chat, role="user", content="/image a fox")
    generation = Generation.objects.create(owner=alice, chat=chat, message=message, provider="offline",
                                           prompt="a fox", status="succeeded")
    GeneratedImage.objects.create(generation=generation, owner=alice, file="images/1/img_0000000000000000.png",
                                  thumbnail="images/1/thumbs/img_0000000000000000.webp", sha256="0" * 64,
                                  width=8, height=8, mime_type="image/png", bytes=10)
    client = Client()
    client.force_login(alice)
    return {
        "headers": {"X-CSRFToken": CSRF},
        "cookies": {"sessionid": client.cookies["sessionid"].value, "csrftoken": CSRF},
    }


schema = load_schema()


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: a failure is reported as found
    suppress_health_check=list(HealthCheck),
)
def test_api_fuzz_no_server_errors_and_responses_match_the_schema(case, signed_in):
    case.call_and_validate(
        headers=signed_in["headers"],
        cookies=signed_in["cookies"],
        checks=[not_a_server_error, response_schema_conformance, content_type_conformance],
    )


# Bodies of the wrong shape, sent to every operation that takes one. The generated examples above are objects
# with wrong fields; these are the non-objects and broken encodings that crash hand-written parsing code.
MALFORMED_BODIES = [
    ("application/json", b"[null, null]"),
    ("application/json", b'"just a string"'),
    ("application/json", b"12345678901234567890123456789"),
    ("application/json", b"null"),
    ("application/json", b"{"),
    ("application/json", b'{"a": ' * 200 + b"1" + b"}" * 200),
    ("application/json", b'{"name": "\\ud800"}'),
    ("application/json", b"\xff\xfe\x00"),
    ("application/x-www-form-urlencoded", b"a=%ZZ&&=&name"),
    ("text/plain", b"hello"),
]
WRITE_OPERATIONS = sorted(
    (method.upper(), path)
    for path, item in schema.raw_schema["paths"].items()
    for method, operation in item.items()
    if method in ("post", "put", "patch")
)


@pytest.mark.parametrize("method, path", WRITE_OPERATIONS, ids=[f"{m} {p}" for m, p in WRITE_OPERATIONS])
def test_api_fuzz_malformed_bodies_are_a_4xx_never_a_5xx(method, path, signed_in, alice):
    client = Client()
    client.cookies["sessionid"] = signed_in["cookies"]["sessionid"]
    owned = {"chats": Chat, "generations": Generation, "images": GeneratedImage}
    section = path.strip("/").split("/")[1]
    model = owned.get(section)
    pk = model.objects.filter(owner=alice).values_list("pk", flat=True).first() if model else 1
    url = path.replace("{id}", str(pk or 1))
    for content_type, body in MALFORMED_BODIES:
        response = client.generic(method, url, body, content_type=content_type)
        assert response.status_code < 500, (method, url, content_type, body[:40], response.content[:300])
