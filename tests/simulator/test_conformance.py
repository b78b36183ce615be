"""The simulated API server, driven by the official Kubernetes client over HTTPS with a token."""

import json
from typing import Any

import pytest
from kubernetes import client, watch

from tests.fixtures.simulation import kube_api

PDB_LABELS = {"app": "guarded"}


def pod_manifest(name, labels=None, node=None, cpu="100m", **spec):
    body: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {
            "containers": [{"name": "app", "image": "nginx:1.27", "resources": {"requests": {"cpu": cpu}}}],
            **spec,
        },
    }
    if node:
        body["spec"]["nodeName"] = node
    return body


@pytest.fixture
def cluster(simulated_cluster):
    # No controllers: these tests look at the API server alone.
    return simulated_cluster(run_controllers=False)


@pytest.fixture
def core(cluster, kube_client):
    return kube_api(client.CoreV1Api, kube_client(cluster))


def status_body(error):
    return json.loads(error.body)


def test_version_and_discovery_describe_the_served_resources(cluster, kube_client):
    api_client = kube_client(cluster)
    assert kube_api(client.VersionApi, api_client).get_code().major == "1"
    core_resources = {r.name: r for r in kube_api(client.CoreV1Api, api_client).get_api_resources().resources}
    assert {"pods", "pods/status", "pods/binding", "pods/eviction", "nodes", "namespaces", "events"} <= set(
        core_resources
    )
    assert core_resources["pods"].namespaced and not core_resources["nodes"].namespaced
    groups = {g.name for g in kube_api(client.ApisApi, api_client).get_api_versions().groups}
    assert {"apps", "batch", "policy"} <= groups
    assert "poddisruptionbudgets" in {
        r.name for r in kube_api(client.PolicyV1Api, api_client).get_api_resources().resources
    }


def test_created_objects_get_server_fields_and_lists_are_typed(core):
    created = core.create_namespaced_pod("default", pod_manifest("web-1"))
    assert created.metadata.uid and created.metadata.creation_timestamp and created.metadata.resource_version
    assert created.status.phase == "Pending"
    raw = json.loads(core.list_namespaced_pod("default", _preload_content=False).data)
    assert raw["kind"] == "PodList" and raw["apiVersion"] == "v1"
    assert [item["metadata"]["name"] for item in raw["items"]] == ["web-1"]


def test_generate_name_gives_distinct_names(core):
    body = pod_manifest("")
    body["metadata"] = {"generateName": "worker-"}
    names = {core.create_namespaced_pod("default", body).metadata.name for _ in range(5)}
    assert len(names) == 5 and all(n.startswith("worker-") for n in names)


def test_errors_are_status_objects_with_the_right_codes(core):
    core.create_namespaced_pod("default", pod_manifest("dup"))
    with pytest.raises(client.ApiException) as duplicate:
        core.create_namespaced_pod("default", pod_manifest("dup"))
    assert duplicate.value.status == 409 and status_body(duplicate.value)["reason"] == "AlreadyExists"
    with pytest.raises(client.ApiException) as missing:
        core.read_namespaced_pod("nope", "default")
    body = status_body(missing.value)
    assert (missing.value.status, body["kind"], body["reason"], body["details"]["name"]) == (
        404,
        "Status",
        "NotFound",
        "nope",
    )
    invalid = pod_manifest("empty")
    invalid["spec"]["containers"] = []
    with pytest.raises(client.ApiException) as unprocessable:
        core.create_namespaced_pod("default", invalid)
    assert unprocessable.value.status == 422 and status_body(unprocessable.value)["reason"] == "Invalid"
    with pytest.raises(client.ApiException) as no_namespace:
        core.create_namespaced_pod("ghost", pod_manifest("p"))
    assert no_namespace.value.status == 404


