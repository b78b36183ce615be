"""A claim that goes with the workloads that mount it is Bound once they run, Pending before, and
stays Bound (``policies.kubeapi.claims``), until a member reports its copy's phase, which is then
the claim's (``companion_status``, Karmada's rule); one no workload mounts keeps the status it has."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from policies.kubeapi.claims import claim_statuses_sync
from policies.kubeapi.companion_status import companion_statuses_sync
from policies.models import KubeObject, Placement, Workload, WorkloadStatus
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


def test_once_a_member_reports_its_copy_its_phase_is_the_claims_and_the_pods_are_not_asked(
    cast, shop, member
) -> None:
    east = member("east", {"cloud": "onprem"})
    assert (
        shop.send("post", "/k8s/api/v1/namespaces/shop/persistentvolumeclaims", _claim("data")).status_code
        == 201
    )
    web = yaml.safe_load(deployment("web"))
    web["metadata"]["annotations"] = {"policy.nodeless.io/name": "default"}
    web["spec"]["template"]["spec"]["volumes"] = [
        {"name": "data", "persistentVolumeClaim": {"claimName": "data"}}
    ]
    assert shop.send("post", "/k8s/apis/apps/v1/namespaces/shop/deployments", web).status_code == 201
    workload = Workload.objects.get(organization=cast.org_a, name="web")
    Workload.objects.filter(pk=workload.pk).update(status=WorkloadStatus.RUNNING)  # pods would say Bound
    # The member says its copy lost its volume (as a kubelet-visible Lost claim): that is the phase.
    Placement.objects.create(
        organization=cast.org_a,
        workload=workload,
        cluster=east.cluster,
        replicas=2,
        companion_statuses={"PersistentVolumeClaim/data": {"phase": "Lost"}},
    )
    assert claim_statuses_sync(cast.org_a, None) == 0  # the inference leaves it to the members
    assert companion_statuses_sync(cast.org_a, None) == 1
    assert _phase(cast, "data") == {"phase": "Lost"}
    Placement.objects.filter(workload=workload).update(
        companion_statuses={
            "PersistentVolumeClaim/data": {
                "phase": "Bound",
                "capacity": {"storage": "8Gi"},
                "accessModes": ["ReadWriteOnce"],
            }
        }
    )
    assert companion_statuses_sync(cast.org_a, None) == 1
    assert _phase(cast, "data") == {
        "phase": "Bound",
        "capacity": {"storage": "8Gi"},
        "accessModes": ["ReadWriteOnce"],
    }
