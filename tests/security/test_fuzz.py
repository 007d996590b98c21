"""Property-based fuzzing (hypothesis) of the inputs attackers control: the /image command text and the image
bytes a provider returns. Deterministic (derandomize) and bounded, so it runs in every `./run test`.

The URL validator is fuzzed in test_outbound.py; the API is fuzzed from its OpenAPI schema in test_api_fuzz.py.
"""

import io
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, PngImagePlugin

from chats.commands import COMMANDS, CommandError, parse_message
from images import imaging
from images.services import GenerationRequestError, validate_options
from images.styles import STYLES

pytestmark = pytest.mark.fuzz

FUZZ = settings(derandomize=True, database=None, deadline=None, suppress_health_check=[HealthCheck.too_slow])

OPTION_NAMES = ["ar", "aspect", "aspect-ratio", "n", "seed", "style", "profile", "no", "raw", "zoom", "N", "Seed"]
# Values an attacker might try: unicode digits (²,١), huge numbers, signs, separators, control characters.
TRICKY_VALUES = ["²", "١", "٣:٢", "16:9", "1:1", "0", "5", "-1", "+2", "4294967296", "9" * 40, "0x10", "1e3",
                 "watercolour", "WATERCOLOUR", "../../etc", "", " ", "\x00", "\u202e", "--", "16:9:1", "１"]
words = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
option = st.tuples(st.sampled_from(OPTION_NAMES), st.one_of(st.sampled_from(TRICKY_VALUES), words)).map(
    lambda nv: f"--{nv[0]} {nv[1]}"
)
command_text = st.tuples(
    st.sampled_from([*COMMANDS, "/IMAGE", "/Img", "image", "/images", ""]),
    st.lists(st.one_of(words, option, st.sampled_from(["help", "gallery", "generate"])), max_size=8),
).map(lambda t: " ".join([t[0], *t[1]]))


@settings(FUZZ, max_examples=500)
@given(st.one_of(command_text, st.text(max_size=200)))
def test_the_command_parser_accepts_or_names_the_problem(text):
    """Any text: None (not a command), a valid command, or CommandError with a taxonomy code; nothing else."""
    try:
        command = parse_message(text)
    except CommandError as e:
        assert e.code in ("validation_error", "missing_prompt")
        assert e.message
        return
    head = text.strip().split(maxsplit=1)[0].lower() if text.strip() else ""
    if command is None:
        assert head not in COMMANDS
        return
    assert head in COMMANDS
    if command.action != "generate":
        assert command.action in ("help", "gallery")
        return
    assert command.prompt.strip()
    assert not re.search(r"(?:^|\s)--[A-Za-z]", command.prompt), "an option leaked into the prompt"
    assert set(command.options) <= {"aspect_ratio", "n", "seed", "style", "raw"}
    if "n" in command.options:
        assert type(command.options["n"]) is int and 1 <= command.options["n"] <= 4
    if "seed" in command.options:
        assert type(command.options["seed"]) is int and 0 <= command.options["seed"] < 2**32
    if "aspect_ratio" in command.options:
        assert re.fullmatch(r"[0-9]{1,2}:[0-9]{1,2}", command.options["aspect_ratio"])
    if "style" in command.options:
        assert command.options["style"] in STYLES
    # What the parser lets through, the service either accepts or refuses with its own error: never a crash.
    try:
        validate_options("offline", command.options)
    except GenerationRequestError:
        pass


@FUZZ
@given(
    # `/image help`, `/image gallery` and `/image generate <prompt>` are subcommands (seed 004): a prompt that is
    # exactly one of those words is read as the subcommand, which test_commands.py pins; hypothesis does find them.
    prompt=st.text(alphabet=st.characters(codec="ascii", categories=("L", "N")), min_size=1, max_size=30)
    .filter(lambda p: p.lower() not in {"help", "gallery", "generate"}),
    n=st.integers(1, 4),
    seed=st.integers(0, 2**32 - 1),
    ar=st.sampled_from(["1:1", "16:9", "9:16", "4:3"]),
    style=st.sampled_from(sorted(STYLES)),
)
def test_well_formed_commands_round_trip(prompt, n, seed, ar, style):
    command = parse_message(f"/image {prompt} --ar {ar} --n {n} --seed {seed} --style {style}")
    assert command.prompt == prompt
    assert command.options == {"aspect_ratio": ar, "n": n, "seed": seed, "style": style}


