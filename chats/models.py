from django.conf import settings
from django.db import models
from django.urls import reverse


class ChatQuerySet(models.QuerySet):
    def for_user(self, user) -> "ChatQuerySet":
        return self.filter(owner=user)


class Chat(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chats")
    title = models.CharField(max_length=200, default="New chat")
    # Null: the owner's default profile, then the offline renderer.
    image_profile = models.ForeignKey("profiles.ImageProfile", null=True, blank=True, on_delete=models.SET_NULL)
    # Written by the worker every IMAGEGEN_SUMMARY_EVERY_TURNS turns (chats/summary.py); prompt refinement and the
    # modal's "include summary" read it. summary_through: the last message it covers (a message id).
    summary = models.TextField(blank=True)
    summary_through = models.PositiveBigIntegerField(null=True, blank=True, editable=False)
    # The chat model for this chat; blank: the owner's default (ChatPreferences). "off": no chat model here.
    llm_provider = models.CharField("chat model provider", max_length=32, blank=True)
    llm_model = models.CharField("chat model", max_length=200, blank=True)
    # A note the owner keeps for this chat (the seed's memory pad); prompt refinement may read it.
    memory = models.TextField(blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    objects = ChatQuerySet.as_manager()

    class Meta:
        ordering = ["-updated"]
        indexes = [models.Index(fields=["owner", "-updated"])]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("chat-detail", args=[self.pk])


class Message(models.Model):
    class Role(models.TextChoices):
        USER = "user"
        ASSISTANT = "assistant"

    class Kind(models.TextChoices):
        TEXT = "text"
        IMAGE = "image"  # an image turn: its Generation hangs off this message
        ERROR = "error"  # an inline error card (bad command, bad option)

    chat = models.ForeignKey(Chat, on_delete=models.CASCADE, related_name="messages")
    role = models.CharField(max_length=16, choices=Role.choices)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.TEXT)
    content = models.TextField(blank=True)
    # The parsed command, error code, and the like: what the card needs besides the text.
    metadata = models.JSONField(default=dict, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created", "pk"]
        # A chat's messages in page order straight off the index (no temporary sort on every chat page and post).
        indexes = [models.Index(fields=["chat", "created", "id"], name="message_chat_order")]

    def __str__(self) -> str:
        return f"{self.role}: {self.content[:60]}"


class ChatPreferences(models.Model):
    """A user's chat defaults: the chat model new chats use unless a chat picks its own."""

    owner = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_preferences")
    llm_provider = models.CharField("default chat model provider", max_length=32, blank=True)
    llm_model = models.CharField("default chat model", max_length=200, blank=True)
    # Only for Ollama and other self-hosted OpenAI-compatible servers.
    llm_base_url = models.URLField("chat server address", blank=True)

    class Meta:
        verbose_name = "chat preferences"
        verbose_name_plural = "chat preferences"

    def __str__(self) -> str:
        return f"chat preferences of {self.owner}"


class PromptRefinement(models.Model):
    """The prompt cache (seed 004): one LLM refinement, reused when the same owner asks the same thing again.

    Keyed by (owner, raw prompt, context digest, refiner model); see chats/prompt_cache.py. Per owner on purpose: a
    refinement is built from the owner's chat context, so it is never served to anyone else.
    """

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="prompt_refinements")
    key = models.CharField(max_length=64, unique=True)  # sha256 of owner, prompt, context digest and refiner
    prompt = models.TextField()  # the raw prompt, for the admin
    context_digest = models.CharField(max_length=64)  # sha256 of the context lines, style and refiner template
    refiner = models.CharField(max_length=300)  # "openai:gpt-4.1-nano" (plus the server address for self-hosted)
    refined = models.TextField()
    hits = models.PositiveIntegerField(default=0)  # requests answered from this row
    llm_calls = models.PositiveIntegerField(default=1)  # times the refiner was paid for this key (1 + refreshes)
    created = models.DateTimeField(auto_now_add=True)
    refreshed = models.DateTimeField(auto_now_add=True)  # when `refined` was last written by the LLM
    last_used = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-last_used"]
        indexes = [models.Index(fields=["owner", "-last_used"])]

    def __str__(self) -> str:
        return f"{self.refiner}: {self.prompt[:50]}"
