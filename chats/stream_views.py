"""The chat model's streamed reply (server-sent events), the chat-model pickers, and re-roll."""

from __future__ import annotations

import json
from typing import Iterator

from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from imagegen_site.ratelimits import check_key_check_rate
from images.models import Generation
from images.services import GenerationRequestError
from images.styles import STYLES

from .chat_model import preferences_for
from .forms import ChatModelForm, ChatPreferencesForm
from .model_list import ChatModelList, chat_models, known_models, listing_choice
from .models import Chat, Message
from .reply import stream_reply
from .services import chat_reroll


def sse(event: str, data: dict) -> bytes:
    # JSON keeps newlines inside one `data:` line, as the EventSource format requires.
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


@login_required
@require_GET
def message_stream(request: HttpRequest, pk: int) -> StreamingHttpResponse:
    message = get_object_or_404(
        Message.objects.select_related("chat").filter(chat__owner=request.user, role=Message.Role.ASSISTANT), pk=pk
    )

    def events() -> Iterator[bytes]:
        yield b": stream open\n\n"  # flushes the headers at once, so the page sees the stream start
        for event in stream_reply(message):
            if event.kind == "delta":
                yield sse("delta", {"text": event.text})
            elif event.kind == "message" and event.message is not None:
                html = render_to_string("chats/_messages.html", {"chat_messages": [event.message]}, request=request)
                yield sse("card", {"html": html})
            elif event.kind == "error":
                yield sse("problem", {"text": event.text})
        message.refresh_from_db()
        html = render_to_string("chats/_messages.html", {"chat_messages": [message]}, request=request)
        yield sse("done", {"html": html})

    response = StreamingHttpResponse(events(), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx would otherwise hold the words back until the end
    return response


@login_required
@require_POST
def chat_model_update(request: HttpRequest, pk: int) -> HttpResponse:
    chat = get_object_or_404(Chat.objects.for_user(request.user), pk=pk)
    form = ChatModelForm(request.POST, instance=chat)
    if form.is_valid():
        form.save()
        flash.success(request, "Chat settings saved.")
    else:
        flash.error(request, "Chat settings not saved: " + "; ".join(
            f"{field}: {' '.join(errors)}" for field, errors in form.errors.items()))
    return redirect(chat)


@login_required
@require_http_methods(["GET", "POST"])
def chat_settings(request: HttpRequest) -> HttpResponse:
    prefs = preferences_for(request.user)
    form = ChatPreferencesForm(request.POST or None, instance=prefs)
    if request.method == "POST" and form.is_valid():
        form.save()
        flash.success(request, "Default chat model saved.")
        return redirect("chat-settings")
    choice = listing_choice(request.user, form["llm_provider"].value() or "")
    listing = ChatModelList(known_models(choice.provider) if choice else [])  # the live list comes on focus
    return render(request, "chats/settings.html",
                  {"form": form, "listing": listing, "styles": STYLES.values(), "nav": "settings"},
                  status=422 if form.errors else 200)


@login_required
@require_GET
@never_cache
def chat_model_options(request: HttpRequest) -> HttpResponse:
    """The model pickers' <datalist> for the chosen provider (htmx, on a provider change or the first focus)."""
    if not request.headers.get("HX-Request"):
        # A fragment, not a page; and a link from another site cannot send this header, so it cannot make the
        # server call out (and spend the person's key-check allowance) on its behalf.
        return HttpResponse("This is a part of the chat model picker.", status=400,
                            content_type="text/plain; charset=utf-8")
    choice = listing_choice(request.user, request.GET.get("llm_provider", ""),
                            typed_base_url=request.GET.get("llm_base_url", ""))
    listing = ChatModelList() if choice is None else chat_models(
        request.user, choice, may_call=lambda: check_key_check_rate(request) is None)  # outbound calls only
    return render(request, "chats/_chat_model_options.html", {"listing": listing})


@login_required
@require_POST
def generation_reroll(request: HttpRequest, pk: int) -> HttpResponse:
    generation = get_object_or_404(Generation.objects.for_user(request.user), pk=pk)
    try:
        card = chat_reroll(generation=generation)
    except GenerationRequestError as e:
        return HttpResponse(e.message, status=422, content_type="text/plain; charset=utf-8")
    if not request.headers.get("HX-Request"):
        return redirect(card.chat)
    return render(request, "chats/_messages.html", {"chat_messages": [card]})
