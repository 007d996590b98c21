import io

from PIL import Image

from images.providers import ImageRequest, get_provider
from images.providers.offline import ASPECT_SIZES, render


def test_same_prompt_and_seed_give_the_same_bytes():
    assert render("a watercolour fox at dawn", 42, 256, 256) == render("a watercolour fox at dawn", 42, 256, 256)


def test_another_seed_or_prompt_gives_another_image():
    base = render("a watercolour fox at dawn", 42, 256, 256)
    assert render("a watercolour fox at dawn", 43, 256, 256) != base
    assert render("a lighthouse in a storm", 42, 256, 256) != base


def test_it_honours_the_aspect_ratio_and_count():
    provider = get_provider("offline")
    result = provider.generate(ImageRequest(prompt="a fox", aspect_ratio="16:9", n=2, seed=5))
    assert len(result.images) == 2
    for image in result.images:
        assert Image.open(io.BytesIO(image.data)).size == ASPECT_SIZES["16:9"]
    assert [i.seed for i in result.images] == [5, 6]


def test_it_records_the_seed_it_picked_so_the_image_can_be_repeated():
    provider = get_provider("offline")
    first = provider.generate(ImageRequest(prompt="a fox", width=128, height=128)).images[0]
    again = provider.generate(ImageRequest(prompt="a fox", width=128, height=128, seed=first.seed)).images[0]
    assert first.data == again.data


def test_it_needs_no_key_and_says_it_is_a_placeholder():
    provider = get_provider("offline")
    assert provider.disclaimer == "Offline sketch – placeholder, not AI"
    result = provider.generate(ImageRequest(prompt="a fox", width=64, height=64, negative_prompt="people"))
    assert result.images[0].mime_type == "image/png"
    assert any("negative prompt" in w for w in result.warnings)
