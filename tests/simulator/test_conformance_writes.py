"""Writes as kube-apiserver handles them: server-side apply ownership, graceful pod deletion,
validation of taints and finalizers, the pods/status strategy and typed PDB status; driven by
the official client over HTTPS. Each test cites the behaviour it states."""

from typing import Any

import pytest
from kubernetes import client

from tests.fixtures.simulation import kube_api, wait_for
from tests.simulator.test_conformance import evict, make_ready, pod_manifest, status_body


@pytest.fixture
def cluster(simulated_cluster):
    return simulated_cluster(run_controllers=False)


@pytest.fixture
def core(cluster, kube_client):
    return kube_api(client.CoreV1Api, kube_client(cluster))


@pytest.fixture
def apps(cluster, kube_client):
    return kube_api(client.AppsV1Api, kube_client(cluster))


def apply(
    apps,
    manager: str,
    replicas: int,
    *,
    force: bool = False,
    labels: dict[str, str] | None = None,
    with_http_info: bool = False,
) -> Any:
    """The applied Deployment ``web``; with ``with_http_info``, (Deployment, HTTP status, headers)."""
    body: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", **({"labels": labels} if labels else {})},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]},
            },
        },
    }
    patch = (
        apps.patch_namespaced_deployment_with_http_info
        if with_http_info
        else apps.patch_namespaced_deployment
    )
    return patch(
        "web",
        "default",
        body,
        field_manager=manager,
        force=force or None,
        _content_type="application/apply-patch+yaml",
    )


def managers_of(apps, path: str) -> list[str]:
    """Managers whose fieldsV1 owns the `f:`-separated path, e.g. "f:spec.f:replicas"."""
    owners = []
    for entry in apps.read_namespaced_deployment("web", "default").metadata.managed_fields:
        node = entry.fields_v1
        for segment in path.split("."):
            node = (node or {}).get(segment)
        if node is not None:
            owners.append(entry.manager)
    return owners


def test_server_side_apply_refuses_a_field_another_manager_owns(apps):
    # https://kubernetes.io/docs/reference/using-api/server-side-apply/#conflicts: a different
    # value for a field another manager owns is a 409 naming the manager and the field (the
    # wording of apiserver's fieldmanager/internal/conflict.go); the same value is co-owned.
    apply(apps, "alice", 2)
    with pytest.raises(client.ApiException) as error:
        apply(apps, "bob", 3)
    body = status_body(error.value)
    assert (error.value.status, body["reason"]) == (409, "Conflict")
    assert body["message"] == 'Apply failed with 1 conflict: conflict with "alice": .spec.replicas'
    assert body["details"]["causes"] == [
        {"reason": "FieldManagerConflict", "message": 'conflict with "alice"', "field": ".spec.replicas"}
    ]
    assert apps.read_namespaced_deployment("web", "default").spec.replicas == 2

    apply(apps, "bob", 2)
    assert sorted(managers_of(apps, "f:spec.f:replicas")) == ["alice", "bob"]
    # force=true takes the field over: it leaves the other managers' sets.
    apply(apps, "carol", 5, force=True)
    assert apps.read_namespaced_deployment("web", "default").spec.replicas == 5
    assert managers_of(apps, "f:spec.f:replicas") == ["carol"]


def test_a_field_changed_by_an_update_conflicts_with_the_next_apply(apps):
    # An update (PUT or non-apply PATCH) takes ownership of the fields it changes, as manager
    # `fieldManager` with operation Update; applying another value is then a conflict with
    # "<manager>" using <apiVersion> (kubectl scale after kubectl apply --server-side).
    apply(apps, "alice", 2)
    apps.patch_namespaced_deployment("web", "default", {"spec": {"replicas": 4}}, field_manager="scaler")
    assert managers_of(apps, "f:spec.f:replicas") == ["scaler"]
    with pytest.raises(client.ApiException) as error:
        apply(apps, "alice", 2)
    assert status_body(error.value)["message"] == (
        'Apply failed with 1 conflict: conflict with "scaler" using apps/v1: .spec.replicas'
    )
    apply(apps, "alice", 2, force=True)
    assert managers_of(apps, "f:spec.f:replicas") == ["alice"]
    assert [e.manager for e in apps.read_namespaced_deployment("web", "default").metadata.managed_fields] == [
        "alice"
    ]


def test_a_field_one_manager_stops_applying_stays_while_another_owns_it(apps):
    apply(apps, "alice", 2, labels={"team": "a"})
    apply(apps, "bob", 2, labels={"team": "a"})
    apply(apps, "alice", 2)  # alice drops the label; bob still applies it
    assert apps.read_namespaced_deployment("web", "default").metadata.labels == {"team": "a"}
    apply(apps, "bob", 2)  # now nobody owns it: removed
    assert not apps.read_namespaced_deployment("web", "default").metadata.labels


