"""The Kubernetes endpoint as docker-compose.yml serves it (its ``kube`` service's gunicorn command,
production settings, PostgreSQL): watches last minutes, and Argo CD keeps one open per resource
type it manages. Many open at once must not stop the endpoint answering anyone else, and each must
still get its events.

127.0.0.1 plays the TLS-terminating proxy (NODELESS_TRUSTED_PROXIES), as in
test_production_server.py.
"""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator

import pytest
from django.db import connection

from tests.fixtures.production import gunicorn, production_environment_here

pytestmark = [pytest.mark.slow]

# More than web's processes (3) and than the demo endpoint's threads used to be (4); one process,
# as in each of kube's two.
WATCHES = 24
CONFIGMAPS = "/k8s/api/v1/namespaces/default/configmaps"


@pytest.fixture
def served(transactional_db, cast) -> Iterator[tuple[int, dict[str, str]]]:
    env = production_environment_here(NODELESS_TRUSTED_PROXIES="127.0.0.1")
    host = env["DJANGO_ALLOWED_HOSTS"].split(",")[0]
    headers = {
        "Host": host,
        "X-Forwarded-Proto": "https",
        "Authorization": f"Bearer {cast.token_a_plaintext}",
    }
    with gunicorn(env, service="kube", extra=("--log-level", "warning")) as port:
        yield port, headers


def _call(
    port: int, headers: dict[str, str], method: str, path: str, body: object = None
) -> tuple[int, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    payload = None if body is None else json.dumps(body)
    sent = {**headers, "Content-Type": "application/json"} if body is not None else headers
    connection.request(method, path, body=payload, headers=sent)
    response = connection.getresponse()
    answer = json.loads(response.read() or b"{}")
    connection.close()
    return response.status, answer


def _sessions_fall_below(count: int) -> bool:
    """Whether the server's sessions on the test database fall below ``count`` within 30 s."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid()"
            )
            if int(cursor.fetchone()[0]) < count:
                return True
        time.sleep(0.2)
    return False


def _configmap(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": "v"}}


def _event(response: http.client.HTTPResponse) -> dict:
    """The next event of a watch (keep-alive spaces skipped)."""
    while True:
        line = response.readline()
        assert line, "the watch ended"
        if line.strip():
            return json.loads(line)


def test_many_open_watches_leave_the_endpoint_answering_and_each_gets_its_events(served) -> None:
    port, headers = served
    assert _call(port, headers, "POST", CONFIGMAPS, _configmap("first"))[0] == 201
    watches = []
    try:
        for _ in range(WATCHES):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            connection.request("GET", f"{CONFIGMAPS}?watch=1&timeoutSeconds=120", headers=headers)
            watches.append(connection)
        responses = [connection.getresponse() for connection in watches]
        assert [response.status for response in responses] == [200] * WATCHES
        assert {_event(response)["object"]["metadata"]["name"] for response in responses} == {"first"}

        # With every watch open: a read and a write are answered, and every watch sees the write.
        status, listed = _call(port, headers, "GET", CONFIGMAPS)
        assert status == 200 and [item["metadata"]["name"] for item in listed["items"]] == ["first"]
        assert _call(port, headers, "POST", CONFIGMAPS, _configmap("second"))[0] == 201
        seen = [_event(response) for response in responses]
        assert {(event["type"], event["object"]["metadata"]["name"]) for event in seen} == {
            ("ADDED", "second")
        }

        # Quiet again, the watches give their database sessions back (one reads for all of them).
        assert _sessions_fall_below(WATCHES // 2), "idle watches kept their database sessions"
    finally:
        for connection in watches:
            connection.close()


def test_an_organization_holds_at_most_its_share_of_watches(transactional_db, cast) -> None:
    """Past NODELESS_KUBE_WATCHES (here 2) open watches of one organization in a process, the next is
    a 429 saying so; another organization still watches, and a watch that ends gives its place back."""
    env = production_environment_here(NODELESS_TRUSTED_PROXIES="127.0.0.1", NODELESS_KUBE_WATCHES="2")
    host = env["DJANGO_ALLOWED_HOSTS"].split(",")[0]
    ours = {"Host": host, "X-Forwarded-Proto": "https", "Authorization": f"Bearer {cast.token_a_plaintext}"}
    theirs = {**ours, "Authorization": f"Bearer {cast.token_b_plaintext}"}
    watch = f"{CONFIGMAPS}?watch=1&timeoutSeconds=120"
    with gunicorn(env, service="kube", extra=("--log-level", "warning")) as port:
        opened = []
        try:
            for _ in range(2):
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                connection.request("GET", watch, headers=ours)
                assert connection.getresponse().status == 200
                opened.append(connection)
            status, refused = _call(port, ours, "GET", watch)
            assert status == 429 and refused["reason"] == "TooManyRequests"
            assert refused["message"].startswith("2 watches and followed logs of this organization are open")
            other = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            other.request("GET", watch, headers=theirs)
            assert other.getresponse().status == 200
            other.close()
            assert _call(port, ours, "GET", CONFIGMAPS)[0] == 200  # a list is no watch
        finally:
            for connection in opened:
                connection.close()

        # The server notices a watch's client went at its next keep-alive write.
        def answered() -> int:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            connection.request("GET", f"{CONFIGMAPS}?watch=1&timeoutSeconds=1", headers=ours)
            status = connection.getresponse().status
            connection.close()
            return status

        deadline = time.monotonic() + 30
        while answered() == 429 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert answered() == 200
