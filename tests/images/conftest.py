import io
import itertools

import pytest
from PIL import Image

from chats.models import Chat
from images.imaging import sanitize
from images.models import GeneratedImage, Generation
from images.storage import store_image

_colours = itertools.count(1)


def image_bytes(fmt: str = "PNG", colour: tuple | None = None, size: tuple = (64, 48)) -> bytes:
    if colour is None:
        n = next(_colours)
        colour = (n * 37 % 256, n * 91 % 256, n * 53 % 256)
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format=fmt)
    return out.getvalue()


def create_image(owner, *, prompt="a red fox", data: bytes | None = None, chat: Chat | None = None,
                 provider="offline", model="sketch-1", favorite=False, seed=42, parameters=None, **generation_fields):
    """Store a real image file and its rows, as the worker would. Same `data` twice means the same bytes."""
    clean = sanitize(data or image_bytes())
    file, thumb = store_image(owner.pk, clean)
    generation = Generation.objects.create(
        owner=owner, chat=chat, provider=provider, model=model, prompt=prompt, refined_prompt=prompt,
        status=Generation.Status.SUCCEEDED, parameters=parameters or {"n": 1}, **generation_fields,
    )
    return GeneratedImage.objects.create(
        generation=generation, owner=owner, file=file, thumbnail=thumb, sha256=clean.sha256,
        width=clean.width, height=clean.height, mime_type=clean.mime_type, bytes=len(clean.data),
        seed=seed, is_favorite=favorite,
    )


@pytest.fixture
def make_image():
    return create_image
