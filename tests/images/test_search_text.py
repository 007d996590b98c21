"""GeneratedImage.search_text: the one search document per image (typed, refined and revised prompts) that PostgreSQL's
full-text search indexes (tests/images/test_scale_search.py). Filled on every path an image is made by, on any
database, so these run in the default (SQLite) pass."""

import importlib

import pytest
from django.apps import apps
from django.core.files.uploadedfile import SimpleUploadedFile

from chats.models import Chat, Message
from images.models import GeneratedImage, Generation, search_text
from images.uploads import image_upload
from sharing.services import save_to_gallery, share_create
from tests.chats.test_chat_reply import post
from tests.images.conftest import image_bytes

pytestmark = pytest.mark.django_db


def test_a_new_image_has_all_three_prompts(alice, make_image):
    image = make_image(alice, prompt="a red animal")
    assert image.search_text == search_text("a red animal", "a red animal", "")
    image.revised_prompt = "a fox in the snow"
    image.save(update_fields=["revised_prompt"])
    image.refresh_from_db()
    assert image.search_text == "a red animal\na red animal\na fox in the snow"


def test_an_edit_of_the_generations_prompts_reaches_its_images(alice, make_image):
    image = make_image(alice, prompt="owl")
    image.generation.refined_prompt = "an owl perched on branches"
    image.generation.save()
    image.refresh_from_db()
    assert image.search_text == "owl\nan owl perched on branches"


def test_the_worker_writes_it_with_the_refinement_made_before_the_image(alice, alice_client,
                                                                        django_capture_on_commit_callbacks):
    chat = Chat.objects.create(owner=alice)
    Message.objects.create(chat=chat, role="user", content="a poster with a granite coast")
    post(alice_client, chat, "/image a lighthouse", django_capture_on_commit_callbacks)
    generation = Generation.objects.get()
    image = generation.images.get()
    assert generation.status == "succeeded" and "granite" in generation.refined_prompt  # the worker's refinement
    assert image.search_text == search_text(generation.prompt, generation.refined_prompt, image.revised_prompt)
    assert "granite" in image.search_text and image.search_text.startswith("a lighthouse\n")


def test_an_upload_and_an_import_have_it(alice, bob, make_image):
    upload = image_upload(alice, SimpleUploadedFile("fox.png", image_bytes(), "image/png"), description="a red fox")
    assert upload.search_text == "a red fox"  # no empty lines for the empty layers

    long_prompt = "a fox " * 120  # over the upload description's 500 characters
    shared = make_image(bob, prompt=long_prompt)
    copy = save_to_gallery(share_create(owner=bob, image=shared), shared, alice)
    copy.refresh_from_db()
    assert copy.search_text == search_text(long_prompt, "", "")  # the whole prompt, not the shortened description


def test_the_migration_fills_existing_rows(alice, make_image):
    image = make_image(alice, prompt="a red animal")
    Generation.objects.filter(pk=image.generation_id).update(refined_prompt="woodland")
    GeneratedImage.objects.filter(pk=image.pk).update(revised_prompt="a fox", search_text="")
    importlib.import_module("images.migrations.0011_image_search_text").fill(apps, None)
    image.refresh_from_db()
    assert image.search_text == "a red animal\nwoodland\na fox"
