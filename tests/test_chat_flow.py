import pytest
from django.urls import reverse

from chats.models import Chat, Message
from images.models import GeneratedImage, Generation

pytestmark = pytest.mark.django_db


def post(client, chat, text, django_capture_on_commit_callbacks, htmx=True):
    headers = {"HX-Request": "true"} if htmx else {}
    with django_capture_on_commit_callbacks(execute=True):
        return client.post(reverse("chat-message-create", args=[chat.pk]), {"content": text}, headers=headers)


@pytest.fixture
def chat(alice):
    return Chat.objects.create(owner=alice)


def test_image_command_makes_an_offline_image_shown_in_the_chat(alice_client, chat, django_capture_on_commit_callbacks):
    response = post(alice_client, chat, "/image a watercolour fox at dawn", django_capture_on_commit_callbacks)
    assert response.status_code == 200
    generation = Generation.objects.get()
    assert generation.status == "succeeded", generation.error_message
    assert generation.provider == "offline"
    image = GeneratedImage.objects.get()
    assert image.file == f"images/{chat.owner_id}/{image.sha256[:2]}/{image.sha256}.png"

    page = alice_client.get(chat.get_absolute_url())
    html = page.content.decode()
    assert image.file_url in html
    assert "Image created • <span>a watercolour fox at dawn</span>" in html
    assert "Offline sketch – placeholder, not AI" in html
    assert chat.messages.count() == 2


def test_the_image_file_is_served_to_its_owner_as_an_image(alice_client, chat, django_capture_on_commit_callbacks):
    post(alice_client, chat, "/image a fox", django_capture_on_commit_callbacks)
    image = GeneratedImage.objects.get()
    response = alice_client.get(image.file_url)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]
    assert b"".join(response.streaming_content).startswith(b"\x89PNG")
    download = alice_client.get(image.download_url)
    assert download["Content-Disposition"].startswith("attachment")
    thumb = alice_client.get(image.thumbnail_url)
    assert thumb["Content-Type"] == "image/webp"


def test_a_pending_card_polls_and_a_finished_one_stops(alice_client, chat, alice):
    generation = Generation.objects.create(owner=alice, chat=chat, provider="offline", prompt="a fox")
    card = alice_client.get(reverse("generation-card", args=[generation.pk])).content.decode()
    assert 'hx-trigger="every 1s"' in card and "Queued" in card
    Generation.objects.filter(pk=generation.pk).update(status="failed", error_code="timeout", error_message="Too slow.")
    card = alice_client.get(reverse("generation-card", args=[generation.pk])).content.decode()
    assert "hx-trigger" not in card and "Too slow." in card and "Retry" in card


def test_an_empty_image_command_gets_an_error_card_and_queues_nothing(alice_client, chat, django_capture_on_commit_callbacks):
    response = post(alice_client, chat, "/image", django_capture_on_commit_callbacks)
    assert "Tell me what to draw: /image &lt;prompt&gt;" in response.content.decode()
    assert Generation.objects.count() == 0
    assert list(chat.messages.values_list("kind", flat=True)) == ["text", "error"]


def test_a_prompt_over_the_limit_is_a_clear_error_and_the_message_is_kept(alice_client, chat, django_capture_on_commit_callbacks):
    response = post(alice_client, chat, "/image " + "x" * 4001, django_capture_on_commit_callbacks)
    assert "the limit is 4,000" in response.content.decode()
    assert Generation.objects.count() == 0
    assert chat.messages.filter(role="user").get().content.endswith("x" * 4001)


def test_a_message_over_the_limit_is_refused_and_nothing_is_saved(alice_client, chat, django_capture_on_commit_callbacks):
    response = post(alice_client, chat, "y" * 32001, django_capture_on_commit_callbacks)
    assert response.status_code == 422
    assert "limit is 32,000" in response.content.decode()
    assert chat.messages.count() == 0


def test_plain_messages_get_a_reply_that_explains_what_works(alice_client, chat, django_capture_on_commit_callbacks):
    post(alice_client, chat, "hello", django_capture_on_commit_callbacks)
    reply = chat.messages.get(role="assistant")
    assert "No chat model is configured" in reply.content and "/image" in reply.content


def test_help_lists_the_options_and_styles(alice_client, chat, django_capture_on_commit_callbacks):
    response = post(alice_client, chat, "/image help", django_capture_on_commit_callbacks)
    html = response.content.decode()
    assert "--ar" in html and "watercolour" in html and "parisian-postcard" in html


def test_the_prompt_is_escaped_everywhere(alice_client, chat, django_capture_on_commit_callbacks):
    evil = '"><img src=x onerror=alert(1)>'
    post(alice_client, chat, f"/image {evil}", django_capture_on_commit_callbacks)
    image = GeneratedImage.objects.get()
    for url in (chat.get_absolute_url(), reverse("gallery"), image.get_absolute_url()):
        html = alice_client.get(url).content.decode()
        assert "<img src=x onerror" not in html
        assert "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;" in html


def test_assistant_markdown_is_sanitised(alice, chat):
    from chats.templatetags.chat_markdown import markdown

    html = markdown("[x](javascript:alert(1)) <script>alert(1)</script> ![i](https://evil.example/p.png?q=1)")
    assert "<script" not in html and 'href="javascript' not in html and "<img" not in html
    assert 'rel="noopener noreferrer nofollow"' in html


def test_without_htmx_the_form_post_redirects_back_to_the_chat(alice_client, chat, django_capture_on_commit_callbacks):
    response = post(alice_client, chat, "/image a fox", django_capture_on_commit_callbacks, htmx=False)
    assert response.status_code == 302 and response["Location"] == chat.get_absolute_url()


def test_an_unknown_chat_is_a_404(alice_client):
    assert alice_client.get(reverse("chat-detail", args=[999999])).status_code == 404
    assert alice_client.post(reverse("chat-message-create", args=[999999]), {"content": "hi"}).status_code == 404


def test_gallery_lists_images_newest_first_with_a_detail_page(alice_client, chat, django_capture_on_commit_callbacks):
    post(alice_client, chat, "/image first --seed 1", django_capture_on_commit_callbacks)
    post(alice_client, chat, "/image second --seed 2", django_capture_on_commit_callbacks)
    html = alice_client.get(reverse("gallery")).content.decode()
    assert html.index('title="second"') < html.index('title="first"')
    image = GeneratedImage.objects.filter(generation__prompt="second").get()
    chat.refresh_from_db()
    assert chat.title == "first"
    detail = alice_client.get(image.get_absolute_url()).content.decode()
    for fact in ("second", "Offline sketch (built in)", "sketch-v1", ">2<", "1024 × 1024", chat.title):
        assert fact in detail


def test_starting_a_chat_from_the_list(alice_client):
    response = alice_client.post(reverse("chat-list"))
    chat = Chat.objects.get()
    assert response["Location"] == chat.get_absolute_url()


def test_messages_belong_to_the_chat_in_order(alice_client, chat, django_capture_on_commit_callbacks):
    post(alice_client, chat, "hello", django_capture_on_commit_callbacks)
    post(alice_client, chat, "/image a fox", django_capture_on_commit_callbacks)
    roles = list(Message.objects.filter(chat=chat).values_list("role", "kind"))
    assert roles == [("user", "text"), ("assistant", "text"), ("user", "text"), ("assistant", "image")]
