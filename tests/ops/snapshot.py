"""What an instance holds, for comparing before a backup and after a restore (in-process and in a subprocess)."""

import hashlib


def snapshot() -> dict:
    # Imported here: backup_procs.py calls this after its own django.setup() in a fresh process.
    from django.contrib.auth import get_user_model
    from django.core.files.storage import default_storage

    from chats.models import Chat, Message
    from images.models import GeneratedImage, Generation
    from ops.files import walk
    from profiles.models import ApiKey, ImageProfile

    def sha(name: str) -> str:
        with default_storage.open(name, "rb") as handle:
            return hashlib.sha256(handle.read()).hexdigest()

    return {
        "users": list(get_user_model().objects.order_by("pk").values("pk", "username", "password", "is_superuser")),
        "chats": list(Chat.objects.order_by("pk").values()),
        "messages": list(Message.objects.order_by("pk").values()),
        "generations": list(Generation.objects.order_by("pk").values()),
        "images": list(GeneratedImage.objects.order_by("pk").values()),
        "profiles": list(ImageProfile.objects.order_by("pk").values()),
        "keys": [(k.pk, k.owner_id, k.last_four, k.get_secret()) for k in ApiKey.objects.order_by("pk")],
        "files": {name: sha(name) for name in walk("")},
    }
