import logging

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html

from . import gallery, usage
from .models import GeneratedImage, Generation, Tag, UsageLimit, UserUsage
from .services import GenerationRequestError, generation_cancel, generation_retry
from .tasks import THUMBNAILS_PER_TASK, rebuild_thumbnails

logger = logging.getLogger(__name__)


def admin_thumbnail_url(image: GeneratedImage) -> str:
    # The owner-only file views answer 404 to staff looking at someone else's image; the admin has its own,
    # behind the admin's login and view permission (GeneratedImageAdmin.serve_file).
    return reverse("admin:images_generatedimage_thumbnail", args=[image.pk])


class GeneratedImageInline(admin.TabularInline):
    model = GeneratedImage
    extra = 0
    fields = ["preview", "index", "width", "height", "mime_type", "bytes", "seed"]
    readonly_fields = fields
    can_delete = False

    @admin.display(description="image")
    def preview(self, obj: GeneratedImage) -> str:
        return format_html('<img src="{}" class="admin-thumb-sm" alt="">', admin_thumbnail_url(obj)) if obj.pk else ""


@admin.register(Generation)
class GenerationAdmin(admin.ModelAdmin):
    list_display = ["id", "owner", "status", "provider", "model", "short_prompt", "attempts", "error_code",
                    "estimated_cost_usd", "cost_source", "queued_at"]
    list_filter = ["status", "provider", "error_code", "cost_source", "modal", "queued_at"]
    search_fields = ["prompt", "refined_prompt", "owner__username"]
    list_select_related = ["owner"]
    raw_id_fields = ["owner", "chat", "message", "profile", "edit_of"]  # a select of every image would be huge
    readonly_fields = ["queued_at", "started_at", "finished_at", "lease_until", "next_attempt_at", "attempts",
                       "progress", "live_preview"]
    inlines = [GeneratedImageInline]
    actions = ["cancel", "retry"]

    @admin.display(description="live preview")
    def live_preview(self, obj: Generation) -> str:
        # Served by the owner-only preview view, so staff see it only for their own generations; the percent
        # beside it is what matters to an operator.
        if not obj.preview:
            return "—"
        return format_html('<img src="{}" style="max-height:96px" alt="">', reverse("generation-preview", args=[obj.pk]))

    @admin.display(description="prompt")
    def short_prompt(self, obj: Generation) -> str:
        return obj.prompt[:60]

    @admin.action(description="Cancel the selected generations")
    def cancel(self, request, queryset) -> None:
        done = sum(generation_cancel(generation=g) for g in queryset)
        self.message_user(request, f"Canceled {done} generation(s).", messages.SUCCESS)

    @admin.action(description="Retry the selected failed or canceled generations")
    def retry(self, request, queryset) -> None:
        finished = queryset.filter(status__in=[Generation.Status.FAILED, Generation.Status.CANCELED])
        retried, refused = 0, []
        for generation in finished:
            try:
                generation_retry(generation=generation)
                retried += 1
            except GenerationRequestError as e:  # e.g. the owner's monthly cap, or a profile that changed
                refused.append(f"#{generation.pk}: {e.message}")
        self.message_user(request, f"Retried {retried} generation(s).", messages.SUCCESS)
        if refused:
            self.message_user(request, "Not retried: " + " ".join(refused), messages.WARNING)


