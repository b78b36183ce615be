"""The status of custom resources sent stand-alone to members (``standalone``), gathered from what
each member's copy reports (``Propagation.status``: the copy's status, its generation there and
which of the endpoint's generations it is), so Argo CD's health checks for operators' kinds
(cert-manager's Certificate, an ExternalSecret) and Flux's kstatus (``Ready`` and
``observedGeneration``) read the members' answer on the endpoint, as Karmada's interpreter gathers
the kinds it knows:

- one member: its copy's status as it is;
- several: the first member's (by name) fields, and one condition of each type — ``True`` only
  where every member says ``True``, else the first member that does not, its message naming it;
- ``observedGeneration`` is the endpoint's generation once every member runs it and its controller
  has observed it there (the member's own ``observedGeneration`` counts its own generations); until
  then the one the endpoint kept.

Only kinds whose definition has a status subresource get one, as on a cluster. The endpoint's own
``FullyApplied`` condition (``propagation``) stays beside the members' conditions, and an object no
member's controller has written a status for keeps the one it has.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from policies.kubeapi.catalog import served
from policies.kubeapi.propagation import CONDITION
from policies.models import KubeObject, Propagation
from tenants.models import Organization

Json = dict[str, Any]
OWN_CONDITION = CONDITION  # the endpoint's FullyApplied
Key = tuple[str, str, str, str]  # namespace, group, kind, name


def gathered_status(generation: int, kept: Json, reports: Sequence[tuple[str, Json]]) -> Json:
    """The status the endpoint's object of ``generation`` takes from the members' ``reports``
    (member name, what ``kept_custom_status`` read) in member-name order; ``kept``: its status now."""
    statuses = [(member, dict(report.get("status") or {})) for member, report in reports]
    if not any(status for _, status in statuses):
        return kept  # no member's controller wrote one (yet): nothing to gather
    found = dict(statuses[0][1])
    if len(statuses) > 1:
        found["conditions"] = _conditions(statuses)
    # The endpoint's own condition (whether every member took the object, ``propagation``) stays.
    own = [
        c for c in kept.get("conditions") or [] if isinstance(c, Mapping) and c.get("type") == OWN_CONDITION
    ]
    theirs = [c for c in found.get("conditions") or [] if c.get("type") != OWN_CONDITION]
    found["conditions"] = [*theirs, *own]
    found.pop("observedGeneration", None)
    if all(_observed(report, generation) for _, report in reports):
        found["observedGeneration"] = generation
    elif "observedGeneration" in kept:
        found["observedGeneration"] = kept["observedGeneration"]
    if not found.get("conditions"):
        found.pop("conditions", None)
    return found


def _observed(report: Json, generation: int) -> bool:
    """The member runs the endpoint's ``generation`` and its controller has observed it there (a
    status without ``observedGeneration`` says nothing against it)."""
    status = report.get("status") or {}
    seen = status.get("observedGeneration")
    caught_up = seen is None or int(seen) >= int(report.get("generation") or 0)
    return int(report.get("endpointGeneration") or 0) == generation and caught_up


def _conditions(statuses: Sequence[tuple[str, Json]]) -> list[Json]:
    """One condition of each type: ``True`` where every member that reports the type says so,
    else the first member's that does not, named."""
    by_type: dict[str, list[tuple[str, Json]]] = {}
    for member, status in statuses:
        for condition in status.get("conditions") or []:
            if isinstance(condition, Mapping) and condition.get("type"):
                by_type.setdefault(str(condition["type"]), []).append((member, dict(condition)))
    merged = []
    for entries in by_type.values():
        odd = next(((m, c) for m, c in entries if c.get("status") != "True"), None)
        if odd is None:
            merged.append(entries[0][1])
        else:
            member, condition = odd
            merged.append(
                {**condition, "message": f"{member}: {condition.get('message') or ''}".rstrip(": ")}
            )
    return merged


def custom_status_changes(
    organization: Organization, reports: Mapping[Key, list[tuple[str, Json]]]
) -> list[tuple[KubeObject, Json]]:
    """(object, its new status) for the organization's custom resources whose members' ``reports``
    (by namespace, group, kind and name) give them another status."""
    with_status = {(r.group, r.kind) for r in served(organization) if r.status}
    keys = [key for key in reports if (key[1], key[2]) in with_status]
    if not keys:
        return []
    candidates = KubeObject.objects.filter(
        organization=organization,
        namespace__in={key[0] for key in keys},
        kind__in={key[2] for key in keys},
        name__in={key[3] for key in keys},
        deleted_at__isnull=True,
    )
    changes = []
    for kobj in candidates:
        key = (kobj.namespace, kobj.group, kobj.kind, kobj.name)
        if key in reports and key in keys:
            status = gathered_status(kobj.generation, kobj.status or {}, reports[key])
            if status != kobj.status:
                changes.append((kobj, status))
    return changes


def custom_reports(rows: Sequence[Propagation]) -> dict[Key, list[tuple[str, Json]]]:
    """By namespace, group, kind and name, what the members a custom resource went to report of it
    (``rows`` with a status, in member-name order)."""
    found: dict[Key, list[tuple[str, Json]]] = {}
    for row in rows:
        group = row.api_version.rpartition("/")[0]
        found.setdefault((row.namespace, group, row.kind, row.name), []).append(
            (row.cluster.name, row.status)
        )
    return found
