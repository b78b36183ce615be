"""``kubectl create`` subcommands against the endpoint. kubectl 1.32 and later send what they make as
protobuf (``protobody``): the kinds made of plain fields are read as their JSON; any other kind, or a
field not known, is a 415 that says how to send it instead, never an object with fields dropped."""

from __future__ import annotations

import base64

import pytest

from policies.kubeapi import protobody, protowire
from policies.kubeapi.errors import KubeError
from tests.policies.kubeapi.conftest import Kube

pytestmark = pytest.mark.django_db(transaction=True)


def test_kubectl_creates_configmaps_secrets_namespaces_accounts_and_rbac(cast, kubectl) -> None:
    def created(*args: str) -> None:
        done = kubectl("create", *args)
        assert done.returncode == 0, done.stderr

    created("namespace", "shop")
    created("configmap", "settings", "-n", "shop", "--from-literal=mode=fast", "--from-literal=size=3")
    created("secret", "generic", "creds", "-n", "shop", "--from-literal=password=hunter2", "--type=Opaque")
    created(
        "secret",
        "docker-registry",
        "pull",
        "-n",
        "shop",
        "--docker-server=registry.example",
        "--docker-username=robot",
        "--docker-password=s3cret",
    )
    created("serviceaccount", "robot", "-n", "shop")
    created("role", "reader", "-n", "shop", "--verb=get,list", "--resource=pods,configmaps")
    created("rolebinding", "reader", "-n", "shop", "--role=reader", "--serviceaccount=shop:robot")

    kube = Kube(cast.token_a_plaintext)
    base = "/k8s/api/v1/namespaces/shop"
    settings = kube.get(f"{base}/configmaps/settings").json()
    assert settings["data"] == {"mode": "fast", "size": "3"}
    assert settings["metadata"]["name"] == "settings" and "binaryData" not in settings
    creds = kube.get(f"{base}/secrets/creds").json()
    assert (creds["type"], creds["data"]) == ("Opaque", {"password": base64.b64encode(b"hunter2").decode()})
    pull = kube.get(f"{base}/secrets/pull").json()
    assert pull["type"] == "kubernetes.io/dockerconfigjson"
    assert b'"registry.example"' in base64.b64decode(pull["data"][".dockerconfigjson"])
    assert kube.get(f"{base}/serviceaccounts/robot").status_code == 200
    rbac = "/k8s/apis/rbac.authorization.k8s.io/v1/namespaces/shop"
    role = kube.get(f"{rbac}/roles/reader").json()
    assert role["rules"] == [
        {"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods", "configmaps"]}
    ]
    binding = kube.get(f"{rbac}/rolebindings/reader").json()
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "robot", "namespace": "shop"}]
    assert kube.get("/k8s/api/v1/namespaces/shop").json()["status"]["phase"] == "Active"

    created("service", "clusterip", "web", "-n", "shop", "--tcp=80:8080")
    created("service", "externalname", "db", "-n", "shop", "--external-name=db.example.com")
    web = kube.get(f"{base}/services/web").json()
    assert web["spec"]["ports"] == [{"name": "80-8080", "protocol": "TCP", "port": 80, "targetPort": 8080}]
    assert (web["spec"]["type"], web["spec"]["selector"]) == ("ClusterIP", {"app": "web"})
    assert kube.get(f"{base}/services/db").json()["spec"]["externalName"] == "db.example.com"

    refused = kubectl("create", "ingress", "web", "-n", "shop", "--rule=shop.example.com/=web:80")
    assert refused.returncode != 0
    assert "an Ingress (networking.k8s.io/v1) sent as protobuf is not read here: send it as JSON or YAML" in (
        refused.stderr
    )


CRONJOB = """
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly, namespace: shop}
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      backoffLimit: 0
      template:
        spec:
          restartPolicy: OnFailure
          containers:
          - name: report
            image: busybox:1.36
            command: [echo, hi]
            env: [{name: MODE, value: full}]
            resources: {requests: {cpu: 100m, memory: 64Mi}}
"""


