"""kubectl against the endpoint: apply a directory (Deployment, Service, ConfigMap, HPA), rollout
status while the loop places it on a simulated member, get (tables, -w), server-side apply and its
conflicts, delete (waiting for the members), Status errors, and another organization's token."""

from __future__ import annotations

import json
import subprocess
import time
from typing import Any

import pytest
import yaml
from kubernetes import client as kube

from policies.models import Workload
from tenants.actors import Actor
from tenants.services.tokens import api_token_create
from tests.fixtures.federation import deployment, pool
from tests.policies.federation.test_workload_kinds import daemonset, statefulset
from tests.policies.kubeapi.conftest import STORAGE_CLASS, add_storage_class, write_manifests

pytestmark = pytest.mark.django_db(transaction=True)
NAMESPACE = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}


def _web() -> dict:
    web = yaml.safe_load(deployment(replicas=2))
    web["spec"]["template"]["spec"]["containers"][0]["envFrom"] = [{"configMapRef": {"name": "web-config"}}]
    # The pods use 80 % of their CPU request, the HPA's default target: it keeps any count (the
    # members' HPAs would otherwise scale a count kubectl sets, as an HPA does on a cluster).
    usage = '{"app": {"cpu": "400m", "memory": "128Mi"}}'
    web["spec"]["template"]["metadata"]["annotations"] = {"simulator.nodeless.io/usage": usage}
    return web


def _documents() -> dict[str, dict]:
    return {
        "0-namespace": NAMESPACE,
        "config": {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "web-config", "namespace": "shop"},
            "data": {"MODE": "prod"},
        },
        "service": {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
        },
        "web": _web(),
        "hpa": {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                "minReplicas": 2,
                "maxReplicas": 4,
            },
        },
    }


@pytest.fixture
def one_member(member, policy):
    found = member("east", {"cloud": "aws", "region": "us-east-1"}, pools=(pool(2),))
    policy("default", strategy="cheapest")
    return found


def test_apply_a_directory_then_rollout_status_get_and_delete(
    cast, kubectl, one_member, federation_loop, tmp_path
) -> None:
    directory = write_manifests(tmp_path / "app", _documents())
    applied = kubectl("apply", "-f", str(directory))
    assert applied.returncode == 0, applied.stderr
    for line in (
        "namespace/shop created",
        "configmap/web-config created",
        "service/web created",
        "deployment.apps/web created",
        "horizontalpodautoscaler.autoscaling/web created",
    ):
        assert line in applied.stdout, applied.stdout
    # The HPA follows the Deployment it scales: no Warning that it stays on the endpoint.
    assert "Warning" not in applied.stderr, applied.stderr

    rollout = kubectl("rollout", "status", "deployment/web", "-n", "shop", "--timeout=60s")
    assert rollout.returncode == 0, rollout.stderr
    assert 'deployment "web" successfully rolled out' in rollout.stdout

    listed = kubectl("get", "deploy", "-n", "shop")
    assert listed.returncode == 0, listed.stderr
    header, row = listed.stdout.splitlines()[:2]
    assert header.split()[:4] == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE"] and row.split()[:4] == [
        "web",
        "2/2",
        "2",
        "2",
    ]
    assert one_member.deployment_replicas("shop", "web") == 2
    everything = kubectl("get", "all", "-n", "shop")
    assert everything.returncode == 0, everything.stderr
    assert "deployment.apps/web" in everything.stdout and "service/web" in everything.stdout
    assert "horizontalpodautoscaler.autoscaling/web" in everything.stdout
    assert one_member.core.read_namespaced_config_map("web-config", "shop").data == {"MODE": "prod"}
    assert one_member.core.read_namespaced_service("web", "shop").spec.selector == {"app": "web"}
    member_hpa = kube.AutoscalingV2Api(one_member.api_client).read_namespaced_horizontal_pod_autoscaler
    assert member_hpa("web", "shop").spec.scale_target_ref.name == "web"
    # Applying the same directory again changes nothing.
    again = kubectl("apply", "-f", str(directory))
    assert "deployment.apps/web unchanged" in again.stdout, again.stdout

    deleted = kubectl("delete", "deployment", "web", "-n", "shop", "--timeout=60s")
    assert deleted.returncode == 0, deleted.stderr
    assert 'deployment.apps "web" deleted' in deleted.stdout
    assert one_member.deployment_replicas("shop", "web") is None
    assert not Workload.objects.filter(organization=cast.org_a, name="web").exists()


