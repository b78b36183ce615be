"""``kubectl exec`` through the endpoint, served as production serves it (docker-compose's ``kube``
gunicorn command, here with TLS of its own as the demo runs it): the WebSocket goes on to the member
that runs the pod, under the member's credentials, and comes back byte for byte — output, exit
codes, stdin. Also: the official Python client's exec; the member's refusals named; a read-only
token, another organization and SPDY refused; the session in the audit log."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from django.conf import settings
from kubernetes import client as kube
from kubernetes.stream import stream

from simulator.auth import READ_ONLY, Identity
from simulator.tls import issue_server_certificate
from tenants.actors import Actor
from tenants.models import AuditEvent
from tenants.services.tokens import api_token_create
from tests.fixtures.federation import deployment, pool
from tests.fixtures.production import gunicorn, production_environment_here
from tests.policies.kubeapi.conftest import KUBECTL, TlsFront, kubeconfig, rolled_out
from tests.policies.kubeapi.test_kubectl import NAMESPACE

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

Kubectl = Callable[..., subprocess.CompletedProcess[str]]


@contextlib.contextmanager
def _served(directory: Path, **env: str) -> Iterator[tuple[str, str]]:
    """(URL of the endpoint, its CA): the ``kube`` service's gunicorn over HTTPS, on the test
    database, trusting the test's encryption keys and loopback clusters."""
    certificate = issue_server_certificate("nodeless-exec-test")
    cert, key = directory / "endpoint.pem", directory / "endpoint-key.pem"
    cert.write_text(certificate.cert_pem)
    key.write_text(certificate.key_pem)
    environment = production_environment_here(
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        NODELESS_ENCRYPTION_KEYS=",".join(settings.NODELESS_ENCRYPTION_KEYS),
        NODELESS_CLUSTER_NETWORKS="loopback",
        **env,
    )
    extra = ("--log-level", "warning", "--certfile", str(cert), "--keyfile", str(key))
    with gunicorn(environment, service="kube", extra=extra) as port:
        yield f"https://127.0.0.1:{port}", certificate.ca_pem


@pytest.fixture
def served(tmp_path) -> Iterator[tuple[str, str]]:
    with _served(tmp_path) as endpoint:
        yield endpoint


def _kubectl(served: tuple[str, str], directory: Path, token: str) -> Kubectl:
    config = directory / f"kubeconfig-{token[-6:]}"
    config.write_text(yaml.safe_dump(kubeconfig(f"{served[0]}/k8s", token, served[1])))

    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        command = [KUBECTL, f"--kubeconfig={config}", f"--cache-dir={directory / 'cache'}", *args]
        return subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=90, check=False)

    return run


@pytest.fixture
def proxied() -> Iterator[tuple[str, str]]:
    """The ``kube`` service as docker-compose.yml runs it: plain HTTP behind the TLS-terminating
    proxy (the tests' byte-for-byte TLS front stands in for Caddy, which passes upgrades through
    as they are; it sets no X-Forwarded-Proto, so Django is not asked to redirect to HTTPS)."""
    env = production_environment_here(
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        NODELESS_ENCRYPTION_KEYS=",".join(settings.NODELESS_ENCRYPTION_KEYS),
        NODELESS_CLUSTER_NETWORKS="loopback",
        SECURE_SSL_REDIRECT="false",
    )
    with gunicorn(env, service="kube", extra=("--log-level", "warning")) as port:
        front = TlsFront(f"http://127.0.0.1:{port}")
        try:
            yield front.url, front.certificate.ca_pem
        finally:
            front.stop()


