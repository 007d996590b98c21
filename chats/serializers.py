from rest_framework import serializers

from .models import Chat, Message


class ChatSerializer(serializers.ModelSerializer):
    class Meta:
        model = Chat
        fields = ["id", "title", "summary", "created", "updated"]
        # The summary is written by the worker every few turns (chats/summary.py).
        read_only_fields = ["id", "summary", "created", "updated"]


class MessageSerializer(serializers.ModelSerializer):
    generation = serializers.SerializerMethodField()

    class Meta:
        model = Message
        fields = ["id", "role", "kind", "content", "metadata", "created", "generation"]
        read_only_fields = fields

    def get_generation(self, message: Message) -> int | None:
        generation = getattr(message, "generation", None)
        return generation.pk if generation else None


class MessageCreateSerializer(serializers.Serializer):
    content = serializers.CharField(trim_whitespace=True, allow_blank=False)
