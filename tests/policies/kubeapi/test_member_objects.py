"""The members' objects on the endpoint (``member_objects``): pods listed (with the member each runs
in, as the CLUSTER column), read, watched, deleted and their logs, events and metrics read from the
members that run them; the members' nodes; a member that cannot be read is named and left out;
another organization sees none of them, even in a cluster both connected; pods are not created here;
the workload page's pods panel."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from django.urls import reverse

from clusters.services import cluster_connect_kubeconfig
from engines.kube.labels import WORKLOAD_ID
from policies.federation import services
from policies.kubeapi import member_objects
from policies.kubeapi.federation import POLICY_ANNOTATION
from policies.kubeapi.member_objects import CLUSTER_ANNOTATION
from policies.models import Workload
from simulator.auth import READ_ONLY, Identity
from tenants.actors import Actor
from tenants.services.tokens import api_token_create
from tests.fixtures.connections import connected, kubeconfig_for
from tests.fixtures.federation import deployment, pool
from tests.fixtures.pages import get_page
from tests.fixtures.simulation import wait_for
from tests.policies.kubeapi.conftest import Kube, rolled_out
from tests.policies.kubeapi.test_kubectl import NAMESPACE
from tests.workers.federation.partition import Partition
from workers.federation import run_pass

pytestmark = pytest.mark.django_db(transaction=True)
PODS = "/k8s/api/v1/namespaces/shop/pods"
METRICS = "/k8s/apis/metrics.k8s.io/v1beta1/namespaces/shop/pods"
NODES = "/k8s/api/v1/nodes"
DEPLOYMENTS = "/k8s/apis/apps/v1/namespaces/shop/deployments"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"


def _running(org_id: str, name: str, replicas: int, *members: Any) -> Workload:
    workload = Workload.objects.get(organization_id=org_id, name=name)

    def step() -> bool:
        run_pass(org_id)
        return sum(m.running_pods("shop", workload) for m in members) == replicas

    wait_for(step, timeout=60, interval=0.2)
    return workload


def _deploy(kube: Kube, name: str, replicas: int, policy: str = "") -> None:
    body = yaml.safe_load(deployment(name, replicas=replicas, cpu="100m", memory="64Mi"))
    if policy:
        body["metadata"]["annotations"] = {POLICY_ANNOTATION: policy}
    assert kube.send("post", DEPLOYMENTS, body).status_code == 201


def test_the_members_pods_are_listed_read_and_logged_with_the_member_each_runs_in(
    cast, shop, member, policy
) -> None:
    # Seeded apart, the simulated members name their pods apart, as real clusters do.
    east = member("east", {"cloud": "onprem"}, pools=(pool(2),), seed=1)
    west = member("west", {"cloud": "onprem"}, pools=(pool(2),), seed=2)
    policy("everywhere", strategy="spread", spread={"spread_by": "cluster"})
    _deploy(shop, "web", 4, policy="everywhere")
    workload = _running(str(cast.org_a.pk), "web", 4, east, west)

    listed = shop.get(PODS)
    assert listed.status_code == 200 and not listed.has_header("Warning")
    pods = listed.json()["items"]
    where = {pod["metadata"]["name"]: pod["metadata"]["annotations"][CLUSTER_ANNOTATION] for pod in pods}
    in_east = {p.metadata.name for p in east.core.list_namespaced_pod("shop").items}
    in_west = {p.metadata.name for p in west.core.list_namespaced_pod("shop").items}
    assert where == {**dict.fromkeys(in_east, "east"), **dict.fromkeys(in_west, "west")}
    assert len(in_east) == len(in_west) == 2
    assert all(pod["metadata"]["labels"][WORKLOAD_ID] == str(workload.pk) for pod in pods)
    assert [p["metadata"]["name"] for p in pods] == sorted(where)

    table = shop.get(PODS, HTTP_ACCEPT=TABLE).json()
    names = [column["name"] for column in table["columnDefinitions"]]
    assert names[:6] == ["Name", "Ready", "Status", "Restarts", "Cluster", "Age"]
    rows = {row["cells"][0]: row["cells"] for row in table["rows"]}
    assert {name: cells[4] for name, cells in rows.items()} == where
    assert {cells[2] for cells in rows.values()} == {"Running"}
    assert {cells[1] for cells in rows.values()} == {"1/1"}

    name = sorted(in_west)[0]
    one = shop.get(f"{PODS}/{name}")
    assert one.status_code == 200 and one.json()["kind"] == "Pod"
    assert one.json()["metadata"]["annotations"][CLUSTER_ANNOTATION] == "west"
    assert one.json()["spec"]["nodeName"] in {n.metadata.name for n in west.core.list_node().items}
    logged = shop.get(f"{PODS}/{name}/log")
    assert logged.status_code == 200
    assert (
        f"pod shop/{name} on {one.json()['spec']['nodeName']}" in b"".join(logged.streaming_content).decode()
    )
    # Not a WebSocket (SPDY's upgrade, or none): where the pod runs (test_member_exec.py relays one).
    executed = shop.send("post", f"{PODS}/{name}/exec?command=ls&stdout=true", {})
    assert executed.status_code == 400
    assert (
        f"over WebSockets (kubectl 1.30 or later), not SPDY; pod {name} runs in west"
        in executed.json()["message"]
    )
    wrong_container = shop.send("post", f"{PODS}/{name}/exec?command=ls&stdout=true&container=sidecar", {})
    assert wrong_container.json()["message"] == f"west: container sidecar is not valid for pod {name}"
    attached = shop.send("post", f"{PODS}/{name}/attach?stdout=true", {})
    assert attached.status_code == 400
    assert (
        f"kubectl attach is not relayed to member clusters: pod {name} runs in west"
        in attached.json()["message"]
    )
    assert shop.send("post", f"{PODS}/web-nothing/exec?command=ls", {}).status_code == 404
    wrong = shop.get(f"{PODS}/{name}/log?container=sidecar")
    assert wrong.status_code == 404 and "west" in wrong.json()["message"]

    selected = shop.get(
        f"{PODS}?fieldSelector=metadata.name={name},status.phase=Running&labelSelector=app=web"
    )
    assert [p["metadata"]["name"] for p in selected.json()["items"]] == [name]
    assert shop.get(f"{PODS}?labelSelector=app=api").json()["items"] == []
    assert shop.get(f"{PODS}?fieldSelector=spec.hostIPC=true").status_code == 400
    assert shop.get(f"{PODS}/web-nothing").status_code == 404
    across = shop.get("/k8s/api/v1/pods").json()["items"]
    assert sorted(p["metadata"]["name"] for p in across) == sorted(where)

    # The members' nodes, every one, with the member each is in.
    nodes = {
        n["metadata"]["name"]: n["metadata"]["annotations"][CLUSTER_ANNOTATION]
        for n in shop.get(NODES).json()["items"]
    }
    member_nodes = {
        m: {n.metadata.name for n in one.core.list_node().items}
        for m, one in (("east", east), ("west", west))
    }
    assert nodes == {
        **dict.fromkeys(member_nodes["east"], "east"),
        **dict.fromkeys(member_nodes["west"], "west"),
    }
    node_table = shop.get(NODES, HTTP_ACCEPT=TABLE).json()
    assert [c["name"] for c in node_table["columnDefinitions"]][:5] == [
        "Name",
        "Status",
        "Roles",
        "Version",
        "Cluster",
    ]
    assert {row["cells"][1] for row in node_table["rows"]} == {"Ready"}
    a_node = sorted(member_nodes["west"])[0]
    assert shop.get(f"{NODES}/{a_node}").json()["metadata"]["annotations"][CLUSTER_ANNOTATION] == "west"
    refused = shop.client.delete(f"{NODES}/{a_node}", **shop.headers)
    assert refused.status_code == 405 and "the member clusters' own" in refused.json()["message"]
    assert shop.get(f"/k8s/apis/metrics.k8s.io/v1beta1/nodes/{a_node}").json()["usage"]["cpu"].endswith("n")


def test_pods_of_the_same_name_in_two_members_and_a_member_that_cannot_be_read(
    cast, shop, member, policy
) -> None:
    """Both members name their pod alike (seeded alike; a StatefulSet over members numbers its pods
    from 0 in each): both are listed, a read takes the first member's and says so. A member that
    cannot be read is named in a Warning and its pods are left out."""
    east = member("east", {"cloud": "onprem"}, pools=(pool(2),))
    west = member("west", {"cloud": "onprem"}, pools=(pool(2),))
    policy("everywhere", strategy="spread", spread={"spread_by": "cluster"})
    _deploy(shop, "web", 2, policy="everywhere")
    _running(str(cast.org_a.pk), "web", 2, east, west)
    [name] = {p.metadata.name for m in (east, west) for p in m.core.list_namespaced_pod("shop").items}
    listed = [
        (p["metadata"]["name"], p["metadata"]["annotations"][CLUSTER_ANNOTATION])
        for p in shop.get(PODS).json()["items"]
    ]
    assert listed == [(name, "east"), (name, "west")]
    one = shop.get(f"{PODS}/{name}")
    assert one.json()["metadata"]["annotations"][CLUSTER_ANNOTATION] == "east"
    assert "is also in west: this is the one in east" in one["Warning"]

    west.link.cut()
    try:
        listed_now = shop.get(PODS)
        assert listed_now.status_code == 200
        assert [p["metadata"]["annotations"][CLUSTER_ANNOTATION] for p in listed_now.json()["items"]] == [
            "east"
        ]
        assert "west could not be read" in listed_now["Warning"] and "left out" in listed_now["Warning"]
        missing = shop.get(f"{PODS}/{name}-other")
        assert missing.status_code == 503 and "west could not be read" in missing.json()["message"]
    finally:
        west.link.heal()


def test_deleting_a_pod_deletes_it_in_its_member_and_its_workload_replaces_it(
    cast, shop, member, policy
) -> None:
    east = member("east", {"cloud": "onprem"}, pools=(pool(2),))
    _deploy(shop, "web", 1)
    workload = _running(str(cast.org_a.pk), "web", 1, east)
    [pod] = east.core.list_namespaced_pod("shop").items
    _, reader = api_token_create(cast.org_a, actor=Actor(user=cast.alice), name="reader", scopes=["read"])

    assert (
        Kube(reader).client.delete(f"{PODS}/{pod.metadata.name}", **Kube(reader).headers).status_code == 403
    )
    dry = shop.client.delete(f"{PODS}/{pod.metadata.name}?dryRun=All", **shop.headers)
    assert (
        dry.status_code == 200
        and not east.core.read_namespaced_pod(pod.metadata.name, "shop").metadata.deletion_timestamp
    )
    deleted = shop.client.delete(f"{PODS}/{pod.metadata.name}", **shop.headers)

    assert deleted.status_code == 200 and deleted.json()["metadata"]["name"] == pod.metadata.name

    def replaced() -> bool:
        names = {
            p.metadata.name
            for p in east.core.list_namespaced_pod("shop").items
            if not p.metadata.deletion_timestamp
        }
        return len(names) == 1 and pod.metadata.name not in names and east.running_pods("shop", workload) == 1

    wait_for(replaced, timeout=30, interval=0.2)
    assert shop.client.delete(f"{PODS}/{pod.metadata.name}-x", **shop.headers).status_code == 404


def test_pods_are_not_written_here(shop) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "one", "namespace": "shop"},
        "spec": {"containers": [{"name": "app", "image": "nginx"}]},
    }
    made = shop.send("post", PODS, pod)
    assert made.status_code == 405 and "create a Deployment" in made.json()["message"]
    assert shop.send("patch", f"{PODS}/one", {}, "application/merge-patch+json").status_code == 405
    assert shop.send("put", f"{PODS}/one", pod).status_code == 405
    assert shop.get(f"{PODS}/one?watch=true").status_code == 405
    discovered = {r["name"]: r for r in shop.get("/k8s/api/v1").json()["resources"]}
    # Watches are served (kubectl get -w, kubectl wait) but not offered: caches of every kind that
    # discovery says can be watched (Argo CD's) would have every member listed every few seconds.
    assert discovered["pods"]["verbs"] == ["delete", "get", "list"]
    assert discovered["pods/log"]["verbs"] == ["get"]


def test_a_watch_of_pods_sends_what_changed_in_the_members(cast, shop, member, monkeypatch) -> None:
    monkeypatch.setattr(member_objects, "POLL_SECONDS", 0.1)
    east = member("east", {"cloud": "onprem"}, pools=(pool(2),))
    _deploy(shop, "web", 1)
    workload = _running(str(cast.org_a.pk), "web", 1, east)
    [old] = east.core.list_namespaced_pod("shop").items

    watched = shop.get(f"{PODS}?watch=true&timeoutSeconds=30&labelSelector=app=web")
    assert watched.status_code == 200
    events = (json.loads(line) for line in _lines(watched.streaming_content))
    first = next(events)
    assert (first["type"], first["object"]["metadata"]["name"]) == ("ADDED", old.metadata.name)
    assert first["object"]["metadata"]["annotations"][CLUSTER_ANNOTATION] == "east"

    east.core.delete_namespaced_pod(old.metadata.name, "shop")
    seen: list[tuple[str, str]] = []
    for event in events:
        seen.append((event["type"], event["object"]["metadata"]["name"]))
        run_pass(str(cast.org_a.pk))
        if ("DELETED", old.metadata.name) in seen and any(kind == "ADDED" for kind, _ in seen):
            break
    assert ("DELETED", old.metadata.name) in seen, seen
    [new] = [name for kind, name in seen if kind == "ADDED"]
    assert new != old.metadata.name and new in {
        p.metadata.name for p in east.core.list_namespaced_pod("shop").items
    }
    watched.close()
    assert east.running_pods("shop", workload) <= 1


def _lines(chunks: Any) -> Any:
    pending = b""
    for chunk in chunks:
        pending += chunk if isinstance(chunk, bytes) else chunk.encode()
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            if line.strip():
                yield line


def test_pod_changes_keep_the_pods_of_a_member_that_could_not_be_read() -> None:
    def pod(cluster: str, uid: str, version: str) -> tuple[tuple[str, str], dict]:
        return (cluster, uid), {"metadata": {"uid": uid, "resourceVersion": version}}

    known = dict([pod("east", "a", "1"), pod("east", "b", "1"), pod("west", "c", "1")])
    now = dict([pod("east", "a", "2"), pod("east", "d", "1")])

    events, after = member_objects.pod_changes(known, now, unread={"west"})

    assert sorted((kind, p["metadata"]["uid"]) for kind, p in events) == [
        ("ADDED", "d"),
        ("DELETED", "b"),
        ("MODIFIED", "a"),
    ]
    assert sorted(after) == [("east", "a"), ("east", "d"), ("west", "c")]
    assert member_objects.pod_changes(after, after, unread=set())[0] == []
    gone, _ = member_objects.pod_changes(after, {}, unread=set())
    assert sorted(p["metadata"]["uid"] for kind, p in gone if kind == "DELETED") == ["a", "c", "d"]


def test_another_organization_sees_none_of_the_pods_even_in_a_cluster_both_connected(
    cast, shop, member
) -> None:
    """Org B connects the very cluster org A uses and runs its own workload in a namespace of the same
    name: each lists only its own pods there, and reads, logs or deletes none of the other's."""
    east = member("east", {"cloud": "onprem"}, pools=(pool(4),))
    _deploy(shop, "web", 2)
    _running(str(cast.org_a.pk), "web", 2, east)
    a_pods = {p.metadata.name for p in east.core.list_namespaced_pod("shop").items}

    outsider = Kube(cast.token_b_plaintext)
    assert outsider.get(NODES).json()["items"] == []  # org B has connected no cluster yet
    link = Partition(urlsplit(east.sim.url).port or 0)
    try:
        connected(
            cluster_connect_kubeconfig(
                cast.org_b,
                actor=Actor(user=cast.oscar),
                name="shared",
                kubeconfig=kubeconfig_for(east.sim, server=link.url),
                mode="observe",
                labels={"cloud": "onprem"},
            )
        )
        services.federation_policy_create(
            cast.org_b, actor=Actor(user=cast.oscar), data={"name": "default", "strategy": "cheapest"}
        )
        assert outsider.send("post", "/k8s/api/v1/namespaces", NAMESPACE).status_code == 201
        _deploy(outsider, "api", 1)
        _running(str(cast.org_b.pk), "api", 1, east)
        b_pods = {p.metadata.name for p in east.core.list_namespaced_pod("shop").items} - a_pods

        assert {p["metadata"]["name"] for p in outsider.get(PODS).json()["items"]} == b_pods
        assert {p["metadata"]["name"] for p in shop.get(PODS).json()["items"] if p} == a_pods
        assert {p["metadata"]["name"] for p in outsider.get("/k8s/api/v1/pods").json()["items"]} == b_pods
        theirs = sorted(a_pods)[0]
        assert outsider.get(f"{PODS}/{theirs}").status_code == 404
        assert outsider.get(f"{PODS}/{theirs}/log").status_code == 404
        assert outsider.get(f"{METRICS}/{theirs}").status_code == 404
        events = f"/k8s/api/v1/namespaces/shop/events?fieldSelector=involvedObject.name={theirs}"
        assert outsider.get(events).json()["items"] == []
        assert {e["reason"] for e in shop.get(events).json()["items"]} == {"Scheduled"}
        everything = "/k8s/api/v1/namespaces/shop/events"
        # The members' events of each one's pods, and the federation's placements of each one's workload.
        assert {e["involvedObject"]["name"] for e in outsider.get(everything).json()["items"]} == b_pods | {
            "api"
        }
        assert {e["involvedObject"]["name"] for e in shop.get(everything).json()["items"]} == a_pods | {"web"}
        assert {
            e["involvedObject"]["name"] for e in outsider.get("/k8s/api/v1/events").json()["items"]
        } == b_pods | {"api"}
        assert shop.get(f"{METRICS}/{theirs}").json()["containers"][0]["name"] == "app"
        assert {m["metadata"]["name"] for m in outsider.get(METRICS).json()["items"]} == b_pods
        assert outsider.client.delete(f"{PODS}/{theirs}", **outsider.headers).status_code == 404
        assert not east.core.read_namespaced_pod(theirs, "shop").metadata.deletion_timestamp
    finally:
        link.stop()


