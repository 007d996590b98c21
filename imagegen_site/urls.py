from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from chats import stream_views as chat_stream_views
from chats import views as chat_views
from chats.api import ChatViewSet
from chats.prompt_cache_api import PromptCacheView
from sharing.api import SharedSaveView, SharedView, ShareViewSet
from imagegen_site import csp_reports
from images import gallery_views
from images import landing_views as image_landing_views
from images import upload_views as image_upload_views
from images import views as image_views
from images import usage_views as image_usage_views
from images.api import GeneratedImageViewSet, GenerationViewSet
from images.generate_api import GenerateImageView
from images.seed_generate_api import SeedGenerateView
from images.upload_api import ImportView, UploadView
from profiles.api import ApiKeyViewSet, ApiTokenViewSet, ImageProfileViewSet, MeView, ProviderViewSet
from profiles.world_notes_views import WorldNotesView

router = DefaultRouter()
router.register("chats", ChatViewSet, basename="chat")
router.register("generations", GenerationViewSet, basename="generation")
router.register("images", GeneratedImageViewSet, basename="image")
router.register("api-keys", ApiKeyViewSet, basename="api-key")
router.register("image-profiles", ImageProfileViewSet, basename="image-profile")
router.register("tokens", ApiTokenViewSet, basename="token")
router.register("providers", ProviderViewSet, basename="provider")
router.register("shares", ShareViewSet, basename="share")
api_urls = [
    # Seed 002's path, no slash (like seed 000's generate-image); "images/generate/" would be the router's detail.
    path("images/generate", SeedGenerateView.as_view(), name="images-generate"),
    *router.urls,
    path("me/", MeView.as_view(), name="me"),
    path("uploads/", UploadView.as_view(), name="image-upload"),  # issue 12: outside images into the gallery
    path("imports/", ImportView.as_view(), name="image-import"),
    path("world-notes/", WorldNotesView.as_view(), name="world-notes"),
    path("prompt-cache/", PromptCacheView.as_view(), name="prompt-cache"),
    path("shared/<str:token>/", SharedView.as_view(), name="shared"),
    path("shared/<str:token>/images/<int:image_id>/save/", SharedSaveView.as_view(), name="shared-save"),
    path("generate-image", GenerateImageView.as_view(), name="generate-image"),  # seed 000's path, no slash
    path("usage/", image_usage_views.UsageView.as_view(), name="usage"),
]

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="chat-list", permanent=False)),
    path("", include("profiles.urls")),  # accounts, Settings, the chat's profile choice
    path("chats/", chat_views.chat_list, name="chat-list"),
    path("chats/<int:pk>/", chat_views.chat_detail, name="chat-detail"),
    path("chats/<int:pk>/messages/", chat_views.message_create, name="chat-message-create"),
    path("chats/<int:pk>/delete/", chat_views.chat_delete, name="chat-delete"),
    path("chats/<int:pk>/chat-model/", chat_stream_views.chat_model_update, name="chat-model-update"),
    path("chats/messages/<int:pk>/stream/", chat_stream_views.message_stream, name="chat-message-stream"),
    path("generations/<int:pk>/reroll/", chat_stream_views.generation_reroll, name="generation-reroll"),
    path("settings/chat/", chat_stream_views.chat_settings, name="chat-settings"),
    path("settings/chat/models/", chat_stream_views.chat_model_options, name="chat-model-options"),
    path("settings/usage/", image_usage_views.usage_page, name="settings-usage"),
    path("generations/<int:pk>/card/", image_views.generation_card, name="generation-card"),
    path("generations/<int:pk>/preview/", image_views.generation_preview, name="generation-preview"),
    path("generations/<int:pk>/cancel/", image_views.generation_cancel_view, name="generation-cancel"),
    path("generations/<int:pk>/retry/", image_views.generation_retry_view, name="generation-retry"),
    path("images/", image_landing_views.images_home, name="images-home"),
    path("images/styles/<slug:slug>.webp", image_landing_views.style_preview_image, name="style-preview"),
    path("chats/<int:pk>/rename/", chat_views.chat_rename, name="chat-rename"),
    path("", include("sharing.urls")),  # share links: public /s/<token>/ pages, the owner's /gallery/shares/
    path("gallery/", gallery_views.gallery_page, name="gallery"),
    path("gallery/bulk/", gallery_views.gallery_bulk, name="gallery-bulk"),
    path("gallery/tags/", gallery_views.tag_list, name="tag-list"),
    path("gallery/upload/", image_upload_views.gallery_upload, name="gallery-upload"),
    path("gallery/import/", image_upload_views.gallery_import, name="gallery-import"),
    path("gallery/<int:pk>/type/", image_upload_views.image_set_type, name="gallery-type"),
    path("gallery/<int:pk>/edit/", image_upload_views.image_edit, name="gallery-edit"),
    path("gallery/tags/<int:pk>/rename/", gallery_views.tag_rename, name="tag-rename"),
    path("gallery/tags/<int:pk>/delete/", gallery_views.tag_delete, name="tag-delete"),
    path("gallery/<int:pk>/", gallery_views.gallery_detail, name="gallery-detail"),
    path("gallery/<int:pk>/favorite/", gallery_views.image_favorite, name="gallery-favorite"),
    path("gallery/<int:pk>/tags/", gallery_views.image_tags, name="gallery-tags"),
    path("gallery/<int:pk>/delete/", gallery_views.image_delete, name="gallery-delete"),
    path("gallery/<int:pk>/generate/", gallery_views.image_generate, name="gallery-generate"),
    path("files/images/<int:pk>/", image_views.image_file, name="image-file"),
    path("files/images/<int:pk>/download/", gallery_views.image_download, name="image-download"),
    path("files/thumbnails/<int:pk>/", image_views.image_thumbnail, name="image-thumbnail"),
    path("files/signed/<str:token>/", image_views.image_signed, name="image-signed"),
    path("api/", include((api_urls, "api"))),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves its start-up script as a file: the page CSP allows no inline script.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("api-auth/", include("rest_framework.urls")),
    path("admin/", admin.site.urls),
    path("csp-report/", csp_reports.csp_report, name="csp-report"),  # security.CSP_REPORT_PATH
    path("", include("ops.urls")),  # /healthz, /readyz, /metrics, account data, the staff dashboard
]
