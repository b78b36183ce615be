"""Reading a cluster through its informer, against a simulated cluster: a pod created a moment ago
is seen, a pod bound since the informer last heard of it is on its node and not waiting, and what
was read is kept as the cluster's observation (and the counts every page shows)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from kubernetes import client as kube

from clusters import services
from clusters.kube.access import cluster_api
from clusters.models import Cluster, ClusterObservation
from clusters.observation.reading import _reconciled_pods, read_cluster
from clusters.observation.recording import observation_failed, observation_record
from engines.kube.pods import Pod
from simulator.cluster import SimulatedCluster
from simulator.controllers.static_nodes import StaticNodePool
from tenants.actors import Actor
from tests.fixtures.connections import connected, kubeconfig_for
from tests.fixtures.simulation import audited_requests, wait_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def simulated(simulated_cluster) -> SimulatedCluster:
    return simulated_cluster(static_pools=(StaticNodePool("dc1-node", 2, instance_type="m5.xlarge"),))


@pytest.fixture
def onprem(cast, simulated, kube_client):
    cluster = connected(
        services.cluster_connect_kubeconfig(
            cast.org_a,
            actor=Actor(user=cast.alice),
            name="dc1",
            kubeconfig=kubeconfig_for(simulated),
            mode="observe",
        )
    )
    loaded = Cluster.objects.select_related("organization", "cloud_account").get(pk=cluster.pk)
    return loaded, kube.CoreV1Api(kube_client(simulated))


def _pod(name: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        # A scheduler of its own: the simulated kube-scheduler leaves it alone, the test binds it.
        "spec": {
            "schedulerName": "by-hand",
            "containers": [{"name": "c", "image": "busybox", "resources": {"requests": {"cpu": "1"}}}],
        },
    }


def test_connecting_keeps_the_first_observation_and_the_counts_come_from_it(onprem) -> None:
    cluster, _ = onprem
    observation = ClusterObservation.objects.get(cluster=cluster)
    assert observation.summary["nodes"]["total"] == 2 and cluster.node_count == 2
    assert cluster.capacity["allocatable"] == observation.summary["allocatable"]


def test_a_pod_created_a_moment_ago_is_waiting_in_the_next_read(onprem) -> None:
    cluster, core = onprem
    read_cluster(cluster)  # the informer is warm
    core.create_namespaced_pod("default", _pod("fresh"))
    assert [pod.name for pod in read_cluster(cluster).pending] == ["fresh"]


def test_a_pod_bound_since_the_informer_saw_it_is_on_its_node_and_not_waiting(onprem) -> None:
    cluster, core = onprem
    core.create_namespaced_pod("default", _pod("web"))
    (stale,) = read_cluster(cluster).pending
    node = core.list_node().items[0].metadata.name
    core.create_namespaced_pod_binding(
        "web",
        "default",
        kube.V1Binding(
            metadata=kube.V1ObjectMeta(name="web"), target=kube.V1ObjectReference(kind="Node", name=node)
        ),
        _preload_content=False,
    )

    class StaleInformer:  # an informer whose watch has not delivered the bind yet
        reread: list[dict] = []

        def wait_for_pods(self, settled, timeout: float) -> bool:
            return False

        def pod(self, uid: str) -> Pod | None:
            return stale if uid == stale.uid else None

        def put_pod(self, pod: dict) -> None:
            self.reread.append(pod)

    informer = StaleInformer()
    pods = _reconciled_pods(informer, [stale], cluster_api(cluster))  # type: ignore[arg-type]
    assert [(pod.name, pod.node_name, pod.is_pending) for pod in pods] == [("web", node, False)]
    assert [p["metadata"]["name"] for p in informer.reread] == ["web"]


def test_a_summary_is_kept_at_most_every_few_seconds_and_a_failure_keeps_the_last_one(onprem) -> None:
    cluster, core = onprem
    core.create_namespaced_pod("default", _pod("one"))
    assert observation_record(cluster, read_cluster(cluster), force=True)
    assert not observation_record(cluster, read_cluster(cluster))  # kept a moment ago
    kept = ClusterObservation.objects.get(cluster=cluster)
    assert kept.summary["pods"]["pending"] == 1 and kept.summary["pod_rows"][0]["name"] == "one"
    observation_failed(cluster, "connection refused", timezone.now() + timedelta(seconds=30))
    kept.refresh_from_db()
    assert kept.problem == "connection refused" and kept.summary["pods"]["pending"] == 1
    assert kept.attempted_at and kept.observed_at and kept.attempted_at > kept.observed_at


def test_a_cluster_never_read_gets_its_observation_from_a_failure_then_from_a_read(onprem) -> None:
    cluster, _ = onprem
    ClusterObservation.objects.filter(cluster=cluster).delete()
    observation_failed(cluster, "connection refused", timezone.now())
    first = ClusterObservation.objects.get(cluster=cluster)
    assert first.problem == "connection refused" and first.observed_at is None
    assert first.organization_id == cluster.organization_id
    ClusterObservation.objects.filter(cluster=cluster).delete()
    assert observation_record(cluster, read_cluster(cluster), force=True)
    read = ClusterObservation.objects.get(cluster=cluster)
    assert read.problem == "" and read.observed_at and read.summary["nodes"]["total"] == 2


def test_a_bind_the_watch_delivers_a_moment_later_needs_no_second_read(onprem) -> None:
    cluster, core = onprem
    core.create_namespaced_pod("default", _pod("web"))
    (stale,) = read_cluster(cluster).pending
    bound = Pod({**stale.raw, "spec": {**stale.spec, "nodeName": "dc1-node-0"}})

    class CatchingUp:  # the watch delivers the bind while the read waits for it
        def wait_for_pods(self, settled, timeout: float) -> bool:
            return bool(settled(lambda uid: bound if uid == bound.uid else None))

        def pod(self, uid: str) -> Pod | None:
            return bound if uid == bound.uid else None

    class NoSecondRead:
        def __init__(self, api) -> None:
            self.api = api

        def list(self, *args, **kwargs):
            return self.api.list(*args, **kwargs)

        def get(self, *args, **kwargs):
            raise AssertionError("the pod was read again although the watch caught up")

    core.create_namespaced_pod_binding(
        "web",
        "default",
        kube.V1Binding(
            metadata=kube.V1ObjectMeta(name="web"),
            target=kube.V1ObjectReference(kind="Node", name="dc1-node-0"),
        ),
        _preload_content=False,
    )
    pods = _reconciled_pods(CatchingUp(), [stale], NoSecondRead(cluster_api(cluster)))  # type: ignore[arg-type]
    assert [(pod.name, pod.node_name) for pod in pods] == [("web", "dc1-node-0")]


def test_the_health_check_reads_quantities_as_kubectl_writes_them_and_counts_from_its_read(onprem) -> None:
    from clusters.models import ClusterHealth
    from clusters.services import cluster_check_health

    cluster, core = onprem
    pod = _pod("gpu")
    pod["spec"]["containers"][0]["resources"] = {"limits": {"nvidia.com/gpu": 1, "cpu": 2, "memory": "1Gi"}}
    # kubectl sends YAML's bare numbers as JSON numbers, which the API server takes as quantities;
    # the typed client refuses them, so the pod goes in as the raw body kubectl would send.
    api = core.api_client
    created = api.rest_client.request(
        "POST",
        f"{api.configuration.host}/api/v1/namespaces/default/pods",
        headers={
            "Content-Type": "application/json",
            "Authorization": api.configuration.get_api_key_with_prefix("authorization"),
        },
        body=pod,
    )
    assert created.status == 201, created.read()
    checked = cluster_check_health(cluster)
    assert checked.health == ClusterHealth.HEALTHY, checked.health_problem
    cluster.refresh_from_db()
    kept = ClusterObservation.objects.get(cluster=cluster).summary
    assert cluster.pod_count == kept["pods"]["total"] and kept["pods"]["pending"] == 1
    assert kept["requested"]["gpu"] == 0  # waiting, so on no node yet
    (row,) = [row for row in kept["pod_rows"] if row["name"] == "gpu"]
    assert row["cpu_millis"] == 2000


def test_a_check_that_fails_reading_the_answer_says_so_instead_of_healthy(onprem, caplog) -> None:
    """The health check once crashed every minute while the page kept saying "Healthy" over counts
    of 0: whatever goes wrong reading the cluster now shows as a degraded cluster with the reason."""
    from clusters.models import ClusterHealth
    from clusters.services import cluster_check_health

    cluster, _ = onprem

    def read_that_breaks(cluster, now):  # stands in for a reader meeting an answer it cannot parse
        raise TypeError("unexpected quantity")

    checked = cluster_check_health(cluster, read=read_that_breaks)
    cluster.refresh_from_db()
    assert cluster.health == ClusterHealth.DEGRADED and "health check failed" in cluster.health_problem
    assert "TypeError" in cluster.health_problem and "unexpected quantity" not in cluster.health_problem
    assert checked.health == cluster.health
    assert ClusterObservation.objects.get(cluster=cluster).problem == cluster.health_problem
    assert "could not read its answer" in caplog.text


def test_a_read_from_the_watch_alone_asks_the_api_server_nothing(onprem, simulated, monkeypatch) -> None:
    """The federation loop's look (``fresh=False``): what the informer holds, no list of waiting pods."""
    cluster, core = onprem
    core.create_namespaced_pod("default", _pod("web"))
    wait_for(lambda: [pod.name for pod in read_cluster(cluster, fresh=False).pending] == ["web"])
    asked = audited_requests(simulated, monkeypatch)
    state = read_cluster(cluster, fresh=False)
    assert asked == [] and [pod.name for pod in state.pending] == ["web"]
    assert len(state.nodes) == 2
    read_cluster(cluster)  # the provisioning pass's read lists the waiting pods fresh
    assert asked == ["GET /api/v1/pods"]
