from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from imagegen_site.ratelimits import RateLimited, check_generate_rate, starts_generation
from profiles.models import ApiKey, ImageProfile

from . import page_html
from .models import Chat, Message
from .services import MessageRejected, chat_create, chat_message_post

SIDEBAR_CHATS = 50


def sidebar_chats(request: HttpRequest):
    """The owner's chats for the sidebar, newest first; `?q=` keeps those whose title or messages contain it."""
    chats = Chat.objects.for_user(request.user)
    query = " ".join(request.GET.get("q", "").split())[:200]
    if query:
        chats = chats.filter(Q(title__icontains=query) | Q(messages__content__icontains=query)).distinct()
    return chats.only("pk", "title", "updated")[:SIDEBAR_CHATS], query


@login_required
def chat_list(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        chat = chat_create(owner=request.user)
        return redirect(chat)
    chats, query = sidebar_chats(request)
    current = request.GET.get("current", "")
    current_id = int(current) if current.isascii() and current.isdigit() else None
    context = {"chats": chats, "q": query, "nav": "chats", "current_id": current_id}
    if request.headers.get("HX-Request") == "true":
        return render(request, "chats/_chat_list_items.html", context)  # the sidebar's live search
    context["has_any_chat"] = bool(chats) or Chat.objects.for_user(request.user).exists()
    return render(request, "chats/list.html", context)


@login_required
@require_GET
def chat_detail(request: HttpRequest, pk: int) -> HttpResponse:
    # The page as last drawn for these exact rows, if this process has it (chats/page_html.py): no template work.
    key = page_html.page_state(request.user, pk)
    if key is None:
        raise Http404("No such chat.")
    flashing = page_html.has_flash(request)
    if not flashing and (kept := page_html.cached_response(request, key)) is not None:
        return kept
    chat = get_object_or_404(Chat.objects.for_user(request.user), pk=pk)
    chat.owner = request.user  # the same row: the header's chat-model picker reads chat.owner without a query
    messages = list(chat.messages.select_related("generation").prefetch_related("generation__images"))
    last_user = max((m for m in messages if m.role == Message.Role.USER), key=lambda m: m.pk, default=None)
    csrf_token, nonce = get_token(request), str(request.csp_nonce)  # one value each for the whole page
    # The sidebar's chat list loads right after the page (lazy_chat_list: the live search's endpoint answers it).
    response = render(
        request,
        "chats/detail.html",
        {"chat": chat, "chat_messages": messages, "lazy_chat_list": True, "nav": "chats", "current_id": chat.pk,
         "image_profiles": list(ImageProfile.objects.for_user(request.user).order_by("name")),
         "has_keys": ApiKey.objects.filter(owner=request.user).exists(), "csrf_token": csrf_token,
         "last_prompt": last_user.content if last_user else ""},
    )
    # Kept only if nothing on it changes by the clock and nothing changed while it was drawn (the rows read again
    # give the same key).
    if not flashing and page_html.cacheable(messages) and page_html.page_state(request.user, pk) == key:
        page_html.keep(key, response.content.decode(), csrf_token=csrf_token, nonce=nonce)
    return response


@login_required
@require_POST
def message_create(request: HttpRequest, pk: int) -> HttpResponse:
    chat = get_object_or_404(Chat.objects.for_user(request.user), pk=pk)
    chat.owner = request.user  # the same row, already loaded: the services read chat.owner without a query
    if starts_generation(request.POST.get("content", "")):
        try:
            check_generate_rate(request)
        except RateLimited as e:
            # Nothing was saved; the text stays in the box (app.js shows this answer's text).
            response = render(request, "chats/_rejected.html", {"error": e.detail}, status=429)
            response["Retry-After"] = str(e.retry_after)
            return response
    old_title = chat.title
    try:
        new_messages = chat_message_post(chat=chat, content=request.POST.get("content", ""))
    except MessageRejected as e:
        # Nothing was saved: answer 422 so the page keeps the text in the box and shows why.
        return render(request, "chats/_rejected.html", {"error": e.message}, status=422)
    if not request.headers.get("HX-Request"):
        return redirect(chat)
    # The first message names the chat: update the header and the sidebar in the same answer (htmx out-of-band).
    retitled = chat if chat.title != old_title else None
    # just_posted: the new card leaves out its place in line (chats/message_html.py); its first poll shows it.
    return render(request, "chats/_messages.html",
                  {"chat_messages": new_messages, "retitled": retitled, "just_posted": True})


@login_required
@require_POST
def chat_delete(request: HttpRequest, pk: int) -> HttpResponse:
    chat = get_object_or_404(Chat.objects.for_user(request.user), pk=pk)
    chat.delete()
    flash.success(request, f"Deleted the chat “{chat.title}”. Its images stay in your gallery.")
    return redirect(_safe_next(request) or "chat-list")


@login_required
@require_POST
def chat_rename(request: HttpRequest, pk: int) -> HttpResponse:
    chat = get_object_or_404(Chat.objects.for_user(request.user), pk=pk)
    title = " ".join(request.POST.get("title", "").split())
    if not title:
        flash.error(request, "A chat needs a name; it was left as it was.")
    else:
        chat.title = title[: Chat._meta.get_field("title").max_length]
        chat.save(update_fields=["title"])  # not "updated": renaming does not move the chat to the top
    return redirect(_safe_next(request) or chat)


def _safe_next(request: HttpRequest) -> str:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=request.is_secure()):
        return target
    return ""
