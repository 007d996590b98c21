"""Settings → World notes: the prompt prefix per image type (seed 004), and its API (/api/world-notes/)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from imagegen_site.api_errors import ApiError

from .forms import bootstrap
from .models import WorldNotes
from .world_notes import TYPES, WorldNotesError, world_notes_of, world_notes_save

PLACEHOLDERS = {
    "scene": "cyberpunk Seattle, neon, rain",
    "character": "street samurai, chrome implants, long coat",
    "location": "2070s Seattle sprawl, arcologies on the skyline",
    "item": "matte black, worn metal, product shot on dark background",
}


class WorldNotesForm(forms.Form):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for name in TYPES:
            self.fields[name] = forms.CharField(
                label=f"{name.capitalize()}s", required=False, max_length=WorldNotes.MAX_CHARS,
                widget=forms.Textarea(attrs={"rows": 2, "placeholder": PLACEHOLDERS[name]}),
            )
        bootstrap(self)


@login_required
def world_notes_page(request: HttpRequest) -> HttpResponse:
    row = world_notes_of(request.user)
    form = WorldNotesForm(request.POST or None, initial={name: getattr(row, name) for name in TYPES})
    if request.method == "POST" and form.is_valid():
        try:
            world_notes_save(request.user, **{name: form.cleaned_data[name] for name in TYPES})
        except WorldNotesError as e:
            form.add_error(e.field, e.message)
        else:
            messages.success(request, "Saved your world notes.")
            return redirect("settings-world-notes")
    return render(request, "profiles/world_notes.html", {"form": form, "nav": "settings", "tab": "world"},
                  status=400 if form.errors else 200)


class WorldNotesSerializer(serializers.Serializer):
    scene = serializers.CharField(required=False, allow_blank=True, max_length=WorldNotes.MAX_CHARS)
    character = serializers.CharField(required=False, allow_blank=True, max_length=WorldNotes.MAX_CHARS)
    location = serializers.CharField(required=False, allow_blank=True, max_length=WorldNotes.MAX_CHARS)
    item = serializers.CharField(required=False, allow_blank=True, max_length=WorldNotes.MAX_CHARS)


class WorldNotesView(APIView):
    """Your prompt prefix per image type. PUT/PATCH set the types given; the others stay."""

    @extend_schema(responses=WorldNotesSerializer)
    def get(self, request: Request) -> Response:
        row = world_notes_of(request.user)
        return Response({name: getattr(row, name) for name in TYPES})

    @extend_schema(request=WorldNotesSerializer, responses=WorldNotesSerializer)
    def put(self, request: Request) -> Response:
        body = WorldNotesSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            row = world_notes_save(request.user, **body.validated_data)
        except WorldNotesError as e:
            raise ApiError(e.message, fields={e.field: e.message}) from None
        return Response({name: getattr(row, name) for name in TYPES})

    patch = put