def test_server_side_apply_and_its_conflicts(kubectl, one_member, tmp_path) -> None:
    directory = write_manifests(tmp_path / "app", {"0-namespace": NAMESPACE, "web": _web()})
    first = kubectl("apply", "--server-side", "-f", str(directory))
    assert first.returncode == 0, first.stderr
    assert "deployment.apps/web serverside-applied" in first.stdout
    scaled = _web() | {"spec": {**_web()["spec"], "replicas": 3}}
    write_manifests(directory, {"web": scaled})
    conflict = kubectl("apply", "--server-side", "--field-manager=other", "-f", str(directory))
    assert conflict.returncode != 0
    assert 'conflict with "kubectl"' in conflict.stderr and ".spec.replicas" in conflict.stderr
    forced = kubectl(
        "apply", "--server-side", "--field-manager=other", "--force-conflicts", "-f", str(directory)
    )
    assert forced.returncode == 0, forced.stderr
    assert Workload.objects.get(name="web").desired_replicas == 3
    # The new owner applies again, as a GitOps controller does on every sync: no conflict with itself.
    write_manifests(directory, {"web": _web() | {"spec": {**_web()["spec"], "replicas": 4}}})
    again = kubectl("apply", "--server-side", "--field-manager=other", "-f", str(directory))
    assert again.returncode == 0, again.stderr
    assert Workload.objects.get(name="web").desired_replicas == 4


def test_get_watch_streams_a_change(kubectl, one_member, tmp_path) -> None:
    early = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "early", "namespace": "shop"}}
    directory = write_manifests(tmp_path / "ns", {"0-ns": NAMESPACE, "early": early})
    assert kubectl("apply", "-f", str(directory)).returncode == 0
    watcher = subprocess.Popen(
        [*_base(kubectl), "get", "configmaps", "-n", "shop", "-w", "--request-timeout=6s"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert watcher.stdout is not None
    # The list comes first; once "early" is printed the watch runs, so "late" can only come from it.
    while "early" not in (line := watcher.stdout.readline()):
        assert line, watcher.stderr.read() if watcher.stderr else ""
    late = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "late", "namespace": "shop"}}
    created = kubectl("create", "-f", str(write_manifests(tmp_path / "late", {"late": late})))
    assert created.returncode == 0, created.stderr
    out, _ = watcher.communicate(timeout=30)
    assert "late" in out


def _base(kubectl) -> list[str]:
    probe = kubectl("config", "view", "--minify")
    assert probe.returncode == 0
    return [a for a in probe.args if a.startswith(("--kubeconfig", "--cache-dir")) or a == "/usr/bin/kubectl"]


def test_bad_objects_print_kubernetes_errors(kubectl, one_member, tmp_path) -> None:
    bad = _web()
    bad["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"] = "two"
    directory = write_manifests(tmp_path / "bad", {"0-namespace": NAMESPACE, "web": bad})
    applied = kubectl("apply", "-f", str(directory))
    assert applied.returncode != 0
    assert 'The Deployment "web" is invalid' in applied.stderr
    assert "spec.template.spec.containers[0].resources.requests.cpu" in applied.stderr