def test_replace_with_a_stale_resource_version_conflicts(core):
    created = core.create_namespaced_pod("default", pod_manifest("rv"))
    core.patch_namespaced_pod("rv", "default", {"metadata": {"labels": {"a": "1"}}})
    created.metadata.labels = {"b": "2"}
    with pytest.raises(client.ApiException) as conflict:
        core.replace_namespaced_pod("rv", "default", created)
    assert conflict.value.status == 409 and status_body(conflict.value)["reason"] == "Conflict"


def test_label_and_field_selectors_filter_lists(core):
    core.create_namespaced_pod("default", pod_manifest("a", {"app": "web"}, node="n1"))
    core.create_namespaced_pod("default", pod_manifest("b", {"app": "db"}, node="n2"))
    core.create_namespaced_pod("default", pod_manifest("c", {"app": "web"}))

    def names(**query):
        return sorted(p.metadata.name for p in core.list_pod_for_all_namespaces(**query).items)

    assert names(label_selector="app=web") == ["a", "c"]
    assert names(label_selector="app in (db,cache)") == ["b"]
    assert names(field_selector="spec.nodeName=n1") == ["a"]
    assert names(field_selector="spec.nodeName=") == ["c"]
    assert names(field_selector="status.phase=Pending,spec.nodeName!=n1") == ["b", "c"]
    with pytest.raises(client.ApiException) as unsupported:
        core.list_pod_for_all_namespaces(field_selector="spec.hostname=x")
    assert unsupported.value.status == 400


def test_list_pagination_returns_every_object_once(core):
    for n in range(5):
        core.create_namespaced_pod("default", pod_manifest(f"page-{n}"))
    seen, token = [], None
    while True:
        page = core.list_namespaced_pod("default", limit=2, _continue=token)
        seen += [p.metadata.name for p in page.items]
        token = page.metadata._continue
        if not token:
            break
    assert seen == [f"page-{n}" for n in range(5)]


def test_watch_resumes_from_a_resource_version(core):
    core.create_namespaced_pod("default", pod_manifest("before"))
    resume_from = core.list_namespaced_pod("default").metadata.resource_version
    core.create_namespaced_pod("default", pod_manifest("w"))
    core.patch_namespaced_pod("w", "default", {"metadata": {"labels": {"changed": "yes"}}})
    core.delete_namespaced_pod("w", "default")
    stream = watch.Watch().stream(
        core.list_namespaced_pod, "default", resource_version=resume_from, timeout_seconds=1
    )
    events = [(e["type"], e["object"].metadata.name) for e in stream]
    assert events == [("ADDED", "w"), ("MODIFIED", "w"), ("DELETED", "w")]


def test_watch_delivers_changes_made_while_it_is_open(core):
    resume_from = core.list_namespaced_pod("default").metadata.resource_version
    watcher = watch.Watch()
    core.create_namespaced_pod("default", pod_manifest("live"))
    received = []
    for event in watcher.stream(
        core.list_namespaced_pod, "default", resource_version=resume_from, timeout_seconds=5
    ):
        received.append((event["type"], event["object"].metadata.name))
        watcher.stop()
    assert received == [("ADDED", "live")]


def test_patch_kinds(core):
    core.create_namespaced_pod("default", pod_manifest("patched", {"app": "web"}))
    merged = core.patch_namespaced_pod(
        "patched",
        "default",
        {"metadata": {"labels": {"app": None, "tier": "front"}}},
        _content_type="application/merge-patch+json",
    )
    assert merged.metadata.labels == {"tier": "front"}
    strategic = core.patch_namespaced_pod(
        "patched", "default", {"spec": {"containers": [{"name": "app", "image": "nginx:1.28"}]}}
    )
    assert [(c.name, c.image, c.resources.requests) for c in strategic.spec.containers] == [
        ("app", "nginx:1.28", {"cpu": "100m"})
    ]
    json_patched = core.patch_namespaced_pod(
        "patched", "default", [{"op": "add", "path": "/metadata/annotations", "value": {"note": "x"}}]
    )
    assert json_patched.metadata.annotations == {"note": "x"}


