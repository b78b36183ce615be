"""web as docker-compose.yml runs it: its gunicorn command, production settings from a filled-in
.env.example, on PostgreSQL and Redis. Its health check passes, pages go to HTTPS, and only the
trusted proxy's X-Forwarded-Proto counts.

127.0.0.1 plays the TLS-terminating proxy (NODELESS_TRUSTED_PROXIES) and 127.0.0.2, another
loopback address, a stranger talking to gunicorn directly.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from django.conf import settings
from django.db import connection

from tests.fixtures.production import ROOT, compose_file, get, gunicorn, production_environment

# django_db: the session then creates the test database, which the server is pointed at.
pytestmark = [pytest.mark.slow, pytest.mark.django_db]


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        db = connection.settings_dict
    env = production_environment(
        database_url=f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        redis_url=str(settings.REDIS_URL),
        broker_url=str(settings.CELERY_BROKER_URL),
        NODELESS_TRUSTED_PROXIES="127.0.0.1",
    )
    with gunicorn(env) as port:
        yield port, env


def test_the_compose_health_check_passes(server) -> None:
    port, env = server
    check = compose_file()["services"]["web"]["healthcheck"]["test"]
    assert check[:2] == ["CMD", ".venv/bin/python"]
    # The health check's own program, run as the container would, aimed at this server's port.
    code = check[check.index("-c") + 1]
    assert "127.0.0.1:8000/healthz" in code
    code = code.replace("127.0.0.1:8000", f"127.0.0.1:{port}")
    result = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, timeout=30)
    assert result.returncode == 0, result.stderr.decode()


def test_pages_redirect_to_https_unless_the_trusted_proxy_says_it_is_https(server) -> None:
    port, env = server
    host = env["DJANGO_ALLOWED_HOSTS"]
    plain = get(port, "/login/", host=host)
    assert plain.status == 301 and plain.getheader("Location") == f"https://{host}/login/"
    https = {"X-Forwarded-Proto": "https"}
    from_proxy = get(port, "/login/", host=host, headers=https)
    assert from_proxy.status == 200
    assert "max-age=31536000" in str(from_proxy.getheader("Strict-Transport-Security"))
    assert "; Secure" in str(from_proxy.getheader("Set-Cookie"))  # the sign-in form's CSRF cookie
    forged = get(port, "/login/", host=host, headers=https, source="127.0.0.2")
    assert forged.status == 301


def test_an_unknown_host_is_refused(server) -> None:
    port, _ = server
    assert get(port, "/healthz", host="attacker.example").status == 400