def test_autoscale_and_a_v1_autoscaler_reach_the_member_as_v2(
    kubectl, one_member, federation_loop, tmp_path
) -> None:
    good = write_manifests(tmp_path / "good", {"0-namespace": NAMESPACE, "web": _web()})
    assert kubectl("apply", "-f", str(good)).returncode == 0
    # kubectl 1.32's autoscale sends an autoscaling/v1 object, as protobuf.
    autoscaled = kubectl("autoscale", "deployment", "web", "-n", "shop", "--max=4", "--cpu-percent=80")
    assert autoscaled.returncode == 0, autoscaled.stderr
    assert "horizontalpodautoscaler.autoscaling/web autoscaled" in autoscaled.stdout
    as_v1 = kubectl("get", "horizontalpodautoscalers.v1.autoscaling", "web", "-n", "shop", "-o", "json")
    assert json.loads(as_v1.stdout)["spec"]["targetCPUUtilizationPercentage"] == 80
    as_v2 = json.loads(kubectl("get", "hpa", "web", "-n", "shop", "-o", "json").stdout)
    assert as_v2["apiVersion"] == "autoscaling/v2"
    assert as_v2["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 80
    member_hpa = kube.AutoscalingV2Api(one_member.api_client).read_namespaced_horizontal_pod_autoscaler
    assert _eventually(lambda: member_hpa("web", "shop").spec.max_replicas == 4)

    # A chart's autoscaling/v1 object: kubectl's client-side apply reads and patches it at v1.
    chart = {
        "apiVersion": "autoscaling/v1",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": 2,
            "maxReplicas": 6,
            "targetCPUUtilizationPercentage": 80,
        },
    }
    directory = write_manifests(tmp_path / "chart", {"hpa": chart})
    applied = kubectl("apply", "-f", str(directory))
    assert applied.returncode == 0, applied.stderr
    assert "horizontalpodautoscaler.autoscaling/web configured" in applied.stdout
    again = kubectl("apply", "-f", str(directory))
    assert "horizontalpodautoscaler.autoscaling/web unchanged" in again.stdout, again.stdout
    assert _eventually(lambda: member_hpa("web", "shop").spec.max_replicas == 6)


