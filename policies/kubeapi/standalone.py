"""Stand-alone objects: a companion-kind object (ConfigMap, Secret, Service, ...) that no workload
uses, or a namespaced custom resource (of a CRD stored on the endpoint), goes to the clusters of
the policy it names (annotation ``policy.nodeless.io/name``): every connected cluster the policy's
cluster selector selects (its pinned clusters for a pinned policy), the whole object on each, as
Karmada's PropagationPolicy duplicates a non-workload resource (its resourceSelectors name the
object; here the object names its policy, as workloads do). An object a workload uses follows that
workload instead (``companions``); one naming no policy stays on the endpoint.

A custom resource is applied where the member serves its kind (the member client finds it through
discovery, ``clusters.kube.mapper``); a member without its CustomResourceDefinition refuses it,
and the ``Propagation`` row there keeps the reason ("the cluster serves no CronTab in
stable.example.com/v1: its CustomResourceDefinition is not installed there"), tried again every
pass, so installing the CRD there is enough. The endpoint shows that reason on the object (its
``FullyApplied`` condition and ``SyncFailed`` events, ``propagation``) and the workload pages list it. The CRD itself is not sent to members: installing an
API in a member cluster is the member's owner's decision.

The federation pass asks for what to do (``standalone_actions``: apply what is new or changed,
delete what no longer goes to a cluster, the object deleted included), does it in the members, and
records what happened (``standalone_outcomes_record``) in ``Propagation`` rows: the resourceVersion
applied on each cluster, and what to delete there once the object is gone.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from clusters.models import Cluster, ClusterStatus
from engines.kube.labels import GENERATION_ANNOTATION
from policies.federation.manifests import cluster_addresses_removed
from policies.federation.spec import engine_policy, federation_labels
from policies.kubeapi import store
from policies.kubeapi.catalog import CRD_KIND, defined
from policies.kubeapi.companions import COMPANION_GROUPS
from policies.models import FederationPolicy, KubeObject, Placement, Propagation, Workload

Json = dict[str, Any]
POLICY_ANNOTATION = "policy.nodeless.io/name"
MANAGED_BY_LABEL = "nodeless.io/managed-by"
OBJECT_ID_LABEL = "nodeless.io/object-id"
CRD_GROUP = "apiextensions.k8s.io"
Key = tuple[str, str, str, str]  # (cluster id, kind, namespace, name)


@dataclass(frozen=True)
class StandaloneAction:
    """Apply ``obj`` (at ``version``) to a cluster, or (``obj`` None) delete the object there."""

    cluster_id: str
    kind: str
    namespace: str
    name: str
    version: int = 0
    obj: Json | None = None
    object_id: str | None = None
    api_version: str = ""  # a custom resource's group/version (blank: a built-in kind)

    @property
    def key(self) -> Key:
        return (self.cluster_id, self.kind, self.namespace, self.name)


@dataclass(frozen=True)
class StandaloneOutcome:
    action: StandaloneAction
    done: bool
    problem: str = ""
    # False: left for the next pass without asking the member (its API budget was spent): what the
    # member said last time, and the version it holds, stay recorded.
    attempted: bool = True


@dataclass(frozen=True)
class StandaloneWork:
    actions: list[StandaloneAction]
    clusters: dict[str, Cluster]  # the clusters the actions are for


def _policy_clusters(policy: FederationPolicy, clusters: Sequence[Cluster]) -> list[str]:
    engine = engine_policy(policy.spec)
    if engine.pinned:
        return [str(c.pk) for c in clusters if str(c.pk) in engine.pinned]
    return [str(c.pk) for c in clusters if engine.selector.matches(federation_labels(c))]


def _used(organization_id: str) -> dict[tuple[str, str, str], set[str]]:
    """(namespace, kind, name) of the companions live workloads carry -> the clusters those
    workloads are placed on."""
    used: dict[tuple[str, str, str], set[str]] = {}
    workloads = Workload.objects.filter(organization_id=organization_id, deleted_at__isnull=True)
    placed: dict[str, set[str]] = {}
    for workload_id, cluster_id in Placement.objects.filter(
        workload__in=workloads, replicas__gt=0
    ).values_list("workload_id", "cluster_id"):
        placed.setdefault(str(workload_id), set()).add(str(cluster_id))
    for workload_id, namespace, summary in workloads.values_list("pk", "namespace", "companion_summary"):
        for companion in summary or []:
            key = (namespace, str(companion.get("kind")), str(companion.get("name")))
            used.setdefault(key, set()).update(placed.get(str(workload_id), set()))
    return used


def _custom_kinds(organization_id: str) -> set[tuple[str, str]]:
    """(group, kind) of the namespaced custom resources the organization's CRDs define."""
    bodies = KubeObject.objects.filter(
        organization_id=organization_id, kind=CRD_KIND, group=CRD_GROUP, deleted_at__isnull=True
    ).values_list("body", flat=True)
    return {(r.group, r.kind) for body in bodies for r in defined(body.get("spec")) if r.namespaced}


