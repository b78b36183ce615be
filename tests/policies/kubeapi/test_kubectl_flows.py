"""kubectl flows against the endpoint: diff (a server-side dry run of the change, nothing written;
no change, no diff) and apply --dry-run=server; delete -f of a directory whose namespace comes
first (each object is deleted, as on a cluster, not "NotFound" once the namespace is)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from policies.kubeapi.tables import CLUSTERS_ANNOTATION, clusters_served
from policies.models import KubeObject, Workload
from tests.fixtures.federation import deployment, pool
from tests.fixtures.simulation import wait_for
from tests.policies.kubeapi.conftest import rolled_out, write_manifests
from tests.policies.kubeapi.test_kubectl import NAMESPACE
from workers.federation import run_pass

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("server_side", [False, True])
def test_kubectl_diff_shows_a_change_without_writing_it(cast, kubectl, policy, tmp_path, server_side) -> None:
    policy("default", strategy="cheapest")
    web = yaml.safe_load(deployment("web", replicas=2))
    directory = write_manifests(tmp_path / "app", {"0-ns": NAMESPACE, "web": web})
    mode = ["--server-side"] if server_side else []
    assert kubectl("apply", *mode, "-f", str(directory)).returncode == 0
    same = kubectl("diff", *mode, "-f", str(directory))
    assert same.returncode == 0 and same.stdout == "", same.stdout + same.stderr
    version = KubeObject.objects.get(organization=cast.org_a, kind="Deployment").resource_version

    web["spec"]["replicas"] = 5
    changed = kubectl(
        "diff", *mode, "-f", str(write_manifests(tmp_path / "app", {"0-ns": NAMESPACE, "web": web}))
    )
    assert changed.returncode == 1, changed.stderr
    assert "-  replicas: 2" in changed.stdout and "+  replicas: 5" in changed.stdout, changed.stdout
    dry = kubectl("apply", *mode, "--dry-run=server", "-f", str(directory))
    assert dry.returncode == 0 and "(server dry run)" in dry.stdout, dry.stderr
    assert KubeObject.objects.get(organization=cast.org_a, kind="Deployment").resource_version == version


def test_delete_of_a_directory_namespace_first_deletes_every_object(
    cast, kubectl, member, policy, tmp_path
) -> None:
    """Passes run here, in the test's thread: none removes anything while kubectl deletes."""
    member("east", {"cloud": "onprem"}, pools=(pool(2),))
    policy("default", strategy="cheapest")
    web = yaml.safe_load(deployment("web", replicas=1))
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web", "namespace": "shop"}}
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]},
    }
    documents = {"0-ns": NAMESPACE, "1-config": config, "2-service": service, "3-web": web}
    directory = write_manifests(tmp_path / "app", documents)
    assert kubectl("apply", "-f", str(directory)).returncode == 0
    workload = Workload.objects.get(organization=cast.org_a, name="web")
    _passes(cast, lambda: Workload.objects.get(pk=workload.pk).status == "running")

    deleted = kubectl("delete", "-f", str(directory), "--wait=false")
    assert deleted.returncode == 0, deleted.stderr
    for line in (
        'namespace "shop" deleted',
        'configmap "web" deleted',
        'service "web" deleted',
        "deployment.apps",
    ):
        assert line in deleted.stdout, deleted.stdout
    _passes(cast, lambda: not KubeObject.objects.filter(organization=cast.org_a, namespace="shop").exists())
    assert not KubeObject.objects.filter(organization=cast.org_a, kind="Namespace", name="shop").exists()


def _passes(cast: Any, until: Any) -> None:
    def step() -> bool:
        run_pass(str(cast.org_a.pk))
        return bool(until())

    wait_for(step, timeout=60.0, interval=0.2)


def test_kubectl_rollout_restart_replaces_the_pods_in_every_member(
    cast, kubectl, member, policy, federation_loop, tmp_path
) -> None:
    """kubectl rollout restart stamps the pod template (``kubectl.kubernetes.io/restartedAt``): a new
    template, so each member's Deployment rolls its pods, and rollout status waits for them."""
    east = member("east", {"cloud": "onprem"}, pools=(pool(2),))
    policy("default", strategy="cheapest")
    web = yaml.safe_load(deployment("web", replicas=2))
    rolled_out(kubectl, tmp_path / "app", {"0-ns": NAMESPACE, "web": web})
    before = {p.metadata.name for p in east.core.list_namespaced_pod("shop").items}

    restarted = kubectl("rollout", "restart", "deployment/web", "-n", "shop")
    assert restarted.returncode == 0 and "restarted" in restarted.stdout, restarted.stderr
    rolled = kubectl("rollout", "status", "deployment/web", "-n", "shop", "--timeout=90s")
    assert rolled.returncode == 0, rolled.stderr

    template = east.apps.read_namespaced_deployment("web", "shop").spec.template
    assert "kubectl.kubernetes.io/restartedAt" in (template.metadata.annotations or {})

    def replaced() -> bool:
        pods = [p for p in east.core.list_namespaced_pod("shop").items if not p.metadata.deletion_timestamp]
        running = {p.metadata.name for p in pods if p.status.phase == "Running"}
        return len(running) == 2 and not running & before

    wait_for(replaced, timeout=60, interval=0.3)


def test_kubectl_edit_of_a_federated_deployment(
    cast, kubectl, member, policy, federation_loop, tmp_path, monkeypatch
) -> None:
    """kubectl edit sends a strategic merge patch it computes against the Go type, which refuses a
    status field the type lacks: the per-cluster breakdown is served as an annotation, and writing
    it back stores nothing of it."""
    member("east", {"cloud": "onprem"}, pools=(pool(2),))
    policy("default", strategy="cheapest")
    rolled_out(
        kubectl, tmp_path / "app", {"0-ns": NAMESPACE, "web": yaml.safe_load(deployment("web", replicas=2))}
    )
    served = yaml.safe_load(kubectl("get", "deployment", "web", "-n", "shop", "-o", "yaml").stdout)
    assert "clusters" not in served["status"]
    assert clusters_served(served)[0]["name"] == "east"
    header, row = kubectl("get", "deployment", "web", "-n", "shop").stdout.splitlines()
    assert dict(zip(header.split(), row.split(), strict=True))["CLUSTERS"] == "east"

    monkeypatch.setenv("KUBE_EDITOR", "sed -i s/replicas:\\ 2/replicas:\\ 3/")
    edited = kubectl("edit", "deployment", "web", "-n", "shop")
    assert edited.returncode == 0 and "edited" in edited.stdout, edited.stderr
    assert kubectl("rollout", "status", "deployment/web", "-n", "shop", "--timeout=60s").returncode == 0
    stored = KubeObject.objects.get(kind="Deployment", name="web")
    assert stored.body["spec"]["replicas"] == 3
    assert CLUSTERS_ANNOTATION not in (stored.body["metadata"].get("annotations") or {})

    # kubectl replace of what was read (the annotation with it) stores none of it either.
    (tmp_path / "read.yaml").write_text(
        kubectl("get", "deployment", "web", "-n", "shop", "-o", "yaml").stdout
    )
    assert kubectl("replace", "-f", str(tmp_path / "read.yaml")).returncode == 0
    stored.refresh_from_db()
    assert CLUSTERS_ANNOTATION not in (stored.body["metadata"].get("annotations") or {})