def _eventually(check: Any, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return True
        except kube.ApiException:
            pass
        time.sleep(0.3)
    return False


def test_another_organizations_token_sees_nothing(cast, kubectl, one_member, tmp_path) -> None:
    directory = write_manifests(tmp_path / "app", {"0-namespace": NAMESPACE, "web": _web()})
    assert kubectl("apply", "-f", str(directory)).returncode == 0
    outsider = kubectl("get", "deployment", "web", "-n", "shop", token=cast.token_b_plaintext)
    # kubectl, told the Deployment is not found, asks for the namespace and reports that missing.
    assert outsider.returncode != 0 and 'namespaces "shop" not found' in outsider.stderr
    everything = kubectl("get", "deployments", "-A", token=cast.token_b_plaintext)
    assert everything.returncode == 0 and "web" not in everything.stdout
    removed = kubectl("delete", "deployment", "web", "-n", "shop", token=cast.token_b_plaintext)
    assert removed.returncode != 0 and "not found" in removed.stderr
    nobody = kubectl("get", "deployments", "-n", "shop", token="nls_" + "x" * 49)
    assert (
        nobody.returncode != 0
        and "Unauthorized" in nobody.stderr
        or "not a Nodeless API token" in nobody.stderr
    )


def test_a_federation_policy_applied_with_kubectl_is_the_policy_the_pages_show(
    cast, kubectl, tmp_path
) -> None:
    from policies.models import FederationPolicy

    document: dict[str, Any] = {
        "apiVersion": "policy.nodeless.io/v1alpha1",
        "kind": "FederationPolicy",
        "metadata": {"name": "web-prod"},
        "spec": {"strategy": "spread", "workloadSelector": {"namespaces": ["shop"]}},
    }
    directory = write_manifests(tmp_path / "policy", {"policy": document})
    created = kubectl("apply", "-f", str(directory))
    assert created.returncode == 0, created.stderr
    assert "federationpolicy.policy.nodeless.io/web-prod created" in created.stdout
    listed = kubectl("get", "fp")
    assert listed.returncode == 0 and listed.stdout.splitlines()[1].split()[:2] == ["web-prod", "spread"]

    document["spec"]["strategy"] = "cheapest"
    write_manifests(directory, {"policy": document})
    changed = kubectl("apply", "-f", str(directory))
    assert changed.returncode == 0, changed.stderr
    assert "federationpolicy.policy.nodeless.io/web-prod configured" in changed.stdout
    assert "last-applied-configuration" not in changed.stderr  # kept with the policy
    policy = FederationPolicy.objects.get(organization=cast.org_a, name="web-prod")
    assert policy.spec["strategy"] == "cheapest" and policy.version == 2

    deleted = kubectl("delete", "fp", "web-prod", "--timeout=30s")
    assert deleted.returncode == 0, deleted.stderr
    assert not FederationPolicy.objects.filter(organization=cast.org_a).exists()


def test_kubectl_applies_a_custom_resource_once_its_definition_is_there(kubectl, tmp_path) -> None:
    from tests.policies.kubeapi.test_endpoint import CRD

    assert (
        kubectl(
            "apply", "-f", str(write_manifests(tmp_path / "crd", {"crd": CRD, "ns": NAMESPACE}))
        ).returncode
        == 0
    )
    cache = {
        "apiVersion": "example.com/v1",
        "kind": "Cache",
        "metadata": {"name": "redis", "namespace": "shop"},
        "spec": {"size": 3},
    }
    applied = kubectl("apply", "-f", str(write_manifests(tmp_path / "cr", {"cache": cache})))
    assert applied.returncode == 0, applied.stderr
    assert "cache.example.com/redis created" in applied.stdout
    listed = kubectl("get", "caches", "-n", "shop")
    assert listed.returncode == 0 and "redis" in listed.stdout


def test_kubectl_scale(cast, kubectl, policy, tmp_path) -> None:
    policy("default", strategy="cheapest")
    assert (
        kubectl(
            "apply", "-f", str(write_manifests(tmp_path / "app", {"0-ns": NAMESPACE, "web": _web()}))
        ).returncode
        == 0
    )
    scaled = kubectl("scale", "deployment", "web", "-n", "shop", "--replicas=3")
    assert scaled.returncode == 0, scaled.stderr
    assert "deployment.apps/web scaled" in scaled.stdout
    assert Workload.objects.get(organization=cast.org_a, name="web").desired_replicas == 3


def _stateful_and_daemon() -> dict[str, dict]:
    stateful = statefulset(3)
    daemon = daemonset()
    # The StatefulSet's pods mount the claim `db-data`: without it kube-scheduler (and the simulated
    # one) leaves them pending ("persistentvolumeclaim not found"). It follows the workload.
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "db-data", "namespace": "shop"},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": STORAGE_CLASS,
            "resources": {"requests": {"storage": "1Gi"}},
        },
    }
    return {"0-namespace": NAMESPACE, "db": stateful, "db-data": claim, "agent": daemon}


def test_rollout_status_of_a_statefulset_and_a_daemonset(
    kubectl, one_member, federation_loop, tmp_path
) -> None:
    add_storage_class(one_member)
    directory = write_manifests(tmp_path / "sets", _stateful_and_daemon())
    applied = kubectl("apply", "-f", str(directory))
    assert "statefulset.apps/db created" in applied.stdout, applied.stderr
    assert "daemonset.apps/agent created" in applied.stdout, applied.stderr
    for kind in ("statefulset/db", "daemonset/agent"):
        rollout = kubectl("rollout", "status", kind, "-n", "shop", "--timeout=60s")
        assert rollout.returncode == 0, rollout.stderr
    statuses = kubectl("rollout", "status", "statefulset/db", "-n", "shop").stdout
    # The API server defaults partition 0, so kubectl reports a partitioned roll-out, as on a cluster.
    assert "partitioned roll out complete: 3 new pods have been updated" in statuses
    listed = kubectl("get", "statefulsets,daemonsets", "-n", "shop")
    assert listed.returncode == 0, listed.stderr
    assert one_member.apps.read_namespaced_stateful_set("db", "shop").spec.replicas == 3
    assert one_member.apps.read_namespaced_daemon_set("agent", "shop").status.number_ready == 2
    # The claim the StatefulSet's running pods mount is bound: Argo CD and helm --wait read its phase.
    claim = yaml.safe_load(kubectl("get", "pvc", "db-data", "-n", "shop", "-o", "yaml").stdout)
    assert claim["status"] == {
        "phase": "Bound",
        "accessModes": ["ReadWriteOnce"],
        "capacity": {"storage": "1Gi"},
    }
    assert "Bound" in kubectl("get", "pvc", "-n", "shop").stdout


