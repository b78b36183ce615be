from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.utils import timezone

from tenants.models import Role
from tenants.models.security import TokenScope


class EmailAuthenticationForm(AuthenticationForm):
    username = forms.EmailField(
        label="E-mail", widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"})
    )

    error_messages = {
        "invalid_login": "That e-mail and password do not match an account. Passwords are case-sensitive.",
        "inactive": "This account is disabled; contact an owner of your organization.",
    }

    def clean_username(self) -> str:
        # Accounts are stored under the lower-cased address (User.objects.create_user), and people
        # type their address in whatever case: both must find the same account.
        return str(self.cleaned_data["username"]).strip().lower()


class SignupForm(forms.Form):
    full_name = forms.CharField(max_length=150, required=False, label="Your name")
    email = forms.EmailField(label="Work e-mail", widget=forms.EmailInput(attrs={"autocomplete": "email"}))
    password = forms.CharField(
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="At least 10 characters, not a common password.",
    )
    organization_name = forms.CharField(
        max_length=100,
        label="Organization",
        required=False,
        help_text="Usually your company or platform team.",
    )


class OrganizationForm(forms.Form):
    name = forms.CharField(max_length=100)


class InvitationForm(forms.Form):
    email = forms.EmailField()
    role = forms.ChoiceField(choices=Role.choices, initial=Role.MEMBER)


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


EXPIRY_CHOICES = [("30", "30 days"), ("90", "90 days"), ("365", "1 year"), ("never", "No expiry")]


class ApiTokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What uses it, e.g. 'GitHub Actions deploys'.")
    scopes = forms.MultipleChoiceField(
        choices=TokenScope.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=["read"],
        help_text="read: see everything; write: policies and workloads; admin: clusters, cloud accounts, tokens.",
    )
    expires_in = forms.ChoiceField(choices=EXPIRY_CHOICES, initial="90", label="Expires")

    def expires_at(self) -> Any:
        value = self.cleaned_data["expires_in"]
        return None if value == "never" else timezone.now() + timedelta(days=int(value))
