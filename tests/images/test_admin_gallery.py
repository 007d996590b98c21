"""The admin's image changelist as a gallery: thumbnails staff can see, filters, search, delete with files, thumbnails
rebuilt; the generation changelist's cost columns."""

import io
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.core.files.storage import default_storage
from django.urls import reverse
from PIL import Image

from images.models import GeneratedImage, Generation

from .conftest import create_image, image_bytes

pytestmark = pytest.mark.django_db
CHANGELIST = "admin:images_generatedimage_changelist"


@pytest.fixture
def library(alice, bob):
    return {
        "fox": create_image(alice, prompt="a red fox in snow", provider="openai", model="dall-e-3", favorite=True),
        "owl": create_image(alice, prompt="an owl at night", provider="xai", model="grok-imagine-image"),
        "bobs": create_image(bob, prompt="bob's red kite", provider="openai", model="gpt-image-1"),
    }


def shown(response) -> set[int]:
    return set(response.context["cl"].result_list.values_list("pk", flat=True))


def test_the_changelist_is_a_grid_of_thumbnails_staff_can_load(admin_client, library):
    response = admin_client.get(reverse(CHANGELIST))
    html = response.content.decode()
    assert "app/admin_gallery.css" in html
    assert '<td class="field-model_name">dall-e-3</td>' in html and '<td class="field-provider">xai</td>' in html
    for image in library.values():
        thumb_url = reverse("admin:images_generatedimage_thumbnail", args=[image.pk])
        assert f'<img src="{thumb_url}" class="admin-thumb"' in html
        thumb = admin_client.get(thumb_url)  # someone else's image: the owner-only view would 404 here
        assert thumb.status_code == 200 and thumb["Content-Type"] == "image/webp"
        assert thumb["X-Content-Type-Options"] == "nosniff" and "sandbox" in thumb["Content-Security-Policy"]
        assert Image.open(io.BytesIO(b"".join(thumb.streaming_content))).format == "WEBP"
    original = admin_client.get(reverse("admin:images_generatedimage_original", args=[library["fox"].pk]))
    assert original.status_code == 200 and original["Content-Type"] == "image/png"


def test_the_admin_file_routes_need_staff_with_view_permission(client, alice, bob, library, django_user_model):
    url = reverse("admin:images_generatedimage_thumbnail", args=[library["bobs"].pk])
    client.force_login(alice)  # a user, not staff
    assert client.get(url).status_code == 302  # to the admin login
    staff = django_user_model.objects.create_user("staff", password="x", is_staff=True)
    client.force_login(staff)
    assert client.get(url).status_code == 404  # staff without the view permission
    staff.user_permissions.add(Permission.objects.get(codename="view_generatedimage"))
    assert client.get(url).status_code == 200


@pytest.mark.parametrize("query,expected", [
    ({"generation__provider": "openai"}, {"fox", "bobs"}),
    ({"generation__model": "grok-imagine-image"}, {"owl"}),
    ({"is_favorite__exact": "1"}, {"fox"}),
    ({"generation__status": "succeeded"}, {"fox", "owl", "bobs"}),
    ({"q": "red"}, {"fox", "bobs"}),
    ({"q": "night owl"}, {"owl"}),
])
def test_filters_and_search_in_prompts(admin_client, library, query, expected):
    response = admin_client.get(reverse(CHANGELIST), query)
    assert response.status_code == 200
    assert shown(response) == {library[name].pk for name in expected}


def test_the_user_and_date_filters(admin_client, library, alice):
    by_user = admin_client.get(reverse(CHANGELIST), {"owner__id__exact": alice.pk})
    assert shown(by_user) == {library["fox"].pk, library["owl"].pk}
    today = library["fox"].created
    by_day = admin_client.get(reverse(CHANGELIST), {"created__year": today.year, "created__month": today.month,
                                                    "created__day": today.day})
    assert len(shown(by_day)) == 3
    html = admin_client.get(reverse(CHANGELIST)).content.decode()
    for title in ("By provider", "By model", "By status", "By is favorite", "By owner", "By created"):
        assert title.lower() in html.lower(), title