def test_kubectl_creates_a_job_from_a_cronjob_and_a_deployment_is_read_whole(
    cast, kubectl, policy, tmp_path
) -> None:
    policy("default", strategy="cheapest")
    assert kubectl("create", "namespace", "shop").returncode == 0
    (tmp_path / "nightly.yaml").write_text(CRONJOB)
    assert kubectl("apply", "-f", str(tmp_path / "nightly.yaml")).returncode == 0
    made = kubectl("create", "job", "now", "-n", "shop", "--from=cronjob/nightly")
    assert made.returncode == 0, made.stderr

    kube = Kube(cast.token_a_plaintext)
    now = kube.get("/k8s/apis/batch/v1/namespaces/shop/jobs/now").json()
    assert now["metadata"]["annotations"] == {"cronjob.kubernetes.io/instantiate": "manual"}
    assert now["metadata"]["ownerReferences"][0]["kind"] == "CronJob"
    assert now["spec"]["backoffLimit"] == 0  # a pointer's zero is kept
    template = now["spec"]["template"]["spec"]
    assert template["restartPolicy"] == "OnFailure"
    [report] = template["containers"]
    assert report == {
        "name": "report",
        "image": "busybox:1.36",
        "command": ["echo", "hi"],
        "env": [{"name": "MODE", "value": "full"}],
        "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
    }

    # kubectl create deployment sends no requests: read whole, then refused as any such Deployment.
    made = kubectl("create", "deployment", "web", "-n", "shop", "--image=nginx:1.27", "--port=80")
    assert made.returncode != 0 and "request cpu and memory" in made.stderr, made.stderr

    # A template with what the table does not read (a volume) is refused whole, not stored without it.
    volumes = (
        CRONJOB.replace("nightly", "backup").replace(
            "            resources:",
            "            volumeMounts: [{name: d, mountPath: /d}]\n            resources:",
        )
        + "          volumes: [{name: d, emptyDir: {}}]\n"
    )
    (tmp_path / "backup.yaml").write_text(volumes)
    assert kubectl("apply", "-f", str(tmp_path / "backup.yaml")).returncode == 0
    refused = kubectl("create", "job", "backup-now", "-n", "shop", "--from=cronjob/backup")
    assert (
        refused.returncode != 0 and "field 1 of PodSpec sent as protobuf is not read here" in refused.stderr
    )
    assert kube.get("/k8s/apis/batch/v1/namespaces/shop/jobs/backup-now").status_code == 404


def _configmap(*fields: bytes) -> bytes:
    meta = protowire.length_delimited(1, b"settings")
    raw = protowire.length_delimited(1, meta) + b"".join(fields)
    type_meta = protowire.length_delimited(1, b"v1") + protowire.length_delimited(2, b"ConfigMap")
    unknown = protowire.length_delimited(1, type_meta) + protowire.length_delimited(2, raw)
    return protowire.KUBE_MAGIC + unknown


def test_fields_not_known_are_refused_unless_they_carry_nothing() -> None:
    entry = protowire.length_delimited(1, b"mode") + protowire.length_delimited(2, b"fast")
    data = protowire.length_delimited(2, entry)
    unset = protowire.varint(9 << 3) + protowire.varint(0) + protowire.length_delimited(10, b"")
    assert protobody.decode(_configmap(data, unset)) == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "settings"},
        "data": {"mode": "fast"},
    }
    with pytest.raises(KubeError) as refused:
        protobody.decode(_configmap(data, protowire.length_delimited(10, b"something")))
    assert refused.value.code == 415 and "field 10 of ConfigMap" in refused.value.message
    with pytest.raises(KubeError) as broken:
        protobody.decode(_configmap(b"\x12\xff"))
    assert broken.value.code == 400
    with pytest.raises(KubeError) as plain:
        protobody.decode(b'{"kind": "ConfigMap"}')
    assert plain.value.code == 400
