"""SECURITY.md T26–T30: every image is decoded under caps, re-encoded, and stored under a name we make.

The sanitiser is images/imaging.py; the job path is images/services.generation_run (FakeProvider scripts what the
"provider" returns). Each test names the T-number it proves; removing the defence makes it fail.
"""

import base64
import dataclasses
import hashlib
import io
import re
import tracemalloc
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.storage import default_storage
from django.urls import reverse
from PIL import Image, ImageFile, PngImagePlugin

from chats.models import Chat
from imagegen_site import http as safe_http
from images import delivery, imaging, previews, storage
from images.models import GeneratedImage, Generation
from images.providers import ProviderError, ProviderImage, ProviderResult
from images.providers.base import ImageRequest
from images.providers.comfyui import ComfyUIProvider
from images.providers.common import b64_image
from images.services import GenerationRequestError, generation_run, generation_start, validate_options
from images.uploads import image_import, image_upload
from profiles.models import ImageProfile
from sharing.services import share_create
from tests.fakes import png_bytes

from .helpers import animation, encoded, gif_header, jpeg_markers, png_bomb, png_chunks, riff_chunks

MiB = 1024 * 1024
# SECURITY.md T30's pattern, plus jpg: the sanitiser keeps a JPEG original as JPEG (images/imaging.py FORMATS).
# Literals here, not imported: loosening images/storage.py must fail these tests. Always used with fullmatch.
STORED_NAME = re.compile(r"^images/\d+/[0-9a-f]{2}/[0-9a-f]{64}\.(png|webp|jpg)$", re.ASCII)
THUMB_NAME = re.compile(r"^images/\d+/thumbs/[0-9a-f]{2}/[0-9a-f]{64}\.webp$", re.ASCII)
PREVIEW_NAME = re.compile(r"^previews/\d+/gen_\d+_[0-9a-f]{64}\.webp$", re.ASCII)
# The T30 list, and the same ideas in other spellings.
HOSTILE_NAMES = ["../../x.png", "..%2f..%2fx.png", "C:\\x.png", "x.png\x00.py", "/etc/passwd", "..\\..\\x.png",
                 "%2e%2e/%2e%2e/settings.py", "../../imagegen_site/settings.py"]


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