def test_openapi_v2_is_what_client_go_reads_and_apply_keeps_merging_lists_by_key(
    kubectl, one_member, tmp_path
) -> None:
    """client-go's discovery reads /openapi/v2 as protobuf only (Argo CD's cluster cache gives a
    cluster up without it): kubectl's v2 explain parses it and finds no definitions in it. So
    kubectl's client-side apply keeps the built-in kinds' merge keys, as the endpoint's strategic
    merge patch does: a container taken out of the manifest goes."""
    explained = kubectl("explain", "deployments", "--output=plaintext-openapiv2")
    assert explained.returncode != 0
    assert 'couldn\'t find resource for "apps/v1, Kind=Deployment"' in explained.stderr, explained.stderr
    raw = kubectl("get", "--raw", "/k8s/openapi/v2")  # --raw takes the whole path
    assert raw.returncode == 0 and yaml.safe_load(raw.stdout)["swagger"] == "2.0"

    web = _web()
    containers = web["spec"]["template"]["spec"]["containers"]
    containers.append({**containers[0], "name": "sidecar", "envFrom": []})
    directory = write_manifests(tmp_path / "two", {"0-namespace": NAMESPACE, "web": web})
    assert kubectl("apply", "-f", str(directory)).returncode == 0
    containers.pop()
    containers[0]["image"] = "nginx:1.28"
    directory = write_manifests(tmp_path / "one", {"0-namespace": NAMESPACE, "web": web})
    again = kubectl("apply", "-f", str(directory))
    assert again.returncode == 0, again.stderr
    stored = yaml.safe_load(kubectl("get", "deployment", "web", "-n", "shop", "-o", "yaml").stdout)
    names = [(c["name"], c["image"]) for c in stored["spec"]["template"]["spec"]["containers"]]
    assert names == [(containers[0]["name"], "nginx:1.28")]


