"""Share pages. Public (no sign-in, addressed by token): the shared page and its image files. Owner-only (pk, scoped
to request.user): create a share from an image or a tag, list them, revoke one. Saving a shared image needs a
signed-in user and copies it into their own gallery."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from images import delivery
from images.models import GeneratedImage, Tag
from images.storage import is_stored_name
from images.views import image_headers

from . import services
from .models import Share

PAGE_SIZE = 48


def _private_page(response: HttpResponse) -> HttpResponse:
    # A share page is reachable by anyone with the link: keep it out of caches (revoking must take effect at once)
    # and out of search engines. The site-wide Referrer-Policy "same-origin" already keeps the token from other
    # sites; "no-referrer" would make the browser send `Origin: null` on the Save form, which CSRF rightly refuses.
    response["Cache-Control"] = "private, no-store"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


@require_GET
def shared_page(request: HttpRequest, token: str) -> HttpResponse:
    share = services.active_share(token)
    services.count_view(share)
    page = Paginator(services.shared_images(share)[: services.MAX_SHARED_IMAGES], PAGE_SIZE).get_page(
        request.GET.get("page"))
    context = {
        "share": share,
        "page": page,
        "is_owner": request.user.is_authenticated and request.user.pk == share.owner_id,
        "login_url": f"{reverse('login')}?next={request.path}",
    }
    return _private_page(render(request, "sharing/public.html", context))


def _serve_shared(request: HttpRequest, token: str, image_id: int, kind: delivery.Kind) -> HttpResponse:
    """Bytes streamed through this view even on S3 (no presigned redirect that would outlive a revoke)."""
    share = services.active_share(token)
    image = services.shared_image(share, image_id)
    name = delivery.storage_name(image, kind)
    if not is_stored_name(name):
        raise Http404  # a damaged or hand-edited row (SECURITY.md T30): never handed to the storage
    try:
        handle = default_storage.open(name, "rb")
    except FileNotFoundError:
        raise Http404 from None
    content_type = "image/webp" if kind == "thumb" else image.mime_type
    download = kind == "file" and bool(request.GET.get("download"))
    response = image_headers(FileResponse(handle, content_type=content_type, as_attachment=download,
                                          filename=image.download_name if kind == "file" else None))
    return _private_page(response)


@require_GET
def shared_file(request: HttpRequest, token: str, image_id: int) -> HttpResponse:
    return _serve_shared(request, token, image_id, "file")


@require_GET
def shared_thumbnail(request: HttpRequest, token: str, image_id: int) -> HttpResponse:
    return _serve_shared(request, token, image_id, "thumb")


@login_required
@require_POST
def shared_save(request: HttpRequest, token: str, image_id: int) -> HttpResponse:
    share = services.active_share(token)
    image = services.shared_image(share, image_id)
    try:
        copy = services.save_to_gallery(share, image, request.user)
    except services.ShareError as e:
        messages.error(request, e.message)
        return redirect(share.get_absolute_url())
    messages.success(request, "Saved to your gallery.")
    return redirect(copy.get_absolute_url())


# --- the owner's side ---------------------------------------------------------------------------------------------

def _create_from_post(request: HttpRequest, **target) -> HttpResponse:
    try:
        share = services.share_create(
            owner=request.user, title=request.POST.get("title", ""), show_owner=request.POST.get("show_owner") == "on",
            expires_in_days=services.parse_expiry_days(request.POST.get("expires_in_days")), **target,
        )
    except services.ShareError as e:
        messages.error(request, e.message)
        return redirect("share-list")
    messages.success(request, "Share link created. Anyone with the link can see it until you revoke it.")
    return redirect(reverse("share-list") + f"#share-{share.pk}")


@login_required
@require_POST
def image_share(request: HttpRequest, pk: int) -> HttpResponse:
    image = get_object_or_404(GeneratedImage.objects.for_user(request.user), pk=pk)
    return _create_from_post(request, image=image)


@login_required
@require_POST
def tag_share(request: HttpRequest, pk: int) -> HttpResponse:
    tag = get_object_or_404(Tag, pk=pk, owner=request.user)
    return _create_from_post(request, tag=tag)


@login_required
@require_GET
def share_list(request: HttpRequest) -> HttpResponse:
    shares = Share.objects.for_user(request.user).select_related("image", "tag")
    for share in shares:
        share.link = request.build_absolute_uri(share.get_absolute_url())
    return render(request, "sharing/manage.html", {"nav": "gallery", "shares": shares,
                                                   "expiry_choices": services.EXPIRY_CHOICES})


@login_required
@require_POST
def share_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    share = get_object_or_404(Share.objects.for_user(request.user), pk=pk)
    if services.share_revoke(share):
        messages.success(request, "Revoked: the link no longer works.")
    return redirect("share-list")
