"""Masked edits from the gallery's Edit form: the painted area is checked, made canonical (L-mode PNG, 255 = change),
stored in the owner's folder under a content-addressed name, refused before queuing by providers that cannot take
it, and handed to the provider by the worker; the offline renderer changes only the painted area."""

from __future__ import annotations

import io

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from chats.models import Chat
from images import masks
from images.masks import MAX_MASK_BYTES, canonical_mask
from images.models import Generation
from images.providers import ImageRequest
from images.providers.offline import OfflineProvider
from images.services import GenerationRequestError, build_image_request, generation_run, generation_start
from images.storage import MASK_NAME, is_own_mask_name
from profiles.models import ImageProfile

from .conftest import image_bytes

SIZE = (64, 48)


def painted_png(size=SIZE, box=(0, 0, 32, 24), mode="RGBA") -> bytes:
    """What the canvas sends: opaque strokes in `box`, transparent elsewhere (or, mode "L", white on black)."""
    img = Image.new(mode, size, (0, 0, 0, 0) if mode == "RGBA" else 0)
    img.paste((220, 20, 90, 255) if mode == "RGBA" else 255, box)
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def pixels(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


def edit(client, image, mask: bytes | None = None, instruction="make it darker"):
    data = {"instruction": instruction}
    if mask is not None:
        data["mask"] = SimpleUploadedFile("whatever/../name.png", mask, content_type="image/png")
    return client.post(reverse("gallery-edit", args=[image.pk]), data)


# --- the mask's checks -------------------------------------------------------------------------------------------

def test_a_painted_canvas_becomes_the_canonical_mask():
    mask = pixels(canonical_mask(painted_png(), SIZE))
    assert (mask.format, mask.mode, mask.size) == ("PNG", "L", SIZE)
    assert mask.getpixel((5, 5)) == 255 and mask.getpixel((50, 40)) == 0
    assert set(mask.tobytes()) == {0, 255}
    # A black-and-white PNG (no transparency) reads white as the area to change.
    assert canonical_mask(painted_png(mode="L"), SIZE) == canonical_mask(painted_png(), SIZE)


def test_a_mask_of_another_size_is_scaled_to_the_source():
    mask = pixels(canonical_mask(painted_png(size=(128, 96), box=(0, 0, 64, 48)), SIZE))
    assert mask.size == SIZE and mask.getpixel((10, 10)) == 255 and mask.getpixel((60, 40)) == 0


@pytest.mark.parametrize("data, words", [
    (image_bytes("JPEG"), "must be a PNG"),
    (image_bytes("WEBP"), "must be a PNG"),
    (b"\x89PNG\r\n\x1a\n" + b"\0" * 100, "not a readable PNG"),
    (b"\x89PNG\r\n\x1a\n" + b"\0" * MAX_MASK_BYTES, "too large"),
    (painted_png(box=(0, 0, 0, 0)), "mask is empty"),
])
def test_a_mask_that_is_not_a_usable_png_is_refused(data, words):
    with pytest.raises(GenerationRequestError) as refused:
        canonical_mask(data, SIZE)
    assert words in refused.value.message and "mask" in refused.value.fields


def test_an_animated_png_is_refused():
    frames = [Image.new("RGBA", SIZE, (255, 255, 255, a)) for a in (255, 128)]
    out = io.BytesIO()
    frames[0].save(out, format="PNG", save_all=True, append_images=frames[1:])
    with pytest.raises(GenerationRequestError) as refused:
        canonical_mask(out.getvalue(), SIZE)
    assert "not an animation" in refused.value.message


def test_an_oversized_upload_is_refused_before_it_is_read(alice, make_image):
    class Huge:
        size = MAX_MASK_BYTES + 1

        def read(self, *args):
            pytest.fail("read a file over the limit")

    upload = Huge()
    with pytest.raises(GenerationRequestError, match="too large"):
        masks.save_mask(make_image(alice), upload)


# --- the Edit form -----------------------------------------------------------------------------------------------

def test_the_edit_form_stores_the_mask_in_the_owners_folder(alice, alice_client, make_image):
    source = make_image(alice, data=image_bytes(size=SIZE))
    response = edit(alice_client, source, painted_png())
    assert response.status_code == 302
    generation = Generation.objects.get(edit_of=source)
    name = generation.parameters["mask"]
    # Content-addressed under the owner's folder; nothing of the upload's name in it.
    assert MASK_NAME.fullmatch(name) and is_own_mask_name(name, alice.pk) and name.startswith(f"images/{alice.pk}/masks/")
    with default_storage.open(name) as f:
        assert f.read() == canonical_mask(painted_png(), SIZE)
    assert generation.chat.messages.first().content == f"/edit --image {source.pk} make it darker"
    # The worker hands the same bytes to the provider.
    assert build_image_request(generation).mask == canonical_mask(painted_png(), SIZE)


def test_no_mask_is_an_ordinary_edit(alice, alice_client, make_image):
    source = make_image(alice)
    assert edit(alice_client, source).status_code == 302
    generation = Generation.objects.get(edit_of=source)
    assert "mask" not in generation.parameters and build_image_request(generation).mask is None


def test_a_bad_mask_is_shown_on_the_form_and_nothing_is_queued(alice, alice_client, make_image):
    source = make_image(alice)
    response = edit(alice_client, source, image_bytes("JPEG"))
    assert response.status_code == 422
    page = response.content.decode()
    assert "The mask must be a PNG image." in page and 'value="make it darker"' in page
    assert not Generation.objects.filter(edit_of=source).exists()


def test_another_users_image_is_a_404_with_a_mask(alice, bob, bob_client, make_image, media_root):
    theirs = make_image(alice)
    assert edit(bob_client, theirs, painted_png()).status_code == 404
    assert not (media_root / "images" / str(bob.pk)).exists() and not Generation.objects.filter(owner=bob).exists()


def test_a_provider_without_mask_support_refuses_before_queuing(alice, alice_client, make_image):
    ImageProfile.objects.create(owner=alice, name="Gemini", provider="gemini", is_default=True)
    source = make_image(alice)
    response = edit(alice_client, source, painted_png())
    assert response.status_code == 422
    page = response.content.decode()
    assert "cannot edit only a painted area" in page and "Providers that can:" in page
    for label in ("OpenAI", "Stability AI", "AUTOMATIC1111 (self-hosted)", "Offline sketch (built in)"):
        assert label in page
    assert not Generation.objects.filter(edit_of=source).exists()
    # The same provider edits the whole image when nothing is painted.
    assert edit(alice_client, source).status_code == 302


def test_a_mask_must_be_the_owners_own(alice, bob, make_image):
    source = make_image(alice)
    bobs_mask = f"images/{bob.pk}/masks/ab/{'ab' * 32}.png"
    for name in (bobs_mask, "../../etc/passwd", f"images/{alice.pk}/ab/{'ab' * 32}.png"):
        with pytest.raises(GenerationRequestError) as refused:
            generation_start(owner=alice, prompt="p", options={"edit_of": source.pk, "mask": name})
        assert refused.value.code == "not_found"
    with pytest.raises(GenerationRequestError, match="goes with an edit"):
        generation_start(owner=alice, prompt="p", options={"mask": f"images/{alice.pk}/masks/ab/{'ab' * 32}.png"})


def test_the_worker_reads_only_the_owners_mask(alice, bob, make_image):
    source = make_image(alice)
    generation = Generation.objects.create(owner=alice, provider="offline", prompt="p",
                                           parameters={"n": 1, "edit_of": source.pk,
                                                       "mask": f"images/{bob.pk}/masks/ab/{'ab' * 32}.png"})
    generation_run(generation_id=generation.pk)
    generation.refresh_from_db()
    assert generation.status == "failed" and "not one of yours" in generation.error_message


def test_the_edit_button_refines_with_the_chat_when_the_image_has_one(alice, alice_client, make_image):
    chat = Chat.objects.create(owner=alice, title="Foxes")
    in_chat, uploaded = make_image(alice, chat=chat), make_image(alice)
    edit(alice_client, in_chat)
    edit(alice_client, uploaded)
    assert Generation.objects.get(edit_of=in_chat).parameters.get("better_context") is True
    assert "better_context" not in Generation.objects.get(edit_of=uploaded).parameters


# --- the offline renderer ------------------------------------------------------------------------------------------

def test_the_offline_renderer_changes_only_the_painted_area(alice, alice_client, make_image,
                                                            django_capture_on_commit_callbacks):
    size = (256, 192)
    source = make_image(alice, data=image_bytes(colour=(40, 160, 200), size=size))
    with django_capture_on_commit_callbacks(execute=True):
        assert edit(alice_client, source, painted_png(size=size, box=(0, 0, 128, 96)), "make it sepia").status_code == 302
    generation = Generation.objects.get(edit_of=source)
    assert generation.status == "succeeded", generation.error_message
    with default_storage.open(source.file) as f:
        before = Image.open(f).convert("RGB")
    with default_storage.open(generation.images.get().file) as f:
        after = Image.open(f).convert("RGB")
    assert after.size == before.size
    assert after.getpixel((20, 20)) != before.getpixel((20, 20))  # painted: sepia
    # Outside the painting (the right half, above the renderer's honest label in the bottom left) nothing changed.
    outside = (128, 0, 256, 150)
    assert after.crop(outside).tobytes() == before.crop(outside).tobytes()
    assert "inside the painted area only" in " ".join(generation.warnings)


def test_the_offline_provider_inverts_only_the_painted_half():
    big = image_bytes(colour=(40, 160, 200), size=(300, 200))
    mask = canonical_mask(painted_png(size=(300, 200), box=(0, 0, 150, 200)), (300, 200))
    result = OfflineProvider().edit(ImageRequest(prompt="invert", input_images=((big, "image/png"),), mask=mask, seed=1))
    out = pixels(result.images[0].data).convert("RGB")
    assert out.getpixel((250, 20)) == (40, 160, 200) and out.getpixel((20, 20)) == (215, 95, 55)


def test_a_fallback_that_cannot_take_the_painted_area_is_not_used(alice, make_image):
    from images.fallback import fallback_options

    source = make_image(alice)
    name = masks.store_mask(alice.pk, canonical_mask(painted_png(), SIZE))
    generation = Generation.objects.create(owner=alice, provider="offline", prompt="p",
                                           parameters={"n": 1, "edit_of": source.pk, "mask": name})
    gemini = ImageProfile.objects.create(owner=alice, name="Gemini", provider="gemini")
    offline = ImageProfile.objects.create(owner=alice, name="Sketch", provider="offline")
    assert fallback_options(generation, gemini, "") is None
    assert fallback_options(generation, offline, "")[0]["mask"] == name


def test_a_stored_mask_is_provenance_not_an_orphan(alice, alice_client, make_image):
    """An edit's mask stays with its generation: the sweep, media_orphans and check_jobs never count it."""
    from datetime import timedelta

    from django.core.management import call_command
    from django.utils import timezone

    from images.jobs import find_violations, unreferenced_files
    from images.storage import store_mask
    from ops.files import is_referenced

    source = make_image(alice, data=image_bytes(size=SIZE))
    edit(alice_client, source, painted_png())
    kept = Generation.objects.get(edit_of=source).parameters["mask"]
    stray = store_mask(alice.pk, canonical_mask(painted_png(box=(0, 0, 8, 8)), SIZE))  # named by no generation
    later = timezone.now() + timedelta(days=3)
    orphans = unreferenced_files(older_than=later)
    assert stray in orphans and kept not in orphans
    assert is_referenced(kept) and not is_referenced(stray)
    assert not any(kept in problem for problem in find_violations(now=later))
    call_command("media_orphans", "--delete", stdout=io.StringIO())
    assert default_storage.exists(kept)
