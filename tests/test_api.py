import pytest
from django.urls import reverse

from chats.models import Chat
from images.models import Generation

pytestmark = pytest.mark.django_db


def test_a_chat_can_be_created_and_an_image_requested(alice_api, django_capture_on_commit_callbacks):
    chat = alice_api.post(reverse("api:chat-list"), {"title": "Foxes"}, format="json").json()
    assert chat["title"] == "Foxes"
    url = reverse("api:chat-messages", args=[chat["id"]])
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_api.post(url, {"content": "/image a watercolour fox --seed 3"}, format="json")
    assert response.status_code == 202
    body = response.json()
    generation = alice_api.get(reverse("api:generation-detail", args=[body["generation"]])).json()
    assert generation["status"] == "succeeded"
    assert generation["prompt"] == "a watercolour fox"
    assert generation["images"][0]["seed"] == 3
    image = alice_api.get(reverse("api:image-detail", args=[generation["images"][0]["id"]])).json()
    assert image["file_url"].startswith("/files/images/")
    messages = alice_api.get(url).json()["results"]
    assert [m["role"] for m in messages] == ["user", "assistant"]
    assert messages[1]["generation"] == body["generation"]


def test_a_plain_message_is_201_with_the_reply(alice_api, alice):
    chat = Chat.objects.create(owner=alice)
    response = alice_api.post(reverse("api:chat-messages", args=[chat.pk]), {"content": "hi"}, format="json")
    assert response.status_code == 201
    assert "No chat model" in response.json()["messages"][1]["content"]


@pytest.mark.parametrize(
    "content, code",
    [
        ("/image", "missing_prompt"),
        ("/image a fox --n 12", "validation_error"),
        ("/image " + "x" * 4001, "validation_error"),
        ("", "validation_error"),
    ],
)
def test_bad_input_is_a_400_with_a_code_and_nothing_is_saved(alice_api, alice, content, code):
    chat = Chat.objects.create(owner=alice)
    response = alice_api.post(reverse("api:chat-messages", args=[chat.pk]), {"content": content}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == code
    assert response.json()["detail"]
    assert chat.messages.count() == 0 and Generation.objects.count() == 0


def test_a_queued_generation_can_be_canceled(alice_api, alice):
    generation = Generation.objects.create(owner=alice, provider="offline", prompt="a fox")
    response = alice_api.post(reverse("api:generation-cancel", args=[generation.pk]))
    assert response.json()["status"] == "canceled"


def test_read_only_fields_cannot_be_assigned(alice_api, alice, bob):
    chat = Chat.objects.create(owner=alice, title="mine")
    alice_api.patch(reverse("api:chat-detail", args=[chat.pk]), {"owner": bob.pk, "id": 999, "title": "renamed"}, format="json")
    chat.refresh_from_db()
    assert (chat.owner_id, chat.pk, chat.title) == (alice.pk, chat.pk, "renamed")


def test_anonymous_api_calls_are_refused_with_a_code(client):
    response = client.get(reverse("api:chat-list"))
    # 401 with a challenge: API clients learn to send `Authorization: Bearer <token>` (Settings → API tokens).
    assert response.status_code == 401 and response["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["code"] == "not_authenticated"


def test_the_openapi_schema_describes_the_api(alice_client):
    response = alice_client.get(reverse("api-schema"))
    assert response.status_code == 200
    text = response.content.decode()
    assert "/api/chats/{id}/messages/" in text and "/api/generations/{id}/cancel/" in text


def test_the_browsable_api_renders(alice_client):
    response = alice_client.get(reverse("api:chat-list"), HTTP_ACCEPT="text/html")
    assert response.status_code == 200 and b"Chat List" in response.content


def test_the_swagger_page_needs_no_cdn(alice_client):
    html = alice_client.get(reverse("api-docs")).content.decode()
    assert "cdn." not in html and "/static/drf_spectacular_sidecar/" in html
