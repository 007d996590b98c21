"""The same gallery on S3: a real S3 API (moto's server) on a loopback port; presigned URLs fetched over HTTP."""

import re
import socket
import time
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from io import StringIO
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
import requests
import time_machine
from botocore.config import Config
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.urls import reverse

from imagegen_site.storage_config import MEDIA_LINK_MAX_AGE_S, MEDIA_LINK_REUSE_S, link_window_start, s3_storage
from images import delivery
from images.models import GeneratedImage
from images.s3_storage import MediaS3Storage

pytestmark = pytest.mark.django_db

BUCKET = "imagegen-test"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def moto_endpoint():
    server_module = pytest.importorskip("moto.server", reason="moto[server] is in requirements-dev.txt")
    port = free_port()
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3(moto_endpoint, settings, monkeypatch):
    import boto3

    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    client = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    settings.STORAGES = {**settings.STORAGES, "default": s3_storage(BUCKET, endpoint_url=moto_endpoint,
                                                                     region="us-east-1")}
    yield client
    for obj in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=obj["Key"])
    client.delete_bucket(Bucket=BUCKET)


def test_round_trip_through_presigned_urls(s3, moto_endpoint, alice, alice_client, bob_client, make_image,
                                           django_capture_on_commit_callbacks):
    image = make_image(alice, prompt="s3 fox")
    assert isinstance(default_storage._wrapped, MediaS3Storage)
    # The database keeps the key; the object is in the bucket, private.
    assert image.file.startswith(f"images/{alice.pk}/") and "://" not in image.file
    assert {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]} == {image.file, image.thumbnail}
    unsigned = requests.get(f"{moto_endpoint}/{BUCKET}/{image.file}", timeout=10)
    assert unsigned.status_code == 403

    # The owner-checked view answers with a presigned 5-minute URL; fetching it gives the bytes.
    response = alice_client.get(reverse("image-file", args=[image.pk]))
    assert response.status_code == 302 and response["Location"].startswith(moto_endpoint)
    assert "X-Amz-Expires=300" in response["Location"] and "X-Amz-Signature=" in response["Location"]
    fetched = requests.get(response["Location"], timeout=10)
    assert fetched.status_code == 200 and fetched.headers["Content-Type"] == "image/png"
    with default_storage.open(image.file, "rb") as f:
        assert fetched.content == f.read()
    assert bob_client.get(reverse("image-file", args=[image.pk])).status_code == 404

    # Pages mint presigned URLs at render time; the gallery never loads originals.
    html = alice_client.get(reverse("gallery")).content.decode()
    assert f"{moto_endpoint}/{BUCKET}/{image.thumbnail}?" in html and f"/{image.file}?" not in html
    # The API's short-lived URL is presigned too, and works without any session.
    api_url = alice_client.get(reverse("api:image-detail", args=[image.pk])).json()["url"]
    assert api_url.startswith(moto_endpoint) and requests.get(api_url, timeout=10).status_code == 200

    # Downloads with metadata read through the storage API.
    download = alice_client.get(reverse("image-download", args=[image.pk]), {"as": "png"})
    assert download.status_code == 200 and b"s3 fox" in download.content

    # Delete removes the objects; the orphan command works on S3 too, on both name layouts.
    strays = [f"images/{alice.pk}/img_{'c' * 16}.png", f"images/{alice.pk}/cc/{'c' * 64}.png",
              f"images/{alice.pk}/thumbs/cc/{'c' * 64}.webp"]
    for key in strays:
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"stray")
    out = StringIO()
    call_command("media_orphans", "--min-age", "0", "--delete", stdout=out)
    assert all(f"deleted {key}" in out.getvalue() for key in strays) and "0 missing" in out.getvalue()
    with django_capture_on_commit_callbacks(execute=True):
        alice_client.post(reverse("gallery-delete", args=[image.pk]))
    assert not GeneratedImage.objects.exists()
    assert s3.list_objects_v2(Bucket=BUCKET).get("KeyCount") == 0


def test_both_layouts_on_s3_one_listing_serves_sweeps_and_keeps_old_rows(s3, alice, alice_client, make_image,
                                                                         monkeypatch):
    from images.jobs import delete_orphan_files
    from images.storage import walk

    new = make_image(alice)
    old = make_image(alice)  # moved to the previous layout's names, as a row made before it would be
    legacy = {"file": f"images/{alice.pk}/img_{old.sha256[:16]}.png",
              "thumbnail": f"images/{alice.pk}/thumbs/img_{old.sha256[:16]}.webp"}
    for field, key in legacy.items():
        s3.copy_object(Bucket=BUCKET, Key=key, CopySource={"Bucket": BUCKET, "Key": getattr(old, field)})
        s3.delete_object(Bucket=BUCKET, Key=getattr(old, field))
    GeneratedImage.objects.filter(pk=old.pk).update(**legacy)
    strays = [f"images/{alice.pk}/img_{'d' * 16}.png", f"images/{alice.pk}/thumbs/img_{'d' * 16}.webp",
              f"images/{alice.pk}/dd/{'d' * 64}.webp", f"images/{alice.pk}/thumbs/dd/{'d' * 64}.webp"]
    for key in strays:
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"stray")
    s3.put_object(Bucket=BUCKET, Key="previews/1/not-listed.webp", Body=b"elsewhere")

    # One flat listing of the prefix: folder by folder would be a LIST per shard.
    monkeypatch.setattr(MediaS3Storage, "listdir", lambda self, name: pytest.fail(f"listdir({name!r})"))
    kept = [new.file, new.thumbnail, *legacy.values()]
    assert sorted(walk("images")) == sorted(kept + strays)
    with time_machine.travel(datetime.now(timezone.utc) + timedelta(days=3)):
        assert sorted(delete_orphan_files()) == sorted(strays)
    assert sorted(walk("images")) == sorted(kept)

    response = alice_client.get(reverse("image-file", args=[old.pk]))
    assert response.status_code == 302 and f"/{legacy['file']}?" in response["Location"]
    assert requests.get(response["Location"], timeout=10).status_code == 200


