"""Uploads and imports (seed 001): outside images join the gallery through the sanitiser and the outbound rules."""

from __future__ import annotations

import io

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from images.models import GeneratedImage, Generation
from images.services import generation_run, generation_start
from images.uploads import UploadError, image_import, image_upload
from profiles.models import ImageProfile
from tests.fakes import png_bytes

pytestmark = pytest.mark.django_db


def jpeg_with_exif() -> bytes:
    img = Image.new("RGB", (40, 30), (10, 200, 10))
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # Make
    out = io.BytesIO()
    img.save(out, format="JPEG", exif=exif)
    return out.getvalue()


def upload_file(data: bytes, name: str = "holiday.jpg", content_type: str = "image/jpeg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=content_type)


# --- The service -----------------------------------------------------------------------------------------------


def test_an_upload_is_sanitised_and_becomes_a_gallery_image(alice):
    original = jpeg_with_exif()
    image = image_upload(alice, upload_file(original), image_type="location")
    assert (image.source, image.image_type, image.width, image.height) == ("upload", "location", 40, 30)
    stored = default_storage.open(image.file).read()
    assert stored != original and b"SecretCam" not in stored  # re-encoded: the EXIF did not survive
    generation = image.generation
    assert (generation.provider, generation.status, generation.prompt) == ("upload", "succeeded", "holiday.jpg")
    assert generation.estimated_cost_usd is None and generation.provider_label == "Uploaded"


@pytest.mark.parametrize("data, code", [
    (b"GIF89a" + b"\x00" * 50, "image_invalid"),
    (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image_invalid"),
    (png_bytes(5000, 10), "image_too_large"),  # over the 4096 side cap
])
def test_an_unsafe_upload_is_refused_and_nothing_is_stored(alice, data, code, media_root):
    with pytest.raises(UploadError) as caught:
        image_upload(alice, upload_file(data, "x.png"))
    assert caught.value.code == code
    assert not GeneratedImage.objects.exists() and not Generation.objects.exists()
    assert not (media_root / "images").exists()


def test_an_oversized_file_is_refused_before_reading(alice, settings):
    big = upload_file(b"\x89PNG" + b"\x00" * (21 * 1024 * 1024), "big.png")
    with pytest.raises(UploadError) as caught:
        image_upload(alice, big)
    assert caught.value.code == "image_too_large"


def test_an_import_fetches_over_https_and_records_where_from_without_the_query(alice, http):
    http.get("https://images.example.com/cat.png?token=SECRET", body=png_bytes(20, 20), content_type="image/png")
    image = image_import(alice, "https://images.example.com/cat.png?token=SECRET", image_type="item")
    assert (image.source, image.image_type, image.generation.provider) == ("import", "item", "import")
    assert image.generation.parameters == {"source_url": "https://images.example.com/cat.png"}
    assert "SECRET" not in image.generation.prompt


@pytest.mark.parametrize("url", [
    "http://images.example.com/cat.png",  # https only
    "https://127.0.0.1/cat.png",
    "https://169.254.169.254/latest/meta-data/",
    "https://localhost/cat.png",
    "file:///etc/passwd",
])
def test_an_import_from_a_forbidden_address_is_refused(alice, http, url):
    with pytest.raises(UploadError) as caught:
        image_import(alice, url)
    assert caught.value.code == "url_forbidden"
    assert len(http.calls) == 0 and not GeneratedImage.objects.exists()


def test_an_import_whose_host_resolves_inward_is_refused(alice, http, public_dns):
    public_dns["innocent.example.com"] = "10.0.0.5"
    with pytest.raises(UploadError) as caught:
        image_import(alice, "https://innocent.example.com/a.png")
    assert caught.value.code == "url_forbidden" and len(http.calls) == 0


def test_an_import_redirect_to_a_private_address_is_refused(alice, http):
    http.get("https://images.example.com/a.png", status=302, headers={"Location": "https://127.0.0.1/inside.png"})
    with pytest.raises(UploadError) as caught:
        image_import(alice, "https://images.example.com/a.png")
    assert caught.value.code == "url_forbidden"
    assert [c.request.url for c in http.calls] == ["https://images.example.com/a.png"]


def test_an_import_over_the_size_cap_is_refused(alice, http):
    http.get("https://images.example.com/huge.png", body=b"\x00" * (20 * 1024 * 1024 + 1), content_type="image/png")
    with pytest.raises(UploadError) as caught:
        image_import(alice, "https://images.example.com/huge.png")
    assert caught.value.code == "provider_error" and "larger than 20 MiB" in caught.value.message


def test_an_import_of_something_that_is_not_an_image_is_refused(alice, http):
    http.get("https://example.com/page", body=b"<html>hi</html>", content_type="text/html")
    with pytest.raises(UploadError) as caught:
        image_import(alice, "https://example.com/page")
    assert caught.value.code == "image_invalid"


# --- Pages ---------------------------------------------------------------------------------------------------------


def test_the_gallery_offers_generate_upload_and_import_side_by_side(alice_client):
    html = alice_client.get(reverse("gallery")).content.decode()
    for button in ('id="generate-button"', 'id="upload-button"', 'id="import-button"', 'id="image-gen-modal"',
                   'id="upload-modal"', 'id="import-modal"'):
        assert button in html


def test_upload_page_adds_the_image_and_opens_it(alice_client, alice):
    response = alice_client.post(reverse("gallery-upload"), {"file": upload_file(png_bytes(), "fox.png", "image/png"),
                                                             "description": "my fox", "image_type": "character"})
    image = GeneratedImage.objects.get(owner=alice)
    assert response.status_code == 302 and response["Location"] == image.get_absolute_url()
    detail = alice_client.get(image.get_absolute_url()).content.decode()
    assert "my fox" in detail and "Uploaded" in detail
    assert alice_client.get(reverse("image-file", args=[image.pk])).status_code == 200


def test_a_refused_import_shows_why_and_keeps_the_address(alice_client, http):
    response = alice_client.post(reverse("gallery-import"), {"url": "https://127.0.0.1/x.png", "image_type": "scene"})
    html = response.content.decode()
    assert response.status_code == 422
    assert "Address not allowed" in html and 'value="https://127.0.0.1/x.png"' in html
    assert not GeneratedImage.objects.exists()


def test_the_gallery_filters_and_counts_by_source(alice_client, alice, http):
    generation = generation_start(owner=alice, prompt="a fox")
    generation_run(generation_id=generation.pk)
    image_upload(alice, upload_file(png_bytes(colour=(1, 2, 3)), "u.png", "image/png"))
    http.get("https://images.example.com/i.png", body=png_bytes(colour=(4, 5, 6)), content_type="image/png")
    image_import(alice, "https://images.example.com/i.png")
    page = alice_client.get(reverse("gallery"))
    counts = {row["source"]: row["n"] for row in page.context["facets"].sources}
    assert counts == {"generated": 1, "upload": 1, "import": 1}
    only = alice_client.get(reverse("gallery"), {"source": "upload"})
    assert [i.source for i in only.context["page"].object_list] == ["upload"]


# --- API -----------------------------------------------------------------------------------------------------------


def test_api_upload_and_import(alice_api, http):
    created = alice_api.post(reverse("api:image-upload"), {"file": upload_file(png_bytes(), "a.png", "image/png"),
                                                           "image_type": "scene"}, format="multipart")
    assert created.status_code == 201, created.content
    assert (created.json()["source"], created.json()["image_type"], created.json()["provider"]) == \
        ("upload", "scene", "upload")
    http.get("https://images.example.com/b.png", body=png_bytes(colour=(9, 9, 9)), content_type="image/png")
    imported = alice_api.post(reverse("api:image-import"), {"url": "https://images.example.com/b.png"}, format="json")
    assert imported.status_code == 201 and imported.json()["source"] == "import"
    listed = alice_api.get(reverse("api:image-list"), {"source": "import"}).json()
    assert [r["id"] for r in listed["results"]] == [imported.json()["id"]]
    facets = alice_api.get(reverse("api:image-facets")).json()
    assert {r["value"]: r["count"] for r in facets["sources"]} == {"upload": 1, "import": 1}


def test_api_errors_are_coded(alice_api, http):
    bad = alice_api.post(reverse("api:image-upload"), {"file": upload_file(b"not an image", "a.png")},
                         format="multipart")
    assert (bad.status_code, bad.json()["code"]) == (422, "image_invalid")
    forbidden = alice_api.post(reverse("api:image-import"), {"url": "https://10.1.2.3/a.png"}, format="json")
    assert (forbidden.status_code, forbidden.json()["code"]) == (400, "url_forbidden")


# --- /edit and ownership ---------------------------------------------------------------------------------------------


@pytest.fixture
def editing_profile(alice, fake_provider, monkeypatch):
    from images.providers.base import Capabilities
    from tests.fakes import FakeProvider

    monkeypatch.setattr(FakeProvider, "capabilities", Capabilities(n_max=4, edit=True, needs_key=False))
    monkeypatch.setattr(FakeProvider, "edit", FakeProvider.generate, raising=False)
    return ImageProfile.objects.create(owner=alice, name="Editor", provider="fake", is_default=True)


def test_an_upload_is_the_input_of_edit_image_n_in_a_chat(alice, alice_client, editing_profile, fake_provider):
    from chats.models import Chat

    image = image_upload(alice, upload_file(png_bytes(colour=(50, 60, 70)), "me.png", "image/png"))
    stored = default_storage.open(image.file).read()
    chat = Chat.objects.create(owner=alice, title="t")
    alice_client.post(reverse("chat-message-create", args=[chat.pk]), {"content": f"/edit --image {image.pk} add a hat"})
    generation = Generation.objects.exclude(provider="upload").get()
    assert generation.parameters["edit_of"] == image.pk
    generation_run(generation_id=generation.pk)
    assert fake_provider.calls[0].input_images == ((stored, "image/png"),)


def test_the_detail_page_edits_an_upload_with_a_prompt(alice, alice_client, editing_profile, fake_provider):
    image = image_upload(alice, upload_file(png_bytes(), "me.png", "image/png"))
    response = alice_client.post(reverse("gallery-edit", args=[image.pk]), {"instruction": "make it night"})
    generation = Generation.objects.exclude(provider="upload").get()
    assert response.status_code == 302 and f"#generation-{generation.pk}" in response["Location"]
    assert generation.parameters["edit_of"] == image.pk and generation.chat.messages.first().content == \
        f"/edit --image {image.pk} make it night"


def test_editing_with_a_provider_that_cannot_edit_keeps_the_instruction(alice, alice_client, fake_provider):
    ImageProfile.objects.create(owner=alice, name="Fake", provider="fake", is_default=True)
    image = image_upload(alice, upload_file(png_bytes(), "me.png", "image/png"))
    response = alice_client.post(reverse("gallery-edit", args=[image.pk]), {"instruction": "make it night"})
    assert response.status_code == 422
    assert "cannot edit images" in response.content.decode() and 'value="make it night"' in response.content.decode()


def test_someone_elses_upload_cannot_be_edited_or_seen(alice, bob, bob_client, editing_profile):
    image = image_upload(alice, upload_file(png_bytes(), "me.png", "image/png"))
    for name in ("gallery-detail", "image-file", "image-thumbnail"):
        assert bob_client.get(reverse(name, args=[image.pk])).status_code == 404
    from chats.models import Chat

    chat = Chat.objects.create(owner=bob, title="b")
    bob_client.post(reverse("chat-message-create", args=[chat.pk]), {"content": f"/edit --image {image.pk} steal"})
    assert not Generation.objects.filter(owner=bob).exists()
    assert "no such image" in chat.messages.last().content.lower()


def test_admin_lists_uploads_with_their_source(alice, admin_client):
    image_upload(alice, upload_file(png_bytes(), "me.png", "image/png"))
    html = admin_client.get(reverse("admin:images_generatedimage_changelist") + "?source__exact=upload").content.decode()
    assert "me.png" in html
    generation = GeneratedImage.objects.get().generation
    assert admin_client.get(reverse("admin:images_generation_change", args=[generation.pk])).status_code == 200
