"""Which stand-alone objects a pass sends where (``standalone_actions``), written through the
endpoint: ConfigMaps and Secrets that name a policy go to the clusters it selects, those naming
none stay; a Secret is decrypted to find the policy it names only once per resourceVersion in a
process, not every pass (an organization with a Secret per app decrypted thousands a pass)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from clusters.models import Cluster, ClusterConnection, ClusterStatus
from nodeless_saas.crypto import decrypt_text
from policies.kubeapi import standalone, store
from policies.kubeapi.standalone import POLICY_ANNOTATION, standalone_actions

pytestmark = pytest.mark.django_db
SECRETS = "/k8s/api/v1/namespaces/shop/secrets"
CONFIGMAPS = "/k8s/api/v1/namespaces/shop/configmaps"


def _object(kind: str, name: str, policy: str | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if policy is not None:
        metadata["annotations"] = {POLICY_ANNOTATION: policy}
    data = {"token": "c2VjcmV0"} if kind == "Secret" else {"mode": "on"}
    return {"apiVersion": "v1", "kind": kind, "metadata": metadata, "data": data}


@pytest.fixture
def decryptions(monkeypatch) -> Iterator[list[int]]:
    """How many sealed bodies were decrypted (each still is: the count wraps the real call)."""
    count = [0]

    def counted(ciphertext: str) -> str:
        count[0] += 1
        return decrypt_text(ciphertext)

    monkeypatch.setattr(store, "decrypt_text", counted)
    standalone._sealed_memo.clear()  # as in a new worker process
    yield count
    standalone._sealed_memo.clear()


@pytest.fixture
def east(cast, policy) -> Cluster:
    policy("east-only", strategy="cheapest", cluster_selector="region=us-east-1")
    return Cluster.objects.create(
        organization=cast.org_a,
        name="east",
        connection=ClusterConnection.KUBECONFIG,
        status=ClusterStatus.CONNECTED,
        labels={"region": "us-east-1"},
    )


def _sent(cast) -> set[tuple[str, str, str]]:
    """(cluster id, kind, name) of what the pass would apply."""
    return {(a.cluster_id, a.kind, a.name) for a in standalone_actions(str(cast.org_a.pk)).actions if a.obj}


def _post(shop, path: str, obj: dict[str, Any]) -> None:
    response = shop.send("post", path, obj)
    assert response.status_code == 201, response.json()


def _name_policy(shop, path: str, policy: str) -> None:
    """Annotate the object at ``path`` with the policy it names (a merge patch: a new resourceVersion)."""
    patch = {"metadata": {"annotations": {POLICY_ANNOTATION: policy}}}
    response = shop.send("patch", path, patch, content_type="application/merge-patch+json")
    assert response.status_code == 200, response.json()


def test_objects_naming_a_policy_go_where_it_selects_and_the_others_stay(cast, shop, east) -> None:
    _post(shop, SECRETS, _object("Secret", "db", policy="east-only"))
    _post(shop, CONFIGMAPS, _object("ConfigMap", "flags", policy="east-only"))
    _post(shop, SECRETS, _object("Secret", "local"))
    _post(shop, CONFIGMAPS, _object("ConfigMap", "notes"))

    assert _sent(cast) == {(str(east.pk), "Secret", "db"), (str(east.pk), "ConfigMap", "flags")}


def test_a_secret_is_decrypted_once_per_version_to_find_its_policy(cast, shop, east, decryptions) -> None:
    for number in range(5):
        _post(shop, SECRETS, _object("Secret", f"app-{number}"))
    _post(shop, SECRETS, _object("Secret", "db", policy="east-only"))
    decryptions[0] = 0

    assert _sent(cast) == {(str(east.pk), "Secret", "db")}
    assert decryptions[0] == 6 + 1  # each Secret read once, and the one sent rendered for its member

    decryptions[0] = 0
    assert _sent(cast) == {(str(east.pk), "Secret", "db")}
    assert decryptions[0] == 1  # only the one sent, rendered for its member

    # One of them names the policy now: a new resourceVersion, read again, and sent.
    _name_policy(shop, f"{SECRETS}/app-3", "east-only")
    decryptions[0] = 0
    assert _sent(cast) == {(str(east.pk), "Secret", "db"), (str(east.pk), "Secret", "app-3")}
    assert decryptions[0] == 1 + 2  # app-3 read at its new version, and the two sent rendered


def test_a_configmap_that_comes_to_name_a_policy_is_sent(cast, shop, east) -> None:
    _post(shop, CONFIGMAPS, _object("ConfigMap", "flags"))
    assert _sent(cast) == set()

    _name_policy(shop, f"{CONFIGMAPS}/flags", "east-only")

    assert _sent(cast) == {(str(east.pk), "ConfigMap", "flags")}


def test_the_memo_of_sealed_objects_is_bounded(cast, shop, east, decryptions, monkeypatch) -> None:
    monkeypatch.setattr(standalone, "SEALED_MEMO", 3)
    for number in range(5):
        _post(shop, SECRETS, _object("Secret", f"app-{number}"))

    assert _sent(cast) == set()
    assert len(standalone._sealed_memo) == 3
