"""Files reach only their owner: owner-checked views, signed links (SECURITY.md T6, T7, T38)."""

from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from images import delivery

pytestmark = pytest.mark.django_db


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_image_headers_are_safe(alice_client, alice, make_image):
    image = make_image(alice)
    for url, content_type in ((reverse("image-file", args=[image.pk]), "image/png"),
                              (reverse("image-thumbnail", args=[image.pk]), "image/webp")):
        response = alice_client.get(url)
        assert response.status_code == 200
        assert response["Content-Type"] == content_type
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"
        assert response["Cross-Origin-Resource-Policy"] == "same-origin"
        assert response["Cache-Control"].startswith("private")


def test_files_are_not_reachable_by_another_user_or_anonymously(alice, bob_client, make_image):
    image = make_image(alice)
    for name in ("image-file", "image-thumbnail", "image-download"):
        assert bob_client.get(reverse(name, args=[image.pk])).status_code == 404
        anonymous = Client().get(reverse(name, args=[image.pk]))
        assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]
    # MEDIA_ROOT is not mapped to any URL (T6).
    assert bob_client.get(f"/media/{image.file}").status_code == 404
    assert bob_client.get(f"/{image.file}").status_code == 404


def test_signed_link_valid_tampered_expired_replayed(alice, bob_client, make_image, alice_client):
    image = make_image(alice)
    url = delivery.short_lived_url(image)
    assert url.startswith("/files/signed/")
    # Valid, with or without the owner's session (a cookieless client).
    fresh = Client().get(url)
    assert fresh.status_code == 200 and fresh["Content-Type"] == "image/png"
    assert fresh["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert alice_client.get(url).status_code == 200
    # One character changed: 403.
    token = url.rstrip("/").rsplit("/", 1)[-1]
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert Client().get(reverse("image-signed", args=[flipped])).status_code == 403
    # Someone else, logged in, replaying alice's link: 404 (the token binds the user id).
    assert bob_client.get(url).status_code == 404
    # 301 seconds later: 403 link_expired.
    with time_machine.travel(timezone.now() + timedelta(seconds=301)):
        expired = Client().get(url)
    assert expired.status_code == 403 and expired.json()["code"] == "link_expired"
    # Thumbnail links are their own kind.
    thumb = Client().get(delivery.short_lived_url(image, "thumb"))
    assert thumb.status_code == 200 and thumb["Content-Type"] == "image/webp"


def test_signed_link_dies_with_the_image(alice, make_image, django_capture_on_commit_callbacks):
    from images.gallery import images_delete
    from images.models import GeneratedImage

    image = make_image(alice)
    url = delivery.short_lived_url(image)
    with django_capture_on_commit_callbacks(execute=True):
        images_delete(GeneratedImage.objects.filter(pk=image.pk))
    assert Client().get(url).status_code == 404


def test_api_gives_a_working_short_lived_url(alice, make_image):
    image = make_image(alice)
    api = APIClient()
    api.force_authenticate(alice)
    data = api.get(reverse("api:image-detail", args=[image.pk])).json()
    assert Client().get(data["url"]).status_code == 200


def test_owner_checked_files_are_cached_privately_for_the_link_lifetime_then_revalidated(alice, alice_client,
                                                                                         make_image):
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    image = make_image(alice)
    url = reverse("image-thumbnail", args=[image.pk])
    first = alice_client.get(url)
    assert first["Cache-Control"] == f"private, max-age={delivery.MEDIA_LINK_MAX_AGE_S}"  # never immutable, never a day
    assert "Cookie" in first["Vary"]  # another login in the same browser does not reuse it
    assert first["ETag"] and first["Last-Modified"]
    # After max-age the browser asks again; the owner check answers, and an unchanged file costs no bytes.
    again = alice_client.get(url, HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 304 and not again.content and again["ETag"] == first["ETag"]
    assert again["Cache-Control"] == first["Cache-Control"]
    # A thumbnail rebuilt in place under the same name (admin "re-run thumbnails") with other bytes is a new version.
    default_storage.delete(image.thumbnail)
    default_storage.save(image.thumbnail, ContentFile(b"other bytes"))
    rebuilt = alice_client.get(url, HTTP_IF_NONE_MATCH=first["ETag"])
    assert rebuilt.status_code == 200 and body(rebuilt) == b"other bytes"
    # Someone else presenting alice's validator gets the same 404 as without it.
    other = Client()
    other.force_login(make_user("carol"))
    assert other.get(url, HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 404


def make_user(name):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_user(name, password="pw-long-enough-1")


def test_signed_links_are_cached_only_while_they_still_work(alice, make_image):
    image = make_image(alice)
    minted = timezone.now().replace(microsecond=0)  # the token keeps whole seconds
    with time_machine.travel(minted, tick=False):
        url = delivery.short_lived_url(image, "thumb")
        fresh = Client().get(url)
    assert fresh["Cache-Control"] == f"private, max-age={delivery.MEDIA_LINK_MAX_AGE_S}"
    with time_machine.travel(minted + timedelta(seconds=200), tick=False):
        later = Client().get(url)
    assert later.status_code == 200 and later["Cache-Control"] == "private, max-age=100"
    assert "immutable" not in later["Cache-Control"]
    with time_machine.travel(minted + timedelta(seconds=300), tick=False):
        assert Client().get(url)["Cache-Control"] == "private, max-age=0"


@pytest.mark.parametrize("name, arg", [
    ("image-file", 7), ("image-thumbnail", 123456789), ("image-download", 1), ("gallery-detail", 42),
    ("image-signed", "eyJpIjoxfQ:1tYk3b:Ab-_cd12"), ("image-signed", "needs quoting é?"),
])
def test_link_maker_gives_what_reverse_gives(name, arg):
    from django.urls import reverse, set_script_prefix

    from images.delivery import link_maker

    assert link_maker(name)(arg) == reverse(name, args=[arg])
    set_script_prefix("/under/a/prefix/")  # a deployment below a path: each prefix has its own reversed route
    try:
        assert link_maker(name)(arg) == reverse(name, args=[arg]) and reverse(name, args=[arg]).startswith("/under/")
    finally:
        set_script_prefix("/")


def test_a_list_signs_the_same_links_as_short_lived_url(alice, make_image, settings):
    """short_lived_url_maker derives the HMAC key once per list; its links are byte for byte short_lived_url's at the
    same moment, for either kind, and follow a change of SECRET_KEY."""
    image = make_image(alice)
    with time_machine.travel(timezone.now(), tick=False):
        make = delivery.short_lived_url_maker()
        for kind in ("file", "thumb"):
            assert make(image, kind) == delivery.short_lived_url(image, kind)
        assert make(image) == delivery.short_lived_url(image)
        settings.SECRET_KEY = "another-secret-key-" + "x" * 40
        assert delivery.short_lived_url_maker()(image) == delivery.short_lived_url(image) != make(image)
