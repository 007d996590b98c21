from django.urls import path

from . import views

urlpatterns = [
    # Public, by token (never a pk): anyone with the link, no sign-in.
    path("s/<str:token>/", views.shared_page, name="shared-page"),
    path("s/<str:token>/images/<int:image_id>/", views.shared_file, name="shared-file"),
    path("s/<str:token>/thumbnails/<int:image_id>/", views.shared_thumbnail, name="shared-thumbnail"),
    path("s/<str:token>/images/<int:image_id>/save/", views.shared_save, name="shared-save"),
    # The owner's side, in the gallery area.
    path("gallery/shares/", views.share_list, name="share-list"),
    path("gallery/shares/<int:pk>/revoke/", views.share_revoke, name="share-revoke"),
    path("gallery/<int:pk>/share/", views.image_share, name="gallery-share"),
    path("gallery/tags/<int:pk>/share/", views.tag_share, name="tag-share"),
]
