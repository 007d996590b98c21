"""The same gallery on S3: a real S3 API (moto's server) on a loopback port; presigned URLs fetched over HTTP."""

import socket
from io import StringIO

import pytest
import requests
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.urls import reverse

from imagegen_site.storage_config import s3_storage
from images.models import GeneratedImage

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
    assert type(default_storage._wrapped).__name__ == "S3Storage"
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

    # Delete removes the objects; the orphan command works on S3 too.
    s3.put_object(Bucket=BUCKET, Key=f"images/{alice.pk}/img_{'c' * 16}.png", Body=b"stray")
    out = StringIO()
    call_command("media_orphans", "--min-age", "0", "--delete", stdout=out)
    assert f"deleted images/{alice.pk}/img_{'c' * 16}.png" in out.getvalue() and "0 missing" in out.getvalue()
    with django_capture_on_commit_callbacks(execute=True):
        alice_client.post(reverse("gallery-delete", args=[image.pk]))
    assert not GeneratedImage.objects.exists()
    assert s3.list_objects_v2(Bucket=BUCKET).get("KeyCount") == 0
