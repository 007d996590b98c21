"""One search document per image (GeneratedImage.search_text): the typed, refined and revised prompts together, so
the gallery's full-text search matches words split between them.

The column is filled for existing rows here (with a copy of images/models.py's search_text(), as a migration must not
change when the app does). On PostgreSQL only, a GIN index on its tsvector replaces 0009's two indexes,
which the search no longer uses; like 0009's, it is compiled by Django (the expression images/gallery.py's
search_document() builds; tests/images/test_scale_search.py checks the planner uses it) and kept out of the model's
Meta, so migration state does not know it. SQLite gets the column and the fill, nothing else.
"""

from django.db import migrations, models

INDEX = "image_search_text"
OLD_INDEXES = {"generation": "generation_prompt_search", "generatedimage": "image_revised_prompt_search"}


def _search_text(prompt: str, refined_prompt: str, revised_prompt: str) -> str:
    return "\n".join(part.strip() for part in (prompt, refined_prompt, revised_prompt) if part and part.strip())


def fill(apps, schema_editor):
    GeneratedImage = apps.get_model("images", "GeneratedImage")
    rows = (GeneratedImage.objects.order_by("pk").select_related("generation")
            .only("revised_prompt", "generation__prompt", "generation__refined_prompt"))
    batch = []
    for image in rows.iterator(chunk_size=2000):
        image.search_text = _search_text(image.generation.prompt, image.generation.refined_prompt, image.revised_prompt)
        batch.append(image)
        if len(batch) == 2000:
            GeneratedImage.objects.bulk_update(batch, ["search_text"])
            batch = []
    GeneratedImage.objects.bulk_update(batch, ["search_text"])


def _new_index():
    from django.contrib.postgres.indexes import GinIndex
    from django.contrib.postgres.search import SearchVector

    return GinIndex(SearchVector("search_text", config="english"), name=INDEX)


def _old_indexes(apps):
    """0009's, as 0009 made them."""
    from django.contrib.postgres.indexes import GinIndex
    from django.contrib.postgres.search import SearchVector

    return [
        (apps.get_model("images", "Generation"),
         GinIndex(SearchVector("prompt", "refined_prompt", config="english"), name=OLD_INDEXES["generation"])),
        (apps.get_model("images", "GeneratedImage"),
         GinIndex(SearchVector("revised_prompt", config="english"), name=OLD_INDEXES["generatedimage"])),
    ]


def swap_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.add_index(apps.get_model("images", "GeneratedImage"), _new_index())
    for model, index in _old_indexes(apps):
        schema_editor.remove_index(model, index)


def restore_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for model, index in _old_indexes(apps):
        schema_editor.add_index(model, index)
    schema_editor.remove_index(apps.get_model("images", "GeneratedImage"), _new_index())


class Migration(migrations.Migration):

    dependencies = [
        ("images", "0010_generation_edit_of"),
    ]

    operations = [
        migrations.AddField(
            model_name="generatedimage",
            name="search_text",
            field=models.TextField(blank=True, editable=False),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
        migrations.RunPython(swap_indexes, restore_indexes),
    ]
