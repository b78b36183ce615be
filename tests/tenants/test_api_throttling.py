"""The API is rate-limited per token; a throttled call says when to come back, in the API's error body."""

from __future__ import annotations

import pytest

from tenants import services
from tenants.actors import Actor
from tests.conftest import token_client

pytestmark = pytest.mark.django_db


def test_a_token_over_its_rate_gets_429_with_retry_after_and_others_are_not_slowed(
    cast, settings, api_a, owner_client
) -> None:
    settings.NODELESS_API_TOKEN_RATE = "3/min"
    for _ in range(3):
        assert api_a.get("/api/v1/organization/").status_code == 200
    throttled = api_a.get("/api/v1/organization/")
    assert throttled.status_code == 429 and int(throttled["Retry-After"]) > 0
    assert throttled.json()["error"]["code"] == "throttled"
    _, other = services.api_token_create(
        cast.org_a, actor=Actor(user=cast.alice), name="other", scopes=["read"]
    )
    assert token_client(other).get("/api/v1/organization/").status_code == 200
    assert owner_client.get("/api/v1/organization/").status_code == 200  # the browser is not throttled here
