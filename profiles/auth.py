"""Personal API tokens: `Authorization: Bearer igt_…` (or `Token igt_…`). One header, one path (T5)."""

import hashlib
import secrets
from datetime import timedelta

from django.utils import timezone
from rest_framework import authentication, exceptions

from .models import ApiToken

TOKEN_PREFIX = "igt_"


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    # Tokens carry 256 random bits, so a fast hash is enough: nothing to brute-force.
    return hashlib.sha256(token.encode()).hexdigest()


class ApiTokenAuthentication(authentication.BaseAuthentication):
    keywords = ("bearer", "token")

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower().decode(errors="replace") not in self.keywords:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Malformed Authorization header.")
        token = header[1].decode(errors="replace")
        try:
            api_token = ApiToken.objects.select_related("owner").get(key_hash=hash_token(token))
        except ApiToken.DoesNotExist:
            raise exceptions.AuthenticationFailed("Invalid or revoked token.") from None
        if not api_token.owner.is_active:
            raise exceptions.AuthenticationFailed("This account is disabled.")
        now = timezone.now()
        if api_token.last_used is None or now - api_token.last_used > timedelta(minutes=1):
            ApiToken.objects.filter(pk=api_token.pk).update(last_used=now)
        return api_token.owner, api_token

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="api"'
