"""Plain-language image requests without a tool-calling chat model: a conservative phrase rule.

Like SillyTavern's interactive mode: a request verb, a picture noun and a subject ("generate an image of a
lighthouse", "make me a picture of …"), or a drawing verb and a subject ("draw me a lighthouse in a storm").
Only at the start of the message (after "please", "can you" and the like), never in a question about how to do
something, and not for idioms ("draw a conclusion"). Follow-up edits ("make it darker") count only right after an
image. When unsure, it says no: a missed picture costs one `/image`, a false one costs money.
"""

from __future__ import annotations

import re

POLITE = r"(?:(?:hey|ok|okay|so|now|please|pls|kindly)[,!]?\s+)*(?:(?:can|could|would|will)\s+you\s+(?:please\s+)?)?"
ASK_VERB = r"(?:generate|create|make|render|produce|give|paint|draw|sketch|design|imagine)"
PICTURE = r"(?:image|picture|pic|photo|photograph|drawing|painting|illustration|sketch|portrait|render|artwork|wallpaper)"
GENERIC = re.compile(r"^(?:an?\s+|some\s+|one\s+|another\s+)?(?:image|picture|pic)s?\s+of\s+", re.IGNORECASE)
DRAW_VERB = r"(?:draw|paint|sketch|illustrate)"

PICTURE_REQUEST = re.compile(
    rf"^{POLITE}{ASK_VERB}\s+(?:me\s+|us\s+)?(?P<subject>(?:an?\s+|some\s+|one\s+|another\s+)?(?:[\w-]+\s+)?"
    rf"{PICTURE}s?\s+(?:of|showing|with|depicting|featuring)\s+.+)$",
    re.IGNORECASE | re.DOTALL,
)
DRAW_REQUEST = re.compile(rf"^{POLITE}{DRAW_VERB}\s+(?:me\s+|us\s+)?(?P<subject>(?:an?|the|some|two|three|my|our)\s+.+)$",
                          re.IGNORECASE | re.DOTALL)
# Things people "draw" that are not pictures.
IDIOMS = re.compile(r"^(?:an?|the|some|my|our)\s+(?:conclusions?|lines?|distinctions?|comparisons?|parallels?|"
                    r"attention|inspiration|cards?|breath|blanks?|lots?|straws?|salary|pension|crowds?|fire|"
                    r"sword|bath|curtains?|diagram of your|lesson)\b", re.IGNORECASE)

EDIT_REQUEST = re.compile(
    rf"^{POLITE}(?P<instruction>(?:make\s+(?:it|the\s+\w+|him|her|them)\s+\w+|"
    r"(?:add|remove|change|replace|turn|recolou?r|give\s+(?:it|him|her|them))\s+.+))$",
    re.IGNORECASE | re.DOTALL,
)
QUESTION = re.compile(r"^(?:how|why|what|where|when|who|which|is|are|do|does|did|should|shall|don't|do not|never)\b",
                      re.IGNORECASE)
MAX_WORDS = 60  # a long message is a conversation, not a request


def _clean(text: str) -> str:
    return " ".join(text.strip().split())


def image_request(text: str) -> str | None:
    """The prompt, if `text` asks for a new picture in plain words; else None."""
    text = _clean(text)
    if not text or len(text.split()) > MAX_WORDS or QUESTION.match(text):
        return None
    body = text.rstrip("?!. ")
    match = PICTURE_REQUEST.match(body)
    if match:
        # "an image of a fox" → "a fox"; "a watercolour painting of Paris" keeps its words: they are the style.
        return GENERIC.sub("", match.group("subject")).strip() or None
    match = DRAW_REQUEST.match(body)
    if match and not IDIOMS.match(match.group("subject")):
        return match.group("subject").strip()
    return None


def edit_request(text: str) -> str | None:
    """The instruction, if `text` reads like a change to the picture just made ("make it darker"); else None.
    The caller checks that the previous answer was an image."""
    text = _clean(text)
    if not text or len(text.split()) > 30 or QUESTION.match(text):
        return None
    match = EDIT_REQUEST.match(text.rstrip("?!. "))
    return match.group("instruction").strip() if match else None
