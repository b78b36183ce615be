"""Each federated Deployment's ReplicaSets, computed when read and never stored: the one a cluster's
deployment controller would keep for its current pod template, owned by the Deployment, with its
replicas summed over the members, and one scaled to zero for each earlier template it keeps
(``revisions``).

Tools that check a Deployment through its ReplicaSet then answer as on a cluster: ``helm install
--wait`` (Helm finds the Deployment's new ReplicaSet, owned by it with the same template, and counts
its ready replicas), ``kubectl describe deployment`` (NewReplicaSet) and ``kubectl rollout history``.
The members run the real ReplicaSets; here the revisions are the endpoint's (the Deployment's
``deployment.kubernetes.io/revision``), so ``kubectl rollout history`` lists them and ``kubectl
rollout undo`` finds the one to go back to.

Get and list only (discovery says so): watchers such as Argo CD's cluster cache leave it alone.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import uuid
from typing import Any

from policies.kubeapi import errors, operations, revisions
from policies.kubeapi.resources import by_kind
from policies.kubeapi.selection import fields_match
from policies.kubeapi.store import timestamp
from policies.models import KubeRevision

Json = dict[str, Any]
HASH_LABEL = "pod-template-hash"
REVISION = revisions.REVISION
# The alphabet kube-controller-manager spells template hashes with (no vowels, no look-alikes).
_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def template_hash(template: Json) -> str:
    digest = int.from_bytes(hashlib.sha256(json.dumps(template, sort_keys=True).encode()).digest()[:8], "big")
    spelled = ""
    for _ in range(10):
        digest, index = divmod(digest, len(_ALPHABET))
        spelled += _ALPHABET[index]
    return spelled


def _replica_set(deployment: Json, template: Json, revision: int, annotations: Json, **shape: Any) -> Json:
    """A ReplicaSet of ``deployment`` for the pod ``template``: ``shape`` gives its replicas, the
    counts of its status and its creation time."""
    metadata, spec = deployment.get("metadata") or {}, deployment.get("spec") or {}
    template = copy.deepcopy(template)
    hashed = template_hash(template)
    template.setdefault("metadata", {})
    template["metadata"]["labels"] = {**(template["metadata"].get("labels") or {}), HASH_LABEL: hashed}
    selector = copy.deepcopy(spec.get("selector") or {})
    selector["matchLabels"] = {**(selector.get("matchLabels") or {}), HASH_LABEL: hashed}
    uid = str(metadata.get("uid") or "")
    replicas = int(shape["replicas"])
    counts = shape["counts"]
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": f"{metadata.get('name')}-{hashed}",
            "namespace": metadata.get("namespace"),
            "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{uid}/{hashed}")),
            "resourceVersion": metadata.get("resourceVersion"),
            "generation": 1,
            "creationTimestamp": shape["created"],
            "labels": template["metadata"]["labels"],
            "annotations": {
                **annotations,
                REVISION: str(revision),
                "deployment.kubernetes.io/desired-replicas": str(int(spec.get("replicas", 1))),
            },
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": metadata.get("name"),
                    "uid": uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {"replicas": replicas, "selector": selector, "template": template},
        "status": {
            "replicas": counts.get("replicas", 0),
            "fullyLabeledReplicas": counts.get("replicas", 0),
            "readyReplicas": counts.get("readyReplicas", 0),
            "availableReplicas": counts.get("availableReplicas", 0),
            "observedGeneration": 1,
        },
    }


def replica_set(deployment: Json) -> Json:
    """The current ReplicaSet of a Deployment as the endpoint serves it (``store.render``)."""
    spec, status = deployment.get("spec") or {}, deployment.get("status") or {}
    counts = {key: int(status.get(key) or 0) for key in ("replicas", "readyReplicas", "availableReplicas")}
    return _replica_set(
        deployment,
        spec.get("template") or {},
        revisions.revision_of(deployment),
        revisions.handed(deployment),
        replicas=int(spec.get("replicas", 1)),
        counts=counts,
        created=(deployment.get("metadata") or {}).get("creationTimestamp"),
    )


def old_replica_set(deployment: Json, kept: KubeRevision) -> Json:
    """An old ReplicaSet of a Deployment, scaled to zero: a revision it keeps."""
    return _replica_set(
        deployment,
        kept.template,
        kept.revision,
        dict(kept.annotations),
        replicas=0,
        counts={},
        created=timestamp(kept.created_at),
    )


def _all(ctx: operations.Context, deployments: list[Json]) -> list[Json]:
    """Every ReplicaSet of ``deployments``: each one's current, then its old ones, newest first."""
    kept = revisions.kept_revisions(ctx.organization, [d["metadata"]["uid"] for d in deployments])
    found = []
    for deployment in deployments:
        found.append(replica_set(deployment))
        rows = sorted(kept.get(deployment["metadata"]["uid"], []), key=lambda row: -row.revision)
        found += [old_replica_set(deployment, row) for row in rows]
    return found


def _deployments(ctx: operations.Context) -> operations.Context:
    resource = by_kind("apps", "Deployment")
    assert resource is not None
    return dataclasses.replace(ctx, resource=resource)


def listing(ctx: operations.Context, *, labels: Any, field_filters: Any) -> tuple[list[Json], int]:
    """The namespace's (or every namespace's) ReplicaSets that the selectors select."""
    deployments, version = operations.listing(_deployments(ctx), labels=lambda _: True, field_filters={})
    found = _all(ctx, deployments)
    items = [rs for rs in found if labels(rs["metadata"]["labels"]) and fields_match(field_filters, rs)]
    return items, version


def get(ctx: operations.Context, name: str) -> Json:
    deployment_name = name.rsplit("-", 1)[0]
    try:
        deployment = operations.get(_deployments(ctx), deployment_name)
    except errors.KubeError:
        raise errors.not_found(ctx.resource.plural, ctx.resource.group, name) from None
    for found in _all(ctx, [deployment]):
        if found["metadata"]["name"] == name:
            return found
    raise errors.not_found(ctx.resource.plural, ctx.resource.group, name)
