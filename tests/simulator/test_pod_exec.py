"""`kubectl exec` against a simulated cluster, as kube-apiserver serves it: a WebSocket speaking
`v5.channel.k8s.io` (stdout, stderr, the exit code in a Status on channel 3), with what the
kubelet made of the pod (its environment from ConfigMaps and Secrets, its mounted keys), and the
refusals kube-apiserver answers before upgrading."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from typing import Any

import pytest

from simulator.auth import READ_ONLY
from simulator.controllers.static_nodes import StaticNodePool
from simulator.descriptor import ClusterDescriptor, write_kubeconfig
from simulator.resources import CONFIGMAPS, PODS, SECRETS
from tests.fixtures.simulation import wait_for

pytestmark = [
    pytest.mark.kubectl,
    pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed"),
]

READER_TOKEN = "exec-reader-token"


def _pod(name: str, **spec: Any) -> dict[str, Any]:
    container = {
        "name": "app",
        "image": "busybox:1.36",
        "env": [
            {"name": "GREETING", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "greeting"}}},
            {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "login", "key": "password"}}},
            {"name": "MY_NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
            {"name": "PLAIN", "value": "yes"},
        ],
        "volumeMounts": [{"name": "settings", "mountPath": "/etc/settings"}],
        "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "containers": [container],
            "volumes": [{"name": "settings", "configMap": {"name": "settings"}}],
            **spec,
        },
    }


@pytest.fixture
def cluster(simulated_cluster):
    cluster = simulated_cluster(
        "exec-sim",
        static_pools=(StaticNodePool("node", 1, "m5.large"),),
        pod_start_delay=0.2,
        extra_tokens={READER_TOKEN: READ_ONLY},
    )
    api = cluster.api
    api.create(
        CONFIGMAPS,
        "default",
        {"metadata": {"name": "settings"}, "data": {"greeting": "hello", "mode": "fast"}},
    )
    secret = {"metadata": {"name": "login"}, "data": {"password": base64.b64encode(b"s3cret").decode()}}
    api.create(SECRETS, "default", secret)
    api.create(PODS, "default", _pod("app"))
    wait_for(
        lambda: api.get(PODS, "default", "app").obj.get("status", {}).get("phase") == "Running", timeout=30
    )
    return cluster


@pytest.fixture
def kubectl(cluster, tmp_path):
    descriptors = tuple(
        ClusterDescriptor(name, "static", "onprem", "onprem", cluster.url, cluster.ca_pem, token, "")
        for name, token in (("sim", cluster.admin_token), ("sim-reader", READER_TOKEN))
    )
    kubeconfig = tmp_path / "kubeconfig"
    write_kubeconfig(kubeconfig, descriptors)

    def run(*args: str, context: str = "sim", stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        command = ["kubectl", "--kubeconfig", str(kubeconfig), "--context", context, *args]
        env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
        return subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=60, env=env)

    return run


def test_exec_runs_in_the_container_as_the_kubelet_made_it(kubectl) -> None:
    hostname = kubectl("exec", "app", "--", "hostname")
    assert (hostname.returncode, hostname.stdout) == (0, "app\n"), hostname.stderr
    env = kubectl("exec", "app", "--", "printenv", "GREETING", "PASSWORD", "PLAIN", "MY_NODE")
    assert env.stdout.splitlines() == ["hello", "s3cret", "yes", "node-0"], env.stderr
    mounted = kubectl("exec", "app", "--", "cat", "/etc/settings/mode")
    assert mounted.stdout == "fast", mounted.stderr


def test_exit_codes_stderr_and_stdin_come_back_as_kubectl_expects(kubectl) -> None:
    failed = kubectl("exec", "app", "--", "sh", "-c", "echo out; cat /nowhere; exit 3")
    assert failed.returncode == 3
    assert failed.stdout == "out\n"
    assert "cat: can't open '/nowhere': No such file or directory" in failed.stderr
    fed = kubectl("exec", "-i", "app", "--", "sh", stdin="echo one\nhostname\nexit 4\necho never\n")
    assert (fed.returncode, fed.stdout) == (4, "one\napp\n"), fed.stderr
    ended = kubectl("exec", "-i", "app", "--", "cat", stdin="copied\n")
    assert (ended.returncode, ended.stdout) == (0, "copied\n"), ended.stderr
    missing = kubectl("exec", "app", "--", "nosuch")
    assert missing.returncode != 0
    assert 'exec: "nosuch": executable file not found in $PATH' in missing.stderr


def test_what_kube_apiserver_refuses_before_upgrading(cluster, kubectl) -> None:
    denied = kubectl("exec", "app", "--context", "sim-reader", "--", "hostname")
    assert (
        denied.returncode != 0 and 'cannot create resource "pods" with subresource "exec"' in denied.stderr
    ), denied.stderr
    wrong = kubectl("exec", "app", "-c", "sidecar", "--", "hostname")
    assert "container sidecar is not valid for pod app" in wrong.stderr, wrong.stderr
    cluster.api.create(PODS, "default", _pod("stuck", nodeSelector={"nowhere": "true"}))
    pending = kubectl("exec", "stuck", "--", "hostname")
    assert "pod stuck does not have a host assigned" in pending.stderr, pending.stderr
    assert kubectl("exec", "gone", "--", "hostname").stderr.strip().endswith('pods "gone" not found')


def test_discovery_names_pods_exec_with_kube_apiservers_verbs(kubectl) -> None:
    resources = json.loads(kubectl("get", "--raw", "/api/v1").stdout)["resources"]
    found = next(r for r in resources if r["name"] == "pods/exec")
    assert (found["kind"], sorted(found["verbs"])) == ("PodExecOptions", ["create", "get"])
    for context, answer in (("sim", "yes"), ("sim-reader", "no")):
        asked = kubectl("auth", "can-i", "create", "pods", "--subresource=exec", "--context", context)
        assert asked.stdout.strip() == answer, asked.stderr
