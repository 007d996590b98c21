"""SECURITY.md T26–T30: every image is decoded under caps, re-encoded, and stored under a name we make.

The sanitiser is images/imaging.py; the job path is images/services.generation_run (FakeProvider scripts what the
"provider" returns). Each test names the T-number it proves; removing the defence makes it fail.
"""

import base64
import io
import re
import tracemalloc

import pytest
from django.core.files.storage import default_storage
from django.urls import reverse
from PIL import Image, ImageFile, PngImagePlugin

from chats.models import Chat
from images import imaging
from images.models import GeneratedImage, Generation
from images.providers import ProviderError, ProviderImage, ProviderResult
from images.providers.common import b64_image
from images.services import GenerationRequestError, generation_run, generation_start, validate_options
from profiles.models import ImageProfile
from tests.fakes import png_bytes

from .helpers import animation, encoded, gif_header, jpeg_markers, png_bomb, png_chunks, riff_chunks

MiB = 1024 * 1024
STORED_NAME = re.compile(r"^images/\d+/img_[0-9a-f]{16}\.(png|jpg|webp)$")
THUMB_NAME = re.compile(r"^images/\d+/thumbs/img_[0-9a-f]{16}\.webp$")


@pytest.fixture
def fake_profile(alice, fake_provider):
    return ImageProfile.objects.create(owner=alice, name="Fake", provider="fake", is_default=True)


def run_job(owner, answer, fake_provider, **options) -> Generation:
    generation = generation_start(owner=owner, prompt="a fox", options=options or None)
    fake_provider.script = [answer]
    generation_run(generation_id=generation.pk)
    generation.refresh_from_db()
    return generation


def files_in(media_root) -> list:
    return [p for p in media_root.rglob("*") if p.is_file()] if media_root.exists() else []


def peak_bytes(fn):
    tracemalloc.start()
    try:
        fn()
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return peak


@pytest.fixture
def no_decoding(monkeypatch):
    """Fail the test if any pixel data is decoded."""

    def refuse(self):
        raise AssertionError("load() was called: the size check must come first")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)


# ---------------------------------------------------------------- T26: decompression bombs, before load()


def test_t26_a_30000px_1bit_png_bomb_is_image_too_large_before_load(no_decoding):
    bomb = png_bomb(30000, 30000)  # 112 MB of pixels once decoded
    assert len(bomb) < 256 * 1024
    errors = []

    def attempt():
        try:
            imaging.sanitize(bomb)
        except imaging.ImageInvalid as e:
            errors.append(e)

    peak = peak_bytes(attempt)
    assert errors and errors[0].code == "image_too_large", errors
    assert isinstance(errors[0], imaging.ImageTooLarge)
    assert peak < 4 * MiB, f"peak {peak / MiB:.1f} MiB"


def test_t26_a_20000px_gif_is_refused_without_decoding(no_decoding):
    data = gif_header(20000, 20000)
    errors = []
    peak = peak_bytes(lambda: errors.append(pytest.raises(imaging.ImageInvalid, imaging.sanitize, data).value))
    assert errors[0].code in ("image_invalid", "image_too_large")
    assert peak < 4 * MiB


@pytest.mark.parametrize("size", [(4097, 1), (1, 4097), (4100, 4100)])
def test_t26_a_side_or_area_over_4096_is_image_too_large(size, no_decoding):
    with pytest.raises(imaging.ImageTooLarge):
        imaging.sanitize(png_bomb(*size))


def test_t26_the_caps_are_inclusive_4096_wide_is_accepted():
    assert imaging.sanitize(png_bytes(4096, 2)).width == 4096


def test_t26_pillows_bomb_warning_is_an_error_not_a_log_line(monkeypatch, settings):
    # Our own cap is lifted for this test, so only Pillow's check stands between the bytes and load().
    settings.IMAGEGEN_MAX_IMAGE_PIXELS = 10**9
    settings.IMAGEGEN_MAX_IMAGE_SIDE = 10**5
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(imaging.ImageTooLarge):
        imaging.sanitize(png_bytes(40, 40))  # 1600 px: a DecompressionBombWarning
    with pytest.raises(imaging.ImageTooLarge):
        imaging.sanitize(png_bytes(50, 50))  # 2500 px > 2× the limit: a DecompressionBombError


def test_t26_an_oversized_file_is_image_too_large_before_opening(settings, monkeypatch):
    settings.IMAGEGEN_MAX_IMAGE_BYTES = 1024
    monkeypatch.setattr(Image, "open", lambda *a, **k: pytest.fail("opened a file over the byte cap"))
    with pytest.raises(imaging.ImageTooLarge):
        imaging.sanitize(b"\x89PNG\r\n\x1a\n" + b"\x00" * 2048)


@pytest.mark.django_db
def test_t26_a_bomb_from_the_provider_fails_the_job_with_image_too_large_and_stores_nothing(
    alice, fake_profile, fake_provider, media_root
):
    generation = run_job(alice, png_bomb(30000, 30000), fake_provider)
    assert (generation.status, generation.error_code, generation.attempts) == ("failed", "image_too_large", 1)
    assert GeneratedImage.objects.count() == 0 and files_in(media_root) == []
    assert generation.error_hint  # the chat card says what to do


