"""Sign-up by confirmed e-mail, without telling anyone which addresses have accounts.

Sign-up is open, so its answer must be the same for every address: "check your inbox". A new
address gets a confirmation link; an address that already has an account gets a note saying so
(with a way in). Nothing is created until the link is used: a pending sign-up (the password already
hashed) waits in the cache under the hash of the link's secret, so the link is the only way to it
and an unconfirmed address cannot be squatted. Both branches hash the password, so the answer takes
as long either way. Invited people confirm too: the inviter holds the invitation link as well, and
would otherwise learn whether the invited address has an account.
"""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction

from tenants.models import Organization, User
from tenants.services.accounts import account_create, signup_validate
from tenants.tokens import hash_secret

CONFIRMATION_TTL_SECONDS = 24 * 3600


class SignupLinkUnusable(Exception):
    """The confirmation link expired, was used, or never existed."""


@dataclass(frozen=True)
class PendingSignup:
    email: str
    full_name: str
    organization_name: str
    password_hash: str
    invitation_secret: str | None


def _key(secret: str) -> str:
    return f"signup-pending:{hash_secret(secret)}"


def confirmation_url(secret: str) -> str:
    return f"{settings.SITE_URL}/signup/confirm/{secret}/"


def signup_request(
    *,
    email: str,
    password: str,
    full_name: str = "",
    organization_name: str = "",
    invitation_secret: str | None = None,
) -> None:
    """Check what can be checked without revealing the address (password strength, organization
    name, the invitation's own rules), then e-mail the address. Raises ValidationError."""
    email = email.strip().lower()
    signup_validate(
        email=email,
        password=password,
        full_name=full_name,
        organization_name=organization_name,
        invitation_secret=invitation_secret,
    )
    password_hash = make_password(password)
    if User.objects.filter(email=email).exists():
        transaction.on_commit(lambda: _send_account_exists(email))
        return
    secret = secrets.token_urlsafe(32)
    pending = PendingSignup(
        email, full_name.strip(), organization_name.strip(), password_hash, invitation_secret
    )
    cache.set(_key(secret), asdict(pending), timeout=CONFIRMATION_TTL_SECONDS)
    transaction.on_commit(lambda: _send_confirmation(email, secret))


def signup_pending(secret: str) -> PendingSignup:
    """The sign-up a confirmation link stands for. Raises SignupLinkUnusable."""
    stored = cache.get(_key(secret))
    if not isinstance(stored, dict):
        raise SignupLinkUnusable(
            "This confirmation link has expired or was already used. Sign up again to get a new one."
        )
    return PendingSignup(**stored)


def signup_confirm(*, secret: str, ip_address: str | None) -> tuple[User, Organization]:
    """Create the account a confirmation link stands for (once: the link is spent). Raises
    SignupLinkUnusable, or ValidationError when the address got an account meanwhile."""
    pending = signup_pending(secret)
    try:
        with transaction.atomic():
            created = account_create(
                email=pending.email,
                password_hash=pending.password_hash,
                full_name=pending.full_name,
                organization_name=pending.organization_name,
                invitation_secret=pending.invitation_secret,
                ip_address=ip_address,
            )
    except IntegrityError as error:  # two clicks on one link, or two links for one address
        raise ValidationError(
            {"email": f"{pending.email} already has an account; sign in instead."}
        ) from error
    cache.delete(_key(secret))
    return created


def _send_confirmation(email: str, secret: str) -> None:
    send_mail(
        subject="Confirm your e-mail to finish signing up to Nodeless",
        message=(
            f"Someone (we hope you) signed up to Nodeless with {email}.\n\n"
            f"Confirm and create the account: {confirmation_url(secret)}\n\n"
            "The link works once and expires in 24 hours. If it was not you, ignore this e-mail: "
            "nothing is created without it."
        ),
        from_email=None,
        recipient_list=[email],
    )


def _send_account_exists(email: str) -> None:
    send_mail(
        subject="You already have a Nodeless account",
        message=(
            f"Someone tried to sign up to Nodeless with {email}, which already has an account.\n\n"
            f"Sign in: {settings.SITE_URL}/login/\n"
            f"Forgot the password? {settings.SITE_URL}/password-reset/\n"
            "Invited to an organization? Sign in, then open the invitation link again.\n\n"
            "If it was not you, ignore this e-mail: nothing changed."
        ),
        from_email=None,
        recipient_list=[email],
    )