def test_an_apply_answers_201_when_it_creates_and_200_when_it_updates(apps):
    # kube-apiserver's patch handler answers 201 Created when an apply created the object, 200
    # otherwise (client-go and the conformance tests read it): a no-op and a change are 200.
    statuses = [apply(apps, "alice", replicas, with_http_info=True)[1] for replicas in (2, 2, 3)]
    assert statuses == [201, 200, 200]


def test_an_apply_to_the_status_of_a_missing_object_is_not_found_and_creates_nothing(apps):
    # Subresource storage (status, scale) updates with forceAllowCreate false: "subresources
    # should never allow create on update" (pkg/registry/apps/deployment/storage/storage.go).
    body = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "status": {}}
    with pytest.raises(client.ApiException) as refused:
        apps.patch_namespaced_deployment_status(
            "web", "default", body, field_manager="ci", _content_type="application/apply-patch+yaml"
        )
    assert refused.value.status == 404
    assert apps.list_namespaced_deployment("default").items == []


def test_an_apply_that_changes_nothing_writes_nothing(apps):
    apply(apps, "alice", 2)
    before = apps.read_namespaced_deployment("web", "default").metadata
    apply(apps, "alice", 2)
    after = apps.read_namespaced_deployment("web", "default").metadata
    assert after.resource_version == before.resource_version
    assert [e.time for e in after.managed_fields] == [e.time for e in before.managed_fields]


def test_a_deleted_pod_terminates_for_its_grace_period(core, cluster):
    # pkg/registry/core/pod/strategy.go CheckGracefulDelete and rest.BeforeDelete: a scheduled
    # pod is marked (deletionTimestamp = now + grace period, deletionGracePeriodSeconds) and
    # stays until its kubelet deletes it; the period is the request's, else the pod's
    # terminationGracePeriodSeconds (30 by default); a pending one may only be shortened.
    core.create_namespaced_pod("default", pod_manifest("slow", node="n1"))
    core.create_namespaced_pod("default", pod_manifest("quick", node="n1", terminationGracePeriodSeconds=5))
    before = cluster.clock.now()
    marked = core.delete_namespaced_pod("slow", "default")
    assert marked.metadata.deletion_grace_period_seconds == 30
    deadline = marked.metadata.deletion_timestamp.timestamp()
    assert before + 30 <= deadline + 1 and deadline <= cluster.clock.now() + 30 + 1
    assert core.delete_namespaced_pod("quick", "default").metadata.deletion_grace_period_seconds == 5

    assert (
        core.delete_namespaced_pod(
            "slow", "default", grace_period_seconds=60
        ).metadata.deletion_grace_period_seconds
        == 30
    )
    shortened = core.delete_namespaced_pod("slow", "default", grace_period_seconds=10).metadata
    assert shortened.deletion_grace_period_seconds == 10
    assert shortened.deletion_timestamp.timestamp() == pytest.approx(deadline - 20, abs=1)
    assert {p.metadata.name for p in core.list_namespaced_pod("default").items} == {"slow", "quick"}
    # Grace period 0 (kubectl delete --grace-period=0 --force) removes it at once.
    core.delete_namespaced_pod("slow", "default", grace_period_seconds=0)
    assert [p.metadata.name for p in core.list_namespaced_pod("default").items] == ["quick"]


def test_unscheduled_and_finished_pods_are_deleted_at_once(core):
    core.create_namespaced_pod("default", pod_manifest("unscheduled"))
    core.create_namespaced_pod("default", pod_manifest("done", node="n1"))
    core.patch_namespaced_pod_status("done", "default", {"status": {"phase": "Succeeded"}})
    core.delete_namespaced_pod("unscheduled", "default")
    core.delete_namespaced_pod("done", "default")
    assert core.list_namespaced_pod("default").items == []


def test_eviction_deletes_gracefully_with_its_delete_options(core):
    make_ready(core, "evicted")
    make_ready(core, "forced")
    evict(core, "evicted")
    assert core.read_namespaced_pod("evicted", "default").metadata.deletion_grace_period_seconds == 30
    core.create_namespaced_pod_eviction(
        "forced",
        "default",
        {"metadata": {"name": "forced", "namespace": "default"}, "deleteOptions": {"gracePeriodSeconds": 0}},
    )
    assert [p.metadata.name for p in core.list_namespaced_pod("default").items] == ["evicted"]