# ---------------------------------------------------------------- T27: only PNG/JPEG/WEBP, one frame, re-encoded


def _tiff() -> bytes:
    return encoded("RGB", (4, 4), "TIFF")


HOSTILE = {
    "png header then html": b"\x89PNG\r\n\x1a\n<html><script>alert(document.cookie)</script></html>",
    "truncated png": png_bytes(64, 64)[:-40],
    "svg with script": b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
    "svg onload": b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>',
    "html": b"<!doctype html><html><body><script>alert(1)</script></body></html>",
    "gif 500 frames": animation("GIF", 500, (4, 4)),
    "apng 3 frames": animation("PNG", 3),
    "webp animated": animation("WEBP", 3),
    "gif single frame": encoded("P", (8, 8), "GIF"),
    "tiff": _tiff(),
    "bmp": encoded("RGB", (4, 4), "BMP"),
    "ico": encoded("RGBA", (16, 16), "ICO"),
    "psd header": b"8BPS\x00\x01" + b"\x00" * 6 + b"\x00\x03\x00\x00\x00\x04\x00\x00\x00\x04\x00\x08\x00\x03",
    "fits": b"SIMPLE  =                    T" + b" " * 50 + b"BITPIX  =                    8" + b" " * 50,
    "pdf": b"%PDF-1.7\n1 0 obj<<>>endobj\n%%EOF",
    "empty": b"",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_t27_what_is_not_a_single_frame_png_jpeg_or_webp_is_image_invalid(name):
    with pytest.raises(imaging.ImageInvalid) as info:
        imaging.sanitize(HOSTILE[name])
    assert info.value.code == "image_invalid"


def _png_with_passengers() -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "<script>alert(1)</script>")
    info.add_itxt("XML:com.adobe.xmp", "<x:xmpmeta>secret</x:xmpmeta>")
    out = io.BytesIO()
    exif = Image.Exif()
    exif[0x010E] = "exif-description"
    Image.new("RGBA", (32, 16), (1, 2, 3, 200)).save(out, format="PNG", pnginfo=info, exif=exif,
                                                     icc_profile=b"fake-icc-profile")
    return out.getvalue() + b"<html><script>alert('polyglot tail')</script></html>"


def test_t27_a_png_polyglot_is_reencoded_without_text_exif_icc_or_tail():
    clean = imaging.sanitize(_png_with_passengers())
    assert set(png_chunks(clean.data)) <= {b"IHDR", b"IDAT", b"IEND"}
    for needle in (b"script", b"polyglot", b"xmpmeta", b"exif-description", b"fake-icc"):
        assert needle not in clean.data


def test_t27_jpeg_and_webp_are_reencoded_without_exif_or_icc():
    exif = Image.Exif()
    exif[0x010E] = "exif-description"
    for fmt in ("JPEG", "WEBP"):
        out = io.BytesIO()
        Image.new("RGB", (24, 24), (5, 100, 200)).save(out, format=fmt, exif=exif, icc_profile=b"fake-icc-profile")
        clean = imaging.sanitize(out.getvalue() + b"<html>tail</html>")
        assert b"exif-description" not in clean.data and b"fake-icc" not in clean.data and b"tail" not in clean.data
        if fmt == "JPEG":
            assert not {0xE1, 0xE2} & set(jpeg_markers(clean.data))
        else:
            assert not {b"EXIF", b"ICCP", b"XMP "} & set(riff_chunks(clean.data))


@pytest.mark.django_db
def test_t27_the_stored_object_is_our_reencoded_single_frame_file(alice, fake_profile, fake_provider, media_root):
    polyglot = _png_with_passengers()
    generation = run_job(alice, polyglot, fake_provider)
    assert generation.status == "succeeded"
    image = GeneratedImage.objects.get(generation=generation)
    with default_storage.open(image.file, "rb") as f:
        stored = f.read()
    assert stored != polyglot and stored == imaging.sanitize(polyglot).data
    assert set(png_chunks(stored)) <= {b"IHDR", b"IDAT", b"IEND"}
    assert getattr(Image.open(io.BytesIO(stored)), "n_frames", 1) == 1


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["svg with script", "png header then html", "gif 500 frames"])
def test_t27_a_hostile_answer_fails_the_job_and_stores_nothing(name, alice, fake_profile, fake_provider, media_root):
    generation = run_job(alice, HOSTILE[name], fake_provider)
    assert (generation.status, generation.error_code) == ("failed", "image_invalid")
    assert GeneratedImage.objects.count() == 0 and files_in(media_root) == []


# ---------------------------------------------------------------- T28: malformed provider answers


@pytest.mark.parametrize("text", ["not base64 at all!!", "iVBORw0KGgo$$$", "", "data:image/png;base64,"])
def test_t28_invalid_or_empty_base64_is_refused(text):
    with pytest.raises(ProviderError) as info:
        b64_image(text, label="Test")
    assert info.value.code in ("image_invalid", "provider_error")


