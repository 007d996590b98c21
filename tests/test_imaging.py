import io

import pytest
from PIL import Image, PngImagePlugin

from images.imaging import ImageInvalid, sanitize
from tests.fakes import png_bytes


def test_it_reencodes_and_drops_metadata():
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "<script>alert(1)</script>")
    out = io.BytesIO()
    Image.new("RGB", (32, 16), (1, 2, 3)).save(out, format="PNG", pnginfo=info)
    clean = sanitize(out.getvalue() + b"<html>polyglot tail</html>")
    assert (clean.width, clean.height, clean.mime_type, clean.ext) == (32, 16, "image/png", "png")
    assert b"script" not in clean.data and b"polyglot" not in clean.data
    assert len(clean.sha256) == 64


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not an image",
        b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
        b"<html><body>hi</body></html>",
    ],
)
def test_it_refuses_what_is_not_a_raster_image(data):
    with pytest.raises(ImageInvalid):
        sanitize(data)


def test_it_refuses_gif_and_animation():
    out = io.BytesIO()
    frames = [Image.new("RGB", (8, 8), c) for c in ((255, 0, 0), (0, 255, 0))]
    frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:])
    with pytest.raises(ImageInvalid):
        sanitize(out.getvalue())
    out = io.BytesIO()
    frames[0].save(out, format="WEBP", save_all=True, append_images=frames[1:])
    with pytest.raises(ImageInvalid, match="Animated"):
        sanitize(out.getvalue())


def test_it_refuses_an_image_over_the_pixel_cap_before_decoding(settings):
    settings.IMAGEGEN_MAX_IMAGE_PIXELS = 100 * 100
    with pytest.raises(ImageInvalid, match="too large"):
        sanitize(png_bytes(200, 200))


def test_jpeg_and_webp_keep_their_format():
    for fmt, mime in (("JPEG", "image/jpeg"), ("WEBP", "image/webp")):
        out = io.BytesIO()
        Image.new("RGB", (20, 20), (9, 9, 9)).save(out, format=fmt)
        assert sanitize(out.getvalue()).mime_type == mime
