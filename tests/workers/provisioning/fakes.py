"""In-memory ports for fast tests of the provisioning pass: a `CloudProvider` and a `KubePort` that
keep their state in dicts and log every call (as Karpenter's `cloudprovider/fake` does for its
scheduling suite). The end-to-end tests against the simulated cloud and cluster stay beside them."""

from __future__ import annotations

import copy
import itertools
import threading
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from clusters.cloud import interface as cloud
from clusters.cloud.errors import ErrorKind, InsufficientCapacityError, InvalidRequestError
from clusters.kube.api import ClusterUnreachable
from engines.kube import Node, Pod
from engines.kube.cluster import ClusterState, cluster_state
from engines.planner import Catalog
from tests.workers.provisioning.provisioning_builders import node_json, pod_json
from workers.provisioning.ports import Eviction, Json


class FakeCloud:
    """Launches succeed at once unless their offering has no capacity (`no_capacity`); a launch
    repeated with the same token returns the first one's instance."""

    def __init__(self) -> None:
        self.instances: dict[str, cloud.Instance] = {}
        self.launched: dict[str, cloud.LaunchResult] = {}  # by idempotency token
        self.requests: dict[str, cloud.LaunchRequest] = {}  # by instance id: what its kubelet registers with
        self.no_capacity: set[cloud.Offering] = set()
        self.notices: list[cloud.InterruptionNotice] = []
        self.queues: dict[str, str] = {}
        self.clusters: dict[str, cloud.EksClusterInfo] = {}
        self.calls: list[tuple[str, str]] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()  # the pass launches from a pool

    def launch(self, request: cloud.LaunchRequest) -> cloud.LaunchResult:
        with self._lock:
            self.calls.append(("launch", request.idempotency_token))
            if request.idempotency_token in self.launched:
                return self.launched[request.idempotency_token]
            skipped = []
            for offering in request.offerings:
                if offering in self.no_capacity:
                    skipped.append(
                        cloud.OfferingFailure(
                            offering,
                            ErrorKind.INSUFFICIENT_CAPACITY.value,
                            "InsufficientInstanceCapacity",
                            "",
                        )
                    )
                    continue
                instance = cloud.Instance(
                    instance_id=f"i-{next(self._ids):017x}",
                    instance_type=offering.instance_type,
                    zone=offering.zone,
                    capacity_type=offering.capacity_type,
                    state=cloud.InstanceState.RUNNING,
                    launched_at=datetime.now(UTC),
                    private_ip="",
                    private_dns_name="",
                    tags={**request.tags, cloud.LAUNCH_TOKEN_TAG: request.idempotency_token},
                )
                self.instances[instance.instance_id] = instance
                self.requests[instance.instance_id] = request
                result = self.launched[request.idempotency_token] = cloud.LaunchResult(
                    instance, offering, tuple(skipped)
                )
                return result
            raise InsufficientCapacityError(f"no capacity for any of {len(request.offerings)} offerings")

    def terminate(self, instance_ids: Sequence[str]) -> None:
        with self._lock:
            for instance_id in instance_ids:
                self.calls.append(("terminate", instance_id))
                if instance_id in self.instances:
                    self.instances[instance_id] = replace(
                        self.instances[instance_id], state=cloud.InstanceState.TERMINATED
                    )

    def list_instances(self, tags: Mapping[str, str]) -> list[cloud.Instance]:
        return [i for i in self.instances.values() if all(i.tags.get(k) == v for k, v in tags.items())]

    def find_interruption_queue(self, cluster_name: str) -> str:
        return self.queues.get(cluster_name, "")

    def read_interruption_notices(self, max_notices: int = 10) -> list[cloud.InterruptionNotice]:
        """Like SQS: read notices stay until acknowledged (a failed pass sees them again)."""
        return self.notices[:max_notices]

    def acknowledge_interruption_notices(self, notices: Sequence[cloud.InterruptionNotice]) -> None:
        acted = {n.message_id for n in notices}
        self.notices = [n for n in self.notices if n.message_id not in acted]

    def describe_cluster(self, name: str) -> cloud.EksClusterInfo:
        if name not in self.clusters:
            raise InvalidRequestError(f"No cluster found for name: {name}.", operation="DescribeCluster")
        return self.clusters[name]

    def on_demand_prices(self, instance_types: Sequence[str] | None = None) -> list[cloud.PriceQuote]:
        return []

    def spot_prices(
        self, instance_types: Sequence[str] | None = None, zones: Sequence[str] | None = None
    ) -> list[cloud.PriceQuote]:
        return []

    # --- what a test does to the cloud --------------------------------------------------------------
    def interrupt(self, instance_id: str) -> None:
        now = datetime.now(UTC)
        self.notices.append(
            cloud.InterruptionNotice(cloud.NoticeKind.SPOT_INTERRUPTION, instance_id, now, now, "m-1")
        )

    def reclaim(self, instance_id: str) -> None:
        """The instance is gone without Nodeless asking (reclaimed, or terminated by someone else)."""
        self.instances[instance_id] = replace(
            self.instances[instance_id], state=cloud.InstanceState.TERMINATED
        )

    def live(self) -> list[str]:
        return sorted(
            i.instance_id for i in self.instances.values() if i.state != cloud.InstanceState.TERMINATED
        )


