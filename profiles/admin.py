from django import forms
from django.contrib import admin

from .models import ApiKey, ApiToken, ImageProfile, WorldNotes
from .services import ProfileError, check_fallback


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    # The secret is never shown: only the last four characters, and no field carries the ciphertext.
    list_display = ["id", "owner", "provider", "label", "masked", "validation_status", "last_validated", "created"]
    list_filter = ["provider", "validation_status"]
    search_fields = ["label", "owner__username"]
    list_select_related = ["owner"]
    raw_id_fields = ["owner"]
    fields = ["owner", "provider", "label", "masked", "validation_status", "last_validated", "created"]
    readonly_fields = ["masked", "created"]

    @admin.display(description="key")
    def masked(self, obj: ApiKey) -> str:
        return f"…{obj.last_four}"

    def has_add_permission(self, request) -> bool:
        return False  # keys are added by their owners in Settings, where they are encrypted for them


class ImageProfileAdminForm(forms.ModelForm):
    class Meta:
        model = ImageProfile
        fields = "__all__"

    def clean(self):
        # The same rule as Settings and the API: another profile of the same owner, and no loop.
        data = super().clean()
        fallback, owner = data.get("fallback"), data.get("owner")
        if fallback is not None and owner is not None:
            try:
                check_fallback(owner, self.instance if self.instance.pk else None, fallback.pk)
            except ProfileError as e:
                self.add_error("fallback", e.message)
        return data


@admin.register(ImageProfile)
class ImageProfileAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "owner", "provider", "model", "fallback", "is_default", "updated"]
    list_filter = ["provider", "is_default"]
    search_fields = ["name", "model", "owner__username"]
    list_select_related = ["owner", "fallback"]
    raw_id_fields = ["owner", "api_key", "fallback"]

    form = ImageProfileAdminForm


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    # Only the hash is stored; the admin shows the prefix, never the hash.
    list_display = ["id", "name", "owner", "prefix", "created", "last_used"]
    search_fields = ["name", "owner__username", "prefix"]
    list_select_related = ["owner"]
    fields = ["owner", "name", "prefix", "created", "last_used"]
    readonly_fields = ["owner", "prefix", "created", "last_used"]

    def has_add_permission(self, request) -> bool:
        return False  # tokens are created by their owners in Settings, where the value is shown once


@admin.register(WorldNotes)
class WorldNotesAdmin(admin.ModelAdmin):
    list_display = ["owner", "scene", "character", "location", "item", "updated"]
    search_fields = ["owner__username", "scene", "character", "location", "item"]
    list_select_related = ["owner"]
    raw_id_fields = ["owner"]
