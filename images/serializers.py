from django.urls import reverse
from rest_framework import serializers

from .delivery import link_maker, short_lived_url_maker
from .models import GeneratedImage, Generation


class GeneratedImageSerializer(serializers.ModelSerializer):
    file_url = serializers.CharField(read_only=True)
    thumbnail_url = serializers.CharField(read_only=True)
    generation = serializers.PrimaryKeyRelatedField(read_only=True)

    class Meta:
        model = GeneratedImage
        fields = [
            "id", "generation", "index", "file_url", "thumbnail_url", "sha256", "width", "height", "mime_type",
            "bytes", "seed", "revised_prompt", "is_favorite", "source", "image_type", "in_gallery", "created",
        ]
        read_only_fields = fields


class GenerationSerializer(serializers.ModelSerializer):
    images = GeneratedImageSerializer(many=True, read_only=True)
    # Live status for pollers: 1 = next in line (null unless queued and due); seconds until a retry is due.
    queue_position = serializers.IntegerField(read_only=True, allow_null=True)
    retry_in_s = serializers.IntegerField(read_only=True, allow_null=True)
    attempts_on_profile = serializers.IntegerField(read_only=True, help_text="Attempts with the current profile; "
                                                   "`attempts` also counts those before a fallback.")
    # Live previews while running: percent (null when the provider reports none) and the latest partial image.
    progress = serializers.IntegerField(read_only=True, allow_null=True)
    preview_url = serializers.SerializerMethodField(help_text="The latest partial image (WEBP) while running, "
                                                    "for a signed-in session; null when there is none.")
    edit_of = serializers.PrimaryKeyRelatedField(
        read_only=True, allow_null=True,
        help_text="The id of the image this generation edits; null when it is no edit or that image was deleted.")

    class Meta:
        model = Generation
        fields = [
            "id", "chat", "message", "provider", "model", "parameters", "prompt", "negative_prompt", "refined_prompt",
            "status", "error_code", "error_message", "warnings", "attempts", "attempts_on_profile", "modal",
            "queued_at", "started_at",
            "finished_at", "estimated_cost_usd", "cost_source", "images", "queue_position", "retry_in_s",
            "next_attempt_at",
            "progress", "preview_url", "edit_of",
        ]
        read_only_fields = fields

    def get_preview_url(self, generation: Generation) -> str | None:
        if not generation.preview:
            return None
        return reverse("generation-preview", args=[generation.pk]) + f"?v={generation.preview_version}"


class TagNamesField(serializers.ListField):
    """Tags as a list of names (the viewset prefetches them)."""

    def to_representation(self, manager) -> list[str]:
        return [tag.name for tag in manager.all()]


# The field ModelSerializer makes for `created` (read only), without building all 26 fields on every request.
_DATETIME = serializers.DateTimeField(read_only=True)