# Sealed objects (Secrets) keep their annotations in their ciphertext only, so which policy one
# names is read by decrypting it: once per resourceVersion and process, not every pass (an
# organization with a Secret per app decrypted thousands a pass, ~0.1 s of the pass's CPU per
# thousand, bench/standalone_cost.py). (object id, resourceVersion) -> the policy named, or "".
SEALED_MEMO = 50_000
_sealed_memo: OrderedDict[tuple[Any, int], str] = OrderedDict()
_sealed_lock = threading.Lock()


def _policy_named(kobj: KubeObject) -> str:
    return str((store.render(kobj)["metadata"].get("annotations") or {}).get(POLICY_ANNOTATION) or "")


def _named(organization_id: str, kinds: set[tuple[str, str]]) -> list[tuple[KubeObject, str]]:
    """The candidates (objects of ``kinds``, namespaced, live) that name a policy, with its name:
    one stored in the clear is found by its annotation in the database, a sealed one through
    ``_sealed_named``."""
    candidates = KubeObject.objects.filter(
        organization_id=organization_id, kind__in={kind for _, kind in kinds}, deleted_at__isnull=True
    ).exclude(namespace="")
    clear = candidates.exclude(kind__in=store.SEALED_KINDS).filter(
        body__metadata__annotations__has_key=POLICY_ANNOTATION
    )
    named = [(kobj, _policy_named(kobj)) for kobj in clear if (kobj.group, kobj.kind) in kinds]
    sealed = _sealed_named(candidates.filter(kind__in=store.SEALED_KINDS), kinds)
    return [(kobj, name) for kobj, name in named + sealed if name]


def _sealed_named(sealed: QuerySet[KubeObject], kinds: set[tuple[str, str]]) -> list[tuple[KubeObject, str]]:
    """Of the ``sealed`` objects, those the memo says name a policy or does not know at their
    resourceVersion, read whole; the others are not read."""
    heads = {
        pk: version
        for pk, version, group, kind in sealed.values_list("pk", "resource_version", "group", "kind")
        if (group, kind) in kinds
    }
    with _sealed_lock:
        known = {pk: _sealed_memo.get((pk, version)) for pk, version in heads.items()}
        for pk, version in heads.items():
            if known[pk] is not None:
                _sealed_memo.move_to_end((pk, version))  # in use: evicted last
    wanted = [pk for pk, name in known.items() if name != ""]
    learned: dict[tuple[Any, int], str] = {}
    named = []
    for kobj in sealed.filter(pk__in=wanted) if wanted else ():
        name = known.get(kobj.pk) if heads.get(kobj.pk) == kobj.resource_version else None
        if name is None:  # not known, or written since its head was read
            name = learned[(kobj.pk, kobj.resource_version)] = _policy_named(kobj)
        named.append((kobj, name))
    with _sealed_lock:
        _sealed_memo.update(learned)
        while len(_sealed_memo) > SEALED_MEMO:
            _sealed_memo.popitem(last=False)
    return named


def _custom_api_version(kobj: KubeObject) -> str:
    return f"{kobj.group}/{kobj.version}" if COMPANION_GROUPS.get(kobj.kind) != kobj.group else ""


