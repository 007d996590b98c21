"""Forms for Settings and sign-up. They only shape input; the checks are profiles.services' (shared with the API)."""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import UserCreationForm

from images.providers import PROVIDER_CHOICES, get_provider_class

from .models import ApiKey
from .services import MAX_KEY_CHARS, ProfileError, key_providers, parameter_schema


def bootstrap(form: forms.Form) -> None:
    for field in form.fields.values():
        widget = field.widget
        if isinstance(widget, forms.CheckboxInput):
            continue
        css = "form-select" if isinstance(widget, forms.Select) else "form-control"
        widget.attrs["class"] = f"{widget.attrs.get('class', '')} {css}".strip()


class BootstrapForm(forms.Form):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        bootstrap(self)


class SignupForm(UserCreationForm):
    email = forms.EmailField(required=False, help_text="Optional; needed to reset a forgotten password.")

    class Meta(UserCreationForm.Meta):
        model = get_user_model()
        fields = ["username", "email"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        bootstrap(self)


class ApiKeyForm(BootstrapForm):
    provider = forms.ChoiceField(choices=key_providers)
    label = forms.CharField(max_length=100, required=False)
    # render_value=False: a re-shown form (after an error) never puts the secret back into the page.
    key = forms.CharField(label="API key", max_length=MAX_KEY_CHARS, strip=True,
                          widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}))


class ApiTokenForm(BootstrapForm):
    name = forms.CharField(max_length=100, initial="API client")


def apply_profile_error(form: forms.Form, error: ProfileError) -> None:
    """Show a service error on the fields it names (parameter errors on the parameter's own field)."""
    placed = False
    for name, why in (error.fields or {}).items():
        if name == "parameters" and isinstance(why, dict):
            for param in why:
                target = param if param in form.fields else None
                form.add_error(target, error.message)
                placed = True
            continue
        if name in form.fields:
            form.add_error(name, error.message)
            placed = True
    if not placed:
        form.add_error(None, error.message)


class ImageProfileForm(forms.Form):
    """The profile's fields; the provider-specific parameter fields come from the provider's capabilities."""

    name = forms.CharField(max_length=100)
    provider = forms.ChoiceField(choices=PROVIDER_CHOICES)
    api_key = forms.TypedChoiceField(label="API key", required=False, coerce=int, empty_value=None)
    model = forms.CharField(max_length=200, required=False)
    base_url = forms.CharField(label="Server address", max_length=200, required=False)
    is_default = forms.BooleanField(label="Set as default profile", required=False)
    fallback = forms.TypedChoiceField(
        label="Fallback profile", required=False, coerce=int, empty_value=None,
        help_text="When this profile's provider fails (outage, rate limit, timeout) after its retries, the image is "
                  "made with this profile instead, and the card says so. Never for refused prompts.")

    def __init__(self, *args, owner, provider: str | None = None, profile=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        from .models import ImageProfile

        others = ImageProfile.objects.for_user(owner).order_by("name")
        if profile is not None:
            others = others.exclude(pk=profile.pk)
        self.fields["fallback"].choices = [("", "— none —")] + [(p.pk, f"{p.name} ({p.get_provider_display()})")
                                                                 for p in others]
        kind = provider or self.data.get("provider") or self.initial.get("provider") or "offline"
        if kind not in dict(PROVIDER_CHOICES):
            kind = "offline"
        self.provider_kind = kind
        self.capabilities = get_provider_class(kind).capabilities
        keys = ApiKey.objects.for_user(owner).filter(provider=kind).order_by("-created")
        self.fields["api_key"].choices = [("", "— none —")] + [(k.pk, str(k)) for k in keys]
        self.schema = parameter_schema(kind, self.data.get("model") or self.initial.get("model") or "")
        for name, spec in self.schema.items():
            label = name.replace("_", " ").replace("provider style", "style").capitalize()
            if "enum" in spec:
                field = forms.ChoiceField(label=label, required=False,
                                          choices=[("", "— provider default —")] + [(v, v) for v in spec["enum"]])
            elif spec["type"] == "integer":
                field = forms.IntegerField(label=label, required=False, min_value=spec.get("minimum"),
                                           max_value=spec.get("maximum"))
            elif spec["type"] == "number":
                field = forms.FloatField(label=label, required=False, min_value=spec.get("minimum"),
                                         max_value=spec.get("maximum"))
            else:
                field = forms.CharField(label=label, required=False, max_length=spec.get("maxLength"),
                                        widget=forms.Textarea(attrs={"rows": 2}))
            self.fields[name] = field
        bootstrap(self)

    @property
    def parameter_fields(self) -> list:
        return [self[name] for name in self.schema]

    def parameters(self) -> dict:
        return {name: self.cleaned_data.get(name) for name in self.schema
                if self.cleaned_data.get(name) not in (None, "")}
