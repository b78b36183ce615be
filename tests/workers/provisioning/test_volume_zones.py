"""A pod whose volume lives in one zone is planned a node in that zone: the claims, their volumes
and storage classes read through the kube port, the zones handed to the planner."""

from __future__ import annotations

from typing import Any

from clusters.kube.api import ClusterRefused
from engines.kube import Pod
from tests.workers.provisioning.provisioning_builders import inputs, pod_json
from workers.provisioning.kube import KubeOps
from workers.provisioning.launch import plan_launches, pods_to_plan

EBS_ZONE = "topology.ebs.csi.aws.com/zone"


class _Api:
    """Answers GETs from a dict of paths, 404 for anything else."""

    def __init__(self, objects: dict[str, Any]) -> None:
        self.objects, self.asked = objects, list[str]()

    def request(self, method: str, path: str, **_: Any) -> Any:
        self.asked.append(path)
        if path not in self.objects:
            raise ClusterRefused(404, "not found")
        return self.objects[path]


def _with_claim(name: str, claim: str) -> dict[str, Any]:
    pod = pod_json(name, cpu="1", memory="1Gi")
    pod["spec"]["volumes"] = [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}]
    return pod


def test_the_claims_volume_zone_reaches_the_plan(aws_catalog) -> None:
    pv = {
        "spec": {
            "nodeAffinity": {
                "required": {
                    "nodeSelectorTerms": [
                        {"matchExpressions": [{"key": EBS_ZONE, "operator": "In", "values": ["us-east-1b"]}]}
                    ]
                }
            }
        }
    }
    wffc = {
        "volumeBindingMode": "WaitForFirstConsumer",
        "allowedTopologies": [
            {"matchLabelExpressions": [{"key": "topology.kubernetes.io/zone", "values": ["us-east-1c"]}]}
        ],
    }
    api = _Api(
        {
            "/api/v1/namespaces/default/persistentvolumeclaims/bound": {"spec": {"volumeName": "pv-1"}},
            "/api/v1/persistentvolumes/pv-1": pv,
            "/api/v1/namespaces/default/persistentvolumeclaims/late": {"spec": {"storageClassName": "gp3"}},
            "/apis/storage.k8s.io/v1/storageclasses/gp3": wffc,
        }
    )
    pods = [_with_claim("pg", "bound"), _with_claim("mq", "late"), _with_claim("lost", "missing")]
    zones = KubeOps(None, api).volume_zones([Pod(p) for p in pods])  # type: ignore[arg-type]
    by_name = {p["metadata"]["name"]: zones[p["metadata"]["uid"]] for p in pods}
    assert by_name == {"pg": frozenset({"us-east-1b"}), "mq": frozenset({"us-east-1c"}), "lost": None}

    state = inputs(pods=pods, catalog=aws_catalog)
    decided = plan_launches(state, pods_to_plan(state, frozenset()), volume_zones=zones)
    # Every fallback offering too: the launch may not fall back to another zone.
    zones_of = {
        p.name: {o.zone for o in launch.launch.offerings}
        for launch in decided.launches
        for p in launch.planned
    }
    assert zones_of["pg"] == {"us-east-1b"} and zones_of["mq"] == {"us-east-1c"}
