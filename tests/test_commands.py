import pytest

from chats.commands import CommandError, parse_message


def test_plain_text_is_not_a_command():
    assert parse_message("draw me a lighthouse") is None
    assert parse_message("/imagery is a word") is None


@pytest.mark.parametrize("alias", ["/image", "/imagine", "/img", "/IMAGE"])
def test_aliases_start_a_generation(alias):
    command = parse_message(f"{alias} a watercolour fox at dawn")
    assert command.action == "generate"
    assert command.prompt == "a watercolour fox at dawn"


def test_it_parses_every_option_and_keeps_the_prompt_words_around_them():
    command = parse_message("/image a fox --ar 16:9 at dawn --n 2 --seed 42 --style watercolour --raw --no people, text")
    assert command.prompt == "a fox at dawn"
    assert command.options == {"aspect_ratio": "16:9", "n": 2, "seed": 42, "style": "watercolour", "raw": True}
    assert command.negative_prompt == "people, text"


def test_generate_help_and_gallery_subcommands():
    assert parse_message("/image generate a cat").prompt == "a cat"
    assert parse_message("/image help").action == "help"
    assert parse_message("/image gallery").action == "gallery"


def test_profile_option_names_a_profile():
    assert parse_message("/image a cat --profile Work").profile_name == "Work"


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("/image", "Tell me what to draw"),
        ("/image   --ar 16:9", "Tell me what to draw"),
        ("/image generate --ar 1:1", "Tell me what to draw"),
        ("/image a fox --zoom 2", "Unknown option --zoom"),
        ("/image a fox --n 9", "--n takes a number from 1 to 4"),
        ("/image a fox --n two", "--n takes a number"),
        ("/image a fox --ar wide", "--ar takes a ratio"),
        ("/image a fox --seed -1", "--seed takes a whole number"),
        ("/image a fox --style nope", "Unknown style 'nope'"),
        ("/image a fox --no", "--no needs the words"),
    ],
)
def test_bad_commands_name_the_problem(text, fragment):
    with pytest.raises(CommandError) as excinfo:
        parse_message(text)
    assert fragment in excinfo.value.message
