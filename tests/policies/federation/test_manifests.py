"""Manifest intake: YAML or JSON, one Deployment or Job plus its ConfigMaps, Secrets and Services,
every problem reported with the path of the field."""

from __future__ import annotations

import json

import pytest
import yaml
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st

from policies.federation.manifests import parse_manifest, with_replicas
from tests.fixtures.federation import deployment, job


def problems(source) -> list[str]:
    with pytest.raises(ValidationError) as raised:
        parse_manifest(source)
    return raised.value.message_dict["manifest"]


def _deployment(**containers_override) -> dict:
    document = yaml.safe_load(deployment())
    document["spec"]["template"]["spec"]["containers"][0].update(containers_override)
    return document


def test_yaml_with_companions_parses_into_the_workload_and_its_objects() -> None:
    text = "\n---\n".join(
        [
            deployment(replicas=3, cpu="250m", memory="1Gi"),
            yaml.safe_dump(
                {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"}, "stringData": {"pw": "x"}}
            ),
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "metadata": {"name": "web"},
                    "spec": {"ports": [{"port": 80}]},
                }
            ),
        ]
    )
    parsed = parse_manifest(text)
    assert (parsed.kind, parsed.namespace, parsed.name, parsed.replicas) == ("Deployment", "shop", "web", 3)
    assert (parsed.requests.cpu_millis, parsed.requests.memory_mib) == (250, 1024)
    assert parsed.companion_summary == [{"kind": "Secret", "name": "db"}, {"kind": "Service", "name": "web"}]
    assert all(obj["metadata"]["namespace"] == "shop" for obj in parsed.companions)


def test_json_text_objects_and_kind_list_are_accepted() -> None:
    document = yaml.safe_load(deployment())
    assert parse_manifest(json.dumps(document)).name == "web"
    assert parse_manifest(document).name == "web"
    assert parse_manifest({"apiVersion": "v1", "kind": "List", "items": [document]}).name == "web"


def test_server_fields_are_dropped_before_storing() -> None:
    document = yaml.safe_load(deployment())
    document["status"] = {"readyReplicas": 1}
    document["metadata"].update({"uid": "x", "resourceVersion": "7", "managedFields": [{}]})
    document["metadata"]["annotations"] = {"kubectl.kubernetes.io/last-applied-configuration": "{}"}
    stored = parse_manifest(document).workload
    assert "status" not in stored and not {"uid", "resourceVersion", "managedFields", "annotations"} & set(
        stored["metadata"]
    )


def test_a_pod_requests_its_containers_sum_or_its_largest_init_container() -> None:
    document = _deployment()
    spec = document["spec"]["template"]["spec"]
    spec["containers"].append(
        {"name": "side", "image": "x", "resources": {"requests": {"cpu": "0.25", "memory": "128Mi"}}}
    )
    spec["initContainers"] = [
        {"name": "init", "image": "x", "resources": {"requests": {"cpu": "2", "memory": "64Mi"}}}
    ]
    requests = parse_manifest(document).requests
    assert (requests.cpu_millis, requests.memory_mib) == (2000, 256 + 128)


def test_a_replica_counts_its_sidecars_and_pod_overhead_by_the_kernels_sizing_rule() -> None:
    """One sizing rule with billing and the planner: a sidecar (an init container that keeps running)
    adds to the app containers, and the pod's overhead is on top."""
    document = _deployment()  # the app container: 500m, 256Mi
    spec = document["spec"]["template"]["spec"]
    spec["initContainers"] = [
        {
            "name": "proxy",
            "image": "envoy",
            "restartPolicy": "Always",
            "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
        }
    ]
    spec["overhead"] = {"cpu": "250m", "memory": "120Mi"}
    requests = parse_manifest(document).requests
    assert (requests.cpu_millis, requests.memory_mib) == (500 + 100 + 250, 256 + 64 + 120)


def test_quantities_written_as_yaml_numbers_count() -> None:
    text = deployment().replace("cpu: 500m", "cpu: 0.5").replace("memory: 256Mi", "memory: 268435456")
    assert "cpu: 0.5" in text
    requests = parse_manifest(text).requests
    assert (requests.cpu_millis, requests.memory_mib) == (500, 256)


def test_gpus_of_any_known_vendor_count() -> None:
    document = _deployment(resources={"requests": {"cpu": "4", "memory": "16Gi", "amd.com/gpu": 1}})
    assert parse_manifest(document).requests.gpus == 1


def test_an_unreadable_pod_overhead_is_reported() -> None:
    document = _deployment()
    document["spec"]["template"]["spec"]["overhead"] = {"cpu": "lots"}
    assert any("spec.template.spec: 'lots' is not a Kubernetes quantity" in m for m in problems(document))


