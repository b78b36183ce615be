"""The snippets that apply a right-sizing recommendation: Kubernetes quantities rounded up, a
strategic merge patch by container name, a manifest fragment where no patch applies."""

from __future__ import annotations

import json
import shlex

from billing.resize_snippets import (
    ContainerResources,
    cpu_quantity,
    kubectl_patch,
    manifest_fragment,
    memory_quantity,
)


def test_quantities_are_written_as_kubernetes_writes_them_rounded_up() -> None:
    assert (cpu_quantity(0.25), cpu_quantity(2.0), cpu_quantity(0.0101), cpu_quantity(0)) == (
        "250m",
        "2",
        "11m",
        "1m",
    )
    assert (memory_quantity(0.5), memory_quantity(2.0), memory_quantity(0.1)) == ("512Mi", "2Gi", "103Mi")


def test_the_patch_sets_every_containers_requests_by_name() -> None:
    containers = [
        ContainerResources("app", 0.25, 0.5),
        ContainerResources("proxy", 0.05, 0.0625, memory_limit_gib=0.125),
    ]
    command = kubectl_patch("shop", "Deployment/web", containers)
    assert command is not None
    words = shlex.split(command)
    assert words[:6] == ["kubectl", "-n", "shop", "patch", "deployment", "web"]
    patch = json.loads(words[words.index("-p") + 1])
    assert patch["spec"]["template"]["spec"]["containers"] == [
        {"name": "app", "resources": {"requests": {"cpu": "250m", "memory": "512Mi"}}},
        {
            "name": "proxy",
            "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}},
        },
    ]


def test_a_job_or_a_bare_pod_gets_a_manifest_fragment_but_no_patch() -> None:
    containers = [ContainerResources("main", 1.0, 1.0)]
    assert kubectl_patch("batch", "Job/train-1", containers) is None
    assert kubectl_patch("batch", "Pod/one-off", containers) is None
    fragment = manifest_fragment("batch", "Job/train-1", containers)
    assert fragment.splitlines()[0] == "# Job train-1 in namespace batch"
    assert '        - name: "main"' in fragment
    assert '              cpu: "1"' in fragment and '              memory: "1Gi"' in fragment
