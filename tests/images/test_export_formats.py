"""Download as PNG, JPEG or WEBP, at a chosen quality and a smaller size, with provenance read back from each."""

import io
import json
import re
from html import unescape

import pytest
from django.urls import reverse
from PIL import Image

from images.metadata import EXIF_IMAGE_DESCRIPTION, EXIF_SOFTWARE

from .conftest import create_image, image_bytes

pytestmark = pytest.mark.django_db
PROMPT = "a lighthouse at dusk"


@pytest.fixture
def picture(alice):
    """A 400×300 PNG with detail, so quality settings change the file size."""
    img = Image.effect_noise((400, 300), 64).convert("RGB")
    out = io.BytesIO()
    img.save(out, format="PNG")
    return create_image(alice, prompt=PROMPT, data=out.getvalue(), provider="openai", model="gpt-image-1", seed=1234)


def download(client, image, **params):
    return client.get(reverse("image-download", args=[image.pk]), params)


def opened(response) -> Image.Image:
    return Image.open(io.BytesIO(response.content))


def provenance_from_xmp(img: Image.Image) -> dict:
    xmp = img.info.get("xmp")
    xmp = xmp.decode("utf-8") if isinstance(xmp, bytes) else xmp
    # quoteattr picks single or double quotes depending on the JSON's content
    found = re.search(r'imagegen:provenance=(?:"([^"]*)"|\'([^\']*)\')', xmp)
    return json.loads(unescape(found.group(1) or found.group(2)))


def test_jpeg_at_a_chosen_quality_and_size_keeps_exif_and_xmp(alice_client, picture):
    response = download(alice_client, picture, **{"as": "jpeg", "quality": "85", "max_side": "200"})
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    stem = picture.download_name.rsplit(".", 1)[0]
    assert response["Content-Disposition"] == f'attachment; filename="{stem}_200px.jpg"'
    assert response["X-Content-Type-Options"] == "nosniff"
    img = opened(response)
    assert img.format == "JPEG" and img.size == (200, 150)
    exif = img.getexif()
    assert exif[EXIF_IMAGE_DESCRIPTION] == PROMPT and exif[EXIF_SOFTWARE] == "imagegen"
    meta = provenance_from_xmp(img)
    assert meta["prompt"] == PROMPT and meta["seed"] == 1234 and meta["model"] == "gpt-image-1"
    assert (meta["width"], meta["height"], meta["original_size"]) == (200, 150, "400x300")


def test_quality_changes_the_jpeg_and_webp_size(alice_client, picture):
    for fmt in ("jpeg", "webp"):
        low = download(alice_client, picture, **{"as": fmt, "quality": "10"}).content
        high = download(alice_client, picture, **{"as": fmt, "quality": "95"}).content
        assert len(low) < len(high) / 2, fmt


def test_webp_keeps_exif_and_xmp(alice_client, picture):
    response = download(alice_client, picture, **{"as": "webp", "quality": "80", "max_side": "100"})
    assert response["Content-Type"] == "image/webp"
    img = opened(response)
    assert img.format == "WEBP" and img.size == (100, 75)
    assert img.getexif()[EXIF_IMAGE_DESCRIPTION] == PROMPT
    assert provenance_from_xmp(img)["provider"] == "openai"


def test_png_at_a_smaller_size_keeps_its_text_chunks(alice_client, picture):
    response = download(alice_client, picture, **{"as": "png", "max_side": "64"})
    img = opened(response)
    assert img.format == "PNG" and img.size == (64, 48)
    meta = json.loads(img.text["imagegen"])
    assert meta["prompt"] == PROMPT and meta["original_size"] == "400x300"
    assert "Seed: 1234" in img.text["parameters"]


def test_a_max_side_above_the_image_never_enlarges_it(alice_client, picture):
    img = opened(download(alice_client, picture, **{"as": "jpeg", "max_side": "2048"}))
    assert img.size == (400, 300)
    response = download(alice_client, picture, **{"as": "png", "max_side": "1024"})
    stem = picture.download_name.rsplit(".", 1)[0]
    assert response["Content-Disposition"] == f'attachment; filename="{stem}_400px.png"'


def test_a_transparent_png_becomes_a_jpeg_on_white(alice_client, alice):
    out = io.BytesIO()
    Image.new("RGBA", (20, 20), (255, 0, 0, 0)).save(out, format="PNG")
    image = create_image(alice, data=out.getvalue())
    img = opened(download(alice_client, image, **{"as": "jpg"})).convert("RGB")
    r, g, b = img.getpixel((10, 10))
    assert min(r, g, b) > 240  # white, not black


def test_the_stored_format_and_png_downloads_still_work_as_before(alice_client, alice):
    jpeg = create_image(alice, data=image_bytes("JPEG"))
    plain = download(alice_client, jpeg)
    assert plain["Content-Type"] == "image/jpeg" and plain["Content-Disposition"].endswith(f'"{jpeg.download_name}"')
    assert opened(plain).getexif()[EXIF_IMAGE_DESCRIPTION] == "a red fox"
    png = download(alice_client, jpeg, **{"as": "png"})
    assert opened(png).format == "PNG" and opened(png).size == (jpeg.width, jpeg.height)


@pytest.mark.parametrize("params,field", [
    ({"as": "gif"}, "as"),
    ({"as": "svg"}, "as"),
    ({"as": "jpeg", "quality": "0"}, "quality"),
    ({"as": "jpeg", "quality": "101"}, "quality"),
    ({"as": "webp", "quality": "high"}, "quality"),
    ({"max_side": "8"}, "max_side"),
    ({"max_side": "99999"}, "max_side"),
    ({"max_side": "-5"}, "max_side"),
    ({"as": "png", "max_side": "1e3"}, "max_side"),
])
def test_bad_parameters_get_a_clear_400(alice_client, picture, params, field):
    response = download(alice_client, picture, **params)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "validation_error" and field in body["fields"] and body["detail"]


def test_the_api_download_takes_the_same_parameters(alice_api, picture):
    url = reverse("api:image-download", args=[picture.pk])
    ok = alice_api.get(url, {"as": "webp", "quality": "70", "max_side": "50"})
    assert ok.status_code == 200 and opened(ok).size == (50, 38) and opened(ok).format == "WEBP"
    bad = alice_api.get(url, {"as": "bmp"})
    assert bad.status_code == 400 and bad.json()["code"] == "validation_error" and "as" in bad.json()["fields"]


def test_another_users_image_is_a_404_whatever_the_parameters(bob_client, picture):
    assert download(bob_client, picture, **{"as": "gif"}).status_code == 404
    assert download(bob_client, picture, **{"as": "jpeg", "max_side": "64"}).status_code == 404


def test_the_detail_page_offers_formats_quality_and_smaller_sizes(alice_client, picture):
    html = alice_client.get(reverse("gallery-detail", args=[picture.pk])).content.decode()
    assert 'id="export-form"' in html and 'name="quality"' in html
    assert '<option value="jpeg">JPEG</option>' in html and '<option value="webp">WEBP</option>' in html
    assert "Original, 400×300" in html and '<option value="1024">' not in html  # never offers enlarging


def test_the_api_schema_documents_the_parameters(alice_api):
    schema = alice_api.get(reverse("api-schema"), {"format": "json"}).json()
    download_op = next(op for path, ops in schema["paths"].items() if path.endswith("/download/") for op in ops.values())
    names = {p["name"] for p in download_op["parameters"]}
    assert {"as", "quality", "max_side"} <= names