def test_gpus_default_to_their_limit_as_kubernetes_does() -> None:
    document = _deployment(
        resources={"requests": {"cpu": "4", "memory": "16Gi"}, "limits": {"nvidia.com/gpu": 2}}
    )
    assert parse_manifest(document).requests.gpus == 2


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"resources": {"requests": {"cpu": "2 cores", "memory": "1Gi"}}},
            'spec.template.spec.containers[0].resources.requests.cpu: "2 cores" is not a Kubernetes quantity',
        ),
        (
            {"resources": {}},
            "spec.template.spec.containers[0].resources.requests: every container must request cpu and memory",
        ),
        ({"resources": {"requests": {"cpu": "1"}}}, "must request memory"),
        (
            {"resources": {"requests": {"cpu": "2", "memory": "1Gi"}, "limits": {"cpu": "1"}}},
            "limits.cpu: 1 is below requests.cpu (2)",
        ),
        ({"image": ""}, "spec.template.spec.containers[0].image: is required"),
        ({"name": "Web_1"}, "spec.template.spec.containers[0].name"),
        (
            {"resources": {"requests": {"cpu": "1", "memory": "1Gi", "nvidia.com/gpu": "0.5"}}},
            "GPUs are requested in whole devices",
        ),
    ],
)
def test_container_problems_name_the_field(change, expected) -> None:
    assert any(expected in message for message in problems(_deployment(**change)))


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("", "The manifest is empty"),
        ("kind: Deployment\n  bad: [", "not valid YAML at line"),
        ('{"kind": ', "not valid JSON at line 1"),
        (
            yaml.safe_dump({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "x"}}),
            'kind: "ReplicaSet" is not supported',
        ),
        (
            yaml.safe_dump({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "x"}}),
            "spec: is required",
        ),
        (yaml.safe_dump({"apiVersion": "extensions/v1beta1", "kind": "Deployment"}), "use apps/v1"),
        (
            yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}),
            "has no workload (Deployment, StatefulSet, DaemonSet, Job or CronJob)",
        ),
        (deployment("a") + "---\n" + deployment("b"), "holds 2 workloads (Deployment/a, Deployment/b)"),
        (deployment(replicas=-1), "spec.replicas: -1 must be a whole number from 0"),
        (deployment(name="Bad_Name"), 'metadata.name: "Bad_Name" must be a DNS subdomain'),
        (
            deployment()
            + "---\n"
            + yaml.safe_dump(
                {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "other"}}
            ),
            'ConfigMap/c: metadata.namespace: "other" differs from the Deployment\'s namespace "shop"',
        ),
        (
            deployment()
            + "---\n"
            + yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Secret",
                    "metadata": {"name": "s"},
                    "data": {"k": "not base64!"},
                }
            ),
            "Secret/s: data.k: is not base64",
        ),
    ],
)
def test_manifest_problems_are_refused_with_a_clear_message(source, expected) -> None:
    assert any(expected in message for message in problems(source)), problems(source)


def test_a_deployment_must_select_its_own_pods() -> None:
    document = yaml.safe_load(deployment())
    document["spec"]["selector"]["matchLabels"] = {"app": "other"}
    assert any("spec.selector.matchLabels: does not match" in m for m in problems(document))


def test_a_job_needs_a_restart_policy_it_can_use() -> None:
    document = yaml.safe_load(job())
    del document["spec"]["template"]["spec"]["restartPolicy"]
    assert any("restartPolicy: is required for a Job" in m for m in problems(document))
    document["spec"]["template"]["spec"]["restartPolicy"] = "Always"
    assert any('"Always" must be one of Never, OnFailure' in m for m in problems(document))


def test_every_problem_is_reported_at_once() -> None:
    document = _deployment(image="", resources={"requests": {"cpu": "lots"}})
    assert len(problems(document)) >= 3


def test_scaling_rewrites_the_replica_field_of_the_kind() -> None:
    assert with_replicas(yaml.safe_load(deployment()), 7)["spec"]["replicas"] == 7
    assert with_replicas(yaml.safe_load(job()), 5)["spec"]["parallelism"] == 5


@given(st.lists(st.tuples(st.integers(1, 64_000), st.integers(1, 64 * 1024)), min_size=1, max_size=5))
def test_replica_requests_are_the_sum_of_the_containers(containers) -> None:
    document = yaml.safe_load(deployment())
    document["spec"]["template"]["spec"]["containers"] = [
        {
            "name": f"c{index}",
            "image": "x",
            "resources": {"requests": {"cpu": f"{cpu}m", "memory": f"{memory}Mi"}},
        }
        for index, (cpu, memory) in enumerate(containers)
    ]
    requests = parse_manifest(document).requests
    assert requests.cpu_millis == sum(cpu for cpu, _ in containers)
    assert requests.memory_mib == sum(memory for _, memory in containers)
