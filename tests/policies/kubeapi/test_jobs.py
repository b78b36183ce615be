"""A Job through the endpoint with kubectl, divided over two members: ``kubectl wait
--for=condition=complete`` returns once every member's share completed, and the status says when
it started (the first member's start) and completed (the last one's), as Karmada aggregates them:
``kubectl describe`` prints both, and Flux's health check (kstatus) counts a Job without a start as
not started."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.fixtures.federation import job, pool
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
