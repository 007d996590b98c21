"""The operator's blocklist and the record of every blocked prompt (seed 004's content filtering).

Rules are edited in the admin. A hit names the rule to the operator (admin, logs); the person who typed the prompt
only ever sees a generic refusal, so the list cannot be probed rule by rule.
"""

from __future__ import annotations

import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

MAX_PATTERN_CHARS = 300


class BlockRule(models.Model):
    class Kind(models.TextChoices):
        WORD = "word", "Word or phrase (whole words, any case)"
        REGEX = "regex", "Regular expression (case-insensitive)"

    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.WORD)
    pattern = models.CharField(max_length=MAX_PATTERN_CHARS)
    note = models.CharField(max_length=200, blank=True, help_text="Why this rule exists (operators only).")
    enabled = models.BooleanField(default=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["kind", "pattern"]

    def __str__(self) -> str:
        return f"{self.kind}: {self.pattern}"

    def clean(self) -> None:
        self.pattern = self.pattern.strip()
        if not self.pattern:
            raise ValidationError({"pattern": "Give a word, phrase or pattern."})
        if self.kind == self.Kind.REGEX:
            try:
                re.compile(self.pattern)
            except re.error as e:
                raise ValidationError({"pattern": f"Not a valid regular expression: {e}"}) from None

    def compiled(self) -> re.Pattern:
        if self.kind == self.Kind.REGEX:
            return re.compile(self.pattern, re.IGNORECASE)
        # Whole words: "gore" blocks "gore" and "GORE!" but not "Gorey" or "mangoes".
        words = r"\s+".join(re.escape(w) for w in self.pattern.split())
        return re.compile(rf"(?<!\w){words}(?!\w)", re.IGNORECASE)


class ModerationHit(models.Model):
    """One blocked prompt: who, which rule or moderation categories, and the text (operators only)."""

    class Source(models.TextChoices):
        BLOCKLIST = "blocklist", "Blocklist"
        OPENAI = "openai", "OpenAI moderation"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="moderation_hits")
    generation = models.ForeignKey("images.Generation", null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="moderation_hits")
    source = models.CharField(max_length=16, choices=Source.choices)
    rule = models.ForeignKey(BlockRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="hits")
    # A snapshot: the rule may be edited or deleted later, the hit still says what matched.
    matched = models.CharField(max_length=400, help_text="The rule's pattern or the flagged categories.")
    text = models.TextField(help_text="The checked text (first 2000 characters).")
    created = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.source} hit #{self.pk}: {self.matched}"
