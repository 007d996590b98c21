"""The gallery's Upload / Import-from-URL dialogs and an image's type editor, as inclusion tags, so the gallery and
detail views stay as they are."""

from django import template

from ..models import ImageType

register = template.Library()


@register.inclusion_tag("images/_add_image_modals.html", takes_context=True)
def add_image_modals(context):
    return {"types": ImageType.choices, "csrf_token": context.get("csrf_token")}


@register.inclusion_tag("images/_image_extras.html", takes_context=True)
def image_extras(context, image):
    return {"image": image, "types": ImageType.choices, "csrf_token": context.get("csrf_token"),
            "request": context.get("request"), "edit_error": context.get("edit_error", ""),
            "edit_text": context.get("edit_text", "")}