class GalleryImageSerializer(GeneratedImageSerializer):
    """An image as the gallery API shows it: provenance, tags, and a link that works without a session for 5 min.

    Writable: `is_favorite` and `tags` (a list of names, which replaces the image's tags).
    """

    prompt = serializers.CharField(source="generation.prompt", read_only=True)
    refined_prompt = serializers.CharField(source="generation.refined_prompt", read_only=True)
    negative_prompt = serializers.CharField(source="generation.negative_prompt", read_only=True)
    provider = serializers.CharField(source="generation.provider", read_only=True)
    model = serializers.CharField(source="generation.model", read_only=True)
    chat = serializers.IntegerField(source="generation.chat_id", read_only=True, allow_null=True)
    edit_of = serializers.IntegerField(source="generation.edit_of_id", read_only=True, allow_null=True,
                                       help_text="The id of the image this one was edited from; null when none "
                                                 "(or it was deleted).")
    tags = TagNamesField(child=serializers.CharField(max_length=64), required=False, max_length=20)
    url = serializers.SerializerMethodField(help_text="Presigned (S3) or signed link, valid for 5 minutes.")
    download_url = serializers.SerializerMethodField(help_text="The file with its provenance embedded.")

    class Meta(GeneratedImageSerializer.Meta):
        fields = GeneratedImageSerializer.Meta.fields + [
            "prompt", "refined_prompt", "negative_prompt", "provider", "model", "chat", "edit_of", "tags", "url",
            "download_url",
        ]
        read_only_fields = [f for f in fields if f not in ("is_favorite", "tags", "image_type")]

    def get_url(self, image: GeneratedImage) -> str:
        return self._links()[3](image)

    def get_download_url(self, image: GeneratedImage) -> str:
        return link_maker("image-download")(image.pk)

    def to_representation(self, image: GeneratedImage) -> dict:
        """What DRF's own fields draw (the same keys, order and values), built directly: DRF's generic walk over 26
        fields and the URL reversals were most of a 50-image list (issue 10, P3). tests/images/test_gallery_api.py
        compares the two, so a field added to Meta.fields without a line here fails there."""
        file_url, thumbnail_url, download_url, _ = self._links()
        row = image.__dict__
        if "list_prompt" in row:  # a list's page: the generation's columns came with the image (images/api.py)
            prompt, refined_prompt, negative_prompt, provider, model, chat, edit_of = (
                row["list_prompt"], row["list_refined_prompt"], row["list_negative_prompt"], row["list_provider"],
                row["list_model"], row["list_chat_id"], row["list_edit_of_id"])
        else:
            generation = image.generation
            prompt, refined_prompt, negative_prompt, provider, model, chat, edit_of = (
                generation.prompt, generation.refined_prompt, generation.negative_prompt, generation.provider,
                generation.model, generation.chat_id, generation.edit_of_id)
        pk = image.pk
        created = image.created
        names = self.context.get("tag_names")  # a list's page: its tags in one query (images/api.py)
        return {
            "id": pk,
            "generation": image.generation_id,
            "index": image.index,
            "file_url": file_url(pk),
            "thumbnail_url": thumbnail_url(pk),
            "sha256": image.sha256,
            "width": image.width,
            "height": image.height,
            "mime_type": image.mime_type,
            "bytes": image.bytes,
            "seed": image.seed,
            "revised_prompt": image.revised_prompt,
            "is_favorite": bool(image.is_favorite),
            "source": image.source,
            "image_type": image.image_type,
            "in_gallery": bool(image.in_gallery),
            "created": None if created is None else _DATETIME.to_representation(created),
            "prompt": prompt,
            "refined_prompt": refined_prompt,
            "negative_prompt": negative_prompt,
            "provider": provider,
            "model": model,
            "chat": chat,
            "edit_of": edit_of,
            "tags": names.get(pk, []) if names is not None else [tag.name for tag in image.tags.all()],
            "url": self.get_url(image),
            "download_url": download_url(pk),
        }

    def _links(self) -> tuple:
        """The link makers, once per serializer: a list's child draws every image of the page."""
        links = self.__dict__.get("_link_makers")
        if links is None:
            links = self._link_makers = (*(link_maker(n) for n in ("image-file", "image-thumbnail", "image-download")),
                                         short_lived_url_maker())
        return links

    def validate_tags(self, value: list[str]) -> list[str]:
        from .gallery import TagError, parse_tag_names

        try:
            return parse_tag_names(value)
        except TagError as e:
            raise serializers.ValidationError(str(e)) from None

    def update(self, image: GeneratedImage, validated_data: dict) -> GeneratedImage:
        from .gallery import image_set_tags

        if "is_favorite" in validated_data:
            image.is_favorite = validated_data["is_favorite"]
            image.save(update_fields=["is_favorite"])
        if "image_type" in validated_data:
            image.image_type = validated_data["image_type"]
            image.save(update_fields=["image_type"])
        if "tags" in validated_data:
            image_set_tags(image, validated_data["tags"])
            if hasattr(image, "_prefetched_objects_cache"):
                image._prefetched_objects_cache.pop("tags", None)
        return image


class GalleryFacetsSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    favorites = serializers.IntegerField()
    providers = serializers.ListField(child=serializers.DictField())
    models = serializers.ListField(child=serializers.DictField())
    tags = serializers.ListField(child=serializers.DictField())
    chats = serializers.ListField(child=serializers.DictField())
    sources = serializers.ListField(child=serializers.DictField())
    types = serializers.ListField(child=serializers.DictField())