def assert_our_names(image: GeneratedImage, owner) -> None:
    """The row's names are the T30 patterns, in the owner's folder, named by the digest of the bytes stored."""
    assert STORED_NAME.fullmatch(image.file), image.file
    assert THUMB_NAME.fullmatch(image.thumbnail), image.thumbnail
    digest = image.file.rsplit("/", 1)[1].split(".")[0]
    assert image.file == f"images/{owner.pk}/{digest[:2]}/{digest}.{image.file.rsplit('.', 1)[1]}"
    assert image.thumbnail == f"images/{owner.pk}/thumbs/{digest[:2]}/{digest}.webp"
    with default_storage.open(image.file, "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == digest == image.sha256


def assert_media_is_ours(media_root) -> None:
    """Every file on disk is inside MEDIA_ROOT and named by one of the patterns."""
    for path in files_in(media_root):
        assert path.resolve().is_relative_to(media_root.resolve())
        name = path.relative_to(media_root).as_posix()
        assert any(p.fullmatch(name) for p in (STORED_NAME, THUMB_NAME, PREVIEW_NAME)), name


def test_t30_the_project_uses_exactly_these_patterns():
    ours = (storage.IMAGE_NAME, storage.THUMBNAIL_NAME, previews.PREVIEW_NAME)
    assert [p.pattern for p in ours] == [STORED_NAME.pattern, THUMB_NAME.pattern, PREVIEW_NAME.pattern]
    assert all(p.flags & re.ASCII for p in ours)  # `\d` is 0-9 only, not "١"
    assert not storage.is_stored_name(f"images/\u0661/aa/{'a' * 64}.png")


@pytest.mark.parametrize("owner_id, sha256, ext", [
    (1, "../" + "a" * 61, "png"), (1, "A" * 64, "png"), (1, "a" * 63, "png"), (1, "a" * 64 + "\n", "png"),
    (1, "a" * 64, "svg"), (1, "a" * 64, "png/../../x"), ("1/../2", "a" * 64, "png"), (-1, "a" * 64, "png"),
    (True, "a" * 64, "png"),
])
def test_t30_no_other_name_can_be_made(owner_id, sha256, ext):
    with pytest.raises(SuspiciousFileOperation):
        storage.make_name(owner_id, sha256, ext)


@pytest.mark.django_db
@pytest.mark.parametrize("fmt, ext", [("PNG", "png"), ("JPEG", "jpg"), ("WEBP", "webp")])
def test_t30_hostile_names_and_prompts_never_reach_the_storage_path(fmt, ext, alice, fake_profile, fake_provider,
                                                                    media_root):
    # The provider claims another type and sends names everywhere it can; the bytes decide the extension.
    hostile = ProviderResult(images=[ProviderImage(data=encoded("RGB", (40, 30), fmt), mime_type="../../x.svg",
                                                   revised_prompt=" ".join(HOSTILE_NAMES))],
                             text="../../x.png", request_id="../../../etc/passwd")
    generation = generation_start(owner=alice, prompt="../../x.png ..%2f C:\\x \x00", options=None)
    fake_provider.script = [hostile]
    generation_run(generation_id=generation.pk)
    image = GeneratedImage.objects.get(generation=generation)
    assert_our_names(image, alice)
    assert image.file.endswith(f".{ext}")
    assert_media_is_ours(media_root)


class HostileUpload:
    """An uploaded file whose name reached us unfiltered (Django's own parsers would already strip the path)."""

    def __init__(self, name: str, data: bytes) -> None:
        self.name, self.size, self._data = name, len(data), data

    def read(self, limit: int = -1) -> bytes:
        return self._data


@pytest.mark.django_db
@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_t30_an_uploads_file_name_never_steers_where_it_is_written(name, alice, media_root):
    image = image_upload(alice, HostileUpload(name, png_bytes(32, 32, (len(name), 9, 9))))
    assert_our_names(image, alice)
    assert_media_is_ours(media_root)


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/..%2f..%2fx.png", "/../../x.png", "/C:%5Cx.png", "/x.png%00.py",
                                  "/img.png?name=../../settings.py"])
def test_t30_an_imports_address_never_steers_where_it_is_written(path, alice, media_root, monkeypatch):
    monkeypatch.setattr(safe_http, "resolve_host", lambda host, port: ["93.184.216.34"])
    with responses.RequestsMock() as http:
        http.get(re.compile(r"https://images\.example\.com/.*"), body=png_bytes(20, 20), content_type="image/png")
        image = image_import(alice, f"https://images.example.com{path}")
    assert_our_names(image, alice)
    assert_media_is_ours(media_root)


def test_t30_comfyuis_file_names_are_only_ever_sent_back_to_comfyui(monkeypatch):
    # ComfyUI is the one provider that names its outputs; the name goes back in its own /view query, and no
    # further: ProviderImage has no field that could carry it to storage.
    monkeypatch.setattr(safe_http, "resolve_host", lambda host, port: ["93.184.216.34"])
    base, hostile = "https://comfy.example.com", "../../../imagegen_site/settings.py"
    with responses.RequestsMock() as http:
        http.post(f"{base}/prompt", json={"prompt_id": "p1"})
        http.get(f"{base}/history/p1", json={"p1": {
            "outputs": {"9": {"images": [{"filename": hostile, "subfolder": "..\\..", "type": "output"}]}},
            "status": {"status_str": "success", "completed": True}}})
        http.get(f"{base}/view", body=png_bytes(), content_type="image/png")
        result = ComfyUIProvider(base_url=base).generate(ImageRequest(prompt="a fox", model="m.safetensors"))
        assert parse_qs(urlsplit(http.calls[-1].request.url).query)["filename"] == [hostile]
    assert [f.name for f in dataclasses.fields(ProviderImage)] == ["data", "mime_type", "seed", "revised_prompt"]
    assert result.images[0].data == png_bytes()


