"""GIN expression indexes for the gallery's full-text search in prompts (issue 6), on PostgreSQL only.

They index the expressions images/gallery.py's prompt_documents() builds (copied here, as a migration must not
change when the app does; tests/images/test_scale_search.py checks the planner uses them), compiled by Django
rather than written by hand so the SQL matches the queries' to the letter. SQLite (which searches by
substring) migrates as before: nothing happens there. The indexes are not in the models' Meta, so migration state
does not know them and makemigrations stays quiet. Migration 0011 replaces them with one index on the image's
search_text.
"""

from django.db import migrations

INDEXES = {"generation": "generation_prompt_search", "generatedimage": "image_revised_prompt_search"}


def _indexes(apps):
    from django.contrib.postgres.indexes import GinIndex
    from django.contrib.postgres.search import SearchVector

    generation_doc = SearchVector("prompt", "refined_prompt", config="english")
    revised_doc = SearchVector("revised_prompt", config="english")
    return [
        (apps.get_model("images", "Generation"), GinIndex(generation_doc, name=INDEXES["generation"])),
        (apps.get_model("images", "GeneratedImage"), GinIndex(revised_doc, name=INDEXES["generatedimage"])),
    ]


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for model, index in _indexes(apps):
        schema_editor.add_index(model, index)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for model, index in _indexes(apps):
        schema_editor.remove_index(model, index)


class Migration(migrations.Migration):

    dependencies = [
        ("images", "0008_attempts_per_profile_unsaved_modal_images_daily_limit"),
    ]

    operations = [migrations.RunPython(create, drop)]
