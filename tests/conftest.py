"""Shared fixtures: the fixed cast of users and organizations, signed-in clients, API clients.

The cast (healthchecks-style): alice owns org A, victor is a viewer in org A, and oscar owns org B
and is the outsider for every org A object.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest
from django.test import Client
from hypothesis import HealthCheck, settings
from rest_framework.test import APIClient

from tenants import services
from tenants.actors import Actor
from tenants.models import ApiToken, Organization, OrganizationMember, Role, User

# Simulated cloud and clusters for every test folder (one shared cloud per xdist worker).
pytest_plugins = [
    "tests.fixtures.simulation",
    "tests.fixtures.connections",
    "tests.fixtures.provisioning",
    "tests.fixtures.federation",
    "tests.fixtures.catalogs",
    "tests.fixtures.tasks",
]

# Property tests judge results, never speed: on a busy machine a slow example is not a failure
# (no deadline, no "too slow" health check); tests that need more examples still say so themselves.
settings.register_profile("nodeless", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("nodeless")

PASSWORD = "correct-horse-battery-staple"

# Playwright's sync API keeps an event loop running in the test thread for the whole session, and
# Django refuses ORM calls from a thread with a running loop unless told it is safe. It is: the loop
# never runs our code. The product has no async code paths for this check to protect.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
# boto3 signs every request: give it throw-away credentials. Tests reach only simulated AWS endpoints
# on 127.0.0.1 (settings point at a closed loopback port unless a test starts a simulated cloud).
for _name, _value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}.items():
    os.environ.setdefault(_name, _value)


@dataclass
class Cast:
    org_a: Organization
    org_b: Organization
    alice: User  # owner of org A
    victor: User  # viewer in org A
    oscar: User  # owner of org B, the outsider
    victor_membership: OrganizationMember
    token_a: ApiToken
    token_a_plaintext: str
    token_b_plaintext: str


def make_user(email: str) -> User:
    return User.objects.create_user(email=email, password=PASSWORD, full_name=email.split("@")[0].title())


@pytest.fixture
def cast(db: None) -> Cast:
    alice, victor, oscar = (
        make_user("alice@a.example"),
        make_user("victor@a.example"),
        make_user("oscar@b.example"),
    )
    org_a = services.organization_create(owner=alice, name="Org A", actor=Actor(user=alice))
    org_b = services.organization_create(owner=oscar, name="Org B", actor=Actor(user=oscar))
    victor_membership = OrganizationMember.objects.create(organization=org_a, user=victor, role=Role.VIEWER)
    token_a, token_a_plaintext = services.api_token_create(
        org_a, actor=Actor(user=alice), name="A automation", scopes=["read", "write", "admin"]
    )
    _, token_b_plaintext = services.api_token_create(
        org_b, actor=Actor(user=oscar), name="B automation", scopes=["read", "write", "admin"]
    )
    return Cast(
        org_a, org_b, alice, victor, oscar, victor_membership, token_a, token_a_plaintext, token_b_plaintext
    )


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client


@pytest.fixture
def owner_client(cast: Cast) -> Client:
    return signed_in(cast.alice)


@pytest.fixture
def viewer_client(cast: Cast) -> Client:
    return signed_in(cast.victor)


@pytest.fixture
def outsider_client(cast: Cast) -> Client:
    return signed_in(cast.oscar)


def token_client(plaintext: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    return client


@pytest.fixture
def api_a(cast: Cast) -> APIClient:
    return token_client(cast.token_a_plaintext)


@pytest.fixture
def api_b(cast: Cast) -> APIClient:
    return token_client(cast.token_b_plaintext)


# --- browser tests -----------------------------------------------------------------------------
# Debian's Chromium, driven by Playwright (`playwright install` cannot download here). The resolver
# rule keeps Chromium off the network entirely, except for loopback.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1 , EXCLUDE localhost",
]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, object]) -> dict[str, object]:
    return {**browser_type_launch_args, "executable_path": "/usr/bin/chromium", "args": CHROMIUM_ARGS}


@pytest.fixture(autouse=True)
def _stop_cluster_informers():
    """Each test's simulated clusters stop with it: stop the watches a test started on them."""
    yield
    from clusters.observation.informers import stop_all_informers

    stop_all_informers()
