from django.apps import AppConfig


class OpsConfig(AppConfig):
    """Running it for real: health, metrics, logs, backups, a user's own data, operator commands."""

    name = "ops"
    verbose_name = "Operations"
