from django.contrib.auth import views as auth_views
from django.urls import path
from django.views.generic import RedirectView

from . import views, world_notes_views

urlpatterns = [
    # Accounts
    path("accounts/login/", views.RateLimitedLoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/signup/", views.SignupView.as_view(), name="signup"),
    path("accounts/password/change/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("accounts/password/change/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("accounts/password/reset/", auth_views.PasswordResetView.as_view(), name="password_reset"),
    path("accounts/password/reset/sent/", auth_views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path("accounts/password/reset/<uidb64>/<token>/", auth_views.PasswordResetConfirmView.as_view(),
         name="password_reset_confirm"),
    path("accounts/password/reset/done/", auth_views.PasswordResetCompleteView.as_view(),
         name="password_reset_complete"),
    # Settings
    path("settings/", RedirectView.as_view(pattern_name="settings-api-keys", permanent=False), name="settings"),
    path("settings/api-keys/", views.api_keys, name="settings-api-keys"),
    path("settings/api-keys/<int:pk>/validate/", views.api_key_validate, name="settings-api-key-validate"),
    path("settings/api-keys/<int:pk>/delete/", views.api_key_delete, name="settings-api-key-delete"),
    path("settings/profiles/", views.image_profiles, name="settings-profiles"),
    path("settings/profiles/new/", views.image_profile_edit, name="settings-profile-create"),
    path("settings/profiles/fields/", views.image_profile_fields, name="settings-profile-fields"),
    path("settings/profiles/<int:pk>/", views.image_profile_edit, name="settings-profile-edit"),
    path("settings/profiles/<int:pk>/delete/", views.image_profile_delete, name="settings-profile-delete"),
    path("settings/profiles/<int:pk>/default/", views.image_profile_set_default, name="settings-profile-default"),
    path("settings/tokens/", views.api_tokens, name="settings-tokens"),
    path("settings/world-notes/", world_notes_views.world_notes_page, name="settings-world-notes"),
    path("settings/tokens/<int:pk>/revoke/", views.api_token_revoke, name="settings-token-revoke"),
    # The chat page's profile selector
    path("chats/<int:pk>/profile/", views.chat_profile, name="chat-profile"),
]
