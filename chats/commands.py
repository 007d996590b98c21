"""The chat command parser: `/image <prompt> [--ar 16:9] [--n 2] [--seed 42] [--no <negative>] [--style s] ...`.

One parser for the chat page and the API. It only reads text: whether a style, profile or aspect ratio exists for
the chosen provider is checked by the service that starts the generation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from images.styles import STYLES

IMAGE_TYPES = ("scene", "character", "location", "item")  # images.models.ImageType without "none"

COMMANDS = ("/image", "/imagine", "/img")
EDIT_COMMANDS = ("/edit",)
# ASCII digits only: \d and str.isdigit() also match "²" or "١", which int() then refuses (found by fuzzing).
ASPECT_RATIO = re.compile(r"^[0-9]{1,2}:[0-9]{1,2}$")
OPTION = re.compile(r"(?:^|\s)--([A-Za-z][\w-]*)")

HELP = """**/image** makes a picture from your words. Aliases: /imagine, /img.

`/image a watercolour fox at dawn`
`/image a lighthouse in a storm --ar 16:9 --n 2 --seed 42 --no people`

Options:
- `--ar W:H` aspect ratio (1:1, 4:3, 3:4, 3:2, 2:3, 16:9, 9:16, 21:9)
- `--n N` how many images, 1–4
- `--seed N` repeat a result exactly (same prompt + seed)
- `--no <words>` what to leave out (negative prompt)
- `--style <preset>` one of: {styles}
- `--profile <name>` use one of your image profiles
- `--type <type>` scene, character, location or item: adds your world notes for it (Settings → World notes)
- `--image <id>` start from one of your gallery images (an upload, an import, any image) as the reference
- `--raw` send your prompt exactly as typed

`/edit <instruction>` changes the chat's latest image (`/edit make it darker`), with a provider that can edit;
`/edit --image 12 <instruction>` changes image 12 of your gallery instead (uploads and imports too).
Plain words work too: "draw me a lighthouse in a storm", and "make it darker" right after an image.

`/image gallery` shows this chat's images; `/image help` shows this card."""


class CommandError(Exception):
    def __init__(self, message: str, *, code: str = "validation_error") -> None:
        super().__init__(message)
        self.message, self.code = message, code


@dataclass
class ImageCommand:
    action: str  # "generate", "edit", "help" or "gallery"
    prompt: str = ""
    options: dict = field(default_factory=dict)
    negative_prompt: str = ""
    profile_name: str = ""


def help_text() -> str:
    return HELP.format(styles=", ".join(STYLES))


def is_command(text: str) -> bool:
    head = text.strip().split(maxsplit=1)[0].lower() if text.strip() else ""
    return head in COMMANDS or head in EDIT_COMMANDS


def parse_message(text: str) -> ImageCommand | None:
    """None for a plain message; an ImageCommand for /image; CommandError for a malformed one."""
    text = text.strip()
    if not is_command(text):
        return None
    rest = text.split(maxsplit=1)[1].strip() if len(text.split(maxsplit=1)) > 1 else ""
    first = rest.split(maxsplit=1)[0].lower() if rest else ""
    if text.split(maxsplit=1)[0].lower() in EDIT_COMMANDS:
        command = _with_options(ImageCommand(action="edit"), rest)
        if not command.prompt:
            raise CommandError("Say what to change: /edit <instruction>, for example /edit make it darker",
                               code="missing_prompt")
        return command
    if first == "help":
        return ImageCommand(action="help")
    if first == "gallery":
        return ImageCommand(action="gallery")
    if first == "generate":
        rest = rest.split(maxsplit=1)[1] if len(rest.split(maxsplit=1)) > 1 else ""
    command = _with_options(ImageCommand(action="generate"), rest)
    if not command.prompt:
        raise CommandError("Tell me what to draw: /image <prompt>", code="missing_prompt")
    return command


def _with_options(command: ImageCommand, rest: str) -> ImageCommand:
    """Read the inline options out of `rest`; the words that are left are the prompt."""
    prompt_parts = [OPTION.split(rest, maxsplit=1)[0]]
    matches = list(OPTION.finditer(rest))
    for i, match in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(rest)
        value = rest[match.end() : end].strip()
        trailing = _apply_option(command, match.group(1).lower(), value)
        prompt_parts.append(trailing)
    command.prompt = " ".join(p.strip() for p in prompt_parts if p.strip())
    return command


def _apply_option(command: ImageCommand, name: str, value: str) -> str:
    """Store one option; return any words after a one-word value, which belong to the prompt."""
    if name == "raw":
        command.options["raw"] = True
        return value
    if name == "no":
        if not value:
            raise CommandError("--no needs the words to leave out, for example --no people, text.")
        command.negative_prompt = value
        return ""
    word, _, trailing = value.partition(" ")
    if not word:
        raise CommandError(f"--{name} needs a value. {_allowed(name)}")
    if name in ("ar", "aspect", "aspect-ratio"):
        if not ASPECT_RATIO.match(word):
            raise CommandError(f"--ar takes a ratio like 16:9, not {word!r}. {_allowed('ar')}")
        command.options["aspect_ratio"] = word
    elif name == "n":
        if not _is_number(word) or not 1 <= int(word) <= 4:
            raise CommandError(f"--n takes a number from 1 to 4, not {word!r}.")
        command.options["n"] = int(word)
    elif name == "seed":
        if not _is_number(word) or int(word) >= 2**32:
            raise CommandError(f"--seed takes a whole number from 0 to 4294967295, not {word!r}.")
        command.options["seed"] = int(word)
    elif name == "style":
        slug = word.lower()
        if slug not in STYLES:
            raise CommandError(f"Unknown style {word!r}. {_allowed('style')}")
        command.options["style"] = slug
    elif name == "profile":
        command.profile_name = word
    elif name == "type":
        slug = word.lower()
        if slug == "none":
            command.options.pop("type", None)
        elif slug not in IMAGE_TYPES:
            raise CommandError(f"Unknown type {word!r}. {_allowed('type')}")
        else:
            command.options["type"] = slug
    elif name in ("image", "ref"):
        if not _is_number(word) or int(word) < 1:
            raise CommandError(f"--{name} takes an image number from your gallery (its page shows it), not {word!r}.")
        command.options["edit_of"] = int(word)
    else:
        raise CommandError(
            f"Unknown option --{name}. Options: --ar, --n, --seed, --no, --style, --profile, --type, --image, --raw "
            "(see /image help)."
        )
    return trailing


def _is_number(word: str) -> bool:
    return word.isascii() and word.isdigit()


def _allowed(name: str) -> str:
    if name == "style":
        return "Styles: " + ", ".join(STYLES) + "."
    if name == "ar":
        return "For example: 1:1, 4:3, 3:2, 16:9, 9:16, 21:9."
    if name == "type":
        return "Types: " + ", ".join(IMAGE_TYPES) + " (or none)."
    return ""
