"""Downloads carry their provenance; the stored original does not change."""

import io
import json

import pytest
from django.core.files.storage import default_storage
from django.urls import reverse
from PIL import Image

from images.metadata import png_with_metadata, provenance, with_metadata

from .conftest import image_bytes

pytestmark = pytest.mark.django_db

PROMPT = "a renard roux — à l'aube, 狐"  # non-ASCII survives where the format allows it


def stored(image) -> bytes:
    with default_storage.open(image.file, "rb") as f:
        return f.read()


def xmp_provenance(img: Image.Image) -> dict:
    import re
    from html import unescape

    xmp = img.info["xmp"]
    xmp = xmp.decode("utf-8") if isinstance(xmp, bytes) else xmp
    return json.loads(unescape(re.search(r'imagegen:provenance="([^"]*)"', xmp).group(1)))


def test_png_download_has_text_chunks_and_the_pixels_are_untouched(alice, alice_client, make_image):
    image = make_image(alice, prompt=PROMPT, seed=1234, negative_prompt="people",
                       parameters={"n": 1, "aspect_ratio": "1:1"})
    original = stored(image)
    response = alice_client.get(reverse("image-download", args=[image.pk]))
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert "attachment" in response["Content-Disposition"]
    assert response["X-Content-Type-Options"] == "nosniff"
    img = Image.open(io.BytesIO(response.content))
    meta = json.loads(img.text["imagegen"])
    assert meta["prompt"] == PROMPT and meta["seed"] == 1234 and meta["provider"] == "offline"
    assert meta["model"] == "sketch-1" and meta["parameters"] == {"n": 1, "aspect_ratio": "1:1"}
    assert meta["negative_prompt"] == "people" and meta["created"] == image.created.isoformat()
    assert img.text["parameters"].startswith(PROMPT) and "Negative prompt: people" in img.text["parameters"]
    assert "Seed: 1234" in img.text["parameters"]
    assert img.tobytes() == Image.open(io.BytesIO(original)).tobytes()
    assert stored(image) == original  # the stored file is unchanged
    assert "imagegen" not in Image.open(io.BytesIO(original)).info


@pytest.mark.parametrize("fmt,mime", [("JPEG", "image/jpeg"), ("WEBP", "image/webp")])
def test_jpeg_and_webp_carry_exif_and_xmp(fmt, mime, alice, alice_client, make_image):
    image = make_image(alice, prompt=PROMPT, data=image_bytes(fmt), seed=7)
    assert image.mime_type == mime
    response = alice_client.get(reverse("image-download", args=[image.pk]))
    assert response["Content-Type"] == mime
    img = Image.open(io.BytesIO(response.content))
    assert img.format == fmt
    exif = img.getexif()
    assert exif[0x0131] == "imagegen"
    assert exif[0x010E].startswith("a renard roux")  # EXIF is ASCII: the rest is replaced
    meta = xmp_provenance(img)
    assert meta["prompt"] == PROMPT and meta["seed"] == 7

    # The PNG copy of a JPEG/WEBP has the text chunks.
    png = Image.open(io.BytesIO(alice_client.get(reverse("image-download", args=[image.pk]), {"as": "png"}).content))
    assert png.format == "PNG" and json.loads(png.text["imagegen"])["prompt"] == PROMPT


def test_jpeg_embedding_does_not_re_encode(alice, make_image):
    image = make_image(alice, data=image_bytes("JPEG"))
    original = stored(image)
    out = with_metadata(original, "image/jpeg", provenance(image))
    assert out.endswith(original[2:])  # only segments after SOI were added


def test_png_with_metadata_of_a_png_keeps_bytes_but_adds_chunks(alice, make_image):
    image = make_image(alice)
    original = stored(image)
    out = png_with_metadata(original, "image/png", provenance(image))
    assert out.startswith(original[:33]) and len(out) > len(original)
    assert out.endswith(original[-12:])  # IEND last
