import io
import json

import pytest
from django.core.files.storage import default_storage
from django.urls import reverse
from PIL import Image

from images.models import GeneratedImage, Tag

pytestmark = pytest.mark.django_db


def test_list_filters_and_fields(alice_api, alice, bob, make_image):
    fox = make_image(alice, prompt="a red fox", favorite=True)
    owl = make_image(alice, prompt="an owl", provider="openai", model="gpt-image-1")
    make_image(bob, prompt="bob's fox")
    Tag.objects.create(owner=alice, name="night").images.add(owl)
    url = reverse("api:image-list")
    rows = alice_api.get(url).json()["results"]
    assert [r["id"] for r in rows] == [owl.pk, fox.pk]
    assert rows[0]["tags"] == ["night"] and rows[0]["provider"] == "openai" and rows[0]["prompt"] == "an owl"
    assert rows[0]["url"].startswith("/files/signed/")
    assert [r["id"] for r in alice_api.get(url, {"favorites": "true"}).json()["results"]] == [fox.pk]
    assert [r["id"] for r in alice_api.get(url, {"tag": "night"}).json()["results"]] == [owl.pk]
    assert [r["id"] for r in alice_api.get(url, {"q": "fox"}).json()["results"]] == [fox.pk]
    assert [r["id"] for r in alice_api.get(url, {"provider": "openai"}).json()["results"]] == [owl.pk]
    bad = alice_api.get(url, {"date_from": "yesterday"})
    assert bad.status_code == 400 and bad.json()["code"] == "validation_error"


def test_facets(alice_api, alice, make_image):
    make_image(alice, favorite=True)
    make_image(alice, provider="openai", model="gpt-image-1")
    data = alice_api.get(reverse("api:image-facets")).json()
    assert data["total"] == 2 and data["favorites"] == 1
    assert {r["value"]: r["count"] for r in data["providers"]} == {"offline": 1, "openai": 1}
    narrowed = alice_api.get(reverse("api:image-facets"), {"provider": "openai"}).json()
    assert narrowed["favorites"] == 0 and narrowed["total"] == 1


def test_patch_favorite_and_tags(alice_api, alice, make_image):
    image = make_image(alice)
    url = reverse("api:image-detail", args=[image.pk])
    response = alice_api.patch(url, {"is_favorite": True, "tags": ["fox", " Fox ", "dawn"]}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["is_favorite"] is True and response.json()["tags"] == ["dawn", "fox"]
    image.refresh_from_db()
    assert image.is_favorite and sorted(image.tags.values_list("name", flat=True)) == ["dawn", "fox"]
    # Read-only fields are ignored, not written.
    alice_api.patch(url, {"prompt": "changed", "sha256": "0" * 64}, format="json")
    image.refresh_from_db()
    assert image.generation.prompt == "a red fox" and image.sha256 != "0" * 64
    too_many = alice_api.patch(url, {"tags": [f"t{i}" for i in range(21)]}, format="json")
    assert too_many.status_code == 400 and "tags" in json.dumps(too_many.json())
    assert alice_api.put(url, {}, format="json").status_code == 405


def test_delete_and_download(alice_api, alice, make_image, django_capture_on_commit_callbacks):
    image = make_image(alice, prompt="api fox")
    download = alice_api.get(reverse("api:image-download", args=[image.pk]), {"as": "png"})
    assert download.status_code == 200
    assert json.loads(Image.open(io.BytesIO(download.content)).text["imagegen"])["prompt"] == "api fox"
    with django_capture_on_commit_callbacks(execute=True):
        assert alice_api.delete(reverse("api:image-detail", args=[image.pk])).status_code == 204
    assert not GeneratedImage.objects.exists() and not default_storage.exists(image.file)


def test_the_lists_direct_representation_is_drf_s_own_field_by_field(alice, alice_api, make_image, monkeypatch):
    """GalleryImageSerializer draws an image without DRF's generic field walk (issue 10, P3); it must give exactly
    what the declared fields would: the same keys in the same order, the same values."""
    from rest_framework import serializers as drf
    from rest_framework.renderers import JSONRenderer

    from chats.models import Chat
    from images.serializers import GalleryImageSerializer

    monkeypatch.setattr(GalleryImageSerializer, "get_url", lambda self, image: f"/signed/{image.pk}")  # time-bound
    plain = make_image(alice, prompt="a fox", seed=None)
    rich = make_image(alice, prompt="an owl", chat=Chat.objects.create(owner=alice, title="c"), favorite=True,
                      provider="openai", model="gpt-image-1", negative_prompt="blur")
    GeneratedImage.objects.filter(pk=rich.pk).update(revised_prompt="an owl at night", image_type="character",
                                                      source="upload", in_gallery=False)
    Tag.objects.create(owner=alice, name="night").images.add(rich)
    Tag.objects.create(owner=alice, name="birds").images.add(rich)
    for image in GeneratedImage.objects.filter(pk__in=[plain.pk, rich.pk]).select_related("generation"):
        serializer = GalleryImageSerializer()
        direct = serializer.to_representation(image)
        generic = drf.ModelSerializer.to_representation(serializer, image)
        assert JSONRenderer().render(direct) == JSONRenderer().render(generic)
        assert list(direct) == GalleryImageSerializer.Meta.fields
        if image.in_gallery:  # the list's page: its tags from one query, the rest the same
            (listed,) = [r for r in alice_api.get(reverse("api:image-list")).json()["results"] if r["id"] == image.pk]
            assert listed == json.loads(JSONRenderer().render(generic))
    GeneratedImage.objects.filter(pk=rich.pk).update(in_gallery=True)
    (listed,) = [r for r in alice_api.get(reverse("api:image-list")).json()["results"] if r["id"] == rich.pk]
    assert listed["tags"] == ["birds", "night"]
