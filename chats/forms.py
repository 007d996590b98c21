from django import forms

from .chat_model import OFF
from .llm import CHAT_PROVIDER_CHOICES, CHAT_PROVIDERS
from .models import Chat, ChatPreferences


def _model_help() -> str:
    return "Blank: the provider's default (" + ", ".join(
        f"{p.label}: {p.default_model}" for p in CHAT_PROVIDERS.values() if p.default_model) + ")."


class ChatModelForm(forms.ModelForm):
    """A chat's own chat model: blank provider = the owner's default, "off" = none in this chat."""

    llm_provider = forms.ChoiceField(
        label="Chat model", required=False,
        choices=[("", "Your default"), (OFF, "Off (images only)"), *CHAT_PROVIDER_CHOICES],
    )

    class Meta:
        model = Chat
        fields = ["llm_provider", "llm_model", "memory"]
        widgets = {"memory": forms.Textarea(attrs={"rows": 2})}
        help_texts = {"memory": "A note prompt refinement may use (the seed's memory pad)."}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["llm_model"].help_text = _model_help()
        self.fields["llm_model"].widget.attrs["placeholder"] = "e.g. gpt-4.1-mini"
        self.fields["llm_provider"].widget.attrs["class"] = "form-select form-select-sm"


class ChatPreferencesForm(forms.ModelForm):
    llm_provider = forms.ChoiceField(label="Default chat model provider", required=False,
                                     choices=[("", "None (images only)"), *CHAT_PROVIDER_CHOICES])

    class Meta:
        model = ChatPreferences
        fields = ["llm_provider", "llm_model", "llm_base_url"]
        help_texts = {"llm_base_url": "Only for Ollama or another OpenAI-compatible server, e.g. "
                                      "http://127.0.0.1:11434/v1 (a private address must be allowed by the "
                                      "operator in IMAGEGEN_PRIVATE_ALLOWLIST)."}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["llm_model"].help_text = _model_help()

    def clean(self) -> dict:
        data = super().clean()
        if data.get("llm_provider") == "custom" and not data.get("llm_base_url"):
            self.add_error("llm_base_url", "An OpenAI-compatible server needs its address.")
        return data
