"""The Images landing page (`/images/`) and its style preview tiles. The work is in images/landing.py."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from chats.commands import CommandError
from imagegen_site.ratelimits import RateLimited, check_generate_rate
from profiles.models import ApiKey

from . import delivery
from .landing import LandingForm, offer_for, start_from_landing, style_preview
from .models import GeneratedImage
from .services import GenerationRequestError
from .styles import STYLES, Style

RECENT_COUNT = 12
NO_STYLE = Style("none", "No style", "")


@login_required
@require_http_methods(["GET", "POST"])
def images_home(request: HttpRequest) -> HttpResponse:
    offer = offer_for(request.user)
    form = LandingForm(request.POST or None, offer=offer)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            check_generate_rate(request)
            chat = start_from_landing(owner=request.user, form=form)
        except RateLimited as e:
            form.add_error(None, e.detail)
            status = 429
        except (CommandError, GenerationRequestError) as e:
            form.add_error(None, e.message)  # nothing was saved; the form keeps the prompt and choices
        else:
            return redirect(chat)
    # A refused form is shown again with 200, as Django's form views do (a 4xx document would also put a
    # "Failed to load resource" error in the browser console).
    recent = list(GeneratedImage.objects.for_user(request.user).select_related("generation")[:RECENT_COUNT])
    for image in recent:
        image.src = delivery.page_src(image, "thumb")
    context = {
        "nav": "images",
        "form": form,
        "offer": offer,
        "styles": [NO_STYLE, *STYLES.values()],
        "recent": recent,
        "has_keys": ApiKey.objects.filter(owner=request.user).exists(),
    }
    return render(request, "images/landing.html", context, status=status)


@login_required
@require_GET
def style_preview_image(request: HttpRequest, slug: str) -> HttpResponse:
    style = NO_STYLE if slug == NO_STYLE.slug else STYLES.get(slug)
    if style is None:
        raise Http404
    response = HttpResponse(style_preview(style), content_type="image/webp")
    response["X-Content-Type-Options"] = "nosniff"
    # The same picture for everyone and it only changes with PREVIEW_VERSION (which changes nothing in the URL),
    # so a day in the browser's cache is the most a stale tile can live.
    response["Cache-Control"] = "private, max-age=86400"
    return response