def _marked(kobj: KubeObject) -> Json:
    """The object as applied to a member: without what the endpoint serves, labelled as ours."""
    obj = cluster_addresses_removed(store.strip_served(store.render(kobj)))
    metadata = obj["metadata"]
    metadata.update(name=kobj.name, namespace=kobj.namespace)
    metadata["labels"] = {
        **(metadata.get("labels") or {}),
        MANAGED_BY_LABEL: "nodeless",
        OBJECT_ID_LABEL: str(kobj.pk),
    }
    if _custom_api_version(kobj):
        # Which of the endpoint's generations the member's copy is: its controller's status counts
        # for the endpoint's object once it has observed that one (``custom_status``).
        annotations = metadata.get("annotations") or {}
        metadata["annotations"] = {**annotations, GENERATION_ANNOTATION: str(kobj.generation)}
    return obj


def standalone_actions(organization_id: str) -> StandaloneWork:
    """What to apply and delete in the members this pass for the organization's stand-alone
    objects (the row of an object on a cluster where a workload now using it is placed is forgotten
    here: that workload applies it there, and its removal deletes it). The candidates are the
    organization's companion-kind and namespaced custom objects naming a policy (``_named``). An
    organization with none naming a policy and none on members costs four statements (its CRDs,
    rows, named objects and sealed ones)."""
    rows = {
        (str(r.cluster_id), r.kind, r.namespace, r.name): r
        for r in Propagation.objects.filter(organization_id=organization_id)
    }
    kinds = {(group, kind) for kind, group in COMPANION_GROUPS.items()} | _custom_kinds(organization_id)
    named = _named(organization_id, kinds)
    if not named and not rows:
        return StandaloneWork([], {})
    clusters = list(Cluster.objects.filter(organization_id=organization_id, status=ClusterStatus.CONNECTED))
    policies = {p.name: p for p in FederationPolicy.objects.filter(organization_id=organization_id)}
    used = _used(organization_id)
    wanted: dict[Key, KubeObject] = {}
    for kobj, name in named:
        policy = policies.get(name)
        if policy is None or (kobj.namespace, kobj.kind, kobj.name) in used:
            continue
        for cluster_id in _policy_clusters(policy, clusters):
            wanted[(cluster_id, kobj.kind, kobj.namespace, kobj.name)] = kobj
    connected = {str(c.pk) for c in clusters}
    actions = [
        StandaloneAction(
            *key,
            version=kobj.resource_version,
            obj=_marked(kobj),
            object_id=str(kobj.pk),
            api_version=_custom_api_version(kobj),
        )
        for key, kobj in wanted.items()
        if key not in rows or rows[key].applied_version != kobj.resource_version
    ]
    # What no longer goes to a cluster is deleted there (a cluster out of service once it is back),
    # unless a workload now using the object is placed there: that workload has taken it over.
    taken = [
        r.pk
        for key, r in rows.items()
        if key not in wanted and key[0] in used.get((key[2], key[1], key[3]), ())
    ]
    Propagation.objects.filter(pk__in=taken).delete()
    actions += [
        StandaloneAction(*key, api_version=rows[key].api_version)
        for key in rows
        if key not in wanted and key[0] in connected and key[0] not in used.get((key[2], key[1], key[3]), ())
    ]
    involved = {action.cluster_id for action in actions}
    return StandaloneWork(actions, {str(c.pk): c for c in clusters if str(c.pk) in involved})


def standalone_outcomes_record(organization_id: str, outcomes: Iterable[StandaloneOutcome]) -> None:
    """What the members did: applied objects remember their version, deleted ones are forgotten,
    a refused apply keeps its problem (and is tried again next pass)."""
    now = timezone.now()
    with transaction.atomic():
        for outcome in outcomes:
            action = outcome.action
            where: dict[str, Any] = {
                "organization_id": organization_id,
                "cluster_id": action.cluster_id,
                "kind": action.kind,
                "namespace": action.namespace,
                "name": action.name,
            }
            if action.obj is None:
                if outcome.done:
                    Propagation.objects.filter(**where).delete()
                continue
            if not outcome.attempted:
                Propagation.objects.get_or_create(
                    **where,
                    defaults={
                        "api_version": action.api_version,
                        "object_uid": action.object_id,
                        "updated_at": now,
                    },
                )
                continue
            Propagation.objects.update_or_create(
                **where,
                defaults={
                    "api_version": action.api_version,
                    "object_uid": action.object_id,
                    "applied_version": action.version if outcome.done else 0,
                    "problem": outcome.problem[:500],
                    "updated_at": now,
                },
            )
