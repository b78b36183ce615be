"""Where every pod and federated workload runs, at what price, and the decisions behind it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import OuterRef, QuerySet, Subquery

from billing.models import PodPlacement
from billing.selectors.reports import CAPACITY_LABELS
from engines.metering.money import rate_text
from policies.federation.selectors import PLACEMENT_DECISIONS, workload_list
from policies.models import Decision, Workload
from tenants.models import Organization

PLACEMENT_FILTERS = ("cluster", "namespace", "capacity_type")


def pod_placements(
    organization: Organization, filters: dict[str, str] | None = None
) -> QuerySet[PodPlacement]:
    """The organization's pods, by cluster, namespace and name; `filters` may hold a cluster id,
    a namespace and a capacity type."""
    rows = PodPlacement.objects.filter(organization=organization).select_related("cluster")
    filters = filters or {}
    if filters.get("cluster"):
        rows = rows.filter(cluster_id=filters["cluster"])
    if filters.get("namespace"):
        rows = rows.filter(namespace=filters["namespace"])
    if filters.get("capacity_type"):
        rows = rows.filter(capacity_type=filters["capacity_type"])
    return rows.order_by("cluster__name", "namespace", "name")


def placement_namespaces(organization: Organization) -> list[str]:
    return list(
        PodPlacement.objects.filter(organization=organization)
        .order_by("namespace")
        .values_list("namespace", flat=True)
        .distinct()
    )


def federated_workloads(organization: Organization, *, limit: int = 100) -> list[Workload]:
    """Live federated workloads with their placements and their latest placement decision's id
    (`latest_decision_id`)."""
    latest = (
        Decision.objects.filter(workload=OuterRef("pk"), kind__in=PLACEMENT_DECISIONS)
        .order_by("-created_at", "-id")
        .values("id")[:1]
    )
    workloads = workload_list(organization).filter(deleted_at__isnull=True)
    return list(workloads.annotate(latest_decision_id=Subquery(latest))[:limit])


@dataclass(frozen=True)
class Option:
    """One offering the decision compared: the chosen one or a runner-up."""

    instance_type: str
    capacity_type: str
    zone: str
    price_per_hour: float | None
    effective_price_per_hour: float | None
    note: str  # why a runner-up was not taken, or its extra cost
    chosen: bool
    architecture: str = ""  # amd64 / arm64; "" for decisions recorded before it was kept
    gpu_model: str = ""
    gpus: int = 0


def _option(raw: dict[str, Any], chosen_price: float | None, *, chosen: bool) -> Option:
    price = raw.get("price_per_hour")
    effective = raw.get("effective_price_per_hour")
    note = ""
    if raw.get("error"):
        note = f"skipped: {raw['error']}"
    elif not chosen and effective is not None and chosen_price:
        extra = float(effective) - chosen_price
        # Runner-ups are often within a cent an hour of the choice: over a month the gap reads.
        note = f"+{rate_text(extra, 'mo').text} ({100 * extra / chosen_price:+.0f} %)"
    return Option(
        instance_type=str(raw.get("instance_type") or raw.get("cluster") or raw.get("name") or "—"),
        capacity_type=CAPACITY_LABELS.get(
            str(raw.get("capacity_type") or ""), str(raw.get("capacity_type") or "")
        ),
        zone=str(raw.get("zone") or ""),
        price_per_hour=None if price is None else float(price),
        effective_price_per_hour=None if effective is None else float(effective),
        note=note,
        chosen=chosen,
        architecture=str(raw.get("architecture") or ""),
        gpu_model=str(raw.get("gpu_model") or ""),
        gpus=int(raw.get("gpus") or 0),
    )


def decision_options(decision: Decision) -> list[Option]:
    """The chosen option first, then the runner-ups with what each would have cost more."""
    chosen = decision.chosen if isinstance(decision.chosen, dict) else {}
    chosen_price = chosen.get("effective_price_per_hour") or chosen.get("price_per_hour")
    reference = None if chosen_price is None else float(chosen_price)
    options = [_option(chosen, reference, chosen=True)] if chosen else []
    runner_ups = decision.runner_ups if isinstance(decision.runner_ups, list) else []
    options += [_option(raw, reference, chosen=False) for raw in runner_ups if isinstance(raw, dict)]
    return options


def decision_pods(decision: Decision) -> QuerySet[PodPlacement]:
    """Pods running now on the node the decision launched."""
    if decision.node_id is None:
        return PodPlacement.objects.none()
    return PodPlacement.objects.filter(
        organization_id=decision.organization_id, managed_node_id=decision.node_id
    ).order_by("namespace", "name")


# What a person reads for the inputs the loop records (the rest show under their own key).
_INPUT_LABELS = {
    "pods": "Pods it was launched for",
    "fallbacks": "Other offerings kept in order, tried if this one has no capacity",
}


def decision_inputs(decision: Decision) -> list[tuple[str, str]]:
    """The decision's inputs as readable lines (lists joined; the plan's figures have their own panel)."""
    inputs = decision.inputs if isinstance(decision.inputs, dict) else {}
    return [
        (
            _INPUT_LABELS.get(str(key), str(key)),
            ", ".join(map(str, value)) if isinstance(value, list) else str(value),
        )
        for key, value in inputs.items()
        if key != "plan"
    ]
