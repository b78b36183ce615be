"""X-Forwarded-For and X-Forwarded-Proto are believed only from NODELESS_TRUSTED_PROXIES: real
requests through the whole middleware stack, from a trusted proxy's address and from anyone else's."""

from __future__ import annotations

import uuid

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client

from nodeless_saas import env
from nodeless_saas.proxies import client_ip
from tenants.models import AuditEvent
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

PROXY = "10.89.0.2"
STRANGER = "203.0.113.50"


@pytest.fixture
def behind_a_proxy(settings):
    settings.NODELESS_TRUSTED_PROXIES = ["10.89.0.2/32"]
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")  # as production sets it
    return settings


def test_https_is_believed_from_the_trusted_proxy_only(behind_a_proxy) -> None:
    from_proxy = Client(REMOTE_ADDR=PROXY).get("/login/", HTTP_X_FORWARDED_PROTO="https")
    assert from_proxy.status_code == 200
    forged = Client(REMOTE_ADDR=STRANGER).get("/login/", HTTP_X_FORWARDED_PROTO="https")
    assert forged.status_code == 301 and forged["Location"] == "https://testserver/login/"
    # Without the header the proxy's own plain-HTTP request is redirected too.
    assert Client(REMOTE_ADDR=PROXY).get("/login/").status_code == 301


def test_with_no_trusted_proxy_the_header_is_never_believed(settings) -> None:
    settings.NODELESS_TRUSTED_PROXIES = []
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")  # as production sets it
    response = Client(REMOTE_ADDR="127.0.0.1").get("/login/", HTTP_X_FORWARDED_PROTO="https")
    assert response.status_code == 301


def test_the_health_check_is_answered_over_plain_http(behind_a_proxy) -> None:
    assert Client(REMOTE_ADDR="127.0.0.1").get("/healthz").status_code == 200


def test_the_audit_log_records_the_forwarded_client_only_behind_the_trusted_proxy(
    cast, behind_a_proxy
) -> None:
    behind_a_proxy.SECURE_SSL_REDIRECT = False  # the stranger's plain-HTTP sign-in goes through
    credentials = {"username": cast.alice.email, "password": PASSWORD}
    # A client-written first hop is not believed: the proxy appended the address it saw.
    Client(REMOTE_ADDR=PROXY).post(
        "/login/", credentials, HTTP_X_FORWARDED_FOR="1.2.3.4, 198.51.100.9", HTTP_X_FORWARDED_PROTO="https"
    )
    Client(REMOTE_ADDR=STRANGER).post("/login/", credentials, HTTP_X_FORWARDED_FOR="1.2.3.4")
    addresses = list(
        AuditEvent.objects.filter(organization=cast.org_a, action="login.succeeded")
        .order_by("created_at")
        .values_list("ip_address", flat=True)
    )
    assert addresses == ["198.51.100.9", STRANGER]


def test_throttles_and_lockout_count_per_forwarded_client(cast, behind_a_proxy) -> None:
    behind_a_proxy.RATELIMIT_ENABLE = True
    behind_a_proxy.NODELESS_LOGIN_ADDRESS_FAILURE_LIMIT = 2
    first, second = (f"198.51.100.{uuid.uuid4().int % 250 + 1}" for _ in range(2))  # counters outlive a run
    second = second if second != first else "198.51.100.251"
    proxy = Client(REMOTE_ADDR=PROXY)

    def post(path: str, data: dict, client_address: str):
        return proxy.post(path, data, HTTP_X_FORWARDED_FOR=client_address, HTTP_X_FORWARDED_PROTO="https")

    assert [post("/signup/", {}, first).status_code for _ in range(11)][-1] == 429
    assert post("/signup/", {}, second).status_code == 200  # another client behind the same proxy
    for email in ("x@a.example", "y@a.example"):
        post("/login/", {"username": email, "password": "wrong"}, first)
    assert post("/login/", {"username": cast.victor.email, "password": PASSWORD}, first).status_code == 429
    assert post("/login/", {"username": cast.victor.email, "password": PASSWORD}, second).status_code == 302


def test_a_chain_of_trusted_proxies_is_walked_to_the_first_untrusted_hop(settings, rf) -> None:
    settings.NODELESS_TRUSTED_PROXIES = ["10.89.0.0/24", "fd00::/8"]
    chain = rf.get("/", REMOTE_ADDR="10.89.0.2", HTTP_X_FORWARDED_FOR="9.9.9.9, 198.51.100.9, fd00::5")
    assert client_ip(chain) == "198.51.100.9"
    garbage = rf.get("/", REMOTE_ADDR="10.89.0.2", HTTP_X_FORWARDED_FOR="198.51.100.9, not-an-ip")
    assert client_ip(garbage) == "10.89.0.2"
    assert client_ip(rf.get("/", REMOTE_ADDR=STRANGER, HTTP_X_FORWARDED_FOR="9.9.9.9")) == STRANGER


def test_trusted_proxies_must_be_addresses_or_networks(monkeypatch) -> None:
    monkeypatch.setenv("X_PROXIES", "10.0.0.1, 172.28.0.0/24")
    assert env.env_networks("X_PROXIES", []) == ["10.0.0.1/32", "172.28.0.0/24"]
    monkeypatch.setenv("X_PROXIES", "caddy")
    with pytest.raises(ImproperlyConfigured, match="X_PROXIES: 'caddy' is not an IP address"):
        env.env_networks("X_PROXIES", [])