def test_kubectl_gets_describes_logs_and_deletes_the_members_pods(
    cast, kubectl, member, policy, federation_loop, tmp_path
) -> None:
    east = member("east", {"cloud": "onprem"}, pools=(pool(2),))
    policy("default", strategy="cheapest")
    web = yaml.safe_load(deployment("web", replicas=2, cpu="100m", memory="64Mi"))
    usage = '{"app": {"cpu": "40m", "memory": "24Mi"}}'  # what the simulated containers use
    web["spec"]["template"]["metadata"]["annotations"] = {"simulator.nodeless.io/usage": usage}
    rolled_out(kubectl, tmp_path / "app", {"0-ns": NAMESPACE, "web": web})
    names = sorted(p.metadata.name for p in east.core.list_namespaced_pod("shop").items)

    got = kubectl("get", "pods", "-n", "shop", "-o", "wide")
    assert got.returncode == 0, got.stderr
    header, *rows = got.stdout.splitlines()
    assert header.split()[:6] == ["NAME", "READY", "STATUS", "RESTARTS", "CLUSTER", "AGE"]
    assert [row.split()[:5] for row in rows] == [[name, "1/1", "Running", "0", "east"] for name in names]
    described = kubectl("describe", "pod", names[0], "-n", "shop")
    assert described.returncode == 0 and "nodeless.io/cluster: east" in described.stdout, described.stderr
    # Its events are the member's: the member's scheduler placed it.
    assert f"Successfully assigned shop/{names[0]} to" in described.stdout, described.stdout
    events = kubectl("get", "events", "-n", "shop")
    assert events.returncode == 0 and f"pod/{names[1]}" in events.stdout and "Scheduled" in events.stdout
    logs = kubectl("logs", "deployment/web", "-n", "shop")
    assert logs.returncode == 0 and "container app of pod shop/web-" in logs.stdout, logs.stderr
    listed_nodes = kubectl("get", "nodes")
    assert listed_nodes.returncode == 0 and listed_nodes.stdout.split()[:6] == [
        "NAME",
        "STATUS",
        "ROLES",
        "VERSION",
        "CLUSTER",
        "AGE",
    ], listed_nodes.stdout + listed_nodes.stderr
    top_nodes = kubectl("top", "node")
    assert top_nodes.returncode == 0 and len(top_nodes.stdout.splitlines()) == 3, top_nodes.stderr
    top = kubectl("top", "pod", "-n", "shop")
    assert top.returncode == 0, top.stderr
    assert [row.split() for row in top.stdout.splitlines()[1:]] == [[name, "40m", "24Mi"] for name in names]

    assert kubectl("auth", "can-i", "delete", "pods", "-n", "shop").stdout.strip() == "yes"
    refused = kubectl("auth", "can-i", "create", "pods", "-n", "shop").stdout
    assert refused.startswith("no") and "read from the member clusters" in refused, refused
    assert kubectl("auth", "can-i", "get", "pods/log", "-n", "shop").stdout.strip() == "yes"
    forwarded = kubectl("port-forward", f"pod/{names[0]}", "-n", "shop", "8080:80")
    assert forwarded.returncode != 0 and f"pod {names[0]} runs in east" in forwarded.stderr, forwarded.stderr
    made = kubectl("run", "one", "--image=nginx", "-n", "shop")
    assert made.returncode != 0 and "create a Deployment" in made.stderr, made.stderr
    deleted = kubectl("delete", "pod", names[0], "-n", "shop", "--wait=false")
    assert deleted.returncode == 0 and f'pod "{names[0]}" deleted' in deleted.stdout, deleted.stderr
    # kubectl wait lists the pod, then watches it until a DELETED event.
    gone = kubectl("wait", "--for=delete", f"pod/{names[0]}", "-n", "shop", "--timeout=60s")
    assert gone.returncode == 0, gone.stderr
    assert names[0] not in {p.metadata.name for p in east.core.list_namespaced_pod("shop").items}
    forced = kubectl("delete", "pod", names[1], "-n", "shop", "--grace-period=0", "--force", "--wait=false")
    assert forced.returncode == 0, forced.stderr
    assert names[1] not in {p.metadata.name for p in east.core.list_namespaced_pod("shop").items}
    assert kubectl("rollout", "status", "deployment/web", "-n", "shop", "--timeout=60s").returncode == 0


