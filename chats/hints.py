"""What the composer's `/` menu offers (static/app/command_menu.js filters and inserts these).

Built from the parser's own tables (chats.commands, images.styles), so the menu cannot offer something the parser
refuses.
"""

from __future__ import annotations

from dataclasses import dataclass

from images.styles import STYLES


@dataclass(frozen=True)
class Hint:
    insert: str  # the text put into the box (a command) or in place of the word being typed (an option)
    label: str
    description: str
    kind: str  # "command": starts the message; "option": a --flag after the prompt
    # Shown only once this much is typed: the ten styles appear after "--style ", so the first list stays short
    # enough to read (and to fit above the box without scrolling).
    needs: str = ""


def command_hints() -> list[Hint]:
    return [
        Hint("/image ", "/image", "Make an image from your words", "command"),
        Hint("/image help", "/image help", "Options and styles", "command"),
        Hint("/image gallery", "/image gallery", "This chat's images", "command"),
        Hint("/edit ", "/edit", "Change the chat's latest image", "command"),
        Hint("/image --style ", "/image --style …", "A style: " + ", ".join(s.name for s in STYLES.values()),
             "command"),
        *(Hint(f"/image --style {s.slug} ", f"/image --style {s.slug}", f"{s.name} style", "command",
               needs="/image --style ") for s in STYLES.values()),
        Hint("--ar 16:9 ", "--ar 16:9", "Wide (also 1:1, 4:3, 3:2, 21:9 …)", "option"),
        Hint("--ar 9:16 ", "--ar 9:16", "Tall", "option"),
        Hint("--n 2 ", "--n 2", "How many images, 1–4", "option"),
        Hint("--seed ", "--seed", "Repeat a result exactly", "option"),
        Hint("--no ", "--no", "What to leave out", "option"),
        Hint("--raw ", "--raw", "Send the prompt exactly as typed", "option"),
        Hint("--profile ", "--profile", "Use one of your image profiles", "option"),
        Hint("--style ", "--style …", "A style preset", "option"),
        *(Hint(f"--style {s.slug} ", f"--style {s.slug}", f"{s.name} style", "option", needs="--style ")
          for s in STYLES.values()),
    ]
