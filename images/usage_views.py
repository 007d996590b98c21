"""Settings → Usage (the page) and GET /api/usage/ (the same numbers for API clients): this month, the signed-in user.

Thin: images/usage.py does the counting; every query there is scoped to request.user.
"""

from __future__ import annotations

from decimal import Decimal

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .usage import month_summary


@login_required
@require_GET
def usage_page(request: HttpRequest) -> HttpResponse:
    summary = month_summary(request.user)
    busiest = max((row["cost"] or Decimal("0") for row in summary.days), default=Decimal("0"))
    return render(request, "images/usage.html",
                  {"nav": "settings", "tab": "usage", "summary": summary, "busiest_day": busiest})


def _money(value) -> str | None:
    return None if value is None else f"{value:.4f}"


def _row(row: dict, **keys: str) -> dict:
    return {
        **{name: row[key] for name, key in keys.items()},
        "cost_usd": _money(row["cost"] or Decimal("0")),
        "generations": row["generations"],
        "succeeded": row["succeeded"],
        "images": row["images"],
    }


class UsageView(APIView):
    """This month's estimated spend for the signed-in user: totals, per day, per provider/model and per profile.
    Amounts are USD strings with four decimals; `cap_usd` is null when there is no monthly cap."""

    @extend_schema(responses=inline_serializer("Usage", {
        "month_start": serializers.DateField(), "resets_at": serializers.DateTimeField(),
        "total_usd": serializers.CharField(), "pending_usd": serializers.CharField(),
        "cap_usd": serializers.CharField(allow_null=True), "remaining_usd": serializers.CharField(allow_null=True),
        "generations": serializers.IntegerField(), "images": serializers.IntegerField(),
        "unpriced": serializers.IntegerField(), "days": serializers.ListField(child=serializers.DictField()),
        "providers": serializers.ListField(child=serializers.DictField()),
        "profiles": serializers.ListField(child=serializers.DictField()),
    }))
    def get(self, request: Request) -> Response:
        s = month_summary(request.user)
        return Response({
            "month_start": s.month_start,
            "resets_at": s.resets_at,
            "total_usd": _money(s.total_usd),
            "pending_usd": _money(s.pending_usd),
            "cap_usd": _money(s.cap_usd),
            "remaining_usd": _money(s.remaining_usd),
            "generations": s.generations,
            "images": s.images,
            "unpriced": s.unpriced,
            "days": [_row(r, day="day") for r in s.days],
            "providers": [_row(r, provider="provider", model="model") for r in s.providers],
            "profiles": [_row(r, profile="profile", label="label") for r in s.profiles],
        })
