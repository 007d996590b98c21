from django.contrib import admin

from . import prompt_cache
from .models import Chat, Message, PromptRefinement


class MessageInline(admin.TabularInline):
    model = Message
    extra = 0
    fields = ["role", "kind", "content", "created"]
    readonly_fields = ["created"]


@admin.register(Chat)
class ChatAdmin(admin.ModelAdmin):
    list_display = ["id", "title", "owner", "image_profile", "created", "updated"]
    list_filter = ["created", "updated"]
    search_fields = ["title", "owner__username"]
    list_select_related = ["owner", "image_profile"]
    raw_id_fields = ["owner", "image_profile"]
    inlines = [MessageInline]


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ["id", "chat", "role", "kind", "short_content", "created"]
    list_filter = ["role", "kind", "created"]
    search_fields = ["content", "chat__title"]
    list_select_related = ["chat"]
    raw_id_fields = ["chat"]

    @admin.display(description="content")
    def short_content(self, obj: Message) -> str:
        return obj.content[:80]


@admin.register(PromptRefinement)
class PromptRefinementAdmin(admin.ModelAdmin):
    """The prompt cache (chats/prompt_cache.py). Read-only: rows are written by refinement; deleting one makes the
    next identical request ask the chat model again."""

    list_display = ["id", "owner", "short_prompt", "refiner", "hits", "llm_calls", "refreshed", "last_used"]
    list_filter = ["refiner", "refreshed"]
    search_fields = ["prompt", "refined", "owner__username"]
    list_select_related = ["owner"]
    readonly_fields = ["owner", "key", "prompt", "context_digest", "refiner", "refined", "hits", "llm_calls",
                       "created", "refreshed", "last_used"]

    @admin.display(description="prompt")
    def short_prompt(self, obj: PromptRefinement) -> str:
        return obj.prompt[:60]

    def has_add_permission(self, request) -> bool:
        return False

    def changelist_view(self, request, extra_context=None):
        found = prompt_cache.totals()
        rate = f"{found.hit_rate:.0%}" if found.hit_rate is not None else "no refinements yet"
        title = (f"Prompt cache: hit rate {rate} ({found.hits} hits, {found.llm_calls} paid LLM calls, "
                 f"{found.entries} entries)")
        return super().changelist_view(request, extra_context={**(extra_context or {}), "title": title})
