"""kubectl against a simulated cluster through a generated kubeconfig (skipped without kubectl)."""

import json
import queue
import shutil
import subprocess
import threading

import pytest

from simulator.auth import READ_ONLY
from simulator.controllers.static_nodes import StaticNodePool
from simulator.descriptor import ClusterDescriptor, write_kubeconfig
from tests.fixtures.simulation import wait_for

pytestmark = [
    pytest.mark.kubectl,
    pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed"),
]

READER_TOKEN = "kubectl-reader-token"
MANIFEST = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: nginx
        image: nginx:1.27
        resources: {requests: {cpu: 100m, memory: 64Mi}}
"""


@pytest.fixture
def kubectl(simulated_cluster, tmp_path):
    cluster = simulated_cluster(
        "kubectl-sim",
        static_pools=(StaticNodePool("node", 2, "m5.large"),),
        pod_start_delay=0.5,
        extra_tokens={READER_TOKEN: READ_ONLY},
    )
    descriptors = tuple(
        ClusterDescriptor(name, "static", "onprem", "onprem", cluster.url, cluster.ca_pem, token, "")
        for name, token in (("sim", cluster.admin_token), ("sim-reader", READER_TOKEN))
    )
    kubeconfig = tmp_path / "kubeconfig"
    write_kubeconfig(kubeconfig, descriptors)

    def run(*args, context="sim", stdin=None, check=True, timeout=60):
        command = ["kubectl", "--kubeconfig", str(kubeconfig), "--context", context, *args]
        result = subprocess.run(
            command,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
        )
        if check and result.returncode != 0:
            pytest.fail(f"{' '.join(args)} failed: {result.stderr}")
        return result

    return run


def test_get_nodes_prints_the_usual_columns(kubectl):
    output = kubectl("get", "nodes").stdout.splitlines()
    assert output[0].split() == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    assert [line.split()[:2] for line in output[1:]] == [["node-0", "Ready"], ["node-1", "Ready"]]


def test_apply_rollout_scale_and_delete(kubectl):
    assert "created" in kubectl("apply", "-f", "-", stdin=MANIFEST).stdout
    kubectl("rollout", "status", "deployment/web", "--timeout=30s")
    assert "unchanged" in kubectl("apply", "-f", "-", stdin=MANIFEST).stdout
    kubectl("scale", "deployment/web", "--replicas=3")
    kubectl("rollout", "status", "deployment/web", "--timeout=30s")
    pods = json.loads(kubectl("get", "pods", "-l", "app=web", "-o", "json").stdout)["items"]
    assert len(pods) == 3 and {p["status"]["phase"] for p in pods} == {"Running"}
    assert "serverside-applied" in kubectl("apply", "--server-side", "-f", "-", stdin=MANIFEST).stdout
    kubectl("delete", "deployment", "web", "--timeout=30s")
    wait_for(lambda: "No resources" in kubectl("get", "pods").stderr + kubectl("get", "pods").stdout)


def test_label_annotate_patch_and_cordon_a_node(kubectl):
    kubectl("label", "node", "node-0", "team=ml")
    kubectl("annotate", "node", "node-0", "note=simulated")
    kubectl(
        "patch",
        "node",
        "node-0",
        "--type=json",
        "-p",
        '[{"op":"add","path":"/metadata/labels/pool","value":"a"}]',
    )
    kubectl("taint", "node", "node-0", "dedicated=ml:NoSchedule")
    kubectl("cordon", "node-0")
    node = json.loads(kubectl("get", "node", "node-0", "-o", "json").stdout)
    assert node["metadata"]["labels"]["team"] == "ml" and node["metadata"]["labels"]["pool"] == "a"
    assert node["metadata"]["annotations"]["note"] == "simulated"
    assert node["spec"]["unschedulable"] is True
    assert {"key": "dedicated", "value": "ml", "effect": "NoSchedule"} in node["spec"]["taints"]
    assert "SchedulingDisabled" in kubectl("get", "nodes").stdout


def test_drain_evicts_pods_within_their_budget(kubectl):
    kubectl("apply", "-f", "-", stdin=MANIFEST)
    kubectl("rollout", "status", "deployment/web", "--timeout=30s")
    kubectl("create", "poddisruptionbudget", "web", "--selector=app=web", "--min-available=1")
    wait_for(
        lambda: (
            json.loads(kubectl("get", "pdb", "web", "-o", "json").stdout)["status"].get("disruptionsAllowed")
            == 1
        )
    )
    node = json.loads(kubectl("get", "pods", "-l", "app=web", "-o", "json").stdout)["items"][0]["spec"][
        "nodeName"
    ]
    kubectl("drain", node, "--ignore-daemonsets", "--timeout=60s", timeout=90)
    pods = json.loads(kubectl("get", "pods", "-l", "app=web", "-o", "json").stdout)["items"]
    assert all(p["spec"].get("nodeName") != node for p in pods)


def test_watch_streams_changes(kubectl, tmp_path):
    kubectl("run", "first", "--image=busybox", "--restart=Never")
    watcher = subprocess.Popen(
        [
            "kubectl",
            "--kubeconfig",
            str(tmp_path / "kubeconfig"),
            "--context",
            "sim",
            "get",
            "pods",
            "-w",
            "-o",
            "name",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    output = watcher.stdout
    assert output is not None
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        for line in output:
            lines.put(line.strip())

    threading.Thread(target=read, daemon=True).start()
    try:
        # The initial list shows "first"; once it is printed the watch is open, so "second" can
        # only arrive through the stream.
        assert lines.get(timeout=30) == "pod/first"
        kubectl("run", "second", "--image=busybox", "--restart=Never")
        received = lines.get(timeout=30)
        while received == "pod/first":  # updates of "first" (it starts running) may come first
            received = lines.get(timeout=30)
        assert received == "pod/second"
    finally:
        watcher.terminate()
        watcher.wait(10)


def test_a_read_only_context_is_refused_writes(kubectl):
    assert kubectl("auth", "can-i", "list", "pods", context="sim-reader", check=False).stdout.strip() == "yes"
    assert (
        kubectl("auth", "can-i", "delete", "nodes", context="sim-reader", check=False).stdout.strip() == "no"
    )
    refused = kubectl("cordon", "node-1", context="sim-reader", check=False)
    assert "forbidden" in refused.stderr.lower()
    assert "SchedulingDisabled" not in kubectl("get", "node", "node-1").stdout


def test_describe_and_logs(kubectl):
    kubectl("run", "talker", "--image=busybox", "--restart=Never")
    wait_for(lambda: "Running" in kubectl("get", "pod", "talker").stdout)
    assert "Successfully assigned default/talker" in kubectl("describe", "pod", "talker").stdout
    assert "talker" in kubectl("logs", "talker").stdout
