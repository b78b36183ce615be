"""The endpoint defaults the workload kinds' specs as kube-apiserver does, on write and on read: an
object stored before the defaults is served with them, writing back what was read changes nothing,
and the strategy checks refuse what kube-apiserver refuses (a rolling update's parameters on a
Recreate Deployment)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from policies.kubeapi.defaults import defaulted
from policies.models import KubeObject, Workload
from tests.fixtures.federation import deployment

WEB = "/k8s/apis/apps/v1/namespaces/shop/deployments/web"


def _deployment(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": spec}


def test_a_deployment_gets_replicas_a_rolling_update_history_and_a_deadline_and_its_input_is_kept() -> None:
    sent = _deployment(strategy={"rollingUpdate": {"maxSurge": 1}})
    before = copy.deepcopy(sent)
    assert defaulted("apps", sent)["spec"] == {
        "replicas": 1,
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": 1}},
        "revisionHistoryLimit": 10,
        "progressDeadlineSeconds": 600,
    }
    assert sent == before  # a stored body's nested values are shared with its row: never changed
    recreate = defaulted("apps", _deployment(replicas=0, strategy={"type": "Recreate"}))["spec"]
    assert recreate["strategy"] == {"type": "Recreate"} and recreate["replicas"] == 0


def test_sets_get_kube_apiservers_update_strategies() -> None:
    def stateful(**spec: Any) -> dict[str, Any]:
        return defaulted("apps", {"kind": "StatefulSet", "spec": spec})["spec"]

    assert stateful()["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}
    # An explicit rolling update without parameters gets no partition, as kube-apiserver leaves it.
    assert stateful(updateStrategy={"type": "RollingUpdate"})["updateStrategy"] == {"type": "RollingUpdate"}
    assert stateful(updateStrategy={"type": "OnDelete"})["updateStrategy"] == {"type": "OnDelete"}
    filled = stateful(persistentVolumeClaimRetentionPolicy={"whenDeleted": "Delete"})
    assert filled["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Delete", "whenScaled": "Retain"}
    assert (filled["replicas"], filled["podManagementPolicy"], filled["revisionHistoryLimit"]) == (
        1,
        "OrderedReady",
        10,
    )
    daemon = defaulted("apps", {"kind": "DaemonSet", "spec": {}})["spec"]
    assert daemon["updateStrategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0},
    }


def test_jobs_and_cronjobs_get_theirs_and_other_kinds_none() -> None:
    def job(**spec: Any) -> dict[str, Any]:
        return defaulted("batch", {"kind": "Job", "spec": spec})["spec"]

    assert {k: job()[k] for k in ("completions", "parallelism", "backoffLimit", "podReplacementPolicy")} == {
        "completions": 1,
        "parallelism": 1,
        "backoffLimit": 6,
        "podReplacementPolicy": "TerminatingOrFailed",
    }
    assert "completions" not in job(parallelism=4)  # a work queue: done when any pod succeeds
    assert job(backoffLimitPerIndex=1)["backoffLimit"] == 2**31 - 1
    assert job(podFailurePolicy={"rules": []})["podReplacementPolicy"] == "Failed"
    cron = defaulted("batch", {"kind": "CronJob", "spec": {"schedule": "* * * * *"}})["spec"]
    assert (
        cron["concurrencyPolicy"],
        cron["successfulJobsHistoryLimit"],
        cron["failedJobsHistoryLimit"],
    ) == (
        "Allow",
        3,
        1,
    )
    # A port that names no number (refused by validation) gets no target port of None.
    ports = defaulted(
        "", {"kind": "Service", "spec": {"ports": [{"name": "web"}, {"port": 80, "targetPort": "http"}]}}
    )
    assert ports["spec"]["ports"] == [
        {"protocol": "TCP", "name": "web"},
        {"protocol": "TCP", "port": 80, "targetPort": "http"},
    ]
    claim = {"kind": "PersistentVolumeClaim", "spec": {"resources": {}}}
    assert defaulted("", claim) is claim
    assert defaulted("example.com", _deployment()) == _deployment()  # a custom kind of the same name


@pytest.mark.django_db
def test_an_object_stored_before_the_defaults_is_served_with_them_and_a_write_back_changes_nothing(
    cast, shop
) -> None:
    manifest = yaml.safe_load(deployment("web", replicas=2))
    assert shop.send("post", "/k8s/apis/apps/v1/namespaces/shop/deployments", manifest).status_code == 201
    # As a release without defaults stored it: no strategy, history limit or deadline.
    kobj = KubeObject.objects.get(organization=cast.org_a, kind="Deployment", name="web")
    kobj.body = {**kobj.body, "spec": manifest["spec"]}
    kobj.save(update_fields=["body"])

    served = shop.get(WEB).json()
    assert served["spec"]["strategy"]["rollingUpdate"] == {"maxUnavailable": "25%", "maxSurge": "25%"}
    assert served["spec"]["progressDeadlineSeconds"] == 600
    # helm install --wait: replicas - maxUnavailable (25% of 2, rounded down) pods must be ready.
    assert served["spec"]["replicas"] == 2
    workload = Workload.objects.get(organization=cast.org_a, name="web")

    put = shop.send("put", WEB, served)
    assert put.status_code == 200, put.json()
    assert put.json()["metadata"]["resourceVersion"] == served["metadata"]["resourceVersion"]
    assert put.json()["metadata"]["generation"] == served["metadata"]["generation"]
    assert Workload.objects.get(pk=workload.pk).generation == workload.generation


@pytest.mark.django_db
def test_a_rolling_updates_parameters_on_a_recreate_deployment_are_refused_as_kube_apiserver_does(
    shop,
) -> None:
    manifest = yaml.safe_load(deployment("web", replicas=2))
    assert shop.send("post", "/k8s/apis/apps/v1/namespaces/shop/deployments", manifest).status_code == 201
    merge = "application/merge-patch+json"
    refused = shop.send("patch", WEB, {"spec": {"strategy": {"type": "Recreate"}}}, content_type=merge)
    assert refused.status_code == 422, refused.json()
    causes = refused.json()["details"]["causes"]
    assert any(
        cause["field"] == "spec.strategy.rollingUpdate"
        and "may not be specified when strategy `type` is 'Recreate'" in cause["message"]
        for cause in causes
    ), causes
    patch = {"spec": {"strategy": {"type": "Recreate", "rollingUpdate": None}}}
    accepted = shop.send("patch", WEB, patch, content_type=merge)
    assert accepted.status_code == 200, accepted.json()
    assert accepted.json()["spec"]["strategy"] == {"type": "Recreate"}
    unknown = shop.send("patch", WEB, {"spec": {"strategy": {"type": "BlueGreen"}}}, content_type=merge)
    assert unknown.status_code == 422
    assert 'Unsupported value: "BlueGreen": supported values: "Recreate", "RollingUpdate"' in str(
        unknown.json()
    )
