"""The Images landing page (seed 003 `/images`): its form, what the person's default profile offers, and the
style preview tiles.

Generating from the page is the chat's `/image` command in a new chat (chats.services.chat_message_post), so there
is one pipeline: the new chat shows the user's command and the image card, exactly as if it had been typed there.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from django import forms
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from PIL import Image

from chats.commands import COMMANDS, CommandError, parse_message
from chats.models import Chat
from chats.services import chat_create, chat_message_post

from .providers import DEFAULT_PROVIDER, get_provider_class
from .providers.offline import render
from .services import MAX_IMAGES_PER_REQUEST, resolve_profile, validate_options
from .styles import STYLES, Style

# Bump when the preview scene or the renderer changes, so cached tiles are made again.
PREVIEW_VERSION = "v1"
PREVIEW_SIZE = 160
PREVIEW_SCENE = "a lighthouse on a green hill by the sea at sunset"
FALLBACK_RATIOS = ("1:1", "4:3", "3:4", "16:9", "9:16")


@dataclass(frozen=True)
class Offer:
    """What the person's default image profile can do: the pickers show only these."""

    provider_label: str
    model: str
    aspect_ratios: tuple[str, ...]
    n_max: int
    uses_offline: bool


def offer_for(user) -> Offer:
    profile = resolve_profile(owner=user)
    kind = profile.provider if profile else DEFAULT_PROVIDER
    cls = get_provider_class(kind)
    model = (profile.model if profile else "") or cls.capabilities.default_model
    caps = cls.capabilities_for(model)
    return Offer(
        provider_label=cls.label,
        model=model,
        aspect_ratios=caps.aspect_ratios or FALLBACK_RATIOS,
        n_max=MAX_IMAGES_PER_REQUEST,  # past the model's own n_max the calls run at once (images/fanout.py)
        uses_offline=kind == DEFAULT_PROVIDER,
    )


class LandingForm(forms.Form):
    prompt = forms.CharField(
        max_length=settings.IMAGEGEN_MAX_PROMPT_CHARS,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "Describe an image: a watercolour fox at dawn"}),
        error_messages={"required": "Describe the image you want first."},
    )
    style = forms.ChoiceField(required=False)
    aspect_ratio = forms.ChoiceField()
    n = forms.TypedChoiceField(coerce=int)

    def __init__(self, *args, offer: Offer, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.offer = offer
        self.fields["style"].choices = [("", "No style"), *((s.slug, s.name) for s in STYLES.values())]
        self.fields["aspect_ratio"].choices = [(r, r) for r in offer.aspect_ratios]
        self.fields["n"].choices = [(i, str(i)) for i in range(1, offer.n_max + 1)]
        self.fields["aspect_ratio"].initial = offer.aspect_ratios[0]
        self.fields["n"].initial = 1

    def clean_prompt(self) -> str:
        prompt = " ".join(self.cleaned_data["prompt"].split())
        head, _, rest = prompt.partition(" ")
        if head.lower() in COMMANDS:  # someone typed the chat command here too; the page adds it
            prompt = rest.strip()
        if not prompt:
            raise forms.ValidationError("Describe the image you want first.")
        return prompt

    def command(self) -> str:
        """The chat message this form stands for, as the person could have typed it in a chat."""
        data = self.cleaned_data
        parts = ["/image", data["prompt"]]
        if data["aspect_ratio"] != "1:1":
            parts.append(f"--ar {data['aspect_ratio']}")
        if data["n"] != 1:
            parts.append(f"--n {data['n']}")
        if data.get("style"):
            parts.append(f"--style {data['style']}")
        return " ".join(parts)


def start_from_landing(*, owner, form: LandingForm) -> Chat:
    """A new chat holding the command and its image card. Raises CommandError or GenerationRequestError for input
    the pipeline would refuse, before anything is saved, so the form keeps what was typed."""
    content = form.command()
    command = parse_message(content)  # the prompt itself may hold "--something" the parser refuses
    if command is None or command.action != "generate":
        raise CommandError("Describe the image you want first.")
    profile = resolve_profile(owner=owner)
    kind = profile.provider if profile else DEFAULT_PROVIDER
    validate_options(kind, command.options, (profile.model if profile else "") or "")
    with transaction.atomic():
        chat = chat_create(owner=owner)
        # Read back with its owner row, as the chat page's own post does: `owner` may be request.user's lazy
        # wrapper, which the services must not have to know about.
        chat = Chat.objects.select_related("owner").get(pk=chat.pk)
        chat_message_post(chat=chat, content=content)
    return chat


def preview_name(style: Style) -> str:
    return f"styles/{PREVIEW_VERSION}/{style.slug}.webp"


def style_preview(style: Style) -> bytes:
    """A small WEBP of the preview scene in this style, made by the offline renderer the first time it is asked
    for and kept in storage afterwards (the same bytes for everyone: the seed is fixed)."""
    name = preview_name(style)
    if default_storage.exists(name):
        with default_storage.open(name, "rb") as handle:
            return handle.read()
    png = render(f"{PREVIEW_SCENE}, {style.suffix}", seed=7, width=PREVIEW_SIZE * 2, height=PREVIEW_SIZE * 2)
    picture = Image.open(io.BytesIO(png)).convert("RGB").resize((PREVIEW_SIZE, PREVIEW_SIZE), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    picture.save(out, format="WEBP", quality=80)
    data = out.getvalue()
    if not default_storage.exists(name):  # two first visitors at once: the second finds the file and skips
        default_storage.save(name, ContentFile(data))
    return data
