"""`make demo` runs on the embedded default (SQLite under var/): every migration must apply there too,
not only on the PostgreSQL the rest of the suite uses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _manage(tmp_path: Path, *command: str) -> subprocess.CompletedProcess[str]:
    """`manage.py <command>` on the embedded default (SQLite under `tmp_path`), as `make demo` runs."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")
    }
    env.update(NODELESS_ENV="development", NODELESS_VAR_DIR=str(tmp_path))
    result = subprocess.run(
        [sys.executable, "manage.py", *command],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_every_migration_applies_on_the_embedded_sqlite_database(tmp_path: Path) -> None:
    _manage(tmp_path, "migrate", "--no-input", "-v0")
    assert (tmp_path / "nodeless.sqlite3").exists()


FEDERATION_PASS = """
from policies.federation import services as federation
from policies.kubeapi.status_back import statuses_sync
from policies.models import KubeObject, Workload
from tenants import services as tenants
from tenants.actors import Actor
from workers.federation.runner import run_pass
from workers.models import Lease

user, organization = tenants.signup(
    email="embedded@nodeless.local", password="embedded-password-1", full_name="E", organization_name="E"
)
actor = Actor(user=user)
policy = federation.federation_policy_create(organization, actor=actor, data={"name": "c", "strategy": "cheapest"})
manifest = '''
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: app, image: nginx:1.27, resources: {requests: {cpu: 100m, memory: 64Mi}}}]}
'''
workload = federation.workload_submit(organization, actor=actor, manifest=manifest, policy=policy)
before = Workload.objects.get(pk=workload.pk).status_message
run_pass(str(organization.pk))
statuses_sync(str(organization.pk))
after = Workload.objects.get(pk=workload.pk)
print("MESSAGE", repr(before), "->", repr(after.status_message))
print("CONDITIONS", [c["type"] for c in KubeObject.objects.get(workload=after).status.get("conditions", [])])
run_pass(str(organization.pk))  # its lease taken again, released again: counted on SQLite too
print("TAKES", Lease.objects.get(name=f"federation:{organization.pk}").takes)
"""


def test_a_federation_pass_writes_statuses_on_the_embedded_database(tmp_path: Path) -> None:
    """The loop's bulk writes (workload statuses, the endpoint's object statuses) are plain SQL
    that SQLite runs too: a workload submitted in `make demo` gets its status, not a crashed pass."""
    _manage(tmp_path, "migrate", "--no-input", "-v0")
    result = _manage(tmp_path, "shell", "-c", FEDERATION_PASS)
    lines = dict(
        line.split(" ", 1)
        for line in result.stdout.splitlines()
        if line.startswith(("MESSAGE", "CONDITIONS", "TAKES"))
    )
    before, after = lines["MESSAGE"].split(" -> ")
    assert after != before and after.strip("'")
    assert "FullyApplied" in lines["CONDITIONS"]
    assert lines["TAKES"] == "2"


ENDPOINT_WRITES = """
import json
from django.test import Client
from policies.federation import services as federation
from tenants import services as tenants
from tenants.actors import Actor

user, organization = tenants.signup(
    email="embedded@nodeless.local", password="embedded-password-1", full_name="E", organization_name="E"
)
actor = Actor(user=user)
federation.federation_policy_create(organization, actor=actor, data={"name": "c", "strategy": "cheapest"})
_, token = tenants.api_token_create(organization, actor=actor, name="k", scopes=["read", "write"])
client = Client(HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_HOST="127.0.0.1")
web = {
    "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"},
    "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}}, "template": {
        "metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "app", "image": "nginx", "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}]}}},
}
def send(method, path, body, content_type="application/json"):
    response = client.generic(method, "/k8s" + path, json.dumps(body), content_type=content_type)
    print("STATUS", method, path, response.status_code, response.json().get("metadata", {}).get("resourceVersion"), response.json().get("message"))
send("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})
send("POST", "/apis/apps/v1/namespaces/shop/deployments", web)
send("POST", "/apis/apps/v1/namespaces/shop/deployments", web)
applied = {**web, "metadata": {"name": "api", "namespace": "shop"}}
apply = "/apis/apps/v1/namespaces/shop/deployments/api?fieldManager=flux"
send("PATCH", apply, applied, "application/apply-patch+yaml")
send("PATCH", apply, applied, "application/apply-patch+yaml")
send("PATCH", apply, {**applied, "spec": {**applied["spec"], "replicas": 3}}, "application/apply-patch+yaml")
"""


def test_the_endpoints_writes_run_on_the_embedded_database(tmp_path: Path) -> None:
    """The endpoint's plain statements (the counter's lock, a create's checks, the change log) run
    on SQLite too: `make demo` serves the endpoint there."""
    _manage(tmp_path, "migrate", "--no-input", "-v0")
    result = _manage(tmp_path, "shell", "-c", ENDPOINT_WRITES)
    answers = [line.split()[1:] for line in result.stdout.splitlines() if line.startswith("STATUS")]
    codes = [int(code) for _, _, code, *_ in answers]
    assert codes == [201, 201, 409, 201, 200, 200], result.stdout
    versions = [version for _, _, code, version, *_ in answers if code != "409"]
    created, applied, again, changed = versions[1], versions[2], versions[3], versions[4]
    assert int(applied) > int(created) and again == applied and int(changed) > int(again), answers
