"""A new token or invitation link is shown once: never stored in the session row (the database keeps
sessions for weeks), never cached by a browser or proxy."""

from __future__ import annotations

import pytest
from django.contrib.sessions.models import Session

from tenants.models import ApiToken

pytestmark = pytest.mark.django_db


def _session_rows() -> str:
    return repr([session.get_decoded() for session in Session.objects.all()])


def test_a_new_tokens_plaintext_never_waits_in_the_session_row(cast, owner_client) -> None:
    response = owner_client.post(
        "/settings/tokens/", {"name": "deploys", "scopes": ["read"], "expires_in": "30"}
    )
    assert response.status_code == 302
    token = ApiToken.objects.get(name="deploys")
    assert "nls_" not in _session_rows()  # before the redirect is followed, the secret waits elsewhere
    page = owner_client.get("/settings/tokens/")
    assert page["Cache-Control"] == "no-store"
    assert 'id="token-value"' in page.content.decode() and token.last_four in page.content.decode()
    assert "nls_" not in _session_rows()
    again = owner_client.get("/settings/tokens/").content.decode()
    assert 'id="token-value"' not in again  # shown once


def test_the_api_answers_a_new_token_and_invitation_with_no_store(cast, api_a, owner_client) -> None:
    created = api_a.post("/api/v1/tokens/", {"name": "x", "scopes": ["read"]}, format="json")
    assert created.status_code == 201 and created["Cache-Control"] == "no-store"
    invited = owner_client.post(
        "/api/v1/invitations/", {"email": "new@a.example", "role": "member"}, content_type="application/json"
    )
    assert invited.status_code == 201 and invited["Cache-Control"] == "no-store"
