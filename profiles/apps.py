from django.apps import AppConfig


class ProfilesConfig(AppConfig):
    name = "profiles"
    verbose_name = "Profiles and API keys"

    def ready(self) -> None:
        from imagegen_site.logredact import install_record_factory

        from . import checks, schema  # noqa: F401 - registers the key checks and the token's OpenAPI scheme

        install_record_factory()
