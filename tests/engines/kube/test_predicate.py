"""The product's bind-time check: each of kube-scheduler's filters refuses with the rule named, and
binds accepted in the same pass count for the next check."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from engines.kube import Node, Pod
from engines.kube.cluster import cluster_state
from engines.kube.labels import Toleration
from engines.kube.predicate import BindCheck

HOST, ZONE = "kubernetes.io/hostname", "topology.kubernetes.io/zone"
WEB = {"app": "web"}


def _node(
    name: str, zone: str, *, ready: bool = True, taints: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": {HOST: name, ZONE: zone}},
        "spec": {"taints": taints or []},
        "status": {
            "allocatable": {"cpu": "2", "memory": "4Gi", "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def _pod(
    name: str, *, node: str = "", cpu: str = "500m", labels: dict[str, str] | None = None, **spec: Any
) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "default", "uid": name, "labels": labels or {}},
        "spec": {
            "containers": [{"name": "c", "resources": {"requests": {"cpu": cpu}}}],
            **({"nodeName": node} if node else {}),
            **spec,
        },
        "status": {"phase": "Running" if node else "Pending"},
    }


def _check(nodes: list[dict[str, Any]], pods: list[dict[str, Any]]) -> BindCheck:
    return BindCheck(cluster_state([Pod(p) for p in pods], [Node(n) for n in nodes], datetime.now(UTC)))


def test_node_level_filters_name_their_rule() -> None:
    taint = {"key": "dedicated", "value": "db", "effect": "NoSchedule"}
    check = _check(
        [_node("a", "z1"), _node("down", "z1", ready=False), _node("db", "z1", taints=[taint])], []
    )
    assert "not Ready" in (check.refusal(Pod(_pod("p")), "down") or "")
    assert "taint dedicated=db:NoSchedule" in (check.refusal(Pod(_pod("p")), "db") or "")
    assert check.refusal(Pod(_pod("p")), "db", [Toleration("dedicated", value="db")]) is None
    assert "node selector" in (check.refusal(Pod(_pod("p", nodeSelector={ZONE: "z9"})), "a") or "")
    assert "no room" in (check.refusal(Pod(_pod("p", cpu="3")), "a") or "")
    assert check.refusal(Pod(_pod("p")), "gone") == "node gone is gone"


def test_binds_accepted_in_the_pass_count_for_room_ports_and_anti_affinity() -> None:
    check = _check([_node("a", "z1")], [])
    anti = {
        "podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": {"matchLabels": WEB}, "topologyKey": HOST}
            ]
        }
    }
    first = Pod(_pod("web-1", labels=WEB, affinity=anti, cpu="1500m"))
    assert check.refusal(first, "a") is None
    check.accept(first, "a")
    assert "no room" in (check.refusal(Pod(_pod("big", cpu="1")), "a") or "")
    assert "anti-affinity" in (check.refusal(Pod(_pod("web-2", labels=WEB, cpu="100m")), "a") or "")


def test_host_ports_and_zone_spread() -> None:
    ports = [
        {"name": "c", "resources": {}, "ports": [{"containerPort": 53, "hostPort": 53, "protocol": "UDP"}]}
    ]
    dns = _pod("dns", node="a")
    dns["spec"]["containers"] = ports
    running = [dns, _pod("w1", node="a", labels=WEB, cpu="100m")]
    check = _check([_node("a", "z1"), _node("b", "z2")], running)
    wanting = _pod("dns-2")
    wanting["spec"]["containers"] = ports
    assert "host port 0.0.0.0:53/UDP" in (check.refusal(Pod(wanting), "a") or "")
    assert check.refusal(Pod(wanting), "b") is None
    spread = [
        {
            "maxSkew": 1,
            "topologyKey": ZONE,
            "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": WEB},
        }
    ]
    second = Pod(_pod("w2", labels=WEB, cpu="100m", topologySpreadConstraints=spread))
    assert "topology spread" in (check.refusal(second, "a") or "")
    assert check.refusal(second, "b") is None


def _claims(*names: str) -> list[dict[str, Any]]:
    return [{"name": f"v{i}", "persistentVolumeClaim": {"claimName": n}} for i, n in enumerate(names)]


def test_volume_zones_and_attach_limits_once_the_pass_has_read_them() -> None:
    old = _pod("old", node="a", volumes=_claims("d-0"))
    state = cluster_state([Pod(old)], [Node(_node("a", "z-a")), Node(_node("b", "z-b"))], datetime.now(UTC))
    check = BindCheck(state)
    first, second, sharing = (
        Pod(_pod("first", volumes=_claims("d-1"))),
        Pod(_pod("second", volumes=_claims("d-2"))),
        Pod(_pod("sharing", volumes=_claims("d-0", "d-1"))),
    )
    assert check.refusal(first, "b") is None  # nothing known about volumes yet
    check.know_volumes({"first": frozenset({"z-a"}), "second": None, "sharing": None}, {"a": 1})
    assert check.refusal(first, "b") == "its volumes are in zones z-a, node b is in z-b"
    assert check.refusal(first, "a") is None
    check.accept(first, "a")
    assert check.refusal(second, "a") == "node a cannot attach more volumes (node volume limits)"
    assert check.refusal(sharing, "a") is None  # both its volumes are attached to the node already
    assert check.refusal(second, "b") is None  # no limit known for b
