"""Small template helpers for the page chrome (error fixes, the style tiles)."""

from django import template

from images.providers.base import ERROR_HINTS

register = template.Library()


@register.filter
def error_hint(code: str) -> str:
    """What the person can do about an error code from the taxonomy (DESIGN.md), or ""."""
    return ERROR_HINTS.get(code or "", "")
