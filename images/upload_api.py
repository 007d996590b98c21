"""POST /api/uploads/ (multipart `file`) and POST /api/imports/ (`url`): add an outside image to your gallery.

Both answer 201 with the gallery image (GalleryImageSerializer); a refused image or address is {"code", "detail"}:
image_invalid / image_too_large (422), url_forbidden / validation_error (400), provider_error (502), timeout (504).
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from imagegen_site.api_errors import ApiError

from .models import ImageType
from .providers.base import ERROR_HTTP_STATUS
from .serializers import GalleryImageSerializer
from .upload_limits import check_import_rate_api
from .uploads import MAX_DESCRIPTION_CHARS, MAX_URL_CHARS, UploadError, image_import, image_upload

# An image the sanitiser refuses is the client's file, not a provider's: 422, not the provider's 502.
UPLOAD_STATUS = {"image_invalid": 422, "image_too_large": 422}


def api_error(e: UploadError) -> ApiError:
    code_status = UPLOAD_STATUS.get(e.code) or ERROR_HTTP_STATUS.get(e.code, 400)
    return ApiError(e.message, code=e.code, status_code=code_status, fields={e.field: e.message} if e.field else None)


class UploadRequest(serializers.Serializer):
    file = serializers.FileField(help_text="PNG, JPEG or WEBP; re-encoded, metadata dropped")
    description = serializers.CharField(required=False, allow_blank=True, max_length=MAX_DESCRIPTION_CHARS)
    image_type = serializers.ChoiceField(choices=ImageType.choices, required=False, allow_blank=True)


class ImportRequest(serializers.Serializer):
    url = serializers.CharField(max_length=MAX_URL_CHARS, help_text="a public https address of an image")
    description = serializers.CharField(required=False, allow_blank=True, max_length=MAX_DESCRIPTION_CHARS)
    image_type = serializers.ChoiceField(choices=ImageType.choices, required=False, allow_blank=True)


def _created(request: Request, image) -> Response:
    return Response(GalleryImageSerializer(image, context={"request": request}).data, status=status.HTTP_201_CREATED)


class UploadView(APIView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(request={"multipart/form-data": UploadRequest}, responses={201: GalleryImageSerializer})
    def post(self, request: Request) -> Response:
        body = UploadRequest(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        try:
            image = image_upload(request.user, data["file"], description=data.get("description", ""),
                                 image_type=data.get("image_type", ""))
        except UploadError as e:
            raise api_error(e) from None
        return _created(request, image)


class ImportView(APIView):
    parser_classes = [JSONParser, FormParser, MultiPartParser]

    @extend_schema(request=ImportRequest, responses={201: GalleryImageSerializer})
    def post(self, request: Request) -> Response:
        body = ImportRequest(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        check_import_rate_api(request)
        try:
            image = image_import(request.user, data["url"], description=data.get("description", ""),
                                 image_type=data.get("image_type", ""))
        except UploadError as e:
            raise api_error(e) from None
        return _created(request, image)
