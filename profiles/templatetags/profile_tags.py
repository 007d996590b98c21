from django import template

from profiles.models import ImageProfile

register = template.Library()


@register.simple_tag
def image_profiles_of(user):
    """The user's image profiles, for selectors (the chat header)."""
    return ImageProfile.objects.for_user(user).order_by("name") if user.is_authenticated else ImageProfile.objects.none()
