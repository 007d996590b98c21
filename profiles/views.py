"""Settings pages (API keys, image profiles, API tokens), the chat's profile choice, and accounts (sign-up, a
rate-limited login). Thin: forms shape the input, profiles.services does the work."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_POST
from django.views.generic import FormView

from chats.models import Chat
from imagegen_site.ratelimits import check_key_check_rate, count_failed_login, login_attempts_exceeded
from images.providers import PROVIDERS

from . import services
from .forms import ApiKeyForm, ApiTokenForm, ImageProfileForm, SignupForm, apply_profile_error
from .models import ApiKey, ApiToken, ImageProfile

# --- Accounts ----------------------------------------------------------------------------------------------------


class RateLimitedLoginView(auth_views.LoginView):
    """Django does not throttle logins: after IMAGEGEN_LOGIN_RATE failures from one address, answer 429 (T34)."""

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        wait = login_attempts_exceeded(request)
        if wait is not None:
            response = render(request, "registration/login.html",
                              {"form": self.get_form(), "locked_for": wait, "signup_enabled": settings.IMAGEGEN_SIGNUP_ENABLED},
                              status=429)
            response["Retry-After"] = str(wait)
            return response
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form):
        count_failed_login(self.request)
        return super().form_invalid(form)

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "signup_enabled": settings.IMAGEGEN_SIGNUP_ENABLED}


@method_decorator(sensitive_post_parameters("password1", "password2"), name="dispatch")
class SignupView(FormView):
    template_name = "registration/signup.html"
    form_class = SignupForm

    def dispatch(self, request, *args, **kwargs):
        if not settings.IMAGEGEN_SIGNUP_ENABLED:
            raise Http404("Sign-up is turned off on this server.")
        if request.user.is_authenticated:
            return redirect(settings.LOGIN_REDIRECT_URL)
        return super().dispatch(request, *args, **kwargs)

    def form_valid(self, form):
        user = form.save()
        login(self.request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(self.request, "Welcome! Add an API key in Settings, or start with the offline renderer.")
        return redirect(settings.LOGIN_REDIRECT_URL)


# --- API keys ----------------------------------------------------------------------------------------------------


@login_required
@sensitive_post_parameters("key")
def api_keys(request: HttpRequest) -> HttpResponse:
    form = ApiKeyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            key = services.api_key_create(owner=request.user, provider=form.cleaned_data["provider"],
                                          secret=form.cleaned_data["key"], label=form.cleaned_data["label"])
        except services.ProfileError as e:
            apply_profile_error(form, e)
        else:
            messages.success(request, f"Saved {key}. Validate it to check that the provider accepts it.")
            return redirect("settings-api-keys")
    keys = ApiKey.objects.for_user(request.user).order_by("-created")
    return render(request, "profiles/api_keys.html", {"form": form, "keys": keys, "nav": "settings", "tab": "keys"},
                  status=400 if form.errors else 200)


@login_required
@require_POST
def api_key_validate(request: HttpRequest, pk: int) -> HttpResponse:
    key = get_object_or_404(ApiKey.objects.for_user(request.user), pk=pk)
    if (wait := check_key_check_rate(request)) is not None:
        messages.error(request, f"Too many key checks. Try again in {max(1, wait // 60)} min.")
        return redirect("settings-api-keys")
    outcome = services.api_key_validate(api_key=key)
    level = {True: messages.SUCCESS, False: messages.ERROR, None: messages.WARNING}[outcome.valid]
    messages.add_message(request, level, f"{key}: {outcome.message}")
    return redirect("settings-api-keys")


@login_required
@require_POST
def api_key_delete(request: HttpRequest, pk: int) -> HttpResponse:
    key = get_object_or_404(ApiKey.objects.for_user(request.user), pk=pk)
    key.delete()
    messages.success(request, f"Deleted {key}.")
    return redirect("settings-api-keys")


# --- Image profiles ----------------------------------------------------------------------------------------------


@login_required
@require_GET
def image_profiles(request: HttpRequest) -> HttpResponse:
    profiles = ImageProfile.objects.for_user(request.user).select_related("api_key").order_by("name")
    return render(request, "profiles/image_profiles.html", {"profiles": profiles, "nav": "settings", "tab": "profiles"})


def _profile_initial(profile: ImageProfile) -> dict:
    return {"name": profile.name, "provider": profile.provider, "api_key": profile.api_key_id, "model": profile.model,
            "base_url": profile.base_url, "is_default": profile.is_default, "fallback": profile.fallback_id,
            **profile.parameters}


@login_required
def image_profile_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    profile = get_object_or_404(ImageProfile.objects.for_user(request.user), pk=pk) if pk is not None else None
    initial = _profile_initial(profile) if profile else {"provider": request.GET.get("provider", "offline")}
    form = ImageProfileForm(request.POST or None, owner=request.user, initial=initial, profile=profile)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            saved = services.image_profile_save(
                owner=request.user, profile=profile, name=data["name"], provider=data["provider"],
                api_key_id=data["api_key"], model=data["model"], parameters=form.parameters(),
                base_url=data["base_url"], is_default=data["is_default"], fallback_id=data["fallback"],
            )
        except services.ProfileError as e:
            apply_profile_error(form, e)
        else:
            messages.success(request, f"Saved the profile {saved.name}.")
            return redirect("settings-profiles")
    models, live = services.provider_models(provider=form.provider_kind)
    context = {"form": form, "profile": profile, "models": models, "models_live": live, "nav": "settings",
               "tab": "profiles"}
    return render(request, "profiles/image_profile_form.html", context, status=400 if form.errors else 200)


@login_required
@require_GET
def image_profile_fields(request: HttpRequest) -> HttpResponse:
    """The provider-dependent part of the profile form, re-rendered when the provider or key changes (htmx)."""
    provider = request.GET.get("provider", "")
    if provider not in PROVIDERS:
        raise Http404
    form = ImageProfileForm(owner=request.user, provider=provider,
                            initial={"provider": provider, "model": request.GET.get("model", ""),
                                     "api_key": request.GET.get("api_key") or None})
    api_key = None
    if request.GET.get("api_key"):
        api_key = ApiKey.objects.for_user(request.user).filter(pk=request.GET["api_key"], provider=provider).first()
    models, live = services.provider_models(provider=provider, api_key=api_key)
    return render(request, "profiles/_profile_provider_fields.html",
                  {"form": form, "models": models, "models_live": live})


@login_required
@require_POST
def image_profile_delete(request: HttpRequest, pk: int) -> HttpResponse:
    profile = get_object_or_404(ImageProfile.objects.for_user(request.user), pk=pk)
    profile.delete()
    messages.success(request, f"Deleted the profile {profile.name}.")
    return redirect("settings-profiles")


@login_required
@require_POST
def image_profile_set_default(request: HttpRequest, pk: int) -> HttpResponse:
    profile = get_object_or_404(ImageProfile.objects.for_user(request.user), pk=pk)
    services.image_profile_set_default(profile=profile)
    messages.success(request, f"{profile.name} is now your default profile.")
    return redirect("settings-profiles")


@login_required
@require_POST
def chat_profile(request: HttpRequest, pk: int) -> HttpResponse:
    chat = get_object_or_404(Chat.objects.for_user(request.user), pk=pk)
    try:
        services.chat_set_profile(chat=chat, profile_id=request.POST.get("image_profile"))
    except services.ProfileError:
        raise Http404 from None
    if request.headers.get("HX-Request"):
        return HttpResponse(status=204)
    return redirect(chat)


# --- API tokens --------------------------------------------------------------------------------------------------


@login_required
def api_tokens(request: HttpRequest) -> HttpResponse:
    form = ApiTokenForm(request.POST or None)
    new_token = None
    if request.method == "POST" and form.is_valid():
        token, new_token = services.api_token_create(owner=request.user, name=form.cleaned_data["name"])
        form = ApiTokenForm()
    tokens = ApiToken.objects.for_user(request.user)
    response = render(request, "profiles/api_tokens.html",
                      {"form": form, "tokens": tokens, "new_token": new_token, "nav": "settings", "tab": "tokens"})
    if new_token:
        response["Cache-Control"] = "no-store"  # the one page that shows the token must not be cached
    return response


@login_required
@require_POST
def api_token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    token = get_object_or_404(ApiToken.objects.for_user(request.user), pk=pk)
    token.delete()
    messages.success(request, f"Revoked {token}.")
    return redirect("settings-tokens")
