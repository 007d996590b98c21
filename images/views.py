from django.contrib.auth.decorators import login_required
from django.core import signing
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.utils.cache import get_conditional_response
from django.utils.http import http_date
from django.views.decorators.http import require_GET, require_POST

from imagegen_site.ratelimits import RateLimited, check_generate_rate
from imagegen_site.storage_config import MEDIA_LINK_MAX_AGE_S

from . import delivery, previews
from .models import GeneratedImage, Generation
from .services import GenerationRequestError, generation_cancel, generation_retry
from .storage import is_stored_name


def _serve(request: HttpRequest, image: GeneratedImage, kind: delivery.Kind, *,
           max_age: int = MEDIA_LINK_MAX_AGE_S) -> HttpResponse:
    """The file, to a caller whose right to it was checked. A browser may reuse it for `max_age` seconds (the link
    lifetime, or what is left of a signed link); after that it asks again, and an unchanged file is a 304."""
    download = bool(request.GET.get("download"))
    if not is_stored_name(delivery.storage_name(image, kind)):
        raise Http404  # a damaged or hand-edited row (SECURITY.md T30): never handed to the storage, on disk or S3
    if delivery.uses_presigned_urls():
        # S3: the owner was checked by the caller; hand over a presigned URL valid for five minutes.
        response = HttpResponseRedirect(delivery.presigned_url(image, kind, download=download))
        response["Cache-Control"] = "private, no-store"
        return response
    name = delivery.storage_name(image, kind)
    content_type = "image/webp" if kind == "thumb" else image.mime_type
    filename = image.download_name if kind == "file" else image.download_name.rsplit(".", 1)[0] + "_thumb.webp"
    try:
        modified = default_storage.get_modified_time(name)
        size = default_storage.size(name)
    except (FileNotFoundError, NotImplementedError):
        modified = size = None
    validators = {}
    if modified is not None:
        # Like a static file server: size and modification time, so a thumbnail rebuilt in place is a new ETag.
        stamp = round(modified.timestamp() * 1e6)
        validators = {"etag": f'"{kind}-{size:x}-{stamp:x}"', "last_modified": modified.timestamp()}
        not_modified = get_conditional_response(request, **validators)
        if not_modified is not None:
            return _set_validators(image_headers(not_modified, max_age=max_age), **validators)
    try:
        handle = default_storage.open(name, "rb")
    except FileNotFoundError:
        raise Http404 from None
    response = FileResponse(handle, content_type=content_type, as_attachment=download, filename=filename)
    return _set_validators(image_headers(response, max_age=max_age), **validators)


def _set_validators(response: HttpResponse, *, etag: str = "", last_modified: float | None = None) -> HttpResponse:
    if etag:
        response["ETag"] = etag
    if last_modified is not None:
        response["Last-Modified"] = http_date(last_modified)
    return response


def image_headers(response: HttpResponse, *, max_age: int = MEDIA_LINK_MAX_AGE_S) -> HttpResponse:
    # An image, never anything a browser could run: fixed type, no sniffing, sandboxed, private. Never `immutable`
    # or longer than a link lives: a deleted image or a logged-out session must not keep showing it for a day.
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    response["Cache-Control"] = f"private, max-age={max_age}"
    return response


@login_required
@require_GET
def image_file(request: HttpRequest, pk: int) -> FileResponse:
    # The owner's unsaved modal images too: GET /api/generations/{id}/ links them until they are saved or pruned.
    image = get_object_or_404(GeneratedImage.objects.for_user(request.user, include_unsaved=True), pk=pk)
    return _serve(request, image, "file")


@login_required
@require_GET
def image_thumbnail(request: HttpRequest, pk: int) -> FileResponse:
    # The owner's unsaved modal images too: GET /api/generations/{id}/ links them until they are saved or pruned.
    image = get_object_or_404(GeneratedImage.objects.for_user(request.user, include_unsaved=True), pk=pk)
    return _serve(request, image, "thumb")


@require_GET
def image_signed(request: HttpRequest, token: str) -> HttpResponse:
    """A short-lived link bound to its owner; it works without a session (API clients, a cookieless media host).

    Tampered: 403. Expired: 403 link_expired. Someone else's link while logged in, or a deleted image: 404.
    """
    try:
        payload = delivery.unsign(token)
    except signing.SignatureExpired:
        return JsonResponse({"code": "link_expired", "detail": "This link has expired; reload the page."}, status=403)
    except signing.BadSignature:
        return JsonResponse({"code": "forbidden", "detail": "This link is not valid."}, status=403)
    owner_id = payload.get("u")
    if request.user.is_authenticated and request.user.pk != owner_id:
        raise Http404
    image = get_object_or_404(GeneratedImage, pk=payload.get("i"), owner_id=owner_id)
    # The URL carries the token: a browser may reuse the answer only while the link itself would still work.
    return _serve(request, image, "thumb" if payload.get("k") == "thumb" else "file",
                  max_age=delivery.seconds_left(token))


@login_required
@require_GET
def generation_card(request: HttpRequest, pk: int) -> HttpResponse:
    generation = get_object_or_404(Generation.objects.for_user(request.user).prefetch_related("images"), pk=pk)
    return render(request, "images/_generation_card.html", {"generation": generation})


@login_required
@require_POST
def generation_cancel_view(request: HttpRequest, pk: int) -> HttpResponse:
    generation = get_object_or_404(Generation.objects.for_user(request.user), pk=pk)
    generation_cancel(generation=generation)
    generation.refresh_from_db()
    return render(request, "images/_generation_card.html", {"generation": generation})


@login_required
@require_POST
def generation_retry_view(request: HttpRequest, pk: int) -> HttpResponse:
    generation = get_object_or_404(Generation.objects.for_user(request.user), pk=pk)
    try:
        check_generate_rate(request)  # a retry starts a generation too
    except RateLimited as e:
        response = HttpResponse(e.detail, status=429, content_type="text/plain; charset=utf-8")
        response["Retry-After"] = str(e.retry_after)
        return response
    try:
        new = generation_retry(generation=generation)
    except GenerationRequestError as e:  # e.g. quota_exceeded: the card stays; the page shows why (app.js)
        status = 429 if e.code == "quota_exceeded" else 422
        return HttpResponse(e.message, status=status, content_type="text/plain; charset=utf-8")
    return render(request, "images/_generation_card.html", {"generation": new})


@login_required
@require_GET
def generation_preview(request: HttpRequest, pk: int) -> HttpResponse:
    """The latest partial image of the owner's running generation (a small WEBP; images/previews.py)."""
    generation = get_object_or_404(Generation.objects.for_user(request.user), pk=pk)
    if not previews.is_preview_name(generation.preview):  # none, or a damaged row (SECURITY.md T30)
        raise Http404
    try:
        handle = default_storage.open(generation.preview, "rb")
    except FileNotFoundError:
        raise Http404 from None  # replaced by a newer frame or discarded at the end: the next poll has the news
    response = image_headers(FileResponse(handle, content_type="image/webp"))
    response["Cache-Control"] = "private, no-store"  # a moment's frame, not worth keeping
    return response
