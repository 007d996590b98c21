"""Run as `python -m tests.ops.backup_procs <command>` in a subprocess pointed at a database by DATABASE_URL: what an
instance holds (`snapshot`, JSON), and a write after a restore (`write-check`: the new row's id, so sequences that a
restore forgot to move on show up as a clash)."""

import json
import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "imagegen_site.settings")

import django  # noqa: E402

django.setup()

from tests.ops.snapshot import snapshot  # noqa: E402


def write_check() -> dict:
    from django.contrib.auth import get_user_model

    from chats.models import Chat, Message

    alice = get_user_model().objects.get(username="alice")
    chat = Chat.objects.create(owner=alice, title="after the restore")
    message = Message.objects.create(chat=chat, role="user", content="still works")
    return {"chat": chat.pk, "message": message.pk}


if __name__ == "__main__":
    command = sys.argv[1]
    print(json.dumps({"snapshot": snapshot, "write-check": write_check}[command](), default=str, sort_keys=True))