@admin.register(GeneratedImage)
class GeneratedImageAdmin(admin.ModelAdmin):
    """Laid out as a grid of thumbnails (static/app/admin_gallery.css); deleting removes files no row still uses."""

    list_display = ["thumb", "short_prompt", "owner", "provider", "model_name", "status", "source", "image_type",
                    "is_favorite", "created"]
    list_display_links = ["thumb", "short_prompt"]
    list_filter = [
        "source", "image_type", "in_gallery", "generation__provider", "generation__model", "generation__status",
        "is_favorite", ("owner", admin.RelatedOnlyFieldListFilter), "created",
    ]
    date_hierarchy = "created"
    search_fields = ["generation__prompt", "generation__refined_prompt", "revised_prompt", "owner__username", "sha256"]
    search_help_text = "Words in the prompt, refined or revised prompt; a username; a sha256."
    list_select_related = ["owner", "generation"]
    list_per_page = 60
    raw_id_fields = ["generation", "owner"]
    readonly_fields = ["large_preview", "file", "thumbnail", "sha256", "width", "height", "mime_type", "bytes"]
    filter_horizontal = ["tags"]
    actions = ["rebuild_thumbnails"]

    class Media:
        css = {"all": ["app/admin_gallery.css"]}

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/thumbnail/", view(self.serve_file), {"kind": "thumb"},
                 name="images_generatedimage_thumbnail"),
            path("<int:pk>/original/", view(self.serve_file), {"kind": "file"}, name="images_generatedimage_original"),
            *super().get_urls(),
        ]

    def serve_file(self, request: HttpRequest, pk: int, kind: str) -> HttpResponse:
        from .views import _serve  # the same headers (nosniff, sandbox) and S3 redirect as the owner's views

        if not self.has_view_permission(request):
            raise Http404
        return _serve(request, get_object_or_404(GeneratedImage, pk=pk), kind)

    @admin.display(description="image")
    def thumb(self, obj: GeneratedImage) -> str:
        # The changelist links this column to the change page: the alt text is the link's name (axe link-name).
        return format_html('<img src="{}" class="admin-thumb" alt="Image {}" loading="lazy" width="{}" height="{}">',
                           admin_thumbnail_url(obj), obj.pk, obj.width, obj.height)

    @admin.display(description="image")
    def large_preview(self, obj: GeneratedImage) -> str:
        original = reverse("admin:images_generatedimage_original", args=[obj.pk])
        return format_html('<a href="{}" target="_blank" rel="noopener"><img src="{}" class="admin-thumb-lg" '
                           'alt="The original image (opens in a new tab)"></a>',
                           original, admin_thumbnail_url(obj))

    @admin.display(description="prompt", ordering="generation__prompt")
    def short_prompt(self, obj: GeneratedImage) -> str:
        return obj.generation.prompt[:80]

    @admin.display(description="provider", ordering="generation__provider")
    def provider(self, obj: GeneratedImage) -> str:
        return obj.generation.provider

    @admin.display(description="model", ordering="generation__model")
    def model_name(self, obj: GeneratedImage) -> str:  # not `model`: that is the ModelAdmin's model class
        return obj.generation.model

    @admin.display(description="status", ordering="generation__status")
    def status(self, obj: GeneratedImage) -> str:
        return obj.generation.status

    def get_actions(self, request):
        actions = super().get_actions(request)
        if "delete_selected" in actions:  # the standard confirmation page, through delete_queryset below
            func, name, _ = actions["delete_selected"]
            actions["delete_selected"] = (func, name, "Delete the selected images with their files")
        return actions

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        gallery.images_delete(queryset)  # removes each file no remaining row uses (same bytes are shared)

    def delete_model(self, request: HttpRequest, obj: GeneratedImage) -> None:
        gallery.images_delete(GeneratedImage.objects.filter(pk=obj.pk))

    @admin.action(description="Re-run thumbnails for the selected images", permissions=["change"])
    def rebuild_thumbnails(self, request: HttpRequest, queryset: QuerySet) -> None:
        # Decoding and encoding every image is the worker's job (images/tasks.py), not the request's.
        ids = list(queryset.order_by("pk").values_list("pk", flat=True))
        chunks = [ids[i:i + THUMBNAILS_PER_TASK] for i in range(0, len(ids), THUMBNAILS_PER_TASK)]
        try:
            for chunk in chunks:
                rebuild_thumbnails.enqueue(chunk)
        except Exception:
            logger.exception("could not queue the thumbnail rebuild")
            self.message_user(request, "The task queue is not answering; no thumbnails were queued. Try again.",
                              messages.ERROR)
            return
        self.message_user(request, f"Queued {len(ids)} thumbnail(s) to be rebuilt by the worker. Images whose "
                                   "original file is missing are named in the worker's log and by "
                                   "`manage.py media_orphans`.", messages.SUCCESS)


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ["name", "owner"]
    search_fields = ["name", "owner__username"]
    raw_id_fields = ["owner"]


class UsageLimitInline(admin.StackedInline):
    model = UsageLimit
    fk_name = "owner"
    can_delete = True
    extra = 1
    max_num = 1
    verbose_name = "limits override (monthly cap, daily images)"


@admin.register(UserUsage)
class UserUsageAdmin(admin.ModelAdmin):
    """Usage per user: this month's and all-time estimated spend (images/usage.py), and the per-user cap."""

    list_display = ["username", "month_cost", "month_generations", "total_cost", "total_generations", "cap"]
    search_fields = ["username", "email"]
    fields = ["username", "email", "date_joined", "month_cost", "month_generations", "total_cost", "cap"]
    readonly_fields = fields
    inlines = [UsageLimitInline]
    ordering = ["username"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return usage.usage_per_user(super().get_queryset(request)).select_related("usage_limit")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # people sign up; this list only reads and sets their cap

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(description="spent this month (USD)", ordering="month_cost")
    def month_cost(self, obj) -> str:
        return f"{obj.month_cost or 0:.4f}"

    @admin.display(description="generations this month", ordering="month_generations")
    def month_generations(self, obj) -> int:
        return obj.month_generations

    @admin.display(description="spent in total (USD)", ordering="total_cost")
    def total_cost(self, obj) -> str:
        return f"{obj.total_cost or 0:.4f}"

    @admin.display(description="generations in total", ordering="total_generations")
    def total_generations(self, obj) -> int:
        return obj.total_generations

    @admin.display(description="monthly cap")
    def cap(self, obj) -> str:
        limit = getattr(obj, "usage_limit", None)  # select_related above: no query per row
        cap = usage.effective_cap(limit)
        source = "override" if limit is not None and (limit.unlimited or limit.monthly_cap_usd is not None) \
            else "site default"
        return "none" if cap is None else f"${cap:.2f} ({source})"