def test_walk_strips_the_storages_key_prefix(s3, moto_endpoint, settings):
    from images.storage import walk

    settings.STORAGES = {**settings.STORAGES, "default": s3_storage(BUCKET, endpoint_url=moto_endpoint,
                                                                     region="us-east-1", prefix="media")}
    key = f"images/1/ab/{'ab' * 32}.png"
    s3.put_object(Bucket=BUCKET, Key=f"media/{key}", Body=b"x")
    s3.put_object(Bucket=BUCKET, Key="media/images/", Body=b"")  # a folder marker some S3 tools create
    s3.put_object(Bucket=BUCKET, Key=f"images/2/ab/{'ab' * 32}.png", Body=b"outside the prefix")
    assert list(walk("images")) == [key] and default_storage.exists(key)


def amz(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def signed_at(url: str) -> float:
    return datetime.strptime(amz(url)["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc).timestamp()


def thumbnail_srcs(client) -> list[str]:
    return re.findall(r'src="(http[^"]+/thumbs/[^"]+)"', client.get(reverse("gallery")).content.decode().replace("&amp;", "&"))


def test_presigned_urls_are_the_same_within_a_window_and_expire_by_the_policy(s3, alice, alice_client, make_image):
    make_image(alice)
    make_image(alice)
    start = link_window_start(time.time()) + MEDIA_LINK_REUSE_S  # the next window, so no test run straddles one
    with time_machine.travel(start + 5, tick=False):
        first = thumbnail_srcs(alice_client)
    with time_machine.travel(start + MEDIA_LINK_REUSE_S - 1, tick=False):
        again = thumbnail_srcs(alice_client)
    with time_machine.travel(start + MEDIA_LINK_REUSE_S, tick=False):
        later = thumbnail_srcs(alice_client)
    assert len(first) == 2 and again == first  # a repeat visit links what the browser already has
    assert set(later).isdisjoint(first)  # the next window signs anew
    for url, minted in [(first[0], start + 5), (again[0], start + MEDIA_LINK_REUSE_S - 1),
                        (later[0], start + MEDIA_LINK_REUSE_S)]:
        expires_at = signed_at(url) + int(amz(url)["X-Amz-Expires"])
        # Never valid longer than the policy from when it was minted, and long enough for the page to load.
        assert minted + MEDIA_LINK_MAX_AGE_S - MEDIA_LINK_REUSE_S < expires_at <= minted + MEDIA_LINK_MAX_AGE_S
        # S3 lets a browser keep the bytes until the URL itself expires, and privately only.
        assert amz(url)["response-cache-control"] == "private"
        assert parsedate_to_datetime(amz(url)["response-expires"]).timestamp() == expires_at
    fetched = requests.get(first[0], timeout=10)
    assert fetched.status_code == 200 and fetched.headers["Cache-Control"] == "private"
    assert parsedate_to_datetime(fetched.headers["Expires"]).timestamp() == start + MEDIA_LINK_MAX_AGE_S


def test_the_windowed_url_is_exactly_what_botocore_signs_at_the_window_start(s3, moto_endpoint, settings, alice,
                                                                             make_image):
    image = make_image(alice)
    start = link_window_start(time.time()) + MEDIA_LINK_REUSE_S
    with time_machine.travel(start + 100, tick=False):
        ours = delivery.presigned_url(image, "thumb")
        # Nothing global changed: another SigV4 client in this process still signs with the current time.
        other = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1",
                             config=Config(signature_version="s3v4"))
        assert signed_at(other.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": "x"})) == start + 100
    plain = s3_storage(BUCKET, endpoint_url=moto_endpoint, region="us-east-1")
    settings.STORAGES = {**settings.STORAGES, "default": {**plain, "BACKEND": "storages.backends.s3.S3Storage"}}
    with time_machine.travel(start, tick=False):
        botocores = delivery.presigned_url(image, "thumb")
    assert signed_at(ours) == start and ours == botocores  # the same signature, so S3 accepts it as any other


def test_the_owner_checked_redirect_is_never_cached_but_its_target_is_stable(s3, alice, alice_client, make_image):
    image = make_image(alice)
    start = link_window_start(time.time()) + MEDIA_LINK_REUSE_S
    with time_machine.travel(start + 1, tick=False):
        one = alice_client.get(reverse("image-thumbnail", args=[image.pk]))
        two = alice_client.get(reverse("image-thumbnail", args=[image.pk]))
    assert one.status_code == 302 and one["Cache-Control"] == "private, no-store"
    assert one["Location"] == two["Location"]
