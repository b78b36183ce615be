"""Workers killed mid-step (really killed: the process exits at the crash point) and workers racing:
no leaked instance, no duplicate launch, every pod ends up where it was planned."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from clusters.models import NodeState
from tests.fixtures.simulation import wait_for
from workers.provisioning.crash import ENV as CRASH_ENV

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[3]
WORKER = (
    "import sys, django; django.setup();"
    "from workers.provisioning.reconcile import reconcile_cluster;"
    "print(reconcile_cluster(sys.argv[1]).outcome)"
)


def _worker(nodeless, crash_at: str | None = None) -> subprocess.Popen[str]:
    database = settings.DATABASES["default"]
    aws_endpoint_url = settings.NODELESS_AWS_ENDPOINT_URL
    eks_endpoint_overrides = settings.NODELESS_EKS_ENDPOINT_OVERRIDES
    assert aws_endpoint_url is not None and eks_endpoint_overrides is not None
    env: dict[str, str] = {
        **os.environ,
        "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}",
        "NODELESS_AWS_ENDPOINT_URL": aws_endpoint_url,
        "NODELESS_EKS_ENDPOINT_OVERRIDES": eks_endpoint_overrides,
        "NODELESS_LEASE_SECONDS": "1",
    }
    env.pop(CRASH_ENV, None)
    if crash_at:
        env[CRASH_ENV] = crash_at
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, str(nodeless.cluster.pk)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _run(nodeless, crash_at: str | None = None) -> int:
    process = _worker(nodeless, crash_at)
    _, stderr = process.communicate(timeout=120)
    if process.returncode not in (0, 137):
        raise AssertionError(stderr)
    return process.returncode


def _our_live_instances(nodeless) -> list[str]:
    ec2 = nodeless.aws.cloud.admin.client("ec2", nodeless.aws.cloud.customer_account_id)
    reservations = ec2.describe_instances(
        Filters=[
            {"Name": "tag:nodeless.io/cluster", "Values": [str(nodeless.cluster.pk)]},
            {"Name": "instance-state-name", "Values": ["pending", "running"]},
        ]
    )["Reservations"]
    return [i["InstanceId"] for r in reservations for i in r["Instances"]]


def _assert_consistent(nodeless) -> None:
    live = sorted(_our_live_instances(nodeless))
    owned = sorted(r.instance_id for r in nodeless.rows() if r.state in (NodeState.PENDING, NodeState.READY))
    assert live == owned, f"instances {live} vs rows {owned}"
    tokens = [r.idempotency_token for r in nodeless.rows()]
    assert len(tokens) == len(set(tokens))


@pytest.mark.parametrize("crash_at", ["after_row", "after_launch"])
def test_a_worker_killed_around_the_launch_leaves_one_instance(nodeless, crash_at: str) -> None:
    nodeless.policy(packing="isolate")
    for name in ("c1", "c2"):
        nodeless.create_pod(name, cpu="500m", memory="512Mi", run_seconds=3600)
    assert _run(nodeless, crash_at) == 137
    rows = nodeless.rows()
    assert len(rows) == 2 and {row.state for row in rows} == {NodeState.LAUNCHING}
    if crash_at == "after_launch":
        assert len(_our_live_instances(nodeless)) == 2  # launched, but not recorded
    assert _run(nodeless) == 0  # the next worker resumes with the same token
    nodeless.until(lambda: all(nodeless.pod(n).status.phase == "Running" for n in ("c1", "c2")))
    assert len(nodeless.rows()) == 2
    _assert_consistent(nodeless)


def test_a_worker_killed_before_binding_lets_the_next_one_bind_as_planned(nodeless) -> None:
    nodeless.create_pod("b1", cpu="500m", memory="512Mi", run_seconds=3600)
    nodeless.reconcile()
    (row,) = nodeless.rows()
    planned_for = {entry["name"] for entry in row.planned_pods}
    # Workers run until one dies at the bind (the node must be Ready first).
    wait_for(lambda: _run(nodeless, "before_bind") == 137, timeout=30, interval=0.1)
    assert not nodeless.pod("b1").spec.node_name
    nodeless.until(lambda: nodeless.pod("b1").spec.node_name)
    row.refresh_from_db()
    assert planned_for == {"b1"} and nodeless.pod("b1").spec.node_name == row.node_name
    _assert_consistent(nodeless)


def test_a_worker_killed_during_a_drain_leaves_no_instance_behind(nodeless) -> None:
    nodeless.create_pod("d1", cpu="500m", memory="512Mi", run_seconds=3600)
    nodeless.until(lambda: nodeless.pod("d1").status.phase == "Running")
    (row,) = nodeless.rows(state=NodeState.READY)
    row.state, row.reason = NodeState.DRAINING, "draining for the test"
    row.save(update_fields=["state", "reason"])
    assert _run(nodeless, "during_drain") == 137
    assert nodeless.core.read_node(row.node_name).spec.unschedulable
    nodeless.until(
        lambda: row.refresh_from_db() or row.state in (NodeState.TERMINATING, NodeState.TERMINATED)
    )
    nodeless.until(lambda: not _our_live_instances(nodeless))


def test_two_workers_racing_on_one_cluster_launch_each_node_once(nodeless) -> None:
    nodeless.policy(packing="isolate")
    for index in range(4):
        nodeless.create_pod(f"r{index}", cpu="250m", memory="256Mi", run_seconds=3600)
    first, second = _worker(nodeless), _worker(nodeless)
    outcomes = sorted(p.communicate(timeout=120)[0].strip() for p in (first, second))
    assert "done" in outcomes
    nodeless.until(lambda: all(nodeless.pod(f"r{i}").status.phase == "Running" for i in range(4)))
    assert len(nodeless.rows()) == 4
    _assert_consistent(nodeless)
