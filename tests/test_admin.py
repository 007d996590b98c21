import pytest
from django.contrib import admin
from django.urls import reverse

from chats.models import Chat, Message
from images.models import GeneratedImage, Generation, Tag
from profiles.models import ApiKey, ImageProfile

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("operator", password="op-pass-123"))
    return client


@pytest.fixture
def some_of_everything(alice):
    chat = Chat.objects.create(owner=alice, title="a chat")
    message = Message.objects.create(chat=chat, role="user", content="/image a fox")
    generation = Generation.objects.create(owner=alice, chat=chat, message=message, provider="offline", prompt="a fox")
    GeneratedImage.objects.create(
        generation=generation, owner=alice, file="images/1/img_a.png", thumbnail="images/1/thumbs/img_a.webp",
        sha256="a" * 64, width=8, height=8, mime_type="image/png", bytes=1,
    )
    Tag.objects.create(owner=alice, name="foxes")
    key = ApiKey(owner=alice, provider="offline", label="test")
    key.set_secret("sk-secret-value-abcd")
    key.save()
    ImageProfile.objects.create(owner=alice, name="Default", provider="offline", api_key=key, is_default=True)


def test_every_model_is_registered():
    for model in (Chat, Message, Generation, GeneratedImage, Tag, ApiKey, ImageProfile):
        assert admin.site.is_registered(model), model


@pytest.mark.parametrize("model", [Chat, Message, Generation, GeneratedImage, Tag, ApiKey, ImageProfile])
def test_changelists_and_change_pages_render(operator_client, some_of_everything, model):
    opts = model._meta
    changelist = operator_client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"), {"q": "a"})
    assert changelist.status_code == 200
    obj = model.objects.first()
    change = operator_client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk]))
    assert change.status_code == 200
    assert b"sk-secret-value" not in changelist.content + change.content


def test_the_image_changelist_shows_thumbnails(operator_client, some_of_everything):
    html = operator_client.get(reverse("admin:images_generatedimage_changelist")).content.decode()
    image = GeneratedImage.objects.get()
    # The admin's own thumbnail route: the owner-only file views answer 404 to staff (tests/images/test_admin_gallery.py)
    assert f'<img src="{reverse("admin:images_generatedimage_thumbnail", args=[image.pk])}"' in html


def test_api_keys_are_masked_in_the_admin(operator_client, some_of_everything):
    key = ApiKey.objects.get()
    html = operator_client.get(reverse("admin:profiles_apikey_change", args=[key.pk])).content.decode()
    assert "…abcd" in html and key.secret_encrypted not in html


def test_the_cancel_action_cancels_queued_generations(operator_client, some_of_everything):
    generation = Generation.objects.get()
    operator_client.post(
        reverse("admin:images_generation_changelist"), {"action": "cancel", "_selected_action": [generation.pk]}
    )
    generation.refresh_from_db()
    assert generation.status == "canceled"


def test_the_admin_links_to_the_operations_dashboard(operator_client):
    page = operator_client.get("/admin/").content.decode()
    assert 'href="/ops/dashboard/">Operations dashboard</a>' in page
    assert operator_client.get("/ops/dashboard/").status_code == 200
