"""A Deployment's rollout history on the endpoint, as a cluster keeps it: each pod template change is
a new revision, the earlier templates are old ReplicaSets scaled to zero, so ``kubectl rollout
history`` lists them and ``kubectl rollout undo`` goes back (its annotations with it), and the
member runs the template gone back to."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from policies.kubeapi.revisions import REVISION
from policies.models import Workload
from tests.fixtures.federation import deployment, pool
from tests.fixtures.simulation import wait_for
from tests.policies.kubeapi.conftest import write_manifests
from tests.policies.kubeapi.test_kubectl import NAMESPACE

WEB = "/k8s/apis/apps/v1/namespaces/shop/deployments/web"
MERGE = "application/merge-patch+json"


def _revisions(kubectl: Any) -> list[str]:
    """The revision numbers ``kubectl rollout history`` lists."""
    history = kubectl("rollout", "history", "deployment/web", "-n", "shop")
    assert history.returncode == 0, history.stderr
    return [line.split()[0] for line in history.stdout.splitlines()[2:] if line.strip()]


def _image(kubectl: Any) -> str:
    found = json.loads(kubectl("get", "deployment", "web", "-n", "shop", "-o", "json").stdout)
    return str(found["spec"]["template"]["spec"]["containers"][0]["image"])


@pytest.mark.django_db(transaction=True)
def test_rollout_history_and_undo_go_back_to_an_earlier_template_on_the_members(
    cast, kubectl, member, policy, federation_loop, tmp_path
) -> None:
    east = member("east", {"cloud": "onprem"}, pools=(pool(2),))
    policy("default", strategy="cheapest")
    web = yaml.safe_load(deployment("web", replicas=1))
    web["metadata"]["annotations"] = {"team": "shop"}
    applied = kubectl("apply", "-f", str(write_manifests(tmp_path / "app", {"0-ns": NAMESPACE, "web": web})))
    assert applied.returncode == 0, applied.stderr
    assert kubectl("set", "image", "deployment/web", "app=nginx:1.28", "-n", "shop").returncode == 0
    rollout = kubectl("rollout", "status", "deployment/web", "-n", "shop", "--timeout=60s")
    assert rollout.returncode == 0, rollout.stderr
    assert _revisions(kubectl) == ["1", "2"]
    shown = kubectl("rollout", "history", "deployment/web", "-n", "shop", "--revision=1")
    assert "nginx:1.27" in shown.stdout, shown.stdout

    undone = kubectl("rollout", "undo", "deployment/web", "-n", "shop")
    assert undone.returncode == 0 and "deployment.apps/web rolled back" in undone.stdout, undone.stderr
    assert _image(kubectl) == "nginx:1.27"
    # Going back makes the template the newest revision; its old number goes.
    assert _revisions(kubectl) == ["2", "3"]
    served = json.loads(kubectl("get", "deployment", "web", "-n", "shop", "-o", "json").stdout)
    assert served["metadata"]["annotations"]["team"] == "shop"  # handed back from the ReplicaSet
    assert served["metadata"]["annotations"][REVISION] == "3"

    def member_runs(image: str) -> bool:
        found = east.apps.read_namespaced_deployment("web", "shop")
        return bool(found.spec.template.spec.containers[0].image == image)

    wait_for(lambda: member_runs("nginx:1.27"), timeout=60.0, interval=0.3)
    # The numbering is the endpoint's: the members' controllers number their own.
    manifest = Workload.objects.get(organization=cast.org_a, name="web").manifest
    assert REVISION not in (manifest["metadata"].get("annotations") or {})
    to_two = kubectl("rollout", "undo", "deployment/web", "-n", "shop", "--to-revision=2")
    assert to_two.returncode == 0, to_two.stderr
    assert _image(kubectl) == "nginx:1.28" and _revisions(kubectl) == ["3", "4"]
    missing = kubectl("rollout", "undo", "deployment/web", "-n", "shop", "--to-revision=9")
    assert missing.returncode != 0 and "unable to find specified revision 9" in missing.stderr


@pytest.mark.django_db
def test_the_history_keeps_at_most_its_limit_and_a_write_of_the_same_template_is_no_revision(shop) -> None:
    web = yaml.safe_load(deployment("web", replicas=1))
    web["spec"]["revisionHistoryLimit"] = 1
    assert shop.send("post", "/k8s/apis/apps/v1/namespaces/shop/deployments", web).status_code == 201
    for image in ("nginx:1.28", "nginx:1.29"):
        patch = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": image}]}}}}
        assert (
            shop.send("patch", WEB, patch, content_type="application/strategic-merge-patch+json").status_code
            == 200
        )
    scaled = shop.send("patch", WEB, {"spec": {"replicas": 3}}, content_type=MERGE)
    assert scaled.json()["metadata"]["annotations"][REVISION] == "3"  # scaling is no new revision
    sets = shop.get("/k8s/apis/apps/v1/namespaces/shop/replicasets").json()["items"]
    revisions = sorted((int(rs["metadata"]["annotations"][REVISION]), rs["spec"]["replicas"]) for rs in sets)
    assert revisions == [(2, 0), (3, 3)]  # the current one and the one kept
    old = next(rs for rs in sets if rs["spec"]["replicas"] == 0)
    assert shop.get(f"/k8s/apis/apps/v1/namespaces/shop/replicasets/{old['metadata']['name']}").json() == old
