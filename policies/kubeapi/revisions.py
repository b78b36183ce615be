"""A Deployment's rollout history on the endpoint, as a cluster's deployment controller keeps it:

- the Deployment's ``deployment.kubernetes.io/revision`` annotation is 1 when it is created, stays
  while its pod template does, and is the next number once the template changes (going back to an
  older template too: it becomes the newest revision, its old number goes);
- each earlier template is kept (``KubeRevision``) with the Deployment's annotations of the time,
  at most ``spec.revisionHistoryLimit`` of them (10 by default), the newest;
- ``replica_sets`` serves each kept one as an old ReplicaSet scaled to zero.

So ``kubectl rollout history`` lists the revisions (and ``--revision=N`` shows one's template),
and ``kubectl rollout undo [--to-revision=N]`` patches the Deployment back to one: the write of its
old template is an ordinary one, and the workload rolls out again on its members. The annotation
is the endpoint's: it is never sent to members (``policies.federation.manifests``), whose own
deployment controllers number their own revisions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from policies.models import KubeObject, KubeRevision
from tenants.models import Organization

Json = dict[str, Any]
REVISION = "deployment.kubernetes.io/revision"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
# Annotations a Deployment does not hand to its ReplicaSets (``kubectl rollout undo`` skips them).
NOT_HANDED = frozenset(
    {
        LAST_APPLIED,
        REVISION,
        "deployment.kubernetes.io/revision-history",
        "deployment.kubernetes.io/desired-replicas",
        "deployment.kubernetes.io/max-replicas",
        "deprecated.deployment.rollback.to",
    }
)
HISTORY_LIMIT = 10


def _annotations(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return (obj.get("metadata") or {}).get("annotations") or {}


def _template(obj: Mapping[str, Any]) -> Any:
    return (obj.get("spec") or {}).get("template") or {}


def _meaning(value: Any) -> Any:
    """``value`` without null and empty fields: two templates that differ only there are the same
    template (``kubectl rollout undo`` sends one back through Go's types, which add
    ``creationTimestamp: null`` and empty structs; kube-controller-manager compares them so too)."""
    if isinstance(value, Mapping):
        kept = {k: _meaning(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v not in (None, {}, [])}
    if isinstance(value, list):
        return [_meaning(v) for v in value]
    return value


def same_template(one: Mapping[str, Any], other: Mapping[str, Any]) -> bool:
    """Whether two Deployments (or a Deployment and a kept revision's template) run the same pods."""
    return bool(_meaning(_template(one)) == _meaning(_template(other)))


def revision_of(obj: Mapping[str, Any]) -> int:
    """The Deployment's revision; 1 for one stored before revisions were numbered."""
    try:
        return max(1, int(_annotations(obj).get(REVISION) or 1))
    except (TypeError, ValueError):
        return 1


def handed(obj: Mapping[str, Any]) -> Json:
    """The Deployment's annotations its ReplicaSets carry (``rollout undo`` puts them back)."""
    return {k: v for k, v in _annotations(obj).items() if k not in NOT_HANDED}


def with_revision(obj: Json, old: Json | None) -> Json:
    """The Deployment ``obj`` with its revision annotation, written over ``old`` (as served)."""
    revision = 1 if old is None else revision_of(old) + (not same_template(old, obj))
    metadata = dict(obj.get("metadata") or {})
    metadata["annotations"] = {**_annotations(obj), REVISION: str(revision)}
    return {**obj, "metadata": metadata}


def history_record(organization: Organization, kobj: KubeObject, before: Json, after: Json) -> None:
    """After the Deployment ``kobj`` was written from ``before`` to ``after`` (as served, in the
    same transaction): when its pod template changed, the old one is kept at its revision, the one
    kept for the template now current goes, and the oldest beyond the history limit go."""
    if same_template(before, after):
        return
    KubeRevision.objects.update_or_create(
        organization=organization,
        kube_object=kobj,
        revision=revision_of(before),
        defaults={"template": _template(before), "annotations": handed(before)},
    )
    limit = (after.get("spec") or {}).get("revisionHistoryLimit", HISTORY_LIMIT)
    kept = list(
        KubeRevision.objects.filter(organization=organization, kube_object=kobj).order_by("-revision")
    )
    current = [row.pk for row in kept if same_template({"spec": {"template": row.template}}, after)]
    others = [row for row in kept if row.pk not in current]
    dropped = current + [row.pk for row in others[max(0, int(limit)) :]]
    if dropped:
        KubeRevision.objects.filter(pk__in=dropped).delete()


def kept_revisions(organization: Organization, kobjs: list[Any]) -> dict[str, list[KubeRevision]]:
    """By Deployment uid, its kept revisions (one statement)."""
    found: dict[str, list[KubeRevision]] = {}
    if not kobjs:
        return found
    for row in KubeRevision.objects.filter(organization=organization, kube_object_id__in=kobjs):
        found.setdefault(str(row.kube_object_id), []).append(row)
    return found
