"""Sign-up, sign-in, invitations and organization switching."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from nodeless_saas.proxies import client_ip
from tenants import services
from tenants.actors import Actor
from tenants.forms import EmailAuthenticationForm, OrganizationForm, SignupForm
from tenants.http import SignedInRequest
from tenants.middleware import SESSION_KEY
from tenants.models import OrganizationMember, User
from tenants.services.members import InvitationUnusable, invitation_for_secret
from tenants.services.signups import SignupLinkUnusable
from tenants.throttling import form_throttled, mails_throttled
from tenants.views.forms_util import add_service_errors

_BACKEND = "django.contrib.auth.backends.ModelBackend"


class LoginView(auth_views.LoginView):
    form_class = EmailAuthenticationForm
    template_name = "tenants/login.html"
    redirect_authenticated_user = True


def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("overview")
    invitation_secret = request.GET.get("invitation") or request.POST.get("invitation") or None
    invitation = invitation_for_secret(invitation_secret) if invitation_secret else None
    initial = {"email": invitation.email} if invitation else {}
    form = SignupForm(request.POST or None, initial=initial)
    context = {"form": form, "invitation": invitation, "invitation_secret": invitation_secret or ""}
    if request.method == "POST" and form_throttled(request, form="signup"):
        return render(request, "tenants/throttled.html", status=429)
    if request.method == "POST" and not form.is_valid():
        _add_signup_problems(form, invitation_secret)
    elif request.method == "POST":
        try:
            if not mails_throttled(request, form="signup"):
                services.signup_request(
                    email=form.cleaned_data["email"],
                    password=form.cleaned_data["password"],
                    full_name=form.cleaned_data["full_name"],
                    organization_name=form.cleaned_data["organization_name"],
                    invitation_secret=invitation_secret,
                )
        except ValidationError as error:
            add_service_errors(form, error)
        except (InvitationUnusable, PermissionDenied) as error:
            form.add_error(None, str(error))
        else:
            # The same answer whether or not the address has an account: see services.signups.
            return render(request, "tenants/signup_sent.html", {"email": form.cleaned_data["email"]})
    return render(request, "tenants/signup.html", context)


def _add_signup_problems(form: SignupForm, invitation_secret: str | None) -> None:
    """The password's and organization's problems beside the form's own, so one submit shows them
    all (the form alone knows only empty and malformed fields)."""
    if not form.is_bound:  # an empty POST: nothing typed to judge
        return
    try:
        services.signup_validate(
            email=form.cleaned_data.get("email") or "",
            password=str(form.data.get("password") or ""),
            full_name=form.cleaned_data.get("full_name") or "",
            organization_name=form.cleaned_data.get("organization_name") or "",
            invitation_secret=invitation_secret,
        )
    except ValidationError as error:
        for field, messages in error.message_dict.items():
            if field in form.fields and field not in form.errors:
                for message in messages:
                    form.add_error(field, message)
    except (InvitationUnusable, PermissionDenied, Http404):
        pass  # said once the form is valid; the invitation's problem is not a field's


def signup_confirm(request: HttpRequest, secret: str) -> HttpResponse:
    """The confirmation link: a page with a button (mail scanners open links; only a person posts)."""
    try:
        pending = services.signup_pending(secret)
    except SignupLinkUnusable as error:
        return render(request, "tenants/signup_confirm.html", {"problem": str(error)}, status=410)
    if request.method == "POST":
        try:
            user, organization = services.signup_confirm(secret=secret, ip_address=client_ip(request))
        except (SignupLinkUnusable, ValidationError, InvitationUnusable, PermissionDenied, Http404) as error:
            problem = "; ".join(error.messages) if isinstance(error, ValidationError) else str(error)
            return render(request, "tenants/signup_confirm.html", {"problem": problem}, status=409)
        login(request, user, backend=_BACKEND)
        request.session[SESSION_KEY] = str(organization.pk)
        messages.success(request, f"Welcome to Nodeless. You are in {organization.name}.")
        return redirect("overview")
    return render(request, "tenants/signup_confirm.html", {"pending": pending})


class PasswordResetView(auth_views.PasswordResetView):
    """Django's reset form, throttled: per client address (429), and per e-mail (answered as if
    sent, so the page says nothing about the address)."""

    template_name = "tenants/password_reset.html"
    email_template_name = "tenants/email/password_reset.txt"
    subject_template_name = "tenants/email/password_reset_subject.txt"

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if form_throttled(request, form="password-reset"):
            return render(request, "tenants/throttled.html", status=429)
        if mails_throttled(request, form="password-reset"):
            return redirect(self.get_success_url())
        return super().post(request, *args, **kwargs)


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """Django's set-a-new-password form; a new password also lifts a sign-in lockout of the account."""

    template_name = "tenants/password_reset_confirm.html"

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        services.sign_in_unlock(user=form.user, ip_address=client_ip(self.request))
        return response


def invitation_detail(request: HttpRequest, secret: str) -> HttpResponse:
    invitation = invitation_for_secret(secret)
    if request.method == "POST":
        user = request.user
        if not isinstance(user, User):
            return redirect(f"/login/?next=/invitations/{secret}/")
        try:
            membership = services.invitation_accept(secret=secret, user=user, ip_address=client_ip(request))
        except (InvitationUnusable, PermissionDenied) as error:
            messages.error(request, str(error))
        else:
            request.session[SESSION_KEY] = str(membership.organization_id)
            messages.success(request, f"You joined {membership.organization.name} as {membership.role}.")
            return redirect("overview")
    status = 410 if invitation.state in ("expired", "revoked", "accepted") else 200
    return render(
        request, "tenants/invitation.html", {"invitation": invitation, "secret": secret}, status=status
    )


@login_required
@require_POST
def organization_switch(request: SignedInRequest) -> HttpResponse:
    try:
        wanted = uuid.UUID(request.POST.get("organization", ""))
    except ValueError:
        raise Http404("You are not a member of that organization.")
    membership = (
        OrganizationMember.objects.filter(user=request.user, organization_id=wanted)
        .select_related("organization")
        .first()
    )
    if membership is None:
        raise Http404("You are not a member of that organization.")
    request.session[SESSION_KEY] = str(membership.organization_id)
    messages.info(request, f"Switched to {membership.organization.name}.")
    return redirect("overview")


@login_required
def organization_create(request: SignedInRequest) -> HttpResponse:
    form = OrganizationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            organization = services.organization_create(
                owner=request.user,
                name=form.cleaned_data["name"],
                actor=Actor.from_request(request),
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            request.session[SESSION_KEY] = str(organization.pk)
            messages.success(request, f"Created {organization.name}.")
            return redirect("overview")
    return render(request, "tenants/organization_create.html", {"form": form})
