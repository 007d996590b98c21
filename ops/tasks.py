from django_tasks import task


@task()
def build_data_export(export_id: int) -> None:
    from .accounts import export_build

    export_build(export_id=export_id)
