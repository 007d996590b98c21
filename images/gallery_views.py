"""Gallery pages: the grid with filters and bulk actions, the detail page and its actions, the tag list.

Thin: parse the request, call images/gallery.py (or generation_start through it), render. Every lookup is scoped to
request.user, so another user's image or tag is a 404.
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.core.paginator import Paginator
from django.db.models import F
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from chats.models import Chat

from . import delivery, export, gallery, lineage
from .library_cache import library_changed
from .metadata import provenance, with_metadata
from .models import GeneratedImage, Tag
from .providers import get_provider_class
from .services import GenerationRequestError
from .styles import STYLES
from .views import image_headers

PAGE_SIZE = 48
TILE_IMAGE_FIELDS = tuple(f.name for f in GeneratedImage._meta.concrete_fields)  # the links need file, thumbnail, …
ASPECT_RATIOS = ("1:1", "4:3", "3:4", "3:2", "2:3", "16:9", "9:16", "21:9")


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def _own_image(request: HttpRequest, pk: int, *related: str) -> GeneratedImage:
    images = GeneratedImage.objects.for_user(request.user)
    if related:
        images = images.select_related(*related)
    return get_object_or_404(images, pk=pk)


def _back(request: HttpRequest, default: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=request.is_secure()):
        return target
    return default


def _with_src(images, kind: delivery.Kind = "thumb"):
    src = delivery.page_src_maker(kind)
    for image in images:
        image.src = src(image)
    return images


@login_required
@require_GET
def gallery_page(request: HttpRequest) -> HttpResponse:
    form = gallery.GalleryFilterForm(request.GET)
    values = form.values
    images = gallery.ordered(gallery.apply_filters(gallery.library(request.user), values), values)
    facets = gallery.facets(request.user, values)  # cached per owner until the library changes
    # Of the generation, only the prompt the tiles show (image.prompt): loading whole generations, their JSON and dates
    # included, cost more than the images themselves.
    paginator = Paginator(images.only(*TILE_IMAGE_FIELDS).annotate(prompt=F("generation__prompt")), PAGE_SIZE)
    paginator.count = facets.matching(values)  # no COUNT over the whole library on every page
    page = paginator.get_page(request.GET.get("page"))
    _with_src(page.object_list)
    context = {
        "nav": "gallery",
        "form": form,
        "values": values,
        "page": page,
        "querystring": form.querystring(),
        "next_page_qs": form.querystring(page=page.next_page_number()) if page.has_next() else "",
    }
    if _is_htmx(request) and request.GET.get("page"):
        return render(request, "images/_gallery_tiles.html", context)  # infinite scroll: just the next tiles
    chat = None
    if values.get("chat"):
        chat = Chat.objects.for_user(request.user).filter(pk=values["chat"]).only("pk", "title").first()
    context.update(facets=facets, chat=chat, styles=STYLES)
    return render(request, "images/gallery.html", context)


@login_required
@require_POST
def gallery_bulk(request: HttpRequest) -> HttpResponse:
    back = _back(request, reverse("gallery"))
    ids = gallery.bulk_ids(request.POST.getlist("ids"))
    action = request.POST.get("action", "")
    if not ids:
        messages.warning(request, "Select one or more images first.")
        return redirect(back)
    selected = gallery.library(request.user).filter(pk__in=ids)
    count = selected.count()
    if action in ("favorite", "unfavorite"):
        selected.update(is_favorite=action == "favorite")
        library_changed(request.user.pk)  # update() sends no signal: the cached counts must go (images/library_cache.py)
        messages.success(request, f"{'Added' if action == 'favorite' else 'Removed'} {count} image{'s' * (count != 1)} "
                                  f"{'to' if action == 'favorite' else 'from'} favorites.")
    elif action == "tag":
        try:
            gallery.images_add_tag(selected, request.user, request.POST.get("tag", ""))
        except gallery.TagError as e:
            messages.error(request, str(e))
        else:
            messages.success(request, f"Tagged {count} image{'s' * (count != 1)}.")
    elif action == "delete":
        deleted = gallery.images_delete(selected)
        messages.success(request, f"Deleted {deleted} image{'s' * (deleted != 1)}.")
    elif action == "zip":
        archive = gallery.images_zip(selected.order_by("-created", "-pk"))
        return FileResponse(archive, as_attachment=True, filename=gallery.zip_filename(count),
                            content_type="application/zip")
    else:
        messages.error(request, "Unknown action.")
    return redirect(back)


class ReuseForm(forms.Form):
    prompt = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), max_length=settings.IMAGEGEN_MAX_PROMPT_CHARS)
    negative_prompt = forms.CharField(required=False, label="Leave out (negative prompt)", max_length=2000)
    aspect_ratio = forms.ChoiceField(required=False, choices=[("", "Default")] + [(a, a) for a in ASPECT_RATIOS])
    n = forms.IntegerField(min_value=1, max_value=4, initial=1, label="Images")
    seed = forms.IntegerField(required=False, min_value=0, max_value=2**32 - 1, help_text="Empty: a new random seed.")
    style = forms.ChoiceField(required=False)
    raw = forms.BooleanField(required=False, label="Send the prompt exactly as typed")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["style"].choices = [("", "None")] + [(k, k) for k in STYLES]

    def options(self) -> dict:
        data = self.cleaned_data
        options = {"n": data["n"]}
        for key in ("aspect_ratio", "style"):
            if data.get(key):
                options[key] = data[key]
        if data.get("seed") is not None:
            options["seed"] = data["seed"]
        if data.get("raw"):
            options["raw"] = True
        return options


def _detail_context(request: HttpRequest, image: GeneratedImage, **extra) -> dict:
    form = gallery.GalleryFilterForm(request.GET)
    values = form.values
    previous, following = gallery.neighbours(request.user, image, values)
    qs = form.querystring()
    try:
        supports_seed = get_provider_class(image.generation.provider).capabilities.seed
    except Exception:  # a provider that no longer exists: the image stays viewable
        supports_seed = False
    image.src = delivery.page_src(image, "file")
    edits = lineage.image_lineage(request.user, image)
    _with_src([edits.source, *edits.edits] if edits.source else edits.edits)
    return {
        "nav": "gallery",
        "image": image,
        "generation": image.generation,
        "querystring": qs,
        "gallery_url": reverse("gallery") + (f"?{qs}" if qs else ""),
        "previous_url": reverse("gallery-detail", args=[previous.pk]) + (f"?{qs}" if qs else "") if previous else "",
        "next_url": reverse("gallery-detail", args=[following.pk]) + (f"?{qs}" if qs else "") if following else "",
        "tags_text": ", ".join(t.name for t in image.tags.all()),
        "reuse_form": extra.pop("reuse_form", None) or ReuseForm(initial=gallery.reuse_options(image)),
        "same_seed_possible": supports_seed and image.seed is not None,
        "lineage": edits,
        **extra,
    }


@login_required
@require_GET
def gallery_detail(request: HttpRequest, pk: int) -> HttpResponse:
    image = _own_image(request, pk, "generation__chat")
    return render(request, "images/detail.html", _detail_context(request, image))


@login_required
@require_POST
def image_favorite(request: HttpRequest, pk: int) -> HttpResponse:
    image = _own_image(request, pk)
    wanted = request.POST.get("value")
    image.is_favorite = (wanted == "1") if wanted in ("0", "1") else not image.is_favorite
    image.save(update_fields=["is_favorite"])
    if _is_htmx(request):
        return render(request, "images/_favorite_button.html", {"image": image, "compact": request.POST.get("compact")})
    return redirect(_back(request, image.get_absolute_url()))


@login_required
@require_POST
def image_tags(request: HttpRequest, pk: int) -> HttpResponse:
    image = _own_image(request, pk)
    text = request.POST.get("tags", "")
    error = ""
    try:
        gallery.image_set_tags(image, gallery.parse_tag_names(text))
        text = ", ".join(t.name for t in image.tags.all())
    except gallery.TagError as e:
        error = str(e)  # the typed text stays in the box
    if _is_htmx(request):
        return render(request, "images/_tags.html", {"image": image, "tags_text": text, "tags_error": error},
                      status=422 if error else 200)
    if error:
        messages.error(request, error)
    return redirect(_back(request, image.get_absolute_url()))


@login_required
@require_POST
def image_delete(request: HttpRequest, pk: int) -> HttpResponse:
    image = _own_image(request, pk)
    gallery.images_delete(GeneratedImage.objects.filter(pk=image.pk))
    messages.success(request, "Image deleted.")
    return redirect(_back(request, reverse("gallery")))


@login_required
@require_POST
def image_generate(request: HttpRequest, pk: int) -> HttpResponse:
    """Reuse these settings / same seed / re-roll: all through generation_start, in the image's chat."""
    image = _own_image(request, pk, "generation__chat", "generation__profile")
    mode = request.POST.get("mode", "reuse")
    if mode in ("same_seed", "reroll"):
        initial = gallery.reuse_options(image)
        initial["seed"] = image.seed if mode == "same_seed" else None
        form = ReuseForm(data={k: ("on" if v is True else "" if v in (None, False) else v) for k, v in initial.items()})
    else:
        form = ReuseForm(data=request.POST)
    if form.is_valid():
        try:
            generation = gallery.generate_again(
                image, prompt=form.cleaned_data["prompt"], options=form.options(),
                negative_prompt=form.cleaned_data["negative_prompt"],
            )
        except GenerationRequestError as e:
            form.add_error(None, e.message)
        else:
            return redirect(reverse("chat-detail", args=[generation.chat_id]) + f"#generation-{generation.pk}")
    context = _detail_context(request, image, reuse_form=form, open_reuse=True)
    return render(request, "images/detail.html", context, status=422)


