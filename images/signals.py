"""Model signals that replace an owner's library version (images/library_cache.py) when the gallery's counts change.

Writes that send no signal (queryset.update, bulk_create) call library_changed themselves: gallery_bulk's favorite
action, gallery.images_add_tag and the worker's generation_run.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.dispatch import Signal

from .library_cache import library_changed
from .models import GeneratedImage, Tag

# Sent with generation=… after the commit that gives a generation its final state (services._finish): a chat turn
# answered by an image card is complete then, and chats/summary.py counts it (not the post: bench P1).
generation_finished = Signal()


def _owner_is_being_deleted(origin) -> bool:
    """Deleting a user cascades to their images, tags and chats: their library state goes with them (and writing it
    again would point at a user who is gone)."""
    user_model = get_user_model()
    return isinstance(origin, user_model) or (isinstance(origin, QuerySet) and origin.model is user_model)


def _image_saved_or_deleted(sender, instance: GeneratedImage, origin=None, **kwargs) -> None:
    if not _owner_is_being_deleted(origin):
        library_changed(instance.owner_id)


def _image_tags_changed(sender, instance, action: str, **kwargs) -> None:
    # `instance` is the image (image.tags.set) or the tag (tag.images.add); either way it carries the owner.
    if action.startswith("post_"):
        library_changed(instance.owner_id)


def _tag_saved_or_deleted(sender, instance: Tag, origin=None, **kwargs) -> None:
    if not _owner_is_being_deleted(origin):  # a rename changes the tag facet; a delete takes the tag off its images
        library_changed(instance.owner_id)


def _chat_deleted(sender, instance, origin=None, **kwargs) -> None:
    if not _owner_is_being_deleted(origin):  # its generations' chat becomes null: the chat facet loses a row
        library_changed(instance.owner_id)


def connect() -> None:
    from chats.models import Chat

    post_save.connect(_image_saved_or_deleted, sender=GeneratedImage, dispatch_uid="library-image-saved")
    post_delete.connect(_image_saved_or_deleted, sender=GeneratedImage, dispatch_uid="library-image-deleted")
    m2m_changed.connect(_image_tags_changed, sender=GeneratedImage.tags.through, dispatch_uid="library-image-tags")
    post_save.connect(_tag_saved_or_deleted, sender=Tag, dispatch_uid="library-tag-saved")
    post_delete.connect(_tag_saved_or_deleted, sender=Tag, dispatch_uid="library-tag-deleted")
    post_delete.connect(_chat_deleted, sender=Chat, dispatch_uid="library-chat-deleted")