def test_get_prints_each_kinds_columns_as_kubectl_does_against_a_cluster(
    kubectl, one_member, tmp_path
) -> None:
    """The columns of kube-apiserver's printers, for the companions a platform team lists most."""
    hpa = _documents()["hpa"]
    hpa["spec"]["metrics"] = [
        {
            "type": "Resource",
            "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}},
        }
    ]
    documents = {
        "0-namespace": NAMESPACE,
        "web": _web(),
        "hpa": hpa,
        "ingress": {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {
                "ingressClassName": "nginx",
                "rules": [{"host": "shop.example.com"}],
                "tls": [{"hosts": ["shop.example.com"]}],
            },
        },
        "claim": {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "data", "namespace": "shop"},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": STORAGE_CLASS,
                "resources": {"requests": {"storage": "1Gi"}},
            },
        },
        "binding": {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "readers", "namespace": "shop"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"},
            "subjects": [{"kind": "ServiceAccount", "name": "web", "namespace": "shop"}],
        },
    }
    applied = kubectl("apply", "-f", str(write_manifests(tmp_path / "kinds", documents)))
    assert applied.returncode == 0, applied.stderr

    def listed(kind: str) -> list[list[str]]:
        found = kubectl("get", *kind.split(), "-n", "shop")
        assert found.returncode == 0, found.stderr
        return [line.split("  ") for line in found.stdout.splitlines()]

    def cells(kind: str) -> tuple[list[str], list[str]]:
        header, row = listed(kind)[:2]
        return [c.strip() for c in header if c.strip()], [c.strip() for c in row if c.strip()]

    header, row = cells("hpa")
    assert header == ["NAME", "REFERENCE", "TARGETS", "MINPODS", "MAXPODS", "REPLICAS", "AGE"]
    assert row[:6] == ["web", "Deployment/web", "cpu: <unknown>/70%", "2", "4", "0"]
    header, row = cells("ingress")
    assert header[:5] == ["NAME", "CLASS", "HOSTS", "ADDRESS", "PORTS"]
    assert row[:3] == ["web", "nginx", "shop.example.com"] and row[-2] == "80, 443"
    header, row = cells("pvc")
    assert header[:6] == ["NAME", "STATUS", "VOLUME", "CAPACITY", "ACCESS MODES", "STORAGECLASS"]
    assert row[:2] == ["data", "Pending"] and "RWO" in row and STORAGE_CLASS in row
    header, row = cells("rolebinding")
    assert header == ["NAME", "ROLE", "AGE"] and row[:2] == ["readers", "Role/reader"]
    header, row = cells("deployment -o wide")
    assert header[-4:] == ["AGE", "CONTAINERS", "IMAGES", "SELECTOR"]
    web = _web()["spec"]
    container = web["template"]["spec"]["containers"][0]
    selector = ",".join(f"{k}={v}" for k, v in web["selector"]["matchLabels"].items())
    assert row[-3:] == [container["name"], container["image"], selector]


def test_auth_can_i_answers_from_the_tokens_scopes(cast, kubectl, one_member) -> None:
    """kubectl auth can-i (SelfSubjectAccessReview, and --list's SelfSubjectRulesReview) says what
    the endpoint then enforces; a read-only token may ask too, as any user of an API server may."""

    def can_i(*asked: str, token: str | None = None) -> tuple[int, str]:
        done = kubectl("auth", "can-i", *asked, "-n", "shop", token=token)
        return done.returncode, done.stdout.strip()

    assert can_i("create", "deployments.apps") == (0, "yes")
    assert can_i("list", "configmaps") == (0, "yes")
    assert can_i("patch", "deployments.apps/scale") == (0, "yes")
    refused, said = can_i("create", "events")
    assert refused == 1 and said == 'no - "events" are written by Nodeless only'
    refused, said = can_i("impersonate", "serviceaccounts")
    assert refused == 1 and said.startswith('no - Nodeless API tokens are never granted "impersonate"')
    assert can_i("get", "/version") == (0, "yes")
    refused, said = can_i("deletecollection", "configmaps")  # not served: kubectl deletes each
    assert refused == 1 and said.startswith("no - ")
    assert can_i("create", "pods", "--subresource=exec") == (0, "yes")  # relayed to the pod's member
    whoami = kubectl("auth", "whoami", "-o", "json")
    assert whoami.returncode == 0, whoami.stderr
    user = json.loads(whoami.stdout)["status"]["userInfo"]
    assert user["username"] == f"nodeless:token:{cast.token_a.name}" and user["uid"] == str(cast.token_a.pk)
    assert (
        f"nodeless:organization:{cast.org_a.slug}" in user["groups"]
        and "nodeless:scope:write" in user["groups"]
    )
    refused, said = can_i("delete", "pods", "--subresource=exec")
    assert refused == 1 and said == 'no - "pods/exec" is only created (a session with the pod)'

    _, read_only = api_token_create(cast.org_a, actor=Actor(user=cast.alice), name="viewer", scopes=["read"])
    assert can_i("get", "deployments.apps", token=read_only) == (0, "yes")
    refused, said = can_i("delete", "deployments.apps", token=read_only)
    assert refused == 1 and said == 'no - the API token lacks the "write" scope; it may use read'
    refused, said = can_i("create", "pods", "--subresource=exec", token=read_only)
    assert refused == 1 and said == 'no - the API token lacks the "write" scope; it may use read'

    listed = kubectl("auth", "can-i", "--list", "-n", "shop", token=read_only)
    assert listed.returncode == 0, listed.stderr
    # Resources, Non-Resource URLs, Resource Names, Verbs: the verbs are the last bracketed column.
    rows = {line.split()[0]: "[" + line.rsplit("[", 1)[1] for line in listed.stdout.splitlines()[1:]}
    assert rows["deployments.apps"] == "[get list watch]"
    assert rows["selfsubjectaccessreviews.authorization.k8s.io"] == "[create]"
    assert "pods/exec" not in rows
    writer = kubectl("auth", "can-i", "--list", "-n", "shop")
    assert (
        "pods/exec" in writer.stdout
        and "[create get]" in writer.stdout.split("pods/exec", 1)[1].split("\n")[0]
    )


