"""The machine's own limits, measured through the same gunicorn, middleware stack and database as the product.

Each is the least a view of its kind can do: one INSERT, one small template, one page of a DRF list. They need
no login, but the bench requests them with the same session cookie as the product's pages.
"""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST
from rest_framework import generics, serializers
from rest_framework.permissions import AllowAny

from .models import BenchRow


@require_POST
def bare_insert(request: HttpRequest) -> HttpResponse:
    BenchRow.objects.create(name=request.POST.get("content", "")[:100])
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
