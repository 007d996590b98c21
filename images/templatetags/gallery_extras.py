"""The gallery's tiles (drawn once per process), its Upload / Import-from-URL dialogs and an image's type editor, as
template tags, so the gallery and detail views stay as they are."""

from django import template
from django.template.loader import render_to_string
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe

from imagegen_site.fragments import Fragments

from ..models import ImageType

register = template.Library()

TILE_TEMPLATE = "images/_gallery_tile.html"
_tiles = Fragments(max_weight=16 * 2**20)  # ~25,000 tiles of ~650 characters


@register.simple_tag
def gallery_tile(image, querystring: str) -> SafeString:
    """One tile, keyed by every value _gallery_tile.html draws: the same image, star, prompt (its generation's,
    annotated by the gallery view), thumbnail link and filters give the same HTML (issue 10, P3: 48 tiles were a
    third of a gallery page). The image is the owner's, as the page loaded it; its id is in the key, so a tile is
    never drawn from another image."""
    key = (image.pk, image.is_favorite, image.prompt, image.src, querystring)
    html = _tiles.get(key)
    if html is None:
        html = render_to_string(TILE_TEMPLATE, {"image": image, "querystring": querystring})
        _tiles.put(key, html)
    return mark_safe(html)  # noqa: S308 - a template's output


# Stands for the CSRF token in the dialogs drawn once: letters and digits, so escaping leaves it as it is.
_TOKEN_MARK = "csrftokenmark7f3a9c1e5b2d8046"
_dialogs = Fragments(max_weight=64 * 2**10)


@register.simple_tag(takes_context=True)
def add_image_modals(context) -> SafeString:
    """The Upload / Import dialogs (images/_add_image_modals.html). The gallery draws them with no form data, so they
    differ only in the CSRF token (a fresh mask on every request): drawn once a process around a marker, and the
    request's token put in its place, as {% csrf_token %} would escape it (issue 10, P3)."""
    token = context.get("csrf_token")
    if not token or str(token) == "NOTPROVIDED":  # what {% csrf_token %} draws then ("") is drawn by it
        return render_to_string("images/_add_image_modals.html", {"types": ImageType.choices, "csrf_token": token})
    html = _dialogs.get("add-image")
    if html is None:
        html = render_to_string("images/_add_image_modals.html", {"types": ImageType.choices, "csrf_token": _TOKEN_MARK})
        _dialogs.put("add-image", html)
    return mark_safe(html.replace(_TOKEN_MARK, str(conditional_escape(str(token)))))  # noqa: S308 - a template's output


@register.inclusion_tag("images/_image_extras.html", takes_context=True)
def image_extras(context, image):
    return {"image": image, "types": ImageType.choices, "csrf_token": context.get("csrf_token"),
            "request": context.get("request"), "edit_error": context.get("edit_error", ""),
            "edit_text": context.get("edit_text", "")}
