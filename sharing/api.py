"""Share links over the API. Owner side: /api/shares/ (list, create, retrieve, DELETE = revoke). Public side:
/api/shared/<token>/ (anyone with the token, read-only) and POST …/images/<id>/save/ (a signed-in user copies an
image into their own gallery)."""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from imagegen_site.api_errors import ApiError
from images.models import GeneratedImage, Tag
from images.serializers import GeneratedImageSerializer

from . import services
from .models import Share


class ShareSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField(help_text="The public link; works until revoked or expired.")
    status = serializers.CharField(read_only=True)
    image = serializers.PrimaryKeyRelatedField(queryset=GeneratedImage.objects.none(), required=False, allow_null=True)
    tag = serializers.SlugRelatedField(slug_field="name", queryset=Tag.objects.none(), required=False, allow_null=True,
                                       help_text="Share every image with this tag (yours), now and later.")
    expires_in_days = serializers.IntegerField(write_only=True, required=False, allow_null=True, min_value=1,
                                               max_value=services.MAX_EXPIRY_DAYS)

    class Meta:
        model = Share
        fields = ["id", "kind", "image", "tag", "title", "show_owner", "expires_in_days", "expires_at", "revoked_at",
                  "status", "views", "created", "url", "token"]
        read_only_fields = ["kind", "expires_at", "revoked_at", "views", "created", "token"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        if request is not None and request.user.is_authenticated:  # only your own images and tags can be chosen
            self.fields["image"].queryset = GeneratedImage.objects.for_user(request.user)
            self.fields["tag"].queryset = Tag.objects.filter(owner=request.user)

    def get_url(self, share: Share) -> str:
        request = self.context.get("request")
        path = share.get_absolute_url()
        return request.build_absolute_uri(path) if request is not None else path

    def validate(self, attrs):
        if (attrs.get("image") is None) == (attrs.get("tag") is None):
            raise serializers.ValidationError("Give either `image` (an image id) or `tag` (a tag name).")
        return attrs


class ShareViewSet(mixins.ListModelMixin, mixins.CreateModelMixin, mixins.RetrieveModelMixin,
                   mixins.DestroyModelMixin, viewsets.GenericViewSet):
    """Your share links. DELETE revokes (the row stays, as "revoked"; every link to it answers 404 at once)."""

    serializer_class = ShareSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Share.objects.none()
        return Share.objects.for_user(self.request.user).select_related("tag")

    def perform_create(self, serializer: ShareSerializer) -> None:
        data = serializer.validated_data
        try:
            serializer.instance = services.share_create(
                owner=self.request.user, image=data.get("image"), tag=data.get("tag"), title=data.get("title", ""),
                show_owner=data.get("show_owner", False), expires_in_days=data.get("expires_in_days"))
        except services.ShareError as e:
            raise ApiError(e.message, code=e.code, status_code=404 if e.code == "not_found" else 400) from None

    def perform_destroy(self, instance: Share) -> None:
        services.share_revoke(instance)


class SharedImageSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    prompt = serializers.CharField(help_text="The prompt as its owner typed it.")
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    mime_type = serializers.CharField()
    created = serializers.DateTimeField()
    file_url = serializers.CharField()
    thumbnail_url = serializers.CharField()


class SharedSerializer(serializers.Serializer):
    title = serializers.CharField()
    kind = serializers.CharField()
    owner = serializers.CharField(allow_null=True, help_text="Only when the owner chose to show it.")
    expires_at = serializers.DateTimeField(allow_null=True)
    images = SharedImageSerializer(many=True)


class SharedView(APIView):
    """A share, read-only, by its token: no sign-in needed. Unknown, revoked and expired tokens are all 404."""

    permission_classes = [AllowAny]
    authentication_classes = []  # public: no session, so no CSRF and nothing about the caller is used

    @extend_schema(responses=SharedSerializer)
    def get(self, request: Request, token: str) -> Response:
        share = services.active_share(token)
        images = services.shared_images(share)[: services.MAX_SHARED_IMAGES]
        return Response(SharedSerializer({
            "title": share.heading, "kind": share.kind,
            "owner": share.owner.get_username() if share.show_owner else None, "expires_at": share.expires_at,
            "images": [{
                "id": image.pk, "prompt": image.generation.prompt, "width": image.width, "height": image.height,
                "mime_type": image.mime_type, "created": image.created,
                "file_url": request.build_absolute_uri(reverse("shared-file", args=[token, image.pk])),
                "thumbnail_url": request.build_absolute_uri(reverse("shared-thumbnail", args=[token, image.pk])),
            } for image in images],
        }).data)


class SharedSaveView(APIView):
    """Copy one image of a share into your own gallery; answers the new image (201)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses={201: GeneratedImageSerializer})
    def post(self, request: Request, token: str, image_id: int) -> Response:
        share = services.active_share(token)
        image = services.shared_image(share, image_id)
        try:
            copy = services.save_to_gallery(share, image, request.user)
        except services.ShareError as e:
            raise ApiError(e.message, code=e.code) from None
        return Response(GeneratedImageSerializer(copy).data, status=status.HTTP_201_CREATED)
