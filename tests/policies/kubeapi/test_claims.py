"""A claim that goes with the workloads that mount it is Bound once they run, Pending before, and
stays Bound (``policies.kubeapi.claims``); one no workload mounts keeps the status it has."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from policies.kubeapi.claims import claim_statuses_sync
from policies.models import KubeObject, Workload, WorkloadStatus
from tests.fixtures.federation import deployment

pytestmark = pytest.mark.django_db


def _claim(name: str) -> dict[str, Any]:
    spec = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "5Gi"}}}
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name}, "spec": spec}


def _phase(cast, name: str) -> Any:
    return KubeObject.objects.get(organization=cast.org_a, kind="PersistentVolumeClaim", name=name).status


def test_a_mounted_claim_is_bound_once_its_workload_runs_and_stays_bound(cast, shop) -> None:
    for name in ("data", "spare"):
        assert (
            shop.send("post", "/k8s/api/v1/namespaces/shop/persistentvolumeclaims", _claim(name)).status_code
            == 201
        )
    web = yaml.safe_load(deployment("web"))
    web["metadata"]["annotations"] = {"policy.nodeless.io/name": "default"}
    pod = web["spec"]["template"]["spec"]
    pod["volumes"] = [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]
    pod["containers"][0]["volumeMounts"] = [{"name": "data", "mountPath": "/data"}]
    assert shop.send("post", "/k8s/apis/apps/v1/namespaces/shop/deployments", web).status_code == 201
    workload = Workload.objects.get(organization=cast.org_a, name="web")
    assert {"kind": "PersistentVolumeClaim", "name": "data"} in workload.companion_summary

    claim_statuses_sync(cast.org_a, None)
    assert _phase(cast, "data") == {"phase": "Pending"}
    assert _phase(cast, "spare") == {}  # mounted by no workload: nothing said about it

    Workload.objects.filter(pk=workload.pk).update(status=WorkloadStatus.RUNNING)
    assert claim_statuses_sync(cast.org_a, None) == 1
    bound = {"phase": "Bound", "accessModes": ["ReadWriteOnce"], "capacity": {"storage": "5Gi"}}
    assert _phase(cast, "data") == bound
    served = shop.get("/k8s/api/v1/namespaces/shop/persistentvolumeclaims/data").json()
    assert served["status"] == bound

    Workload.objects.filter(pk=workload.pk).update(status=WorkloadStatus.DEGRADED)
    assert claim_statuses_sync(cast.org_a, None) == 0
    assert _phase(cast, "data") == bound
