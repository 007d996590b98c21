"""Gallery search on PostgreSQL: full-text, stemmed, web-search syntax, index-backed, owner-scoped (issue 6).

Runs in ./run test's PostgreSQL pass (imagegen_site.test_settings_scale); on SQLite it skips, and the substring search
there is covered by test_gallery_pages.py and test_gallery_api.py.
"""

import re

import pytest
from django.db import connection
from django.urls import reverse

from images import gallery
from images.models import GeneratedImage, Generation

pytestmark = [pytest.mark.scale, pytest.mark.django_db]


@pytest.fixture(autouse=True)
def postgresql():
    if connection.vendor != "postgresql":
        pytest.skip(f"needs PostgreSQL; this run is on {connection.vendor} (./run test's scale pass runs it)")


def shown_ids(response) -> list[int]:
    return [int(x) for x in re.findall(r'data-image-id="(\d+)"', response.content.decode())]


def search(client, q: str) -> list[int]:
    return shown_ids(client.get(reverse("gallery"), {"q": q}))


def test_stemming_finds_other_forms_in_every_prompt(alice_client, alice, make_image):
    fox = make_image(alice, prompt="a red fox in snow")
    runner = make_image(alice, prompt="a dog runs on the beach")
    refined = make_image(alice, prompt="owl")
    refined.generation.refined_prompt = "an owl perched on branches"
    refined.generation.save()  # an edit after the image exists (the admin's) rewrites its search text
    revised = make_image(alice, prompt="a house")
    revised.revised_prompt = "a cottage with gardens"
    revised.save()

    assert search(alice_client, "foxes") == [fox.pk]
    assert search(alice_client, "running dogs") == [runner.pk]
    assert search(alice_client, "branch") == [refined.pk]  # the refined prompt
    assert search(alice_client, "GARDEN") == [revised.pk]  # the provider's revised prompt, case-insensitive
    assert search(alice_client, "fox owl") == []  # every word must match


def test_words_split_between_the_prompt_layers_match(alice_client, alice, make_image):
    split = make_image(alice, prompt="a red animal")
    Generation.objects.filter(pk=split.generation_id).update(refined_prompt="a red animal, woodland light")
    split.refresh_from_db()
    split.revised_prompt = "a fox in the snow"
    split.save()
    barn = make_image(alice, prompt="a red barn")

    assert search(alice_client, "red fox") == [split.pk]  # "red" typed, "fox" only in the revision
    assert search(alice_client, "woodland foxes") == [split.pk]  # refined + revised
    assert search(alice_client, "red woodland snow") == [split.pk]  # all three layers
    # An exclusion looks at all three layers too: the fox in the revision alone keeps the image out.
    assert search(alice_client, "red -fox") == [barn.pk]
    assert search(alice_client, "-fox") == [barn.pk]  # only exclusions: everything of the owner's without a fox


def test_websearch_operators(alice_client, alice, make_image):
    fox = make_image(alice, prompt="a red fox in snow")
    fox_and_dog = make_image(alice, prompt="a fox chasing a dog")
    red_later = make_image(alice, prompt="a fox by a red barn")

    assert search(alice_client, "fox -dog") == [red_later.pk, fox.pk]
    assert search(alice_client, '"red fox"') == [fox.pk]  # a phrase: the words adjacent and in order
    assert search(alice_client, "snow or dog") == [fox_and_dog.pk, fox.pk]
    # Stray syntax and stop words are not errors: websearch_to_tsquery never fails to parse; no lexemes, no match.
    for odd in ('"', "-", "!&|():*", "the"):
        response = alice_client.get(reverse("gallery"), {"q": odd})
        assert response.status_code == 200 and shown_ids(response) == []


def test_another_users_images_never_match(alice_client, alice_api, alice, bob, make_image):
    mine = make_image(alice, prompt="a red fox")
    theirs = make_image(bob, prompt="a red fox")
    theirs.revised_prompt = "a red fox"
    theirs.save()
    split_theirs = make_image(bob, prompt="a red animal")
    split_theirs.revised_prompt = "a fox in the snow"
    split_theirs.save()

    assert search(alice_client, "foxes") == [mine.pk]
    assert search(alice_client, "red snow") == []  # bob's split-words image is bob's
    rows = alice_api.get(reverse("api:image-list"), {"q": "red foxes"}).json()["results"]
    assert [r["id"] for r in rows] == [mine.pk]
    assert alice_api.get(reverse("api:image-facets"), {"q": "fox"}).json()["total"] == 1
    assert list(gallery.apply_filters(gallery.library(bob), {"q": "fox"})) == [split_theirs, theirs]


def test_the_gin_index_answers_the_search_within_the_owners_rows(alice, make_image):
    fox = make_image(alice, prompt="a red fox")
    # A library where the search is selective (what the index is for), with the planner's statistics up to date.
    GeneratedImage.objects.bulk_create(
        GeneratedImage(generation=fox.generation, owner=alice, index=i, file=f"x{i}", thumbnail=f"x{i}", sha256="0",
                       width=1, height=1, mime_type="image/png", bytes=1, search_text=f"a dog in a park, take {i}")
        for i in range(1, 2000)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE images_generatedimage")
    images = gallery.apply_filters(gallery.library(alice), {"q": "foxes -dog"})
    sql = str(images.query)
    # One query on the image table: the owner filter and the match side by side, no id subquery across all users.
    assert "SELECT" not in sql.split("WHERE", 1)[1] and "images_generation" not in sql, sql
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # the table is still small enough to read whole
    plan = images.explain()
    assert "image_search_text" in plan, plan
    assert "generation_prompt_search" not in plan and "image_revised_prompt_search" not in plan, plan


def test_search_query_count_does_not_grow_with_the_library(alice_client, alice_api, alice, make_image,
                                                          django_assert_max_num_queries):
    make_image(alice, prompt="a red fox")
    with django_assert_max_num_queries(50) as small_page:
        alice_client.get(reverse("gallery"), {"q": "foxes"})
    with django_assert_max_num_queries(50) as small_api:
        alice_api.get(reverse("api:image-list"), {"q": "foxes"})
    for i in range(30):
        make_image(alice, prompt=f"fox number {i}")
    with django_assert_max_num_queries(len(small_page.captured_queries)):
        assert len(shown_ids(alice_client.get(reverse("gallery"), {"q": "foxes"}))) == 31
    with django_assert_max_num_queries(len(small_api.captured_queries)):
        assert alice_api.get(reverse("api:image-list"), {"q": "foxes"}).json()["count"] == 31
