from django.apps import AppConfig


class ImagesConfig(AppConfig):
    name = "images"

    def ready(self) -> None:
        from . import signals

        signals.connect()  # cached gallery counts follow every change (images/library_cache.py)
