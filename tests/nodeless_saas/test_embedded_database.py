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
"""


def test_a_federation_pass_writes_statuses_on_the_embedded_database(tmp_path: Path) -> None:
    """The loop's bulk writes (workload statuses, the endpoint's object statuses) are plain SQL
    that SQLite runs too: a workload submitted in `make demo` gets its status, not a crashed pass."""
    _manage(tmp_path, "migrate", "--no-input", "-v0")
    result = _manage(tmp_path, "shell", "-c", FEDERATION_PASS)
    lines = dict(
        line.split(" ", 1)
        for line in result.stdout.splitlines()
        if line.startswith(("MESSAGE", "CONDITIONS"))
    )
    before, after = lines["MESSAGE"].split(" -> ")
    assert after != before and after.strip("'")
    assert "FullyApplied" in lines["CONDITIONS"]