def test_explain_describes_the_built_in_kinds_fields(kubectl, one_member) -> None:
    """kubectl explain reads the OpenAPI v3 documents: the built-in kinds' fields, typed and
    described as a cluster describes them, nested ones included."""
    strategy = kubectl("explain", "deployment.spec.strategy")
    assert strategy.returncode == 0, strategy.stderr
    assert "FIELD: strategy <DeploymentStrategy>" in strategy.stdout
    assert "DeploymentStrategy describes how to replace existing pods with new ones." in strategy.stdout
    assert 'Type of deployment. Can be "Recreate" or "RollingUpdate"' in strategy.stdout
    containers = kubectl("explain", "deployment.spec.template.spec.containers.resources.requests")
    assert containers.returncode == 0, containers.stderr
    assert "map[string]string" in containers.stdout
    hpa = kubectl("explain", "hpa.spec.maxReplicas")
    assert hpa.returncode == 0 and "<integer>" in hpa.stdout, hpa.stdout
    # The organization's own kinds keep an open schema: explained at the top, nothing invented.
    policy = kubectl("explain", "federationpolicies")
    assert policy.returncode == 0 and "FederationPolicy" in policy.stdout, policy.stderr


def test_rollout_status_stops_at_the_progress_deadline_of_a_deployment_no_member_can_take(
    kubectl, one_member, federation_loop, tmp_path
) -> None:
    """As against a cluster whose pods cannot be scheduled: past spec.progressDeadlineSeconds without
    progress, Progressing turns False (ProgressDeadlineExceeded), which kubectl rollout status, Argo
    CD and Flux read as a failed rollout. The status sync looks at it again then, though nothing
    else about it moved."""
    huge = _web()
    huge["spec"]["progressDeadlineSeconds"] = 3
    huge["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"] = "4000"
    directory = write_manifests(tmp_path / "huge", {"0-namespace": NAMESPACE, "web": huge})
    assert kubectl("apply", "-f", str(directory)).returncode == 0

    rollout = kubectl("rollout", "status", "deployment/web", "-n", "shop", "--timeout=60s")
    assert rollout.returncode != 0
    assert 'deployment "web" exceeded its progress deadline' in rollout.stderr, rollout.stderr
    described = kubectl("get", "deployment", "web", "-n", "shop", "-o", "yaml")
    conditions = {c["type"]: c for c in yaml.safe_load(described.stdout)["status"]["conditions"]}
    assert conditions["Progressing"]["reason"] == "ProgressDeadlineExceeded"
    assert "Cannot be placed" in conditions["Progressing"]["message"]


