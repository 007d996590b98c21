"""One error shape for the whole API: {"code": ..., "detail": ...} (+ "fields" for validation errors)."""

import logging

from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

logger = logging.getLogger(__name__)

CODES = {
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.Throttled: "rate_limited",
    exceptions.ValidationError: "validation_error",
    exceptions.ParseError: "validation_error",
    exceptions.UnsupportedMediaType: "validation_error",
}


class ApiError(exceptions.APIException):
    """A service-level failure with a taxonomy code (DESIGN.md)."""

    def __init__(self, detail: str, *, code: str, status_code: int = 400, fields: dict | None = None,
                 retry_after: int | None = None) -> None:
        super().__init__(detail=detail, code=code)
        self.status_code, self.error_code, self.fields = status_code, code, fields
        self.wait = retry_after  # DRF's handler turns `wait` into a Retry-After header (429 quota_exceeded)


def exception_handler(exc, context):
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    response = drf_exception_handler(exc, context)
    if response is None:
        logger.exception("unhandled API error", exc_info=exc)
        return Response(
            {"code": "internal_error", "detail": "Something went wrong on our side."},
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    if isinstance(exc, ApiError):
        body = {"code": exc.error_code, "detail": str(exc.detail)}
        if exc.fields:
            body["fields"] = exc.fields
    elif isinstance(exc, exceptions.ValidationError):
        body = {"code": "validation_error", "detail": "Some fields are invalid.", "fields": response.data}
    else:
        code = next((c for cls, c in CODES.items() if isinstance(exc, cls)), "error")
        body = {"code": code, "detail": response.data.get("detail", str(exc)) if isinstance(response.data, dict) else str(exc)}
    response.data = body
    return response