def test_the_workload_page_shows_its_pods_and_why_one_waits(
    cast, shop, member, owner_client, viewer_client, outsider_client
) -> None:
    east = member("east", {"cloud": "onprem"}, pools=(pool(1),))
    _deploy(shop, "web", 1)
    workload = _running(str(cast.org_a.pk), "web", 1, east)
    [pod] = east.core.list_namespaced_pod("shop").items
    page = owner_client.get(reverse("workload-detail", args=[workload.pk])).content.decode()
    assert f'hx-get="{reverse("workload-pods", args=[workload.pk])}"' in page

    shown = get_page(viewer_client, reverse("workload-pods", args=[workload.pk]), queries=10)
    assert (
        f"<code>{pod.metadata.name}</code></td><td>east</td><td>1/1</td><td>Running" in shown.content.decode()
    )
    assert outsider_client.get(reverse("workload-pods", args=[workload.pk])).status_code == 404

    # The member's only node stops taking pods and the pod is replaced: the new one cannot be
    # scheduled there, and the member's scheduler says why.
    [node] = east.core.list_node().items
    east.core.patch_node(node.metadata.name, {"spec": {"unschedulable": True}})
    east.core.delete_namespaced_pod(pod.metadata.name, "shop", grace_period_seconds=0)

    def waiting() -> str | None:
        text = owner_client.get(reverse("workload-pods", args=[workload.pk])).content.decode()
        return text if "Pending" in text and "unschedulable" in text else None

    text = wait_for(waiting, timeout=30, interval=0.3)
    assert "0/1 nodes are available" in text, text
    east.link.cut()
    try:
        cut = owner_client.get(reverse("workload-pods", args=[workload.pk])).content.decode()
        assert "east could not be read" in cut and "No pods." in cut
    finally:
        east.link.heal()


def test_what_the_members_credentials_may_not_do_is_a_403_naming_the_member(cast, shop, member) -> None:
    """The member's administrator narrowed the credentials Nodeless has to kube's ``view`` role:
    pods are still listed and their logs read, a delete is the member's 403, named."""
    east = member("east", {"cloud": "onprem"}, pools=(pool(2),))
    _deploy(shop, "web", 1)
    _running(str(cast.org_a.pk), "web", 1, east)
    [pod] = east.core.list_namespaced_pod("shop").items
    east.sim.add_token(east.sim.admin_token, Identity("nodeless", READ_ONLY))

    assert [p["metadata"]["name"] for p in shop.get(PODS).json()["items"]] == [pod.metadata.name]
    assert shop.get(f"{PODS}/{pod.metadata.name}/log").status_code == 200
    refused = shop.client.delete(f"{PODS}/{pod.metadata.name}", **shop.headers)
    assert refused.status_code == 403, refused.json()
    assert refused.json()["message"].startswith("east: ") and "forbidden" in refused.json()["message"]
    assert not east.core.read_namespaced_pod(pod.metadata.name, "shop").metadata.deletion_timestamp
