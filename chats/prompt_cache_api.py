"""GET /api/prompt-cache/ (your own cache's numbers) and DELETE (forget your cached refinements)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from . import prompt_cache


class PromptCacheSerializer(serializers.Serializer):
    entries = serializers.IntegerField()
    hits = serializers.IntegerField(help_text="Refinements answered from the cache (no LLM call).")
    llm_calls = serializers.IntegerField(help_text="Refinements the chat model was asked (and paid) for.")
    hit_rate = serializers.FloatField(allow_null=True, help_text="hits / (hits + llm_calls); null before the first.")
    ttl_days = serializers.IntegerField(help_text="Cached refinements older than this are asked again; 0: cache off.")


class PromptCacheView(APIView):
    """Your prompt cache: refinements are reused for the same prompt, context and refiner model."""

    @extend_schema(responses=PromptCacheSerializer)
    def get(self, request: Request) -> Response:
        found = prompt_cache.totals(request.user)
        max_age = prompt_cache.ttl()
        return Response(PromptCacheSerializer({
            "entries": found.entries, "hits": found.hits, "llm_calls": found.llm_calls, "hit_rate": found.hit_rate,
            "ttl_days": max_age.days if max_age else 0,
        }).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request) -> Response:
        prompt_cache.clear(request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
