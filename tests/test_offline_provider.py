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


def _pixels(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data)).convert("RGB")


def _mean_brightness(data: bytes) -> float:
    grey = _pixels(data).convert("L")
    return sum(grey.getdata()) / (grey.width * grey.height)


SOURCE = render("a watercolour fox at dawn", 7, 256, 192)


def test_an_offline_edit_keeps_the_size_and_applies_what_the_instruction_names():
    provider = get_provider("offline")
    assert provider.capabilities.edit
    darker = provider.edit(ImageRequest(prompt="make it darker", seed=1, input_images=((SOURCE, "image/png"),)))
    assert _pixels(darker.images[0].data).size == (256, 192)
    assert _mean_brightness(darker.images[0].data) < 0.75 * _mean_brightness(SOURCE)
    assert darker.warnings == ["Offline edit (not AI): darker."]

    bw = provider.edit(ImageRequest(prompt="black and white please", seed=1, input_images=((SOURCE, "image/png"),)))
    r, g, b = _pixels(bw.images[0].data).getpixel((128, 60))
    assert r == g == b and "black and white" in bw.warnings[0]

    mirrored = provider.edit(ImageRequest(prompt="mirror it", seed=1, input_images=((SOURCE, "image/png"),)))
    source, flipped = _pixels(SOURCE), _pixels(mirrored.images[0].data)
    assert flipped.getpixel((10, 20)) == source.getpixel((245, 20))


def test_words_it_has_no_operation_for_are_drawn_so_every_edit_changes_the_image():
    provider = get_provider("offline")
    result = provider.edit(ImageRequest(prompt="add a lighthouse", seed=3, n=2, input_images=((SOURCE, "image/png"),)))
    assert [i.seed for i in result.images] == [3, 4]
    assert result.images[0].data != result.images[1].data  # the seed places the shapes
    assert "shapes for lighthouse" in result.warnings[0]
    assert _pixels(result.images[0].data).tobytes() != _pixels(SOURCE).tobytes()
    again = provider.edit(ImageRequest(prompt="add a lighthouse", seed=3, input_images=((SOURCE, "image/png"),)))
    assert again.images[0].data == result.images[0].data  # deterministic, like generation


def test_an_offline_edit_without_an_input_image_is_a_validation_error():
    import pytest

    from images.providers import ProviderError

    with pytest.raises(ProviderError) as refused:
        get_provider("offline").edit(ImageRequest(prompt="make it darker"))
    assert refused.value.code == "validation_error"
