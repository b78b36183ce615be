"""Sign-up, invitations, switching organizations, password reset, login throttling, audit log."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client, TestCase
from django.utils import timezone

from tenants.models import AuditEvent, Invitation, Organization, OrganizationMember, Role, User
from tests.conftest import PASSWORD, make_user, signed_in
from tests.fixtures.mail import confirmation_path
from tests.fixtures.pages import get_page

pytestmark = pytest.mark.django_db


def _post(client: Client, path: str, data: dict | None = None):
    """A post whose mails go out as its transaction commits (the test's own transaction never does)."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.post(path, data or {})


def _signup(client: Client, **fields):
    data = {
        "email": "new@c.example",
        "password": PASSWORD,
        "full_name": "New Person",
        "organization_name": "Org C",
    }
    data.update(fields)
    return _post(client, "/signup/", data)


def test_signup_creates_the_user_an_owned_organization_and_an_external_id() -> None:
    client = Client()
    response = _signup(client)
    assert response.status_code == 200 and b"Check your e-mail" in response.content
    assert not User.objects.filter(email="new@c.example").exists()  # nothing until the address is confirmed
    link = confirmation_path("new@c.example")
    page = client.get(link)
    assert page.status_code == 200 and b"Org C" in page.content
    assert not User.objects.filter(
        email="new@c.example"
    ).exists()  # a mail scanner opening it creates nothing
    response = client.post(link)
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get(link).status_code == 410  # spent
    user = User.objects.get(email="new@c.example")
    membership = OrganizationMember.objects.get(user=user)
    assert membership.role == Role.OWNER and membership.organization.name == "Org C"
    assert re.fullmatch(r"nls-[0-9a-f]{32}", membership.organization.external_id)
    get_page(client, "/", queries=13)
    assert AuditEvent.objects.filter(organization=membership.organization, action="user.signup").exists()


def test_external_ids_are_unique_and_not_editable(cast, owner_client) -> None:
    assert cast.org_a.external_id != cast.org_b.external_id
    owner_client.patch("/api/v1/organization/", {"external_id": "mine"}, content_type="application/json")
    cast.org_a.refresh_from_db()
    assert cast.org_a.external_id != "mine"


def test_signup_rejects_weak_passwords_and_taken_emails_without_creating_anything(cast) -> None:
    response = _signup(Client(), password="123")
    assert response.status_code == 200 and b"too short" in response.content
    assert not mail.outbox
    _signup(Client(), email=cast.alice.email)
    assert not Organization.objects.filter(name="Org C").exists()
    # The owner of the address hears of it; whoever typed it learns nothing new.
    (note,) = mail.outbox
    assert note.to == [cast.alice.email] and "already has an account" in str(note.body)
    assert "/signup/confirm/" not in str(note.body)


def test_one_sign_up_submit_shows_every_problem_and_keeps_what_was_typed() -> None:
    """A malformed address, a weak password and no organization name: all three at once, not one
    per submit; the address and name typed are kept (the password never is)."""
    response = _signup(
        Client(), email="not-an-address", password="123", organization_name="", full_name="Kim"
    )
    page = response.content.decode()
    assert response.status_code == 200 and not mail.outbox
    assert "Enter a valid email address." in page
    assert "too short" in page
    assert "Give your organization a name" in page
    assert 'value="not-an-address"' in page and 'value="Kim"' in page
    assert 'value="123"' not in page


def test_sign_up_answers_the_same_whether_or_not_the_address_has_an_account(cast) -> None:
    """Sign-up is open: its answer must not tell an attacker which addresses have accounts."""
    taken = _signup(Client(), email=cast.alice.email)
    free = _signup(Client(), email="nobody-yet@a.example")
    assert taken.status_code == free.status_code == 200
    normalized = [
        re.sub(r"[A-Za-z0-9]{64}", "CSRF", response.content.decode().replace(address, "ADDRESS"))
        for response, address in ((taken, cast.alice.email), (free, "nobody-yet@a.example"))
    ]
    assert normalized[0] == normalized[1]


def test_an_address_cannot_be_squatted_by_signing_up_first(cast) -> None:
    """Two sign-ups for one address: only the one confirmed from the mailbox becomes the account."""
    _signup(Client(), email="pat@c.example", password="squatters-passphrase", organization_name="Squat")
    squatter_link = confirmation_path("pat@c.example")
    _signup(Client(), email="pat@c.example", organization_name="Real")
    owner_link = confirmation_path("pat@c.example")
    assert Client().post(owner_link).status_code == 302
    late = Client().post(squatter_link)
    assert late.status_code == 409 and b"already has an account" in late.content
    assert list(Organization.objects.filter(name__in=["Squat", "Real"]).values_list("name", flat=True)) == [
        "Real"
    ]


def _invite(owner_client: Client, email: str = "bob@a.example", role: str = "member") -> str:
    response = owner_client.post(
        "/api/v1/invitations/", {"email": email, "role": role}, content_type="application/json"
    )
    assert response.status_code == 201
    return response.json()["url"].split("/invitations/")[1].strip("/")


def test_an_invited_person_signs_up_into_the_inviting_organization(cast, owner_client) -> None:
    with TestCase.captureOnCommitCallbacks(execute=True):
        secret = _invite(owner_client)
    assert len(mail.outbox) == 1 and secret in mail.outbox[0].body
    assert not Invitation.objects.filter(secret_hash__contains=secret).exists()
    client = Client()
    response = _post(
        client,
        f"/signup/?invitation={secret}",
        {"email": "bob@a.example", "password": PASSWORD, "invitation": secret},
    )
    assert response.status_code == 200 and b"Check your e-mail" in response.content
    assert client.post(confirmation_path("bob@a.example")).status_code == 302
    bob = User.objects.get(email="bob@a.example")
    assert list(bob.memberships.values_list("organization", "role")) == [(cast.org_a.pk, "member")]
    assert client.get(f"/invitations/{secret}/").status_code == 410


def test_an_invitation_must_be_accepted_with_the_invited_address(cast, owner_client) -> None:
    secret = _invite(owner_client, email="bob@a.example")
    stranger = signed_in(make_user("mallory@x.example"))
    stranger.post(f"/invitations/{secret}/")
    assert not OrganizationMember.objects.filter(
        organization=cast.org_a, user__email="mallory@x.example"
    ).exists()
    response = _signup(Client(), email="mallory2@x.example", invitation=secret)
    assert b"was sent to bob@a.example" in response.content
    assert not User.objects.filter(email="mallory2@x.example").exists()


def test_expired_and_revoked_invitations_cannot_be_used(cast, owner_client) -> None:
    secret = _invite(owner_client)
    Invitation.objects.update(expires_at=timezone.now() - timedelta(minutes=1))
    bob = signed_in(make_user("bob@a.example"))
    response = bob.post(f"/invitations/{secret}/", follow=True)
    assert b"expired" in response.content
    assert not OrganizationMember.objects.filter(
        organization=cast.org_a, user__email="bob@a.example"
    ).exists()
    second = _invite(owner_client, email="carol@a.example")
    invitation = Invitation.objects.get(email="carol@a.example")
    assert owner_client.post(f"/api/v1/invitations/{invitation.pk}/revoke/").status_code == 200
    assert Client().get(f"/invitations/{second}/").status_code == 410


def test_a_member_of_two_organizations_switches_between_them(cast) -> None:
    OrganizationMember.objects.create(organization=cast.org_b, user=cast.alice, role=Role.VIEWER)
    client = signed_in(cast.alice)
    assert client.get("/api/v1/organization/").json()["name"] == "Org A"
    client.post("/organizations/switch/", {"organization": str(cast.org_b.pk)})
    assert client.get("/api/v1/organization/").json()["name"] == "Org B"
    assert (
        client.post(
            "/organizations/switch/", {"organization": "00000000-0000-0000-0000-000000000000"}
        ).status_code
        == 404
    )


def test_password_reset_sends_a_link_that_sets_a_new_password(cast) -> None:
    client = Client()
    client.post("/password-reset/", {"email": cast.alice.email})
    match = re.search(r"http://\S+/password-reset/\S+/", str(mail.outbox[0].body))
    assert match is not None
    link = match.group(0)
    form_url = client.get(link)["Location"]  # Django swaps the token into the session, then redirects
    response = client.post(
        form_url, {"new_password1": "a-new-long-passphrase", "new_password2": "a-new-long-passphrase"}
    )
    assert response.status_code == 302
    signed = Client().post("/login/", {"username": cast.alice.email, "password": "a-new-long-passphrase"})
    assert signed.status_code == 302 and signed["Location"] == "/"


def test_repeated_failed_logins_are_throttled_and_audited(cast, settings) -> None:
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post("/login/", {"username": cast.alice.email, "password": "wrong"})
    response = client.post("/login/", {"username": cast.alice.email, "password": PASSWORD})
    assert response.status_code == 429 and b"locked for" in response.content
    failures = AuditEvent.objects.filter(organization=cast.org_a, action="login.failed")
    # The attempt made while locked out is a failed sign-in too, and is recorded as one.
    assert failures.count() == settings.AXES_FAILURE_LIMIT + 1
    assert AuditEvent.objects.filter(organization=cast.org_a, action="login.locked_out").exists()


def test_a_sign_in_is_in_the_audit_log_with_its_address(cast) -> None:
    response = Client().post("/login/", {"username": cast.alice.email, "password": PASSWORD})
    assert response.status_code == 302
    (event,) = AuditEvent.objects.filter(organization=cast.org_a, action="login.succeeded")
    assert event.actor_user == cast.alice and event.ip_address == "127.0.0.1"


def test_a_failed_sign_in_for_no_account_keeps_no_e_mail(cast) -> None:
    Client().post("/login/", {"username": "typo@a.example", "password": "wrong"})
    (event,) = AuditEvent.objects.filter(organization=None, action="login.failed")
    assert "typo@a.example" not in event.actor_label and "email_sha256" in event.metadata


def test_every_write_is_in_the_audit_log_with_actor_and_address(cast, owner_client, api_a) -> None:
    secret_token = owner_client.post(
        "/api/v1/tokens/", {"name": "t", "scopes": ["read"]}, content_type="application/json"
    ).json()
    owner_client.post(f"/api/v1/tokens/{secret_token['id']}/revoke/")
    api_a.post("/api/v1/invitations/", {"email": "z@a.example"}, format="json")  # refused: owner-only
    owner_client.patch(
        f"/api/v1/members/{cast.victor_membership.pk}/", {"role": "member"}, content_type="application/json"
    )
    events = owner_client.get("/api/v1/audit-events/").json()["results"]
    actions = [event["action"] for event in events]
    assert actions[:3] == ["member.role_change", "api_token.revoke", "api_token.create"]
    assert events[0]["actor"] == cast.alice.email and events[0]["ip_address"] == "127.0.0.1"
    assert events[0]["metadata"] == {"from": "viewer", "to": "member"}
    filtered = owner_client.get("/api/v1/audit-events/?action=api_token.").json()
    assert {event["action"] for event in filtered["results"]} == {"api_token.create", "api_token.revoke"}
    page = get_page(owner_client, "/settings/audit/?action=member.", queries=6)
    assert b"member.role_change" in page.content and b"api_token.create" not in page.content


def test_sign_up_and_password_reset_are_throttled_per_address_and_per_e_mail(cast, settings) -> None:
    settings.RATELIMIT_ENABLE = True
    address = f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"
    client = Client(REMOTE_ADDR=address)
    victim = f"victim-{uuid.uuid4().hex[:8]}@a.example"
    member = make_user(f"member-{uuid.uuid4().hex[:8]}@a.example")  # counters outlive a test run
    answers = [_post(client, "/password-reset/", {"email": member.email}).status_code for _ in range(5)]
    # One inbox gets three reset mails an hour through us; the page answers as if it sent more.
    assert answers == [302] * 5 and len(mail.outbox) == 3
    answers = [_signup(client, email=victim).status_code for _ in range(5)]
    assert answers == [200] * 5 and len([m for m in mail.outbox if victim in m.to]) == 3
    # Ten posts of one form an hour from one address; then 429 with a page saying why.
    assert _signup(client, email="x@a.example").status_code == 200
    for _ in range(4):
        client.post("/signup/", {})
    refused = client.post("/signup/", {})
    assert refused.status_code == 429 and b"Too many requests" in refused.content
    assert Client(REMOTE_ADDR=address).post("/password-reset/", {"email": "y@a.example"}).status_code == 302


def test_the_invitation_sign_up_form_renders_and_re_renders_with_the_invitation(cast, owner_client) -> None:
    """ "Create an account to accept" once answered 500 (the template read request.POST)."""
    secret = _invite(owner_client, email="dana@a.example")
    page = Client().get(f"/signup/?invitation={secret}")
    assert page.status_code == 200 and f'value="{secret}"'.encode() in page.content
    refused = _post(
        Client(), "/signup/", {"email": "dana@a.example", "password": "123", "invitation": secret}
    )
    assert refused.status_code == 200 and b"too short" in refused.content
    assert f'value="{secret}"'.encode() in refused.content


def test_an_address_typed_in_another_case_signs_in_to_the_same_account(cast) -> None:
    typed = f"  {cast.alice.email.upper()} "
    response = Client().post("/login/", {"username": typed, "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/"
    refused = Client().post("/login/", {"username": typed, "password": PASSWORD.upper()})
    assert refused.status_code == 200 and b"do not match an account" in refused.content
