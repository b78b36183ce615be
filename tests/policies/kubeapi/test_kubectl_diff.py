"""kubectl diff against the endpoint: a server-side dry run of the change (nothing is written), shown
as a diff; no change, no diff. And kubectl apply --dry-run=server answers without writing."""

from __future__ import annotations

import pytest
import yaml

from policies.models import KubeObject
from tests.fixtures.federation import deployment
from tests.policies.kubeapi.conftest import write_manifests
from tests.policies.kubeapi.test_kubectl import NAMESPACE

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("server_side", [False, True])
def test_kubectl_diff_shows_a_change_without_writing_it(cast, kubectl, policy, tmp_path, server_side) -> None:
    policy("default", strategy="cheapest")
    web = yaml.safe_load(deployment("web", replicas=2))
    directory = write_manifests(tmp_path / "app", {"0-ns": NAMESPACE, "web": web})
    mode = ["--server-side"] if server_side else []
    assert kubectl("apply", *mode, "-f", str(directory)).returncode == 0
    same = kubectl("diff", *mode, "-f", str(directory))
    assert same.returncode == 0 and same.stdout == "", same.stdout + same.stderr
    version = KubeObject.objects.get(organization=cast.org_a, kind="Deployment").resource_version

    web["spec"]["replicas"] = 5
    changed = kubectl(
        "diff", *mode, "-f", str(write_manifests(tmp_path / "app", {"0-ns": NAMESPACE, "web": web}))
    )
    assert changed.returncode == 1, changed.stderr
    assert "-  replicas: 2" in changed.stdout and "+  replicas: 5" in changed.stdout, changed.stdout
    dry = kubectl("apply", *mode, "--dry-run=server", "-f", str(directory))
    assert dry.returncode == 0 and "(server dry run)" in dry.stdout, dry.stderr
    assert KubeObject.objects.get(organization=cast.org_a, kind="Deployment").resource_version == version