def _web(cast, endpoint, member, policy, directory: Path) -> tuple[Kubectl, object, list[str]]:
    east = member("east", {"cloud": "onprem"}, pools=(pool(2),))
    policy("default", strategy="cheapest")
    kubectl = _kubectl(endpoint, directory, cast.token_a_plaintext)
    app = yaml.safe_load(deployment("web", replicas=2, cpu="100m", memory="64Mi"))
    app["spec"]["template"]["spec"]["containers"][0]["env"] = [
        {"name": "GREETING", "value": "hello from east"}
    ]
    rolled_out(kubectl, directory / "app", {"0-ns": NAMESPACE, "web": app})
    names = sorted(p.metadata.name for p in east.core.list_namespaced_pod("shop").items)
    return kubectl, east, names


@pytest.fixture
def web(cast, served, member, policy, federation_loop, tmp_path) -> tuple[Kubectl, object, list[str]]:
    """kubectl on the served endpoint with org A's token, a member ``east`` and the web app
    rolled out in it: (kubectl, east, the pods' names)."""
    return _web(cast, served, member, policy, tmp_path)


def test_kubectl_exec_runs_in_the_member_that_runs_the_pod(cast, web) -> None:
    kubectl, east, names = web
    hostname = kubectl("exec", names[0], "-n", "shop", "--", "hostname")
    assert (hostname.returncode, hostname.stdout) == (0, f"{names[0]}\n"), hostname.stderr
    greeting = kubectl("exec", "deploy/web", "-n", "shop", "--", "printenv", "GREETING")
    assert (greeting.returncode, greeting.stdout) == (0, "hello from east\n"), greeting.stderr
    failed = kubectl("exec", names[1], "-n", "shop", "--", "sh", "-c", "echo out; cat /nowhere; exit 3")
    assert (failed.returncode, failed.stdout) == (3, "out\n"), failed.stderr
    assert "cat: can't open '/nowhere'" in failed.stderr
    fed = kubectl("exec", "-i", names[1], "-n", "shop", "--", "sh", stdin="echo one\nhostname\nexit 4\n")
    assert (fed.returncode, fed.stdout) == (4, f"one\n{names[1]}\n"), fed.stderr

    assert (
        kubectl("auth", "can-i", "create", "pods", "--subresource=exec", "-n", "shop").stdout.strip() == "yes"
    )

    audited = AuditEvent.objects.filter(organization=cast.org_a, action="pod.exec")
    assert audited.count() == 4
    assert {event.target_label for event in audited} == {f"shop/{name} in east" for name in names}
    assert all(
        event.actor_token_id is not None and "GREETING" not in str(event.metadata) for event in audited
    )


def test_kubectl_cp_copies_into_and_out_of_a_pod_through_the_endpoint(web, tmp_path) -> None:
    kubectl, _east, names = web
    payload = bytes(range(256)) * 400  # binary, over several WebSocket frames each way
    local = tmp_path / "blob.bin"
    local.write_bytes(payload)
    into = kubectl("cp", str(local), f"shop/{names[0]}:/tmp/blob.bin")
    assert into.returncode == 0, into.stderr
    back = tmp_path / "back.bin"
    out = kubectl("cp", f"shop/{names[0]}:/tmp/blob.bin", str(back))
    assert out.returncode == 0, out.stderr
    assert back.read_bytes() == payload
    # The file stays in that container, and only there.
    listed = kubectl("exec", names[0], "-n", "shop", "--", "ls", "/tmp")
    assert (listed.returncode, listed.stdout) == (0, "blob.bin\n"), listed.stderr
    assert kubectl("exec", names[1], "-n", "shop", "--", "ls", "/tmp").returncode == 1


