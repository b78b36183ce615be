"""Settings pages: organization, members and invitations, API tokens, audit log."""

from __future__ import annotations

import secrets

from django.contrib import messages
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from tenants import selectors, services
from tenants.access import get_for_organization
from tenants.actors import Actor
from tenants.decorators import organization_view
from tenants.forms import ApiTokenForm, InvitationForm, MemberRoleForm, OrganizationForm
from tenants.http import OrganizationRequest
from tenants.models import ApiToken, Invitation, Organization, OrganizationMember, Role
from tenants.services.members import invitation_url
from tenants.views.forms_util import add_service_errors

_SHOW_ONCE_KEY = "show_once"
# How long a secret waits for the page that shows it (the redirect follows at once).
_SHOW_ONCE_SECONDS = 300


def _show_once(request: OrganizationRequest, value: dict[str, str]) -> None:
    """Keep a secret for the very next page view only (post/redirect/get, so a reload cannot repost
    the form and create a second token); the view pops it, so it is never shown twice. The secret
    waits in the cache for a few minutes at most, under a random key the session holds: never in the
    session row, which the database keeps for weeks."""
    key = f"show-once:{secrets.token_urlsafe(24)}"
    cache.set(key, value, timeout=_SHOW_ONCE_SECONDS)
    request.session[_SHOW_ONCE_KEY] = key


def _pop_shown_once(request: OrganizationRequest) -> dict[str, str] | None:
    key = request.session.pop(_SHOW_ONCE_KEY, None)
    if not isinstance(key, str):
        return None
    value: dict[str, str] | None = cache.get(key)
    cache.delete(key)
    return value


def _member_rows(organization: Organization, viewer_id: object) -> dict[str, object]:
    """The member table's rows, which of them is the sole owner, and whether the viewer (still) is an
    owner: the service refuses to demote or remove the last owner, and refuses a non-owner any change,
    so the page offers neither (a button that can only fail) — also right after owners demote
    themselves."""
    members = list(selectors.member_list(organization))
    owners = [member.pk for member in members if member.role == Role.OWNER]
    return {
        "members": members,
        "sole_owner_id": owners[0] if len(owners) == 1 else None,
        "is_owner": any(member.user_id == viewer_id and member.role == Role.OWNER for member in members),
    }


@organization_view(write=Role.OWNER, doing="rename the organization")
def organization_settings(request: OrganizationRequest) -> HttpResponse:
    organization = request.organization
    form = OrganizationForm(request.POST or None, initial={"name": organization.name})
    if request.method == "POST" and form.is_valid():
        try:
            services.organization_update(
                organization, actor=Actor.from_request(request), name=form.cleaned_data["name"]
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, "Organization renamed.")
            return redirect("settings-organization")
    return render(request, "tenants/settings_organization.html", {"form": form, "section": "organization"})