@pytest.mark.django_db
def test_t28_fifty_images_when_one_was_asked_stores_none(alice, fake_profile, fake_provider, media_root):
    fifty = ProviderResult(images=[ProviderImage(data=png_bytes(8, 8, (i, 0, 0)), mime_type="image/png")
                                   for i in range(50)])
    generation = run_job(alice, fifty, fake_provider)
    assert (generation.status, generation.error_code) == ("failed", "provider_error")
    assert GeneratedImage.objects.count() == 0 and files_in(media_root) == []


@pytest.mark.django_db
def test_t28_a_30mb_base64_image_is_too_large_and_stores_nothing(alice, fake_profile, fake_provider, media_root):
    huge = b"\x89PNG\r\n\x1a\n" + b"\x00" * (22 * MiB)
    b64 = base64.b64encode(huge).decode()
    assert len(b64) > 29 * MiB
    decoded = b64_image(b64, label="Test")
    generation = run_job(alice, ProviderResult(images=[decoded]), fake_provider)
    assert (generation.status, generation.error_code) == ("failed", "image_too_large")
    assert GeneratedImage.objects.count() == 0 and files_in(media_root) == []


# ---------------------------------------------------------------- T29: bounds checked before anything is queued


@pytest.mark.django_db
@pytest.mark.parametrize(
    "content",
    ["/image a fox --n 0", "/image a fox --n 11", "/image a fox --n 1000", "/image a fox --seed 4294967296",
     "/image a fox --steps 1000000", "/image a fox --size 100000x100000", "/image a fox --ar 100000:1",
     "/image " + "x" * 4001, "x" * 32001],
)
def test_t29_out_of_range_parameters_are_a_400_before_enqueue(content, alice_api, alice, django_capture_on_commit_callbacks):
    chat = Chat.objects.create(owner=alice)
    with django_capture_on_commit_callbacks() as callbacks:
        response = alice_api.post(reverse("api:chat-messages", args=[chat.pk]), {"content": content}, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["code"] in ("validation_error", "missing_prompt")
    assert Generation.objects.count() == 0 and chat.messages.count() == 0 and callbacks == []


@pytest.mark.parametrize("options", [{"n": 0}, {"n": 11}, {"n": 1000}, {"n": "2"}, {"seed": -1}, {"seed": 2**64},
                                     {"style": "../../x"}, {"aspect_ratio": "100000:1"}])
def test_t29_the_service_bounds_every_option_whoever_calls_it(options):
    with pytest.raises(GenerationRequestError):
        validate_options("offline", options)


# ---------------------------------------------------------------- T30: storage names are ours, never the provider's


@pytest.mark.django_db
def test_t30_hostile_names_and_prompts_never_reach_the_storage_path(alice, fake_profile, fake_provider, media_root):
    hostile = ProviderResult(images=[ProviderImage(data=png_bytes(), mime_type="image/png",
                                                   revised_prompt="../../../etc/passwd\x00C:\\x.png ..%2f")])
    generation = generation_start(owner=alice, prompt="../../x.png ..%2f C:\\x \x00", options=None)
    fake_provider.script = [hostile]
    generation_run(generation_id=generation.pk)
    image = GeneratedImage.objects.get(generation=generation)
    assert STORED_NAME.match(image.file), image.file
    assert THUMB_NAME.match(image.thumbnail), image.thumbnail
    assert image.file.startswith(f"images/{alice.pk}/")
    for path in files_in(media_root):
        assert path.resolve().is_relative_to(media_root.resolve())


@pytest.mark.django_db
def test_t30_the_file_route_takes_an_id_only_and_ignores_names(alice, alice_client, fake_profile, fake_provider):
    generation = run_job(alice, png_bytes(), fake_provider)
    image = GeneratedImage.objects.get(generation=generation)
    url = reverse("image-file", args=[image.pk])
    response = alice_client.get(url, {"name": "../../imagegen_site/settings.py", "path": "/etc/passwd"})
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert b"".join(response.streaming_content)[:8] == b"\x89PNG\r\n\x1a\n"
    for path in ["/files/images/..%2f..%2fimagegen_site%2fsettings.py/", "/files/images/../../manage.py",
                 "/files/images/%2e%2e/", "/media/images/", "/files/images/1%00/"]:
        assert alice_client.get(path).status_code == 404, path


@pytest.mark.django_db
def test_t30_a_tampered_row_cannot_read_outside_media_root(alice, alice_client, fake_profile, fake_provider):
    generation = run_job(alice, png_bytes(), fake_provider)
    image = GeneratedImage.objects.get(generation=generation)
    GeneratedImage.objects.filter(pk=image.pk).update(file="../../../imagegen_site/settings.py")
    response = alice_client.get(reverse("image-file", args=[image.pk]))
    assert response.status_code in (400, 404)
    body = b"".join(response.streaming_content) if response.streaming else response.content
    assert b"SECRET_KEY" not in body
