"""The machine's own limits, measured through the same gunicorn, middleware stack and database as the product.

Each is the least a view of its kind can do: one INSERT, one small template, one page of a DRF list. They need
no login, but the bench requests them with the same session cookie as the product's pages.
"""

from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET, require_POST
from rest_framework import generics, serializers
from rest_framework.permissions import AllowAny

from chats.models import Chat

from .models import BenchRow


@require_POST
def bare_insert(request: HttpRequest) -> HttpResponse:
    BenchRow.objects.create(name=request.POST.get("content", "")[:100])
    return HttpResponse("ok")


@login_required
@require_POST
def post_floor(request: HttpRequest, pk: int) -> HttpResponse:
    """Not a target's reference: what any chat post must do, to show how far P1's 1.5× is from it. The session and
    the user (login_required), the person's chat, and four rows in one transaction (the person's message, the
    card, the generation, its task), written here as plain rows with one index each."""
    chat = get_object_or_404(Chat.objects.filter(owner=request.user), pk=pk)
    text = request.POST.get("content", "")[:100]
    with transaction.atomic():
        for _ in range(4):
            BenchRow.objects.create(name=text, value=chat.pk)
    return HttpResponse("ok")


@require_GET
def bare_template(request: HttpRequest) -> HttpResponse:
    return render(request, "bench_ref/bare.html", {"items": range(20)})


class BenchRowSerializer(serializers.ModelSerializer):
    class Meta:
        model = BenchRow
        fields = ["id", "name", "value", "created"]


class BareRowList(generics.ListAPIView):
    queryset = BenchRow.objects.all()
    serializer_class = BenchRowSerializer
    permission_classes = [AllowAny]
