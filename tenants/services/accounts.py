from __future__ import annotations

from axes.handlers.proxy import AxesProxyHandler
from django.contrib.auth.hashers import make_password
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.text import slugify

from tenants.actors import Actor
from tenants.audit import audit_record
from tenants.models import Organization, OrganizationMember, Role, User
from tenants.tokens import hash_secret


def _unique_slug(name: str) -> str:
    base = slugify(name)[:50] or "org"
    slug, suffix = base, 2
    while Organization.objects.filter(slug=slug).exists():
        slug = f"{base}-{suffix}"
        suffix += 1
    return slug


def _validate_organization_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise ValidationError(
            {"organization_name": "Give your organization a name, e.g. your company or team."}
        )
    if len(name) > 100:
        raise ValidationError({"organization_name": "Use at most 100 characters."})
    return name


@transaction.atomic
def organization_create(*, owner: User, name: str, actor: Actor) -> Organization:
    organization = Organization.objects.create(
        name=_validate_organization_name(name), slug=_unique_slug(name)
    )
    OrganizationMember.objects.create(organization=organization, user=owner, role=Role.OWNER)
    audit_record(organization, actor=actor, action="organization.create", target=organization)
    return organization


@transaction.atomic
def organization_update(organization: Organization, *, actor: Actor, name: str) -> Organization:
    organization.name = _validate_organization_name(name)
    organization.save(update_fields=["name"])
    audit_record(organization, actor=actor, action="organization.update", target=organization)
    return organization


def signup_validate(
    *, email: str, password: str, full_name: str, organization_name: str, invitation_secret: str | None
) -> None:
    """What a sign-up can be refused for without saying whether the address has an account: the
    password's strength, the organization's name, and an invitation's own rules. ValidationError,
    with every field's problems at once (a second submit must not reveal a new one)."""
    errors: dict[str, list[str]] = {}
    try:
        validate_password(password, user=User(email=email, full_name=full_name.strip()))
    except ValidationError as error:
        errors["password"] = list(error.messages)
    if invitation_secret is None:
        try:
            _validate_organization_name(organization_name)
        except ValidationError as error:
            errors.update(error.message_dict)
    if errors:
        raise ValidationError(errors)
    if invitation_secret is None:
        return
    from tenants.services.members import invitation_check

    invitation_check(secret=invitation_secret, email=email)


@transaction.atomic
def account_create(
    *,
    email: str,
    password_hash: str,
    full_name: str,
    organization_name: str,
    invitation_secret: str | None,
    ip_address: str | None,
) -> tuple[User, Organization]:
    """Create a user and either the organization they own, or join the one they were invited to."""
    if User.objects.filter(email=email).exists():
        raise ValidationError({"email": f"{email} already has an account; sign in instead."})
    user = User.objects.create_user(email=email, password=None, full_name=full_name.strip())
    user.password = password_hash
    user.save(update_fields=["password"])
    actor = Actor(user=user, ip_address=ip_address)
    if invitation_secret is not None:
        from tenants.services.members import invitation_accept

        membership = invitation_accept(secret=invitation_secret, user=user, ip_address=ip_address)
        audit_record(membership.organization, actor=actor, action="user.signup", target=user)
        return user, membership.organization
    organization = organization_create(owner=user, name=organization_name, actor=actor)
    audit_record(organization, actor=actor, action="user.signup", target=user)
    return user, organization


def signup(
    *,
    email: str,
    password: str,
    full_name: str = "",
    organization_name: str = "",
    invitation_secret: str | None = None,
    ip_address: str | None = None,
) -> tuple[User, Organization]:
    """An account at once, for the operator's own tools (seeding, benchmarks); people sign up
    through `signup_request` and confirm their address."""
    email = email.strip().lower()
    signup_validate(
        email=email,
        password=password,
        full_name=full_name,
        organization_name=organization_name,
        invitation_secret=invitation_secret,
    )
    return account_create(
        email=email,
        password_hash=make_password(password),
        full_name=full_name,
        organization_name=organization_name,
        invitation_secret=invitation_secret,
        ip_address=ip_address,
    )


def sign_in_record(*, email: str, ip_address: str | None, action: str) -> None:
    """Record a sign-in event (`login.succeeded`, `login.failed`, `login.locked_out`,
    `login.unlocked`) in every
    organization of the account it targeted. When the e-mail matches no account, keep its hash, not
    the e-mail: typos of real addresses are personal data we have no reason to keep."""
    email = (email or "").strip().lower()
    user = User.objects.filter(email=email).first()
    if user is None:
        actor = Actor(ip_address=ip_address, system_label="anonymous (no such account)")
        audit_record(None, actor=actor, action=action, metadata={"email_sha256": hash_secret(email)})
        return
    actor = (
        Actor(user=user, ip_address=ip_address)
        if action in ("login.succeeded", "login.unlocked")
        else Actor(ip_address=ip_address, system_label=f"anonymous ({email})")
    )
    for membership in user.memberships.select_related("organization"):
        audit_record(membership.organization, actor=actor, action=action, target=user)


def login_failed_record(*, email: str, ip_address: str | None) -> None:
    """A failed sign-in, in every organization of the account it targeted (if it exists)."""
    sign_in_record(email=email, ip_address=ip_address, action="login.failed")


def sign_in_unlock(*, user: User, ip_address: str | None) -> None:
    """Lift a sign-in lockout of the account (its owner just proved control of its mailbox by
    resetting the password). Locks on client addresses stand: they are not the account's."""
    if AxesProxyHandler.reset_attempts(username=user.email.strip().lower()):
        sign_in_record(email=user.email, ip_address=ip_address, action="login.unlocked")