def test_unknown_taint_effects_are_invalid(core):
    # core/validation validateNodeTaints / validateTaintEffect.
    core.create_node({"metadata": {"name": "tainted"}})
    with pytest.raises(client.ApiException) as error:
        core.patch_node(
            "tainted", {"spec": {"taints": [{"key": "dedicated", "value": "x", "effect": "Bogus"}]}}
        )
    body = status_body(error.value)
    assert (error.value.status, body["reason"]) == (422, "Invalid")
    assert body["details"]["causes"] == [
        {
            "reason": "FieldValueNotSupported",
            "message": 'Unsupported value: "Bogus": supported values: "NoSchedule", "PreferNoSchedule", "NoExecute"',
            "field": "spec.taints[0].effect",
        }
    ]
    with pytest.raises(client.ApiException) as missing:
        core.patch_node("tainted", {"spec": {"taints": [{"key": "dedicated"}]}})
    assert status_body(missing.value)["details"]["causes"][0]["reason"] == "FieldValueRequired"
    core.patch_node("tainted", {"spec": {"taints": [{"key": "dedicated", "effect": "NoExecute"}]}})
    assert [t.effect for t in core.read_node("tainted").spec.taints] == ["NoExecute"]


def test_no_finalizer_may_be_added_to_an_object_being_deleted(core):
    # apimachinery ValidateNoNewFinalizers; the object goes once its last finalizer does.
    core.create_namespaced_config_map("default", {"metadata": {"name": "held", "finalizers": ["a.io/x"]}})
    core.delete_namespaced_config_map("held", "default")
    with pytest.raises(client.ApiException) as error:
        core.patch_namespaced_config_map(
            "held", "default", {"metadata": {"finalizers": ["a.io/x", "b.io/y"]}}
        )
    body = status_body(error.value)
    assert (error.value.status, body["reason"]) == (422, "Invalid")
    assert body["message"] == (
        'ConfigMap "held" is invalid: metadata.finalizers: Forbidden: no new finalizers can be added '
        'if the object is being deleted, found new finalizers []string{"b.io/y"}'
    )
    core.patch_namespaced_config_map("held", "default", {"metadata": {"finalizers": None}})
    assert core.list_namespaced_config_map("default").items == []


def test_pods_status_writes_may_change_labels_but_not_owner_references(core, apps):
    # podStatusStrategy.PrepareForUpdate (pkg/registry/core/pod/strategy.go) resets only spec,
    # deletionTimestamp and ownerReferences: labels and annotations written through pods/status
    # are kept. Other kinds reset all of that metadata (metav1.ResetObjectMetaForStatus).
    core.create_namespaced_pod("default", pod_manifest("st", {"app": "a"}))
    owner = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "name": "x",
        "uid": "00000000-0000-0000-0000-000000000001",
    }
    updated = core.patch_namespaced_pod_status(
        "st",
        "default",
        {
            "metadata": {
                "labels": {"app": "b"},
                "annotations": {"note": "kubelet"},
                "ownerReferences": [owner],
            },
            "spec": {"activeDeadlineSeconds": 5},
            "status": {"phase": "Running"},
        },
    )
    assert (updated.metadata.labels, updated.metadata.annotations) == ({"app": "b"}, {"note": "kubelet"})
    assert updated.metadata.owner_references is None and updated.spec.active_deadline_seconds is None
    assert updated.status.phase == "Running" and updated.status.qos_class == "Burstable"

    apps.create_namespaced_deployment(
        "default",
        {
            "metadata": {"name": "d", "labels": {"app": "a"}},
            "spec": {
                "selector": {"matchLabels": {"app": "d"}},
                "template": {
                    "metadata": {"labels": {"app": "d"}},
                    "spec": {"containers": [{"name": "c", "image": "x"}]},
                },
            },
        },
    )
    status = apps.patch_namespaced_deployment_status(
        "d", "default", {"metadata": {"labels": {"app": "b"}}, "status": {"replicas": 1}}
    )
    assert status.metadata.labels == {"app": "a"} and status.status.replicas == 1


def test_pod_disruption_budget_status_is_typed_with_condition_times(simulated_cluster, kube_client):
    # The disruption controller sets a metav1.Condition (lastTransitionTime required, as the
    # official client's V1Condition enforces) and observedGeneration.
    cluster = simulated_cluster()
    policy = kube_api(client.PolicyV1Api, kube_client(cluster))
    policy.create_namespaced_pod_disruption_budget(
        "default",
        {"metadata": {"name": "guard"}, "spec": {"minAvailable": 1, "selector": {"matchLabels": {"a": "b"}}}},
    )
    budget = wait_for(
        lambda: (
            (b := policy.read_namespaced_pod_disruption_budget("guard", "default")).status.conditions and b
        )
    )
    condition = budget.status.conditions[0]
    assert (condition.type, condition.status, condition.reason) == (
        "DisruptionAllowed",
        "False",
        "InsufficientPods",
    )
    assert condition.last_transition_time is not None
    assert budget.status.observed_generation == budget.metadata.generation == condition.observed_generation
