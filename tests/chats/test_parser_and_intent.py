"""The one /image and /edit parser (property-based: never crashes, options round-trip) and the phrase rule."""

import pytest
from hypothesis import given, settings, strategies as st

from chats.commands import CommandError, parse_message
from chats.intent import edit_request, image_request
from images.styles import STYLES

words = st.lists(st.from_regex(r"[a-z]{2,8}", fullmatch=True), min_size=1, max_size=6).map(" ".join)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_the_parser_never_crashes(text):
    for command in ("/image ", "/edit ", "/img ", ""):
        try:
            parse_message(command + text)
        except CommandError as e:
            assert e.message  # a refusal always says why


@settings(max_examples=200, deadline=None)
@given(prompt=words, ar=st.sampled_from(["1:1", "16:9", "9:16", "3:2"]), n=st.integers(1, 4),
       seed=st.integers(0, 2**32 - 1), style=st.sampled_from(list(STYLES)), negative=words,
       raw=st.booleans(), command=st.sampled_from(["/image", "/imagine", "/img", "/image generate", "/edit"]))
def test_options_round_trip(prompt, ar, n, seed, style, negative, raw, command):
    text = f"{command} {prompt} --ar {ar} --n {n} --seed {seed} --style {style}{' --raw' if raw else ''} --no {negative}"
    parsed = parse_message(text)
    assert parsed.action == ("edit" if command == "/edit" else "generate")
    assert parsed.prompt == prompt and parsed.negative_prompt == negative
    expected = {"aspect_ratio": ar, "n": n, "seed": seed, "style": style}
    if raw:
        expected["raw"] = True
    assert parsed.options == expected


@pytest.mark.parametrize("text,error", [
    ("/image a fox --n 9", "--n takes a number from 1 to 4"),
    ("/image a fox --ar wide", "--ar takes a ratio like 16:9"),
    ("/image a fox --style vaporwave", "Unknown style 'vaporwave'. Styles: watercolour"),
    ("/image a fox --zoom 2", "Unknown option --zoom"),
    ("/edit", "Say what to change"),
    ("/edit --seed 3", "Say what to change"),
])
def test_bad_options_name_the_option_and_the_allowed_values(text, error):
    with pytest.raises(CommandError) as e:
        parse_message(text)
    assert error in e.value.message


@pytest.mark.parametrize("text,prompt", [
    ("draw me a lighthouse in a storm", "a lighthouse in a storm"),
    ("Generate an image of a cat on a roof.", "a cat on a roof"),
    ("can you make me a picture of two foxes?", "two foxes"),
    ("please paint a sunset over the sea", "a sunset over the sea"),
    ("create a watercolour painting of Paris", "a watercolour painting of Paris"),
    ("sketch the old mill by the river", "the old mill by the river"),
])
def test_plain_requests_for_a_picture(text, prompt):
    assert image_request(text) == prompt


@pytest.mark.parametrize("text", [
    "how do I draw a circle in CSS?", "draw a conclusion from these numbers", "I like to draw cats",
    "what is an image of a cat", "make a list of things", "show me the image of the report", "generate a report",
    "draw the line here", "draw me something", "hello there", "don't draw a cat",
    "Make an image of " + "very " * 70 + "long things",
])
def test_not_requests_for_a_picture(text):
    assert image_request(text) is None


@pytest.mark.parametrize("text,ok", [
    ("make it darker", True), ("Make the sky pink", True), ("add a hat to the cat", True),
    ("remove the background", True), ("turn it into night", True), ("how do I make it darker", False),
    ("hello there", False), ("thanks, that's great", False),
])
def test_follow_up_edits(text, ok):
    assert (edit_request(text) is not None) is ok
