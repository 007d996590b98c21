"""{% chat_message message %}: one chat message, from the per-process cache of finished ones (chats/message_html.py)."""

from django import template

from ..message_html import render_message

register = template.Library()


@register.simple_tag(takes_context=True)
def chat_message(context, message):
    return render_message(message, context.get("request"), queue_position=not context.get("just_posted"))
