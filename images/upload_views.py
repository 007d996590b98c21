"""Gallery pages for outside images and categories: Upload, Import from URL, set an image's type, and edit any
gallery image (an upload too) with a prompt. Thin: the work is images/uploads.py's and generation_start's."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from imagegen_site.ratelimits import RateLimited

from . import gallery
from .masks import save_mask
from .models import GeneratedImage, ImageType
from .services import GenerationRequestError
from .upload_limits import check_import_rate
from .uploads import MAX_DESCRIPTION_CHARS, MAX_URL_CHARS, UploadError, image_import, image_upload

TYPE_CHOICES = ImageType.choices


class UploadForm(forms.Form):
    file = forms.FileField(required=False)  # "missing" is the service's message, the same as the API's
    description = forms.CharField(required=False, max_length=MAX_DESCRIPTION_CHARS)
    image_type = forms.ChoiceField(required=False, choices=TYPE_CHOICES)


class ImportForm(forms.Form):
    url = forms.CharField(required=False, max_length=MAX_URL_CHARS)
    description = forms.CharField(required=False, max_length=MAX_DESCRIPTION_CHARS)
    image_type = forms.ChoiceField(required=False, choices=TYPE_CHOICES)


def _page(request: HttpRequest, *, upload_form=None, import_form=None, status: int = 200) -> HttpResponse:
    return render(request, "images/upload.html", {
        "nav": "gallery", "upload_form": upload_form or UploadForm(), "import_form": import_form or ImportForm(),
        "types": TYPE_CHOICES,
    }, status=status)


def _added(request: HttpRequest, image: GeneratedImage, verb: str) -> HttpResponse:
    messages.success(request, f"{verb} image {image.pk} ({image.width}×{image.height}).")
    return redirect(image.get_absolute_url())


@login_required
def gallery_upload(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return _page(request)
    form = UploadForm(request.POST, request.FILES)
    if form.is_valid():
        data = form.cleaned_data
        try:
            image = image_upload(request.user, data["file"], description=data["description"],
                                 image_type=data["image_type"])
        except UploadError as e:
            form.add_error("file" if e.field == "file" else None, e.message)
        else:
            return _added(request, image, "Uploaded")
    return _page(request, upload_form=form, status=422)


@login_required
@require_POST
def gallery_import(request: HttpRequest) -> HttpResponse:
    form = ImportForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            check_import_rate(request)
            image = image_import(request.user, data["url"], description=data["description"],
                                 image_type=data["image_type"])
        except RateLimited as e:
            form.add_error(None, f"Too many imports. Try again in {e.retry_after} s.")
        except UploadError as e:
            form.add_error("url" if e.field == "url" else None, e.message)
        else:
            return _added(request, image, "Imported")
    return _page(request, import_form=form, status=422)  # the typed address stays in the box


@login_required
@require_POST
def image_set_type(request: HttpRequest, pk: int) -> HttpResponse:
    image = get_object_or_404(GeneratedImage.objects.for_user(request.user), pk=pk)
    value = request.POST.get("image_type", "")
    if value not in ImageType.values:
        messages.error(request, "Choose scene, character, location, item or none.")
    else:
        image.image_type = value
        image.save(update_fields=["image_type"])
        messages.success(request, f"Type: {ImageType(value).label}.")
    return redirect(gallery_back(request, image))


def gallery_back(request: HttpRequest, image: GeneratedImage) -> str:
    from .gallery_views import _back

    return _back(request, image.get_absolute_url())


@login_required
@require_POST
def image_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Edit this image with an instruction, as `/edit --image <pk>` in its chat (or a new chat for uploads); with an
    optional painted area (`mask`, a PNG from the form's canvas), only inside it."""
    image = get_object_or_404(GeneratedImage.objects.for_user(request.user).select_related("generation"), pk=pk)
    instruction = " ".join(request.POST.get("instruction", "").split())
    if not instruction:
        messages.error(request, "Say what to change, for example: make it night time.")
        return redirect(image.get_absolute_url())
    options = {"edit_of": image.pk}
    if image.generation.chat_id:
        options["better_context"] = True  # refined with the chat's context, as the chat's own /edit is
    try:
        if request.FILES.get("mask"):
            options["mask"] = save_mask(image, request.FILES["mask"])
        generation = gallery.generate_again(image, prompt=instruction, options=options)
    except GenerationRequestError as e:
        from .gallery_views import _detail_context

        context = _detail_context(request, image, edit_error=e.message, edit_text=instruction)
        return render(request, "images/detail.html", context, status=422)
    return redirect(reverse("chat-detail", args=[generation.chat_id]) + f"#generation-{generation.pk}")
