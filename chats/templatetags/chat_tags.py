"""The chat page's chat-model picker and the image modal, as inclusion tags (the chat view stays as it is)."""

from functools import cache, lru_cache

from django import template
from django.template.loader import render_to_string
from django.utils.safestring import SafeString

from images.styles import STYLES

from ..chat_model import resolve_chat_model
from ..forms import ChatModelForm
from ..hints import command_hints
from ..model_list import ChatModelList, known_models

register = template.Library()


@register.inclusion_tag("chats/_chat_model_picker.html", takes_context=True)
def chat_model_picker(context, chat):
    label, select = provider_select(chat.llm_provider)
    choice = resolve_chat_model(chat.owner, chat)
    # Drawn with the models known without asking; the live list replaces it on the first focus (chat_model_options).
    listing = ChatModelList(known_models(choice.provider) if choice else [])
    return {"chat": chat, "provider_label": label, "provider_select": select,
            "model_label": ChatModelForm.base_fields["llm_model"].label,
            "choice": choice, "listing": listing, "csrf_token": context.get("csrf_token")}


@lru_cache(maxsize=64)
def provider_select(value: str) -> tuple[str, SafeString]:
    """The picker's provider <select> with `value` chosen, exactly as ChatModelForm(instance=chat) draws it. The
    same for every chat with that value, so drawn once a process: a form widget renders through templates (~1.5 ms
    of the chat page)."""
    field = ChatModelForm(initial={"llm_provider": value})["llm_provider"]
    return str(field.label), SafeString(str(field))


@register.inclusion_tag("chats/_image_modal.html", takes_context=True)
def image_modal(context, chat=None):
    request = context.get("request")
    profiles = []
    if request is not None and request.user.is_authenticated:
        from profiles.models import ImageProfile

        profiles = context.get("image_profiles")  # the chat page's own list, shared with its profile selector
        if profiles is None:
            profiles = list(ImageProfile.objects.for_user(request.user).order_by("name"))
    return {"chat": chat, "styles": STYLES.values(), "profiles": profiles,
            "aspect_ratios": ("1:1", "4:3", "3:4", "3:2", "2:3", "16:9", "9:16", "21:9")}


@register.simple_tag
@cache
def command_menu() -> SafeString:
    """The composer's "/" menu: the same for everyone (built from the parser's tables), so rendered once a process."""
    return render_to_string("chats/_command_menu.html", {"command_hints": command_hints()})
