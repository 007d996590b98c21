from django.contrib import admin, messages
from django.utils.html import format_html

from . import services
from .models import Share


@admin.register(Share)
class ShareAdmin(admin.ModelAdmin):
    """Operators can see who shares what and revoke a link (abuse reports); the token is shown only as a link."""

    list_display = ["id", "owner", "kind", "target", "heading", "status", "views", "expires_at", "created"]
    list_filter = ["kind", "revoked_at", "created"]
    search_fields = ["owner__username", "title", "tag__name"]
    list_select_related = ["owner", "image", "tag"]
    raw_id_fields = ["owner", "image", "tag"]
    readonly_fields = ["public_link", "kind", "views", "created", "revoked_at"]
    exclude = ["token"]
    actions = ["revoke"]

    @admin.display(description="shares")
    def target(self, obj: Share) -> str:
        return f"image #{obj.image_id}" if obj.kind == Share.Kind.IMAGE else f"tag {obj.tag.name!r}"

    @admin.display(description="link")
    def public_link(self, obj: Share) -> str:
        return format_html('<a href="{}" target="_blank" rel="noopener noreferrer">open</a>', obj.get_absolute_url())

    def has_add_permission(self, request) -> bool:
        return False  # owners create shares from their gallery; the admin only inspects and revokes

    @admin.action(description="Revoke the selected share links")
    def revoke(self, request, queryset) -> None:
        done = sum(services.share_revoke(share) for share in queryset)
        self.message_user(request, f"Revoked {done} share link(s).", messages.SUCCESS)
