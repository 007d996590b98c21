from django.core.paginator import Paginator
from django.db.models import F
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.decorators import action
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response

from imagegen_site.api_errors import ApiError

from .models import GeneratedImage, Generation
from . import gallery, library_cache
from .modal_images import NothingToSave, save_to_gallery
from .gallery_views import image_download
from .serializers import GalleryFacetsSerializer, GalleryImageSerializer, GenerationSerializer
from .services import generation_cancel


class GenerationViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = GenerationSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no user (types the id)
            return Generation.objects.none()
        return Generation.objects.for_user(self.request.user).prefetch_related("images")

    @extend_schema(request=None, responses=GenerationSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        generation = self.get_object()
        generation_cancel(generation=generation)
        generation.refresh_from_db()
        return Response(GenerationSerializer(generation).data)

    @extend_schema(request=None, responses=GalleryImageSerializer(many=True))
    @action(detail=True, methods=["post"], url_path="save")
    def save_to_gallery(self, request: Request, pk: str | None = None) -> Response:
        """"Save to gallery" for an image made in the image modal (POST /api/generate-image): until then it is in
        no list and is deleted after a day. Answers the saved images; saving again changes nothing.
        409 `not_ready` while it is still being made; 404 when there is no image (any more)."""
        generation = self.get_object()
        try:
            images = save_to_gallery(generation)
        except NothingToSave as e:
            raise ApiError(e.message, code=e.code, status_code=e.status) from None
        images = GeneratedImage.objects.filter(pk__in=[i.pk for i in images]).select_related("generation")
        return Response(GalleryImageSerializer(images.prefetch_related("tags"), many=True).data)


# What GalleryImageSerializer reads of an image's generation in a list, as annotations on the image row (named in
# images/serializers.py): a Generation object per image was a tenth of a 50-image list (issue 10, P3).
LIST_GENERATION_COLUMNS = {f"list_{name}": F(f"generation__{name}") for name in (
    "prompt", "refined_prompt", "negative_prompt", "provider", "model", "chat_id", "edit_of_id")}


class LibraryPagination(PageNumberPagination):
    """DRF's page-number pagination, with the total (`count`) taken from the owner's library cache when the view
    gives one: a COUNT(*) over a 10,000-image library was a fifth of a list request (issue 10, P3)."""

    known_count: int | None = None

    def django_paginator_class(self, object_list, per_page) -> Paginator:
        paginator = Paginator(object_list, per_page)
        if self.known_count is not None:
            paginator.count = self.known_count  # a cached_property: set, it is never computed
        return paginator


class GeneratedImageViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.UpdateModelMixin, mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """The gallery over the API. List filters: `q` (search prompts), `favorites`, `chat`, `provider`, `model`, `tag`,
    `source` (generated, upload, import), `type` (scene, character, location, item, none), `date_from`, `date_to`,
    `sort` (newest, oldest, favorites). PATCH `is_favorite` / `tags` / `image_type`; DELETE removes the file when no
    other image uses the same bytes. Add images with POST /api/uploads/ and /api/imports/."""

    serializer_class = GalleryImageSerializer
    pagination_class = LibraryPagination
    http_method_names = ["get", "patch", "delete", "head", "options"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no user (types the id)
            return GeneratedImage.objects.none()
        images = GeneratedImage.objects.for_user(self.request.user).select_related("generation")
        if self.action != "list":
            return images.prefetch_related("tags")
        # Of the generation, only what the serializer shows, as columns of the image row: its JSON and date columns
        # cost more to load than the rest of the row, and so did a model object per image (the detail actions load
        # it whole). The page's tags come as names (paginate_queryset).
        images = images.select_related(None).annotate(**LIST_GENERATION_COLUMNS)
        self.filter_values = self._filters()
        return gallery.ordered(gallery.apply_filters(images, self.filter_values), self.filter_values)

    def paginate_queryset(self, queryset):
        if self.paginator is None or not hasattr(self, "filter_values"):
            return super().paginate_queryset(queryset)
        # The same filter set, the same total until the library changes (images/library_cache.py, as the gallery
        # page's own count): no COUNT(*) over the library on every page.
        self.paginator.known_count, _ = library_cache.cached(
            "api-count", self.request.user.pk, self.filter_values, queryset.count)
        page = super().paginate_queryset(queryset)
        # One query for the page's tag names instead of prefetch_related, which builds a queryset per image.
        self.tag_names = gallery.tag_names([image.pk for image in page])
        return page

    def get_serializer_context(self) -> dict:
        context = super().get_serializer_context()
        if hasattr(self, "tag_names"):
            context["tag_names"] = self.tag_names
        return context

    def _filters(self) -> dict:
        form = gallery.GalleryFilterForm(self.request.query_params)
        if not form.is_valid():
            raise ValidationError(form.errors)
        return form.values

    def perform_destroy(self, instance: GeneratedImage) -> None:
        gallery.images_delete(GeneratedImage.objects.filter(pk=instance.pk))

    @extend_schema(responses=GalleryFacetsSerializer)
    @action(detail=False, methods=["get"])
    def facets(self, request: Request) -> Response:
        """Counts per filter value, each within the other filters given in the query string."""
        found = gallery.facets(request.user, self._filters())

        def rows(items, key, label=None):
            return [{"value": r[key], "count": r["n"], **({"label": r[label]} if label else {})} for r in items]

        return Response({
            "total": found.total,
            "favorites": found.favorites,
            "providers": rows(found.providers, "generation__provider"),
            "models": rows(found.models, "generation__model"),
            "tags": rows(found.tags, "tags__name"),
            "chats": rows(found.chats, "generation__chat", "generation__chat__title"),
            "sources": rows(found.sources, "source", "label"),
            "types": rows(found.types, "image_type", "label"),
        })

    @extend_schema(
        parameters=[
            OpenApiParameter("as", str, enum=["original", "png", "jpeg", "jpg", "webp"], required=False),
            OpenApiParameter("quality", int, required=False, description="1–100, JPEG and WEBP (default 90)"),
            OpenApiParameter("max_side", int, required=False,
                             description="16–4096: the longest side in pixels; never enlarges"),
        ],
        responses={(200, "image/*"): OpenApiTypes.BINARY, 400: OpenApiTypes.OBJECT},
    )
    @action(detail=True, methods=["get"], url_path="download")
    def download(self, request: Request, pk: str | None = None) -> HttpResponse:
        """The image with its provenance embedded (PNG text chunks; EXIF/XMP for JPEG and WEBP), as stored or
        converted to PNG, JPEG or WEBP at a chosen quality and a smaller size. Bad parameters: 400 validation_error."""
        self.get_object()  # owner check: someone else's image is a 404
        return image_download(request._request, int(pk))
