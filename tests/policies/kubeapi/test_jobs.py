"""A Job through the endpoint with kubectl, divided over two members: ``kubectl wait
--for=condition=complete`` returns once every member's share completed, and the status says when
it started (the first member's start) and completed (the last one's), as Karmada aggregates them:
``kubectl describe`` prints both, and Flux's health check (kstatus) counts a Job without a start as
not started."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from kubernetes import client as kube

from policies.models import KubeObject
from tests.fixtures.federation import deployment, job, pool
from tests.policies.kubeapi.conftest import write_manifests

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_job_over_two_members_completes_with_its_start_and_completion_times(
    kubectl, member, policy, federation_loop, tmp_path
) -> None:
    east = member("east", {"cloud": "onprem"}, pools=(pool(2),))
    west = member("west", {"cloud": "onprem"}, pools=(pool(2),))
    policy("everywhere", strategy="spread", spread={"spread_by": "cluster"})
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "jobs"}}
    batch = yaml.safe_load(job("batch", parallelism=2, completions=4, run_seconds=1))
    applied = kubectl(
        "apply", "-f", str(write_manifests(tmp_path / "jobs", {"0-ns": namespace, "batch": batch}))
    )
    assert applied.returncode == 0, applied.stderr

    waited = kubectl(
        "wait", "--for=condition=complete", "job/batch", "-n", "jobs", "--timeout=90s", timeout=120
    )
    assert waited.returncode == 0, waited.stderr
    status = json.loads(kubectl("get", "job", "batch", "-n", "jobs", "-o", "json").stdout)["status"]
    members = [m.batch.read_namespaced_job("batch", "jobs").status for m in (east, west)]
    starts = [m.start_time for m in members]
    ends = [m.completion_time for m in members]
    assert status["startTime"] == min(starts).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert status["completionTime"] == max(ends).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert status["succeeded"] == 4
    described = kubectl("describe", "job", "batch", "-n", "jobs").stdout
    assert "Start Time:" in described and "Completed At:" in described, described


def test_kubectl_logs_of_a_job_reads_its_pods_in_the_members_not_its_neighbours(
    cast, api, kubectl, member, policy, federation_loop, tmp_path
) -> None:
    """kube-apiserver gives a Job a selector generated from its uid, and its pods the labels it
    selects: the endpoint serves its Job so, members get their copies without it (each generates its
    own, and refuses one it did not), and the pods served carry the endpoint's Job's uid, so
    ``kubectl logs job/NAME`` finds them, not a Deployment's pods beside it."""
    east = member("east", {"cloud": "onprem"}, pools=(pool(2),))
    policy("default", strategy="cheapest")
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "jobs"}}
    batch = yaml.safe_load(job("batch", parallelism=1, completions=1, run_seconds=1))
    web = yaml.safe_load(deployment("aaa-web", replicas=1, namespace="jobs"))  # listed before the Job's pod
    documents = {"0-ns": namespace, "batch": batch, "web": web}
    assert kubectl("apply", "-f", str(write_manifests(tmp_path / "jobs", documents))).returncode == 0
    waited = kubectl(
        "wait", "--for=condition=complete", "job/batch", "-n", "jobs", "--timeout=90s", timeout=120
    )
    assert waited.returncode == 0, waited.stderr

    served = json.loads(kubectl("get", "job", "batch", "-n", "jobs", "-o", "json").stdout)
    uid = served["metadata"]["uid"]
    assert served["spec"]["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    assert served["spec"]["template"]["metadata"]["labels"]["job-name"] == "batch"
    copy = east.batch.read_namespaced_job("batch", "jobs")
    assert copy.spec.selector.match_labels["batch.kubernetes.io/controller-uid"] == copy.metadata.uid != uid

    logs = kubectl("logs", "job/batch", "-n", "jobs")
    assert logs.returncode == 0 and "of pod jobs/batch-" in logs.stdout, logs.stdout + logs.stderr
    selected = kubectl("get", "pods", "-n", "jobs", "-l", f"controller-uid={uid}", "-o", "name")
    assert selected.stdout.split() == [
        f"pod/{p.metadata.name}"
        for p in east.core.list_namespaced_pod("jobs", label_selector="job-name=batch").items
    ]

    # What was read, written back, changes nothing; neither does applying the file again (the
    # loop may still write the Job's status meanwhile: its body is what must not move).
    stored = KubeObject.objects.get(organization=cast.org_a, kind="Job", name="batch")
    batch_api: Any = kube.BatchV1Api(api)  # sends the object as read (kubectl replace updates an annotation)
    batch_api.replace_namespaced_job("batch", "jobs", {k: v for k, v in served.items() if k != "status"})
    assert kubectl("apply", "-f", str(write_manifests(tmp_path / "jobs", documents))).returncode == 0
    after = KubeObject.objects.get(pk=stored.pk)
    assert (after.body, after.generation) == (stored.body, 1)
