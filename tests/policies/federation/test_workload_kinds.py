"""StatefulSets, DaemonSets and CronJobs as federated workloads: what a manifest of each must hold,
what the policy divides (replicas, a CronJob's parallelism and completions; a DaemonSet is one
copy per member), the share written for a member, and the companions that follow a workload
(PVCs by claim, HPAs by target, Ingresses by backend Service, RoleBindings by ServiceAccount and
the Roles they name)."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError

from policies.federation.manifests import parse_manifest
from policies.federation.workload_kinds import pod_template, with_replicas, with_share
from policies.kubeapi.companions import following

CONTAINER = {"name": "app", "image": "nginx:1", "resources": {"requests": {"cpu": "250m", "memory": "128Mi"}}}


def statefulset(replicas: int = 3) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "db", "namespace": "shop"},
        "spec": {
            "replicas": replicas,
            "serviceName": "db",
            "selector": {"matchLabels": {"app": "db"}},
            "template": {
                "metadata": {"labels": {"app": "db"}},
                "spec": {
                    "serviceAccountName": "db",
                    "containers": [CONTAINER],
                    "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "db-data"}}],
                },
            },
        },
    }


def daemonset() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "agent", "namespace": "shop"},
        "spec": {
            "selector": {"matchLabels": {"app": "agent"}},
            "template": {"metadata": {"labels": {"app": "agent"}}, "spec": {"containers": [CONTAINER]}},
        },
    }


def cronjob(**job_spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "report", "namespace": "shop"},
        "spec": {
            "schedule": "*/5 * * * *",
            "jobTemplate": {
                "spec": {
                    **job_spec,
                    "template": {"spec": {"restartPolicy": "Never", "containers": [CONTAINER]}},
                }
            },
        },
    }


def problems(source: Any) -> list[str]:
    with pytest.raises(ValidationError) as refused:
        parse_manifest(source)
    return list(refused.value.message_dict["manifest"])


def test_each_kind_says_what_the_policy_divides() -> None:
    stateful = parse_manifest(statefulset(3))
    assert (stateful.kind, stateful.replicas, stateful.completions) == ("StatefulSet", 3, None)
    assert stateful.requests.cpu_millis == 250
    assert parse_manifest(daemonset()).replicas == 1  # one copy in each member
    scheduled = parse_manifest(cronjob(parallelism=4, completions=8))
    assert (scheduled.kind, scheduled.replicas, scheduled.completions) == ("CronJob", 4, 8)


def test_a_member_gets_its_share_in_the_field_of_its_kind() -> None:
    assert with_share(statefulset(3), 2, None)["spec"]["replicas"] == 2
    shared = with_share(cronjob(parallelism=4, completions=8), 1, 2)["spec"]["jobTemplate"]["spec"]
    assert (shared["parallelism"], shared["completions"]) == (1, 2)
    assert with_share(daemonset(), 5, None) == daemonset()  # copied whole
    scaled = with_replicas(cronjob(parallelism=4, completions=8), 6)["spec"]["jobTemplate"]["spec"]
    assert (scaled["parallelism"], scaled["completions"]) == (6, 8)
    assert pod_template(cronjob())["spec"]["restartPolicy"] == "Never"


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({**cronjob(), "spec": {**cronjob()["spec"], "schedule": ""}}, "spec.schedule: is required"),
        (
            {**cronjob(), "spec": {"schedule": "* * * * *"}},
            "spec.jobTemplate.spec: is required",
        ),
        (
            cronjob(parallelism=0),
            "spec.jobTemplate.spec.parallelism",
        ),
        (
            {
                **daemonset(),
                "spec": {**daemonset()["spec"], "selector": {"matchLabels": {"app": "other"}}},
            },
            "spec.selector.matchLabels: does not match",
        ),
    ],
)
def test_bad_workloads_of_the_new_kinds_are_refused_with_the_field(document, expected) -> None:
    assert any(expected in message for message in problems(document)), problems(document)


def test_a_cronjob_pod_must_run_to_completion() -> None:
    document = cronjob()
    document["spec"]["jobTemplate"]["spec"]["template"]["spec"]["restartPolicy"] = "Always"
    assert any(
        'spec.jobTemplate.spec.template.spec.restartPolicy: "Always" must be one of Never, OnFailure' in m
        for m in problems(document)
    )


def _object(kind: str, name: str, api_version: str = "v1", **fields: Any) -> dict[str, Any]:
    return {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"name": name, "namespace": "shop"},
        **fields,
    }


def test_companions_follow_the_workload_that_uses_them() -> None:
    service = _object("Service", "db", spec={"selector": {"app": "db"}, "ports": [{"port": 5432}]})
    other_service = _object("Service", "web", spec={"selector": {"app": "web"}})
    stored = [
        service,
        other_service,
        _object("PersistentVolumeClaim", "db-data", spec={"accessModes": ["ReadWriteOnce"]}),
        _object("PersistentVolumeClaim", "unused"),
        _object("ServiceAccount", "db"),
        _object(
            "HorizontalPodAutoscaler",
            "db",
            "autoscaling/v2",
            spec={"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "db"}},
        ),
        _object(
            "HorizontalPodAutoscaler",
            "web",
            "autoscaling/v2",
            spec={"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "db"}},
        ),
        _object(
            "Ingress",
            "db",
            "networking.k8s.io/v1",
            spec={"rules": [{"http": {"paths": [{"path": "/", "backend": {"service": {"name": "db"}}}]}}]},
        ),
        _object(
            "Ingress", "web", "networking.k8s.io/v1", spec={"defaultBackend": {"service": {"name": "web"}}}
        ),
        _object(
            "RoleBinding",
            "db-reads",
            "rbac.authorization.k8s.io/v1",
            subjects=[{"kind": "ServiceAccount", "name": "db"}],
            roleRef={"kind": "Role", "name": "reader", "apiGroup": "rbac.authorization.k8s.io"},
        ),
        _object(
            "RoleBinding",
            "others",
            "rbac.authorization.k8s.io/v1",
            subjects=[{"kind": "ServiceAccount", "name": "default"}],
            roleRef={"kind": "Role", "name": "writer", "apiGroup": "rbac.authorization.k8s.io"},
        ),
        _object("Role", "reader", "rbac.authorization.k8s.io/v1", rules=[]),
        _object("Role", "writer", "rbac.authorization.k8s.io/v1", rules=[]),
    ]
    found = [(o["kind"], o["metadata"]["name"]) for o in following(stored, "shop", statefulset())]
    assert found == [
        ("HorizontalPodAutoscaler", "db"),
        ("Ingress", "db"),
        ("PersistentVolumeClaim", "db-data"),
        ("Role", "reader"),
        ("RoleBinding", "db-reads"),
        ("Service", "db"),
        ("ServiceAccount", "db"),
    ]
    # ...and the whole set is a manifest the federation accepts (the REST API and paste form too).
    parsed = parse_manifest([statefulset(), *[stored[i] for i in (0, 2, 4, 5, 7, 9, 11)]])
    assert len(parsed.companions) == 7


@pytest.mark.django_db
def test_a_daemonset_cannot_be_scaled_through_the_rest_api(cast, api_a, policy) -> None:
    policy("default")
    created = api_a.post("/api/v1/workloads/", {"manifest": daemonset()}, format="json")
    assert created.status_code == 201, created.content
    scaled = api_a.patch(f"/api/v1/workloads/{created.json()['id']}/", {"replicas": 3}, format="json")
    assert scaled.status_code == 400 and "one pod per node" in scaled.content.decode()
