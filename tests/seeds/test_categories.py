"""Categories (seed 004): an image type chosen in /image, the modal and the gallery; world notes per type."""

from __future__ import annotations

import pytest
from django.urls import reverse

from chats.commands import CommandError, parse_message
from chats.models import Chat
from chats.refine import refine_offline
from images.models import GeneratedImage, Generation
from images.services import GenerationRequestError, generation_run, generation_start
from profiles.models import WorldNotes
from profiles.world_notes import world_notes_save

pytestmark = pytest.mark.django_db


def test_the_parser_reads_type():
    assert parse_message("/image a fox --type Character --ar 16:9").options == {"type": "character",
                                                                               "aspect_ratio": "16:9"}
    assert "type" not in parse_message("/image a fox --type none").options
    with pytest.raises(CommandError, match="Types: scene, character, location, item"):
        parse_message("/image a fox --type monster")


def test_image_type_reaches_the_images_and_world_notes_prefix_the_prompt(alice, alice_client):
    world_notes_save(alice, scene="cyberpunk Seattle, neon, rain")
    chat = Chat.objects.create(owner=alice, title="t")
    alice_client.post(reverse("chat-message-create", args=[chat.pk]), {"content": "/image a street market --type scene"})
    generation = Generation.objects.get()
    # No chat model here: the offline refiner adds the notes (seed 004: "offline too").
    assert generation.refined_prompt.startswith("cyberpunk Seattle, neon, rain, a street market")
    generation_run(generation_id=generation.pk)
    assert GeneratedImage.objects.get().image_type == "scene"


def test_world_notes_are_per_type_and_per_user(alice, bob):
    world_notes_save(alice, character="street samurai")
    a = generation_start(owner=alice, prompt="a woman", options={"type": "character"})
    b = generation_start(owner=alice, prompt="a harbour", options={"type": "location"})
    c = generation_start(owner=bob, prompt="a woman", options={"type": "character"})
    assert a.refined_prompt == "street samurai, a woman"
    assert (b.refined_prompt, c.refined_prompt) == ("a harbour", "a woman")


def test_raw_sends_the_words_alone(alice):
    world_notes_save(alice, item="matte black")
    generation = generation_start(owner=alice, prompt="a knife", options={"type": "item", "raw": True})
    assert generation.refined_prompt == "a knife"


def test_an_unknown_type_is_refused_before_queueing(alice):
    with pytest.raises(GenerationRequestError, match="Unknown type"):
        generation_start(owner=alice, prompt="x", options={"type": "dragon"})
    assert not Generation.objects.exists()


def test_the_offline_refiner_puts_notes_first_and_the_style_last():
    from images.styles import STYLES

    style = next(iter(STYLES.values()))
    text = refine_offline("a fox", style=style, world_note="misty forest")
    assert text.startswith("misty forest, a fox") and text.endswith(style.suffix)


def test_the_chat_model_refinement_keeps_the_world_note(alice, monkeypatch):
    """After the chat model (or the prompt cache) answers, the world note is put in front."""
    from chats import refine as refine_module

    world_notes_save(alice, scene="rain")
    generation = generation_start(owner=alice, prompt="a street", options={"type": "scene", "better_context": True})

    class Choice:
        label, model = "Fake LLM", "m"

    monkeypatch.setattr("chats.chat_model.resolve_chat_model", lambda owner, chat: Choice())
    monkeypatch.setattr("chats.chat_model.cheap_model", lambda choice: choice)
    monkeypatch.setattr(refine_module, "refine_cached", lambda *a, **k: ("a wet street at night", "llm"))
    refine_module.refine_generation_prompt(generation)
    generation.refresh_from_db()
    assert generation.refined_prompt == "rain, a wet street at night"


def test_the_modal_endpoint_takes_a_type(alice, alice_api):
    world_notes_save(alice, location="2070s Seattle")
    answer = alice_api.post(reverse("api:generate-image"), {"prompt": "a bridge", "image_type": "location"},
                            format="json")
    assert answer.status_code == 200, answer.content
    generation = Generation.objects.get(pk=answer.json()["generation"])
    assert generation.parameters["type"] == "location" and generation.refined_prompt.startswith("2070s Seattle, ")
    assert GeneratedImage.objects.get().image_type == "location"


def test_the_type_is_editable_in_the_gallery_and_filterable(alice, alice_client, alice_api):
    for prompt in ("one", "two"):
        generation_run(generation_id=generation_start(owner=alice, prompt=prompt).pk)
    first, second = GeneratedImage.objects.order_by("pk")
    response = alice_client.post(reverse("gallery-type", args=[first.pk]), {"image_type": "item"})
    assert response.status_code == 302
    first.refresh_from_db()
    assert first.image_type == "item"
    page = alice_client.get(reverse("gallery"), {"type": "item"})
    assert [i.pk for i in page.context["page"].object_list] == [first.pk]
    assert {r["image_type"]: r["n"] for r in page.context["facets"].types} == {"item": 1, "none": 1}
    none = alice_client.get(reverse("gallery"), {"type": "none"})
    assert [i.pk for i in none.context["page"].object_list] == [second.pk]
    # API: PATCH and filter
    assert alice_api.patch(reverse("api:image-detail", args=[second.pk]), {"image_type": "scene"},
                           format="json").json()["image_type"] == "scene"
    assert alice_api.patch(reverse("api:image-detail", args=[second.pk]), {"image_type": "dragon"},
                           format="json").status_code == 400
    listed = alice_api.get(reverse("api:image-list"), {"type": "scene"}).json()
    assert [r["id"] for r in listed["results"]] == [second.pk]


def test_a_bad_type_in_the_gallery_changes_nothing(alice, alice_client):
    generation_run(generation_id=generation_start(owner=alice, prompt="one").pk)
    image = GeneratedImage.objects.get()
    alice_client.post(reverse("gallery-type", args=[image.pk]), {"image_type": "dragon"})
    image.refresh_from_db()
    assert image.image_type == ""


def test_world_notes_settings_page_and_api(alice, alice_client, alice_api, bob):
    page = alice_client.get(reverse("settings-world-notes"))
    assert page.status_code == 200 and "World notes" in page.content.decode()
    saved = alice_client.post(reverse("settings-world-notes"), {"scene": "  neon,   rain ", "character": "",
                                                                "location": "", "item": ""})
    assert saved.status_code == 302
    assert WorldNotes.objects.get(owner=alice).scene == "neon, rain"
    too_long = alice_client.post(reverse("settings-world-notes"), {"scene": "x" * 501})
    assert too_long.status_code == 400 and WorldNotes.objects.get(owner=alice).scene == "neon, rain"
    assert alice_api.get(reverse("api:world-notes")).json()["scene"] == "neon, rain"
    assert alice_api.patch(reverse("api:world-notes"), {"item": "chrome"}, format="json").json() == {
        "scene": "neon, rain", "character": "", "location": "", "item": "chrome"}
    assert not WorldNotes.objects.filter(owner=bob).exists()


def test_world_notes_in_the_admin(alice, admin_client):
    world_notes_save(alice, scene="fog")
    assert "fog" in admin_client.get(reverse("admin:profiles_worldnotes_changelist")).content.decode()