def test_the_members_refusals_are_named_and_what_the_endpoint_refuses_itself(
    cast, web, served, tmp_path
) -> None:
    kubectl, east, names = web
    wrong = kubectl("exec", names[0], "-n", "shop", "-c", "sidecar", "--", "hostname")
    assert (
        wrong.returncode != 0 and f"east: container sidecar is not valid for pod {names[0]}" in wrong.stderr
    )
    assert "not found" in kubectl("exec", "web-nothing", "-n", "shop", "--", "hostname").stderr

    # The credentials Nodeless holds for east may only read (kube's view role): east's 403, named.
    east.sim.add_token(east.sim.admin_token, Identity("nodeless", READ_ONLY))
    denied = kubectl("exec", names[0], "-n", "shop", "--", "hostname")
    assert (
        denied.returncode != 0
        and "east: " in denied.stderr
        and "pods/exec" in denied.stderr.replace('"pods" with subresource "exec"', "pods/exec")
    ), denied.stderr

    _, read_only = api_token_create(cast.org_a, actor=Actor(user=cast.alice), name="ro", scopes=["read"])
    reader = _kubectl(served, tmp_path, read_only)
    refused = reader("exec", names[0], "-n", "shop", "--", "hostname")
    assert refused.returncode != 0 and "lacks the 'write' scope" in refused.stderr
    assert reader("auth", "can-i", "create", "pods", "--subresource=exec", "-n", "shop").stdout.startswith(
        "no"
    )
    outsider = _kubectl(served, tmp_path, cast.token_b_plaintext)
    stranger = outsider("exec", names[0], "-n", "shop", "--", "hostname")
    assert stranger.returncode != 0 and "not found" in stranger.stderr, stranger.stderr
    assert not AuditEvent.objects.filter(action="pod.exec").exists()


def test_the_official_python_client_execs_through_the_endpoint(cast, web, served, tmp_path) -> None:
    _, _, names = web
    configuration = kube.Configuration(host=f"{served[0]}/k8s")
    ca = tmp_path / "ca.pem"
    ca.write_text(served[1])
    configuration.ssl_ca_cert = str(ca)
    configuration.api_key = {"authorization": cast.token_a_plaintext}
    configuration.api_key_prefix = {"authorization": "Bearer"}
    with kube.ApiClient(configuration) as api_client:
        core = kube.CoreV1Api(api_client)
        output = stream(
            core.connect_get_namespaced_pod_exec,
            names[0],
            "shop",
            command=["echo", "from", "python"],
            stderr=True,
            stdin=False,
            stdout=True,
            tty=False,
        )
    assert output == "from python\n"


def test_exec_behind_a_tls_proxy_as_docker_compose_serves_the_endpoint(
    cast, proxied, member, policy, federation_loop, tmp_path
) -> None:
    kubectl, _, names = _web(cast, proxied, member, policy, tmp_path)
    fed = kubectl("exec", "-i", names[0], "-n", "shop", "--", "cat", stdin="through the proxy\n")
    assert (fed.returncode, fed.stdout) == (0, "through the proxy\n"), fed.stderr


def test_an_organization_holds_at_most_its_share_of_exec_sessions(
    cast, member, policy, federation_loop, tmp_path
) -> None:
    """Each session holds one of the endpoint's threads while it lasts: past the organization's share
    (NODELESS_KUBE_EXEC_SESSIONS, here 1) the next is a 429 saying why, until one ends."""
    with _served(tmp_path, NODELESS_KUBE_EXEC_SESSIONS="1") as endpoint:
        kubectl, _, names = _web(cast, endpoint, member, policy, tmp_path)
        config = next(tmp_path.glob("kubeconfig-*"))
        held = subprocess.Popen(
            [KUBECTL, f"--kubeconfig={config}", "exec", "-i", names[0], "-n", "shop", "--", "cat"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert held.stdin is not None and held.stdout is not None
            held.stdin.write("open\n")
            held.stdin.flush()
            assert held.stdout.readline() == "open\n"  # the session is up
            refused = kubectl("exec", names[1], "-n", "shop", "--", "hostname")
            assert refused.returncode != 0
            assert "1 kubectl exec sessions of this organization are open on this server" in refused.stderr
        finally:
            held.communicate(timeout=30)  # stdin closed: the session ends
        assert held.returncode == 0
        again = kubectl("exec", names[1], "-n", "shop", "--", "hostname")
        assert (again.returncode, again.stdout) == (0, f"{names[1]}\n"), again.stderr
