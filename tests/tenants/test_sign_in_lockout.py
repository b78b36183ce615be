"""Sign-in lockout: per account whatever the address, per address whatever the account, audited,
explained to the person locked out, and lifted by a password reset."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.core import mail
from django.test import Client
from django.utils import timezone

from tenants.models import AuditEvent
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def _sign_in(email: str, password: str, address: str):
    return Client(REMOTE_ADDR=address).post("/login/", {"username": email, "password": password})


def test_failures_from_many_addresses_lock_the_account_from_every_address(cast, settings) -> None:
    answers = []
    for n in range(settings.AXES_FAILURE_LIMIT):
        # Rotating the address (and the e-mail's spelling) does not reset the count.
        email = cast.alice.email.upper() if n % 2 else cast.alice.email
        answers.append(_sign_in(email, "wrong", f"203.0.113.{n + 1}").status_code)
    assert answers == [200] * (settings.AXES_FAILURE_LIMIT - 1) + [429]  # the last failure locks
    locked = _sign_in(cast.alice.email, PASSWORD, "198.51.100.77")
    assert locked.status_code == 429
    assert f"locked for {settings.NODELESS_LOGIN_COOLOFF_MINUTES} minutes".encode() in locked.content
    assert b'href="/password-reset/"' in locked.content
    # Another account from the same addresses is untouched: the lock is the account's.
    assert _sign_in(cast.victor.email, PASSWORD, "203.0.113.1").status_code == 302
    (event,) = AuditEvent.objects.filter(organization=cast.org_a, action="login.locked_out").filter(
        ip_address=f"203.0.113.{settings.AXES_FAILURE_LIMIT}"
    )
    assert event.actor_user is None and cast.alice.email in event.actor_label


def test_failures_from_one_address_over_many_accounts_lock_that_address(cast, settings) -> None:
    settings.NODELESS_LOGIN_ADDRESS_FAILURE_LIMIT = 3
    answers = [
        _sign_in(email, "wrong", "192.0.2.10").status_code
        for email in ("alice@a.example", "oscar@b.example", "nobody@c.example")
    ]
    assert answers == [200, 200, 429]
    locked = _sign_in(cast.victor.email, PASSWORD, "192.0.2.10")
    assert locked.status_code == 429 and b"from your network address" in locked.content
    assert _sign_in(cast.victor.email, PASSWORD, "192.0.2.11").status_code == 302
    # The failure that reached the address's limit is audited as a lockout, with its address.
    lockouts = AuditEvent.objects.filter(action="login.locked_out", ip_address="192.0.2.10")
    assert lockouts.filter(metadata__has_key="email_sha256").exists()  # nobody@c.example: no account


def test_a_password_reset_unlocks_the_account(cast, settings) -> None:
    for n in range(settings.AXES_FAILURE_LIMIT):
        _sign_in(cast.alice.email, "wrong", f"203.0.113.{n + 1}")
    assert _sign_in(cast.alice.email, PASSWORD, "198.51.100.1").status_code == 429
    client = Client(REMOTE_ADDR="198.51.100.1")
    client.post("/password-reset/", {"email": cast.alice.email})
    match = re.search(r"http://\S+/password-reset/\S+/", str(mail.outbox[-1].body))
    assert match is not None
    form_url = client.get(match.group(0))["Location"]
    new_password = "a-fresh-long-passphrase"
    assert (
        client.post(form_url, {"new_password1": new_password, "new_password2": new_password}).status_code
        == 302
    )
    assert _sign_in(cast.alice.email, new_password, "198.51.100.1").status_code == 302
    (unlocked,) = AuditEvent.objects.filter(organization=cast.org_a, action="login.unlocked")
    assert unlocked.actor_user == cast.alice and unlocked.ip_address == "198.51.100.1"


def test_failures_count_within_the_window_and_the_lock_ends_after_the_cool_off(cast, settings) -> None:
    window = timedelta(minutes=settings.NODELESS_LOGIN_COOLOFF_MINUTES)

    def age_all_failures() -> None:
        AccessAttempt.objects.update(attempt_time=timezone.now() - window - timedelta(seconds=1))

    for n in range(settings.AXES_FAILURE_LIMIT - 1):
        _sign_in(cast.alice.email, "wrong", f"203.0.113.{n + 1}")
    age_all_failures()  # these fall out of the window: the next failure is the first that counts
    assert _sign_in(cast.alice.email, "wrong", "203.0.113.99").status_code == 200
    for n in range(settings.AXES_FAILURE_LIMIT - 1):
        _sign_in(cast.alice.email, "wrong", f"203.0.113.{n + 1}")
    assert _sign_in(cast.alice.email, PASSWORD, "198.51.100.1").status_code == 429
    age_all_failures()  # the cool-off after the last failure has passed
    assert _sign_in(cast.alice.email, PASSWORD, "198.51.100.1").status_code == 302