def test_a_deployment_has_its_replica_set_as_helm_and_kubectl_describe_look_for_it(
    cast, kubectl, api, one_member, federation_loop, tmp_path
) -> None:
    """Helm's --wait finds a Deployment's new ReplicaSet (controlled by it, the same pod template)
    and counts its ready replicas; kubectl describe and rollout history read it too. It is computed
    from the Deployment: get and list only, and only for the organization's own Deployments."""
    directory = write_manifests(tmp_path / "app", {"0-namespace": NAMESPACE, "web": _web()})
    assert kubectl("apply", "-f", str(directory)).returncode == 0
    assert kubectl("rollout", "status", "deployment/web", "-n", "shop", "--timeout=60s").returncode == 0

    apps: Any = kube.AppsV1Api(api)
    deployment = apps.read_namespaced_deployment("web", "shop")
    [replica_set] = apps.list_namespaced_replica_set("shop", label_selector="app=web").items
    owner = replica_set.metadata.owner_references[0]
    assert (owner.kind, owner.name, owner.uid, owner.controller) == (
        "Deployment",
        "web",
        deployment.metadata.uid,
        True,
    )
    template = replica_set.spec.template.to_dict()
    hashed = template["metadata"]["labels"].pop("pod-template-hash")
    assert template == deployment.spec.template.to_dict() and replica_set.metadata.name == f"web-{hashed}"
    assert replica_set.status.ready_replicas == deployment.status.ready_replicas == 2
    assert apps.read_namespaced_replica_set(replica_set.metadata.name, "shop").spec.replicas == 2

    described = kubectl("describe", "deployment", "web", "-n", "shop")
    assert f"NewReplicaSet:   {replica_set.metadata.name} (2/2 replicas created)" in described.stdout, (
        described.stdout
    )
    # The strategy kube-apiserver defaults (``defaults``), as a cluster's describe prints it.
    assert "StrategyType:           RollingUpdate" in described.stdout, described.stdout
    assert "RollingUpdateStrategy:  25% max unavailable, 25% max surge" in described.stdout
    history = kubectl("rollout", "history", "deployment/web", "-n", "shop")
    assert history.returncode == 0 and "REVISION" in history.stdout, history.stderr
    listed = kubectl("get", "rs", "-n", "shop")
    assert listed.stdout.split()[:5] == ["NAME", "DESIRED", "CURRENT", "READY", "AGE"], listed.stdout

    with pytest.raises(kube.exceptions.ApiException) as watched:
        apps.list_namespaced_replica_set("shop", watch=True, timeout_seconds=1)
    assert watched.value.status == 405
    outsider = kubectl("get", "rs", "-n", "shop", "-o", "name", token=cast.token_b_plaintext)
    assert outsider.stdout.strip() == ""
    refused = kubectl("get", "rs", replica_set.metadata.name, "-n", "shop", token=cast.token_b_plaintext)
    assert refused.returncode != 0 and "NotFound" in refused.stderr


def test_apply_prune_removes_what_left_the_manifests(kubectl, one_member, tmp_path) -> None:
    """kubectl apply --prune maps every kind of its default list (Pods, Endpoints,
    ReplicationControllers and PersistentVolumes among them, which kube-apiserver always serves)
    before it lists what to prune."""
    namespace = {**NAMESPACE, "metadata": {"name": "shop", "labels": {"app": "web"}}}

    def config(name: str) -> dict:
        labels = {"app": "web"}
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "shop", "labels": labels},
        }

    both = write_manifests(
        tmp_path / "both", {"0-namespace": namespace, "old": config("old"), "keep": config("keep")}
    )
    first = kubectl("apply", "--prune", "-l", "app=web", "-f", str(both))
    assert first.returncode == 0, first.stderr
    one = write_manifests(tmp_path / "one", {"0-namespace": namespace, "keep": config("keep")})
    pruned = kubectl("apply", "--prune", "-l", "app=web", "-f", str(one))
    assert pruned.returncode == 0, pruned.stderr
    assert "configmap/old pruned" in pruned.stdout and "configmap/keep unchanged" in pruned.stdout
    assert kubectl("get", "configmaps", "-n", "shop", "-o", "name").stdout.split() == ["configmap/keep"]