def _encode(img: Image.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "<script>alert(1)</script>")
    img.save(out, format=fmt, **({"pnginfo": info} if fmt == "PNG" else {}))
    return out.getvalue()


SEEDS = {
    "PNG": _encode(Image.new("RGBA", (12, 9), (10, 200, 30, 128)), "PNG"),
    "PNG-P": _encode(Image.new("P", (7, 5), 3), "PNG"),
    "JPEG": _encode(Image.new("RGB", (16, 16), (9, 90, 200)), "JPEG"),
    "WEBP": _encode(Image.new("RGB", (10, 14), (250, 9, 9)), "WEBP"),
}

# Mutations: flip bytes, cut the tail, splice in junk or another format's header.
mutation = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 10_000), st.integers(1, 255)),
    st.tuples(st.just("cut"), st.integers(0, 10_000), st.just(0)),
    st.tuples(st.just("insert"), st.integers(0, 10_000), st.binary(min_size=1, max_size=64)),
    st.tuples(st.just("append"), st.just(0), st.sampled_from([b"<html><script>alert(1)</script>", b"\x00" * 64,
                                                               b"<svg onload=alert(1)>", SEEDS["JPEG"]])),
)


def _mutate(data: bytes, mutations) -> bytes:
    buf = bytearray(data)
    for kind, where, what in mutations:
        at = where % max(len(buf), 1)
        if kind == "flip" and buf:
            buf[at] ^= what
        elif kind == "cut":
            del buf[at:]
        elif kind == "insert":
            buf[at:at] = what
        elif kind == "append":
            buf += what
    return bytes(buf)


def _assert_clean(clean: imaging.CleanImage) -> None:
    out = Image.open(io.BytesIO(clean.data))
    assert out.format in imaging.FORMATS and imaging.FORMATS[out.format][0] == clean.mime_type
    assert getattr(out, "n_frames", 1) == 1
    assert (out.width, out.height) == (clean.width, clean.height)
    assert 0 < out.width * out.height <= 4096 * 4096
    out.load()
    assert not {"Comment", "exif", "icc_profile", "xmp"} & set(out.info), out.info
    assert b"<script" not in clean.data and b"<svg" not in clean.data and b"<html" not in clean.data


@settings(FUZZ, max_examples=300)
@given(seed=st.sampled_from(sorted(SEEDS)), mutations=st.lists(mutation, min_size=1, max_size=4))
def test_the_sanitiser_on_mutated_images_refuses_or_reencodes(seed, mutations):
    data = _mutate(SEEDS[seed], mutations)
    try:
        clean = imaging.sanitize(data)
    except imaging.ImageInvalid as e:
        assert e.code in ("image_invalid", "image_too_large")
        return
    _assert_clean(clean)


@settings(FUZZ, max_examples=200)
@given(st.binary(max_size=512))
def test_the_sanitiser_on_arbitrary_bytes_refuses_or_reencodes(data):
    try:
        clean = imaging.sanitize(data)
    except imaging.ImageInvalid:
        return
    _assert_clean(clean)


@settings(FUZZ, max_examples=60)
@given(
    mode=st.sampled_from(["1", "L", "LA", "P", "RGB", "RGBA", "I;16", "I", "F", "CMYK"]),
    size=st.tuples(st.integers(1, 64), st.integers(1, 64)),
    fmt=st.sampled_from(["PNG", "JPEG", "WEBP"]),
)
def test_every_real_image_in_an_allowed_format_comes_back_the_same_size(mode, size, fmt):
    img = Image.new(mode, size)
    try:
        data = _encode(img, fmt)
    except (OSError, ValueError, KeyError):  # Pillow cannot write this mode in this format: nothing to test
        return
    clean = imaging.sanitize(data)
    _assert_clean(clean)
    assert (clean.width, clean.height) == size
