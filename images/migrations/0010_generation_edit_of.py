"""Generation.edit_of: an edit's source image as a real link, filled for existing edits from parameters["edit_of"].

Only where that image still exists and belongs to the edit's own owner: an id that points at another user's image
(never accepted by generation_start, but a row could have been written by hand) stays unlinked.
"""

import django.db.models.deletion
from django.db import migrations, models

BATCH = 1000


def _image_id(value) -> int | None:
    """parameters["edit_of"] as an id; anything that is not a whole number links nothing."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def link_edit_sources(apps, schema_editor) -> None:
    Generation = apps.get_model("images", "Generation")
    GeneratedImage = apps.get_model("images", "GeneratedImage")
    edits = (Generation.objects.filter(parameters__has_key="edit_of", edit_of__isnull=True)
             .order_by("pk").only("pk", "owner_id", "parameters"))
    last_pk = 0
    while batch := list(edits.filter(pk__gt=last_pk)[:BATCH]):
        last_pk = batch[-1].pk
        wanted = {g.pk: _image_id(g.parameters.get("edit_of")) for g in batch}
        owners = dict(GeneratedImage.objects.filter(pk__in={i for i in wanted.values() if i is not None})
                      .values_list("pk", "owner_id"))
        linked = []
        for generation in batch:
            image_id = wanted[generation.pk]
            if image_id is not None and owners.get(image_id) == generation.owner_id:
                generation.edit_of_id = image_id
                linked.append(generation)
        Generation.objects.bulk_update(linked, ["edit_of"])


class Migration(migrations.Migration):

    dependencies = [
        ("images", "0009_prompt_search_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="generation",
            name="edit_of",
            field=models.ForeignKey(
                blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="edits",
                to="images.generatedimage",
            ),
        ),
        migrations.RunPython(link_edit_sources, migrations.RunPython.noop),
    ]
