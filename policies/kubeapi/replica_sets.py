"""Each federated Deployment's ReplicaSet, computed when read and never stored: the one a cluster's
deployment controller would keep for its current pod template, owned by the Deployment, with its
replicas summed over the members.

Tools that check a Deployment through its ReplicaSet then answer as on a cluster: ``helm install
--wait`` (Helm finds the Deployment's new ReplicaSet, owned by it with the same template, and counts
its ready replicas), ``kubectl describe deployment`` (NewReplicaSet) and ``kubectl rollout history``.
The members run the real ReplicaSets; there is one here, the current one: no older revisions to roll
back to (``kubectl rollout undo`` says so), and its revision is the Deployment's generation.

Get and list only (discovery says so): watchers such as Argo CD's cluster cache leave it alone.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import uuid
from typing import Any

from policies.kubeapi import errors, operations
from policies.kubeapi.resources import by_kind
from policies.kubeapi.selection import fields_match

Json = dict[str, Any]
HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
# The alphabet kube-controller-manager spells template hashes with (no vowels, no look-alikes).
_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def template_hash(template: Json) -> str:
    digest = int.from_bytes(hashlib.sha256(json.dumps(template, sort_keys=True).encode()).digest()[:8], "big")
    spelled = ""
    for _ in range(10):
        digest, index = divmod(digest, len(_ALPHABET))
        spelled += _ALPHABET[index]
    return spelled


def replica_set(deployment: Json) -> Json:
    """The ReplicaSet of a Deployment as the endpoint serves it (``store.render``)."""
    metadata, spec = deployment.get("metadata") or {}, deployment.get("spec") or {}
    status = deployment.get("status") or {}
    template = copy.deepcopy(spec.get("template") or {})
    hashed = template_hash(template)
    template.setdefault("metadata", {})
    template["metadata"]["labels"] = {**(template["metadata"].get("labels") or {}), HASH_LABEL: hashed}
    selector = copy.deepcopy(spec.get("selector") or {})
    selector["matchLabels"] = {**(selector.get("matchLabels") or {}), HASH_LABEL: hashed}
    replicas = int(spec.get("replicas", 1))
    uid = str(metadata.get("uid") or "")
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": f"{metadata.get('name')}-{hashed}",
            "namespace": metadata.get("namespace"),
            "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{uid}/{hashed}")),
            "resourceVersion": metadata.get("resourceVersion"),
            "generation": 1,
            "creationTimestamp": metadata.get("creationTimestamp"),
            "labels": template["metadata"]["labels"],
            "annotations": {
                REVISION: str(metadata.get("generation", 1)),
                "deployment.kubernetes.io/desired-replicas": str(replicas),
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
            "replicas": int(status.get("replicas") or 0),
            "fullyLabeledReplicas": int(status.get("replicas") or 0),
            "readyReplicas": int(status.get("readyReplicas") or 0),
            "availableReplicas": int(status.get("availableReplicas") or 0),
            "observedGeneration": 1,
        },
    }


def _deployments(ctx: operations.Context) -> operations.Context:
    resource = by_kind("apps", "Deployment")
    assert resource is not None
    return dataclasses.replace(ctx, resource=resource)


def listing(ctx: operations.Context, *, labels: Any, field_filters: Any) -> tuple[list[Json], int]:
    """The namespace's (or every namespace's) ReplicaSets that the selectors select."""
    deployments, version = operations.listing(_deployments(ctx), labels=lambda _: True, field_filters={})
    found = [replica_set(deployment) for deployment in deployments]
    items = [rs for rs in found if labels(rs["metadata"]["labels"]) and fields_match(field_filters, rs)]
    return items, version


def get(ctx: operations.Context, name: str) -> Json:
    deployment_name = name.rsplit("-", 1)[0]
    try:
        found = replica_set(operations.get(_deployments(ctx), deployment_name))
    except errors.KubeError:
        found = None
    if found is None or found["metadata"]["name"] != name:
        raise errors.not_found(ctx.resource.plural, ctx.resource.group, name)
    return found
