from django.contrib import admin

from .models import BlockRule, ModerationHit


@admin.register(BlockRule)
class BlockRuleAdmin(admin.ModelAdmin):
    list_display = ["pattern", "kind", "enabled", "note", "hit_count", "created"]
    list_filter = ["kind", "enabled"]
    list_editable = ["enabled"]
    search_fields = ["pattern", "note"]

    @admin.display(description="hits")
    def hit_count(self, obj: BlockRule) -> int:
        return obj.hits.count()


@admin.register(ModerationHit)
class ModerationHitAdmin(admin.ModelAdmin):
    """What was blocked and why: the operator's view (users only see a generic refusal)."""

    list_display = ["created", "owner", "source", "matched", "generation", "short_text"]
    list_filter = ["source", "created"]
    search_fields = ["matched", "text", "owner__username"]
    list_select_related = ["owner"]
    readonly_fields = ["created", "owner", "generation", "source", "rule", "matched", "text"]

    @admin.display(description="text")
    def short_text(self, obj: ModerationHit) -> str:
        return obj.text[:80]

    def has_add_permission(self, request) -> bool:
        return False
