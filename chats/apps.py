from django.apps import AppConfig


class ChatsConfig(AppConfig):
    name = "chats"

    def ready(self) -> None:
        from images.signals import generation_finished

        from .summary import schedule_after_image

        generation_finished.connect(schedule_after_image, dispatch_uid="chat-summary-after-image")
