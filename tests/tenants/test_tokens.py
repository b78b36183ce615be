from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from tenants import services
from tenants.actors import Actor
from tenants.models import ApiToken, AuditEvent
from tenants.selectors import api_token_by_hash
from tenants.tokens import PREFIX, TOKEN_LENGTH, generate_token, hash_token, is_well_formed
from tests.conftest import token_client


def test_generated_tokens_have_prefix_length_and_valid_checksum() -> None:
    tokens = {generate_token() for _ in range(200)}
    assert len(tokens) == 200
    for token in tokens:
        assert token.startswith(PREFIX) and len(token) == TOKEN_LENGTH and is_well_formed(token)


@given(st.integers(min_value=len(PREFIX), max_value=TOKEN_LENGTH - 1), st.sampled_from("0aZ9"))
def test_any_single_character_change_breaks_the_checksum(position: int, replacement: str) -> None:
    token = generate_token()
    changed = token[:position] + replacement + token[position + 1 :]
    if changed != token:
        assert not is_well_formed(changed)


@pytest.mark.django_db
def test_only_the_hash_and_last_four_characters_are_stored(cast) -> None:
    token, plaintext = services.api_token_create(
        cast.org_a, actor=Actor(user=cast.alice), name="ci", scopes=["read"]
    )
    assert token.token_hash == hash_token(plaintext) and token.last_four == plaintext[-4:]
    with connection.cursor() as cursor:
        for table in (ApiToken._meta.db_table, AuditEvent._meta.db_table):
            cursor.execute(f"SELECT * FROM {table}")
            dump = repr(cursor.fetchall())
            assert plaintext not in dump and plaintext[4:-6] not in dump


@pytest.mark.django_db
def test_a_token_authenticates_for_its_organization_only(cast, api_a, api_b) -> None:
    assert api_a.get("/api/v1/organization/").json()["id"] == str(cast.org_a.id)
    assert api_b.get("/api/v1/organization/").json()["id"] == str(cast.org_b.id)
    members_b = {m["email"] for m in api_b.get("/api/v1/members/").json()["results"]}
    assert members_b == {cast.oscar.email}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"revoked_at": timezone.now()}, "revoked"),
        ({"expires_at": timezone.now() - timedelta(seconds=1)}, "expired"),
    ],
)
def test_revoked_and_expired_tokens_are_refused(cast, change, message) -> None:
    ApiToken.objects.filter(pk=cast.token_a.pk).update(**change)
    response = token_client(cast.token_a_plaintext).get("/api/v1/organization/")
    assert response.status_code == 401
    assert message in response.json()["error"]["message"]
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.django_db
def test_malformed_and_unknown_tokens_are_refused_with_distinct_messages(cast) -> None:
    forged = generate_token()
    bad = token_client("nls_" + "x" * 49).get("/api/v1/organization/")
    unknown = token_client(forged).get("/api/v1/organization/")
    assert bad.status_code == unknown.status_code == 401
    assert "not a Nodeless API token" in bad.json()["error"]["message"]
    assert "does not exist" in unknown.json()["error"]["message"]


@pytest.mark.django_db
def test_a_read_scoped_token_cannot_write(cast) -> None:
    _, plaintext = services.api_token_create(
        cast.org_a, actor=Actor(user=cast.alice), name="ro", scopes=["read"]
    )
    client = token_client(plaintext)
    assert client.get("/api/v1/tokens/").status_code == 200
    response = client.post("/api/v1/tokens/", {"name": "x", "scopes": ["read"]}, format="json")
    assert response.status_code == 403
    assert "'admin' scope" in response.json()["error"]["message"]


@pytest.mark.django_db
def test_tokens_never_perform_owner_actions(cast, api_a) -> None:
    response = api_a.patch(f"/api/v1/members/{cast.victor_membership.pk}/", {"role": "admin"}, format="json")
    assert response.status_code == 403
    assert "sign in as an owner" in response.json()["error"]["message"]


@pytest.mark.django_db
def test_last_used_is_written_at_most_once_per_minute(cast, api_a) -> None:
    api_a.get("/api/v1/organization/")
    first = ApiToken.objects.get(pk=cast.token_a.pk).last_used_at
    assert first is not None
    api_a.get("/api/v1/organization/")
    assert ApiToken.objects.get(pk=cast.token_a.pk).last_used_at == first
    ApiToken.objects.filter(pk=cast.token_a.pk).update(last_used_at=timezone.now() - timedelta(minutes=2))
    api_a.get("/api/v1/organization/")
    used = ApiToken.objects.get(pk=cast.token_a.pk).last_used_at
    assert used is not None and used > first


@pytest.mark.django_db
def test_token_creation_via_api_shows_the_token_once_and_records_the_creator(cast, owner_client) -> None:
    created = owner_client.post(
        "/api/v1/tokens/", {"name": "deploys", "scopes": ["write"]}, content_type="application/json"
    ).json()
    assert created["token"].startswith("nls_") and created["scopes"] == ["read", "write"]
    assert created["created_by"] == cast.alice.email
    listed = owner_client.get(f"/api/v1/tokens/{created['id']}/").json()
    assert "token" not in listed and listed["masked"].endswith(created["token"][-4:])


@pytest.mark.django_db
def test_invalid_token_requests_get_field_errors(cast, owner_client) -> None:
    response = owner_client.post(
        "/api/v1/tokens/", {"name": "", "scopes": ["root"]}, content_type="application/json"
    )
    assert response.status_code == 400
    body = response.json()["error"]
    assert body["code"] == "invalid" and set(body["fields"]) == {"name", "scopes"}
    past = (timezone.now() - timedelta(days=1)).isoformat()
    response = owner_client.post(
        "/api/v1/tokens/",
        {"name": "x", "scopes": ["read"], "expires_at": past},
        content_type="application/json",
    )
    assert response.status_code == 400 and "future" in response.json()["error"]["fields"]["expires_at"][0]


@pytest.mark.django_db
def test_a_token_request_reads_the_token_its_creators_role_and_organization_in_one_statement(
    cast, api_a
) -> None:
    api_a.get("/api/v1/organization/")  # last_used_at written: later requests leave it
    with CaptureQueriesContext(connection) as captured:
        response = api_a.get("/api/v1/organization/")
    assert response.status_code == 200 and response.json()["id"] == str(cast.org_a.pk)
    reads = [q["sql"] for q in captured.captured_queries]
    token_reads = [sql for sql in reads if "tenants_apitoken" in sql]
    assert len(token_reads) == 1 and "tenants_organizationmember" in token_reads[0]
    # The creator's role and the organization come with the token (each was a statement of its own).
    assert not [sql for sql in reads if 'FROM "tenants_organizationmember"' in sql]
    assert "tenants_organization o" in token_reads[0]
    assert not [sql for sql in reads if "FROM tenants_organization WHERE" in sql]
    assert not [sql for sql in reads if 'FROM "tenants_organization"' in sql]


@pytest.mark.django_db
def test_the_organization_read_with_a_token_is_the_organization(cast, api_a) -> None:
    found = api_token_by_hash(hash_token(cast.token_a_plaintext))
    assert found is not None
    organization = found[0].organization
    stored = type(organization).objects.get(pk=cast.org_a.pk)
    assert [getattr(organization, f.attname) for f in stored._meta.concrete_fields] == [
        getattr(stored, f.attname) for f in stored._meta.concrete_fields
    ]
    assert not organization._state.adding and organization._state.db == "default"
    assert not [name for name in vars(found[0]) if name.startswith("organization__")]