@organization_view(write=Role.OWNER, doing="invite people")
def members(request: OrganizationRequest) -> HttpResponse:
    organization = request.organization
    form = InvitationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            _, secret = services.invitation_create(
                organization,
                actor=Actor.from_request(request),
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            _show_once(request, {"kind": "invitation", "value": invitation_url(secret)})
            messages.success(request, f"Invitation sent to {form.cleaned_data['email']}.")
            return redirect("settings-members")
    shown = _pop_shown_once(request)
    new_link = shown["value"] if shown and shown.get("kind") == "invitation" else None
    context = {
        "section": "members",
        **_member_rows(organization, request.user.pk),
        "invitations": selectors.invitation_list(organization).filter(accepted_at=None)[:50],
        "form": form,
        "new_link": new_link,
        "roles": Role.choices,
    }
    response = render(request, "tenants/settings_members.html", context)
    response["Cache-Control"] = "no-store"
    return response


@organization_view(write=Role.OWNER, doing="change members' roles")
@require_POST
def member_role(request: OrganizationRequest, member_id: str) -> HttpResponse:
    organization = request.organization
    member = get_for_organization(organization, OrganizationMember.objects.select_related("user"), member_id)
    form = MemberRoleForm(request.POST)
    error = None
    if form.is_valid():
        try:
            services.member_change_role(
                organization, member=member, actor=Actor.from_request(request), role=form.cleaned_data["role"]
            )
        except ValidationError as exc:
            error = " ".join(exc.messages)
    else:
        error = "Choose a role: owner, admin, member or viewer."
    if not request.htmx:
        if error:
            messages.error(request, error)
        else:
            messages.success(request, f"Changed the role of {member.user.email}.")
        return redirect("settings-members")
    # Every row, not only this one: making someone owner (or no longer owner) changes what the other
    # owners' rows may offer.
    context = {
        **_member_rows(organization, request.user.pk),
        "roles": Role.choices,
        "row_error": error,
        "error_member_id": member.pk,
    }
    return render(request, "tenants/partials/_member_rows.html", context, status=400 if error else 200)


@organization_view(write=Role.OWNER, doing="remove members")
@require_POST
def member_remove(request: OrganizationRequest, member_id: str) -> HttpResponse:
    organization = request.organization
    member = get_for_organization(organization, OrganizationMember.objects.select_related("user"), member_id)
    try:
        services.member_remove(organization, member=member, actor=Actor.from_request(request))
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, f"Removed {member.user.email}.")
    return redirect("settings-members")


@organization_view(write=Role.OWNER, doing="revoke invitations")
@require_POST
def invitation_revoke(request: OrganizationRequest, invitation_id: str) -> HttpResponse:
    organization = request.organization
    invitation = get_for_organization(organization, Invitation, invitation_id)
    try:
        services.invitation_revoke(organization, invitation=invitation, actor=Actor.from_request(request))
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, f"Invitation for {invitation.email} revoked.")
    return redirect("settings-members")


@organization_view(write=Role.ADMIN, doing="manage API tokens")
def api_tokens(request: OrganizationRequest) -> HttpResponse:
    organization = request.organization
    form = ApiTokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            token, plaintext = services.api_token_create(
                organization,
                actor=Actor.from_request(request),
                name=form.cleaned_data["name"],
                scopes=form.cleaned_data["scopes"],
                expires_at=form.expires_at(),
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            _show_once(request, {"kind": "token", "id": str(token.pk), "value": plaintext})
            return redirect("settings-tokens")
    shown = _pop_shown_once(request)
    created = None
    if shown and shown.get("kind") == "token":
        shown_token = ApiToken.objects.filter(organization=organization, pk=shown["id"]).first()
        if shown_token is not None:
            created = {"token": shown_token, "plaintext": shown["value"]}
    context = {
        "section": "tokens",
        "tokens": selectors.api_token_list(organization),
        "form": form,
        "created": created,
    }
    response = render(request, "tenants/settings_tokens.html", context)
    # The page that shows a token once must never be cached or restored from history.
    response["Cache-Control"] = "no-store"
    return response


@organization_view(write=Role.ADMIN, doing="revoke API tokens")
@require_POST
def api_token_revoke(request: OrganizationRequest, token_id: str) -> HttpResponse:
    organization = request.organization
    token = get_for_organization(organization, ApiToken, token_id)
    services.api_token_revoke(organization, token=token, actor=Actor.from_request(request))
    if request.htmx:
        token.refresh_from_db()
        return render(request, "tenants/partials/_token_row.html", {"token": token, "can_admin": True})
    messages.success(request, f"Token {token.name} revoked.")
    return redirect("settings-tokens")


@organization_view(read=Role.ADMIN)
def audit_log(request: OrganizationRequest) -> HttpResponse:
    organization = request.organization
    action = request.GET.get("action", "").strip()
    actor = request.GET.get("actor", "").strip()
    events = selectors.audit_event_list(organization, action=action or None, actor=actor or None)
    page = Paginator(events, 50).get_page(request.GET.get("page"))
    context = {"section": "audit", "page": page, "action": action, "actor": actor}
    template = "tenants/partials/_audit_table.html" if request.htmx else "tenants/settings_audit.html"
    return render(request, template, context)