@login_required
@require_GET
def image_download(request: HttpRequest, pk: int) -> HttpResponse:
    """The image with its provenance embedded, as stored or converted (images/export.py): ?as=png|jpeg|webp,
    &quality=1-100, &max_side=16-4096 ("as", not "format": DRF reserves that). Bad parameters: 400."""
    image = _own_image(request, pk, "generation")
    try:
        options = export.ExportOptions.from_query(request.GET)
    except export.ExportError as e:
        return JsonResponse({"code": "validation_error", "detail": e.message, "fields": {e.field: e.message}},
                            status=400)
    try:
        with default_storage.open(image.file, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        raise Http404 from None
    meta = provenance(image)
    stem = image.download_name.rsplit(".", 1)[0]
    if options.is_plain:
        body, content_type, filename = with_metadata(data, image.mime_type, meta), image.mime_type, image.download_name
    else:
        exported = export.export_image(data, image.mime_type, meta, options)
        body, content_type = exported.data, exported.content_type
        filename = export.download_filename(stem, exported, options)
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return image_headers(response)


@login_required
@require_GET
def tag_list(request: HttpRequest) -> HttpResponse:
    from django.db.models import Count

    tags = Tag.objects.filter(owner=request.user).annotate(n=Count("images")).order_by("name")
    return render(request, "images/tags.html", {"nav": "gallery", "tags": tags})


@login_required
@require_POST
def tag_rename(request: HttpRequest, pk: int) -> HttpResponse:
    tag = get_object_or_404(Tag, pk=pk, owner=request.user)
    try:
        gallery.tag_rename(tag, request.POST.get("name", ""))
        messages.success(request, f"Renamed to {tag.name!r}.")
    except gallery.TagError as e:
        messages.error(request, str(e))
    return redirect("tag-list")


@login_required
@require_POST
def tag_delete(request: HttpRequest, pk: int) -> HttpResponse:
    tag = get_object_or_404(Tag, pk=pk, owner=request.user)
    tag.delete()  # the images stay; only the label goes
    messages.success(request, f"Deleted the tag {tag.name!r}; its images are still in your gallery.")
    return redirect("tag-list")