class FakeKube:
    """A cluster's API server: lists return copies (what a pass read does not change under it)."""

    def __init__(self) -> None:
        self.pod_objects: dict[tuple[str, str], Json] = {}
        self.node_objects: dict[str, Json] = {}
        self.blocked: set[tuple[str, str]] = set()  # evictions a PodDisruptionBudget refuses
        self.zones_of_claims: dict[str, frozenset[str]] = {}  # by pod uid: where its volumes are
        self.calls: list[tuple[str, ...]] = []
        self.unreachable = False  # the API server does not answer (a read raises)
        self._lock = threading.Lock()  # the pass binds from a pool

    # --- reads ----------------------------------------------------------------------------------------
    def read(self, now: datetime) -> ClusterState:
        if self.unreachable:
            raise ClusterUnreachable("no Kubernetes API server answered within 10 s")
        with self._lock:
            pods = [Pod(pod) for pod in copy.deepcopy(list(self.pod_objects.values()))]
            nodes = [Node(node) for node in copy.deepcopy(list(self.node_objects.values()))]
        return cluster_state(pods, nodes, now)

    def volume_zones(self, pods: Sequence[Pod]) -> Mapping[str, frozenset[str] | None]:
        return {pod.uid: self.zones_of_claims.get(pod.uid) for pod in pods}

    def attach_room(self, state: ClusterState) -> Mapping[str, int]:
        return {}

    # --- writes ---------------------------------------------------------------------------------------
    def bind(self, namespace: str, name: str, node_name: str) -> bool:
        with self._lock:
            self.calls.append(("bind", f"{namespace}/{name}", node_name))
            pod = self.pod_objects.get((namespace, name))
            if pod is None or pod["spec"].get("nodeName"):
                return False
            pod["spec"]["nodeName"] = node_name
            pod["status"] = {"phase": "Running"}
            return True

    def label_node(self, node_name: str, labels: Mapping[str, str]) -> dict[str, Any] | None:
        with self._lock:
            self.calls.append(("label_node", node_name))
            if node_name not in self.node_objects:
                return None
            self.node_objects[node_name]["metadata"].setdefault("labels", {}).update(labels)
            return copy.deepcopy(self.node_objects[node_name])

    def cordon(self, node_name: str) -> None:
        with self._lock:
            self.calls.append(("cordon", node_name))
            if node_name in self.node_objects:
                self.node_objects[node_name]["spec"]["unschedulable"] = True

    def remove_taint(self, node_name: str, key: str) -> None:
        with self._lock:
            self.calls.append(("remove_taint", node_name, key))
            if node_name in self.node_objects:
                spec = self.node_objects[node_name]["spec"]
                spec["taints"] = [t for t in spec.get("taints") or () if t.get("key") != key]

    def own_taint(self, node_name: str, key: str, value: str) -> dict[str, Any] | None:
        with self._lock:
            self.calls.append(("own_taint", node_name, key))
            if node_name not in self.node_objects:
                return None
            spec = self.node_objects[node_name]["spec"]
            spec["taints"] = [
                {**t, "value": value} if t.get("key") == key else t for t in spec.get("taints") or ()
            ]
            return copy.deepcopy(self.node_objects[node_name])

    def tolerate(self, namespace: str, name: str, uid: str, tolerations: Sequence[Mapping[str, Any]]) -> bool:
        with self._lock:
            self.calls.append(("tolerate", f"{namespace}/{name}"))
            pod = self.pod_objects.get((namespace, name))
            if pod is None or pod["metadata"].get("uid") != uid or pod["spec"].get("nodeName"):
                return False
            pod["spec"].setdefault("tolerations", []).extend(dict(t) for t in tolerations)
            return True

    def evict(self, namespace: str, name: str) -> Eviction:
        with self._lock:
            self.calls.append(("evict", f"{namespace}/{name}"))
            if (namespace, name) in self.blocked:
                return "blocked"
            if self.pod_objects.pop((namespace, name), None) is None:
                return "gone"
            return "evicted"

    def delete_node(self, node_name: str) -> None:
        with self._lock:
            self.calls.append(("delete_node", node_name))
            self.node_objects.pop(node_name, None)

    def recreate(self, namespace: str, name: str, uid: str) -> bool:
        with self._lock:
            self.calls.append(("recreate", f"{namespace}/{name}"))
            pod = self.pod_objects.get((namespace, name))
            if pod is None or pod["metadata"].get("uid") != uid or pod["spec"].get("nodeName"):
                return False
            del self.pod_objects[(namespace, name)]
            return True

    # --- what a test does to the cluster --------------------------------------------------------------
    def add_pod(self, name: str, **options: Any) -> Json:
        pod = pod_json(name, **options)
        self.pod_objects[(pod["metadata"]["namespace"], name)] = pod
        return pod

    def add_node(self, name: str, **options: Any) -> Json:
        node = self.node_objects[name] = node_json(name, **options)
        return node

    def register(
        self, instance: cloud.Instance, catalog: Catalog, request: cloud.LaunchRequest, *, ready: bool = True
    ) -> str:
        """The node an instance's kubelet registers: the labels and taints of its kubelet's flags (what
        its launch asked for), its providerID, the allocatable of its instance type."""
        (shape,) = [t for t in catalog.instance_types if t.name == instance.instance_type]
        labels = dict(request.node_labels)
        name = f"ip-{instance.instance_id[2:]}.ec2.internal"
        allocatable = shape.allocatable
        self.add_node(
            name,
            instance_id=instance.instance_id,
            ready=ready,
            cpu=f"{allocatable.cpu_millis}m",
            memory=f"{allocatable.memory_mib}Mi",
            pods=str(allocatable.pods),
            taints=tuple({"key": k, "value": v, "effect": e} for k, v, e in request.node_taints),
            labels=labels,
        )
        return name

    def finish(self, name: str, namespace: str = "default") -> None:
        self.pod_objects[(namespace, name)]["status"] = {"phase": "Succeeded"}

    def pod(self, name: str, namespace: str = "default") -> Json:
        return self.pod_objects[(namespace, name)]