def test_status_is_written_only_through_the_status_subresource(core):
    core.create_namespaced_pod("default", pod_manifest("s"))
    core.patch_namespaced_pod("s", "default", {"status": {"phase": "Running"}})
    assert core.read_namespaced_pod("s", "default").status.phase == "Pending"
    core.patch_namespaced_pod_status(
        "s", "default", {"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}
    )
    updated = core.read_namespaced_pod_status("s", "default")
    assert updated.status.phase == "Running" and updated.status.conditions[0].type == "Ready"


def test_server_side_apply_creates_then_drops_fields_no_longer_applied(cluster, kube_client):
    apps = kube_api(client.AppsV1Api, kube_client(cluster))
    deployment: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "fed", "labels": {"nodeless.io/federated": "true", "temporary": "yes"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "fed"}},
            "template": {
                "metadata": {"labels": {"app": "fed"}},
                "spec": {"containers": [{"name": "app", "image": "x:1"}]},
            },
        },
    }
    created = apps.patch_namespaced_deployment(
        "fed", "default", deployment, field_manager="nodeless", _content_type="application/apply-patch+yaml"
    )
    assert created.spec.replicas == 2 and created.metadata.managed_fields[0].manager == "nodeless"
    del deployment["metadata"]["labels"]["temporary"]
    deployment["spec"]["replicas"] = 3
    applied = apps.patch_namespaced_deployment(
        "fed", "default", deployment, field_manager="nodeless", _content_type="application/apply-patch+yaml"
    )
    assert applied.spec.replicas == 3
    assert applied.metadata.labels == {"nodeless.io/federated": "true"}
    assert applied.metadata.generation == created.metadata.generation + 1


def test_binding_assigns_a_node_once(core):
    core.create_namespaced_pod("default", pod_manifest("bind-me"))
    binding = {
        "apiVersion": "v1",
        "kind": "Binding",
        "metadata": {"name": "bind-me"},
        "target": {"kind": "Node", "name": "n7"},
    }
    # Like the real API server, binding answers a Status, which the client cannot read as a V1Binding.
    response = core.create_namespaced_pod_binding("bind-me", "default", binding, _preload_content=False)
    assert response.status == 201
    bound = core.read_namespaced_pod("bind-me", "default")
    assert bound.spec.node_name == "n7"
    assert [(c.type, c.status) for c in bound.status.conditions] == [("PodScheduled", "True")]
    with pytest.raises(client.ApiException) as again:
        core.create_namespaced_pod_binding("bind-me", "default", binding, _preload_content=False)
    assert again.value.status == 409


def make_ready(core, name):
    core.create_namespaced_pod("default", pod_manifest(name, PDB_LABELS, node="n1"))
    core.patch_namespaced_pod_status(
        name, "default", {"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}
    )


def evict(core, name):
    return core.create_namespaced_pod_eviction(
        name,
        "default",
        {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name, "namespace": "default"}},
    )


def test_eviction_honours_the_pod_disruption_budget(cluster, kube_client):
    api_client = kube_client(cluster)
    core, policy = kube_api(client.CoreV1Api, api_client), kube_api(client.PolicyV1Api, api_client)
    for name in ("g1", "g2", "g3"):
        make_ready(core, name)
    policy.create_namespaced_pod_disruption_budget(
        "default",
        {"metadata": {"name": "guard"}, "spec": {"minAvailable": 2, "selector": {"matchLabels": PDB_LABELS}}},
    )
    evict(core, "g1")
    with pytest.raises(client.ApiException) as refused:
        evict(core, "g2")
    body = status_body(refused.value)
    assert refused.value.status == 429 and body["details"]["causes"][0]["reason"] == "DisruptionBudget"
    # The evicted pod is deleted gracefully: Terminating until its kubelet (absent here) is done.
    pods = {p.metadata.name: p for p in core.list_namespaced_pod("default").items}
    assert pods["g1"].metadata.deletion_timestamp is not None
    assert [n for n, p in sorted(pods.items()) if p.metadata.deletion_timestamp is None] == ["g2", "g3"]