def test_delete_with_files_keeps_files_other_rows_still_use(admin_client, alice, django_capture_on_commit_callbacks):
    shared_bytes = image_bytes(colour=(1, 2, 3))
    first = create_image(alice, prompt="one", data=shared_bytes)
    second = create_image(alice, prompt="two", data=shared_bytes)  # the same bytes: the same file
    alone = create_image(alice, prompt="alone")
    changelist = admin_client.get(reverse(CHANGELIST)).content.decode()
    assert "Delete the selected images with their files" in changelist
    with django_capture_on_commit_callbacks(execute=True):  # files go once the rows' deletion commits
        response = admin_client.post(reverse(CHANGELIST), {
            "action": "delete_selected", "_selected_action": [first.pk, alone.pk], "post": "yes",
        }, follow=True)
    assert response.status_code == 200
    assert list(GeneratedImage.objects.values_list("pk", flat=True)) == [second.pk]
    assert default_storage.exists(second.file) and default_storage.exists(second.thumbnail)
    assert not default_storage.exists(alone.file) and not default_storage.exists(alone.thumbnail)


def test_deleting_one_image_from_its_change_page_removes_its_files(admin_client, alice,
                                                                  django_capture_on_commit_callbacks):
    image = create_image(alice, prompt="gone")
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(reverse("admin:images_generatedimage_delete", args=[image.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert not GeneratedImage.objects.exists() and not default_storage.exists(image.file)


def test_rerun_thumbnails_rebuilds_missing_or_broken_ones(admin_client, alice):
    image = create_image(alice, data=image_bytes(size=(1200, 600)))
    missing = create_image(alice, prompt="no original")
    default_storage.delete(image.thumbnail)
    default_storage.delete(missing.file)
    response = admin_client.post(reverse(CHANGELIST), {
        "action": "rebuild_thumbnails", "_selected_action": [image.pk, missing.pk],
    }, follow=True)
    html = response.content.decode()
    assert "Queued 2 thumbnail(s) to be rebuilt by the worker." in html  # the test suite's tasks run at once
    with default_storage.open(image.thumbnail, "rb") as handle:
        thumb = Image.open(io.BytesIO(handle.read()))
    assert thumb.format == "WEBP" and thumb.size == (512, 256)
    image.refresh_from_db()
    # The same name, in place.
    assert image.thumbnail == f"images/{alice.pk}/thumbs/{image.sha256[:2]}/{image.sha256}.webp"


def test_the_generation_changelist_shows_cost_and_filters_by_status_and_cost_source(admin_client, alice):
    Generation.objects.create(owner=alice, provider="xai", prompt="paid", status="succeeded",
                              estimated_cost_usd=Decimal("0.0200"), cost_source="provider")
    Generation.objects.create(owner=alice, provider="fake", prompt="lost", status="failed")
    html = admin_client.get(reverse("admin:images_generation_changelist")).content.decode()
    assert "0.0200" in html and "cost source" in html.lower()
    failed = admin_client.get(reverse("admin:images_generation_changelist"), {"status__exact": "failed"})
    assert [g.prompt for g in failed.context["cl"].result_list] == ["lost"]
    by_source = admin_client.get(reverse("admin:images_generation_changelist"), {"cost_source": "provider"})
    assert [g.prompt for g in by_source.context["cl"].result_list] == ["paid"]


def test_the_retry_action_starts_a_new_generation(admin_client, alice):
    failed = Generation.objects.create(owner=alice, provider="offline", prompt="again", status="failed",
                                       parameters={"n": 1})
    admin_client.post(reverse("admin:images_generation_changelist"),
                      {"action": "retry", "_selected_action": [failed.pk]})
    assert Generation.objects.filter(prompt="again", status="queued").count() == 1
