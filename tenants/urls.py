from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import path

from tenants.views import auth, settings

urlpatterns = [
    path("login/", auth.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("signup/", auth.signup, name="signup"),
    path("signup/confirm/<str:secret>/", auth.signup_confirm, name="signup-confirm"),
    path("password-reset/", auth.PasswordResetView.as_view(), name="password_reset"),
    path(
        "password-reset/sent/",
        auth_views.PasswordResetDoneView.as_view(template_name="tenants/password_reset_sent.html"),
        name="password_reset_done",
    ),
    path(
        "password-reset/<uidb64>/<token>/",
        auth.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "password-reset/complete/",
        auth_views.PasswordResetCompleteView.as_view(template_name="tenants/password_reset_complete.html"),
        name="password_reset_complete",
    ),
    path("invitations/<str:secret>/", auth.invitation_detail, name="invitation"),
    path("organizations/new/", auth.organization_create, name="organization-create"),
    path("organizations/switch/", auth.organization_switch, name="organization-switch"),
    path("settings/", settings.organization_settings, name="settings-organization"),
    path("settings/members/", settings.members, name="settings-members"),
    path("settings/members/<uuid:member_id>/role/", settings.member_role, name="settings-member-role"),
    path("settings/members/<uuid:member_id>/remove/", settings.member_remove, name="settings-member-remove"),
    path(
        "settings/invitations/<uuid:invitation_id>/revoke/",
        settings.invitation_revoke,
        name="settings-invitation-revoke",
    ),
    path("settings/tokens/", settings.api_tokens, name="settings-tokens"),
    path("settings/tokens/<uuid:token_id>/revoke/", settings.api_token_revoke, name="settings-token-revoke"),
    path("settings/audit/", settings.audit_log, name="settings-audit"),
]