@pytest.mark.django_db
def test_t30_previews_and_rebuilt_thumbnails_are_named_by_the_pattern_too(alice, fake_profile, fake_provider,
                                                                          media_root):
    generation = Generation.objects.create(owner=alice, provider="fake", prompt="../../x.png", status="running",
                                           attempts=1)
    assert previews.record(generation, 50, png_bytes(300, 200))
    generation.refresh_from_db()
    assert PREVIEW_NAME.fullmatch(generation.preview), generation.preview
    assert generation.preview.startswith(f"previews/{alice.pk}/gen_{generation.pk}_")

    image = GeneratedImage.objects.get(generation=run_job(alice, png_bytes(), fake_provider))
    for hostile in HOSTILE_NAMES:  # a damaged or hand-edited row: the rebuild writes a name of ours instead
        GeneratedImage.objects.filter(pk=image.pk).update(thumbnail=hostile)
        image.refresh_from_db()
        assert THUMB_NAME.fullmatch(storage.rebuild_thumbnail(image))
    image.refresh_from_db()
    assert_our_names(image, alice)
    assert_media_is_ours(media_root)


@pytest.mark.django_db
@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_t30_a_tampered_preview_is_a_404_unread(name, alice, alice_client, media_root):
    generation = Generation.objects.create(owner=alice, provider="fake", prompt="x", status="running", attempts=1)
    assert previews.record(generation, 50, png_bytes())
    url = reverse("generation-preview", args=[generation.pk])
    assert alice_client.get(url).status_code == 200
    Generation.objects.filter(pk=generation.pk).update(preview=name)
    assert alice_client.get(url).status_code == 404


@pytest.mark.django_db
def test_t30_the_file_route_takes_an_id_only_and_ignores_names(alice, alice_client, fake_profile, fake_provider):
    generation = run_job(alice, png_bytes(), fake_provider)
    image = GeneratedImage.objects.get(generation=generation)
    url = reverse("image-file", args=[image.pk])
    response = alice_client.get(url, {"name": "../../imagegen_site/settings.py", "path": "/etc/passwd"})
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert b"".join(response.streaming_content)[:8] == b"\x89PNG\r\n\x1a\n"
    for path in ["/files/images/..%2f..%2fimagegen_site%2fsettings.py/", "/files/images/../../manage.py",
                 "/files/images/%2e%2e/", "/media/images/", "/files/images/1%00/",
                 "/media/images/?name=../../settings.py"]:
        assert alice_client.get(path).status_code == 404, path


@pytest.mark.django_db
@pytest.mark.parametrize("name", HOSTILE_NAMES + ["../../../imagegen_site/settings.py", "images/1/../../manage.py"])
@pytest.mark.parametrize("kind", ["image-file", "image-thumbnail", "image-signed", "shared-file", "shared-thumbnail"])
def test_t30_a_tampered_row_cannot_read_outside_media_root(name, kind, alice, alice_client, fake_profile,
                                                           fake_provider, media_root):
    generation = run_job(alice, png_bytes(), fake_provider)
    image = GeneratedImage.objects.get(generation=generation)
    args = {"image-signed": lambda: [delivery.sign(image)],
            "shared-file": lambda: [share_create(owner=alice, image=image).token, image.pk],
            "shared-thumbnail": lambda: [share_create(owner=alice, image=image).token, image.pk]}
    url = reverse(kind, args=args.get(kind, lambda: [image.pk])())
    assert alice_client.get(url).status_code == 200
    (media_root / "x.png").write_bytes(b"SECRET_KEY in MEDIA_ROOT itself")  # not a stored name either
    GeneratedImage.objects.filter(pk=image.pk).update(file=name, thumbnail=name)
    response = alice_client.get(url)
    assert response.status_code == 404
    body = b"".join(response.streaming_content) if response.streaming else response.content
    assert b"SECRET_KEY" not in body