def test_pending_pods_can_be_evicted_whatever_the_budget(core, cluster, kube_client):
    policy = kube_api(client.PolicyV1Api, kube_client(cluster))
    policy.create_namespaced_pod_disruption_budget(
        "default",
        {
            "metadata": {"name": "strict"},
            "spec": {"maxUnavailable": 0, "selector": {"matchLabels": PDB_LABELS}},
        },
    )
    core.create_namespaced_pod("default", pod_manifest("waiting", PDB_LABELS))
    evict(core, "waiting")
    assert core.list_namespaced_pod("default").items == []


def test_delete_collection_honours_the_label_selector(core):
    core.create_namespaced_pod("default", pod_manifest("keep", {"batch": "b"}))
    core.create_namespaced_pod("default", pod_manifest("drop-1", {"batch": "a"}))
    core.create_namespaced_pod("default", pod_manifest("drop-2", {"batch": "a"}))
    core.delete_collection_namespaced_pod("default", label_selector="batch=a")
    assert [p.metadata.name for p in core.list_namespaced_pod("default").items] == ["keep"]


def test_scale_subresource_reads_and_sets_replicas(cluster, kube_client):
    apps = kube_api(client.AppsV1Api, kube_client(cluster))
    apps.create_namespaced_deployment(
        "default",
        {
            "metadata": {"name": "scaled"},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "s"}},
                "template": {
                    "metadata": {"labels": {"app": "s"}},
                    "spec": {"containers": [{"name": "a", "image": "b"}]},
                },
            },
        },
    )
    assert apps.read_namespaced_deployment_scale("scaled", "default").status.selector == "app=s"
    apps.patch_namespaced_deployment_scale("scaled", "default", {"spec": {"replicas": 4}})
    assert apps.read_namespaced_deployment("scaled", "default").spec.replicas == 4


def test_nodes_can_be_cordoned_and_tainted_with_a_patch(core):
    core.create_node({"metadata": {"name": "n1"}, "status": {"allocatable": {"cpu": "2"}}})
    patched = core.patch_node(
        "n1",
        {
            "spec": {
                "unschedulable": True,
                "taints": [{"key": "nodeless.io/reserved", "value": "p1", "effect": "NoSchedule"}],
            }
        },
    )
    assert patched.spec.unschedulable and patched.spec.taints[0].key == "nodeless.io/reserved"
    assert patched.status.allocatable == {"cpu": "2"}
    assert [n.metadata.name for n in core.list_node(field_selector="spec.unschedulable=true").items] == ["n1"]


def test_services_secrets_configmaps_and_events_round_trip(core):
    service = core.create_namespaced_service(
        "default",
        {"metadata": {"name": "web"}, "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}},
    )
    assert service.spec.type == "ClusterIP" and service.spec.cluster_ip.startswith("10.")
    assert service.spec.ports[0].protocol == "TCP" and service.spec.ports[0].target_port == 80
    secret = core.create_namespaced_secret(
        "default", {"metadata": {"name": "s"}, "stringData": {"token": "abc"}}
    )
    assert secret.data == {"token": "YWJj"} and secret.type == "Opaque"
    core.create_namespaced_config_map("default", {"metadata": {"name": "cm"}, "data": {"k": "v"}})
    core.patch_namespaced_config_map("cm", "default", {"data": {"k2": "v2"}})
    assert core.read_namespaced_config_map("cm", "default").data == {"k": "v", "k2": "v2"}
    core.create_namespaced_event(
        "default",
        {
            "metadata": {"name": "web.1"},
            "involvedObject": {"kind": "Service", "name": "web", "namespace": "default"},
            "reason": "Tested",
            "message": "hello",
        },
    )
    events = core.list_namespaced_event(
        "default", field_selector="involvedObject.name=web,reason=Tested"
    ).items
    assert [e.message for e in events] == ["hello"]
