from __future__ import annotations

import secrets
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.http import Http404
from django.utils import timezone

from tenants.actors import Actor
from tenants.audit import audit_record
from tenants.models import ApiToken, Invitation, Organization, OrganizationMember, Role, User
from tenants.tokens import hash_secret


class InvitationUnusable(Exception):
    """The invitation link exists but can no longer be used (expired, revoked, accepted)."""


def invitation_url(secret: str) -> str:
    return f"{settings.SITE_URL}/invitations/{secret}/"


@transaction.atomic
def invitation_create(
    organization: Organization, *, actor: Actor, email: str, role: str
) -> tuple[Invitation, str]:
    """Create an invitation and e-mail its link. Returns the invitation and the link's secret,
    which is shown to the inviter once and never stored."""
    email = email.strip().lower()
    if role not in Role.values:
        raise ValidationError({"role": f"Choose one of: {', '.join(Role.values)}."})
    if OrganizationMember.objects.filter(organization=organization, user__email=email).exists():
        raise ValidationError({"email": f"{email} is already a member of {organization.name}."})
    now = timezone.now()
    pending = Invitation.objects.filter(
        organization=organization, email=email, accepted_at=None, revoked_at=None, expires_at__gt=now
    )
    if pending.exists():
        raise ValidationError(
            {"email": f"{email} already has a pending invitation; revoke it to send a new one."}
        )
    secret = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        organization=organization,
        email=email,
        role=role,
        secret_hash=hash_secret(secret),
        invited_by=actor.user,
        expires_at=now + timedelta(days=settings.INVITATION_TTL_DAYS),
    )
    audit_record(
        organization, actor=actor, action="invitation.create", target=invitation, metadata={"role": role}
    )
    link = invitation_url(secret)
    transaction.on_commit(
        lambda: send_mail(
            subject=f"You are invited to {organization.name} on Nodeless",
            message=(
                f"{actor.label} invited you to join {organization.name} on Nodeless as {role}.\n\n"
                f"Accept: {link}\n\nThe link expires in {settings.INVITATION_TTL_DAYS} days."
            ),
            from_email=None,
            recipient_list=[email],
        )
    )
    return invitation, secret


@transaction.atomic
def invitation_revoke(organization: Organization, *, invitation: Invitation, actor: Actor) -> Invitation:
    if invitation.state != "pending":
        raise ValidationError(f"This invitation is {invitation.state} and cannot be revoked.")
    invitation.revoked_at = timezone.now()
    invitation.save(update_fields=["revoked_at"])
    audit_record(organization, actor=actor, action="invitation.revoke", target=invitation)
    return invitation


def invitation_for_secret(secret: str) -> Invitation:
    invitation = (
        Invitation.objects.select_related("organization").filter(secret_hash=hash_secret(secret)).first()
    )
    if invitation is None:
        raise Http404("This invitation link is not valid.")
    return invitation


@transaction.atomic
def _check_usable(invitation: Invitation, email: str) -> None:
    if invitation.state != "pending":
        raise InvitationUnusable(
            f"This invitation is {invitation.state}. Ask an owner of {invitation.organization.name} for a new one."
        )
    if invitation.email != email.lower():
        raise PermissionDenied(
            f"This invitation was sent to {invitation.email}; you used {email}. "
            "Use the invited address to accept it."
        )


def invitation_check(*, secret: str, email: str) -> Invitation:
    """The invitation behind `secret`, if `email` may accept it now. Raises Http404,
    InvitationUnusable or PermissionDenied."""
    invitation = invitation_for_secret(secret)
    _check_usable(invitation, email)
    return invitation


def invitation_accept(*, secret: str, user: User, ip_address: str | None) -> OrganizationMember:
    invitation = invitation_for_secret(secret)
    # Lock the row so two clicks on the same link cannot both create a membership.
    invitation = Invitation.objects.select_for_update().select_related("organization").get(pk=invitation.pk)
    _check_usable(invitation, user.email)
    membership, _ = OrganizationMember.objects.get_or_create(
        organization=invitation.organization, user=user, defaults={"role": invitation.role}
    )
    invitation.accepted_at = timezone.now()
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by"])
    audit_record(
        invitation.organization,
        actor=Actor(user=user, ip_address=ip_address),
        action="invitation.accept",
        target=invitation,
        metadata={"role": membership.role},
    )
    return membership


def _ensure_an_owner_remains(organization: Organization, member: OrganizationMember) -> None:
    if member.role != Role.OWNER:
        return
    owners = OrganizationMember.objects.select_for_update().filter(organization=organization, role=Role.OWNER)
    if owners.count() <= 1:
        raise ValidationError(
            {"role": "An organization needs at least one owner; make someone else owner first."}
        )


@transaction.atomic
def member_change_role(
    organization: Organization, *, member: OrganizationMember, actor: Actor, role: str
) -> OrganizationMember:
    if role not in Role.values:
        raise ValidationError({"role": f"Choose one of: {', '.join(Role.values)}."})
    if role == member.role:
        return member
    if role != Role.OWNER:
        _ensure_an_owner_remains(organization, member)
    previous = member.role
    member.role = role
    member.save(update_fields=["role"])
    audit_record(
        organization,
        actor=actor,
        action="member.role_change",
        target=member.user,
        metadata={"from": previous, "to": role},
    )
    return member


@transaction.atomic
def member_remove(organization: Organization, *, member: OrganizationMember, actor: Actor) -> None:
    _ensure_an_owner_remains(organization, member)
    user = member.user
    member.delete()
    # The tokens they created act for them: they go with them (authentication refuses them anyway;
    # revoking says so on the tokens page and in the audit log).
    revoked = ApiToken.objects.filter(
        organization=organization, created_by=user, revoked_at__isnull=True
    ).update(revoked_at=timezone.now(), revoked_by=actor.user)
    audit_record(
        organization, actor=actor, action="member.remove", target=user, metadata={"tokens_revoked": revoked}
    )
