from django.apps import AppConfig


class BenchRefConfig(AppConfig):
    """Reference views that show what this machine can do with Django alone (bench only)."""

    name = "bench.refapp"
    label = "bench_ref"
    default_auto_field = "django.db.models.BigAutoField"
