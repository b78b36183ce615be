"""Federation policies: the API's JSON shape, the stored ``spec``, and the engine's PlacementPolicy.

API shape (also what the form produces; selectors as text or structured expressions)::

    {
      "name": "web-prod",
      "description": "",
      "workload_selector": {"namespaces": ["shop"], "labels": {"tier": "web"}},
      "cluster_selector": "env=prod, cloud in (aws, gcp)",
      "strategy": "cheapest | most_capacity | spread | duplicate | fill_then_burst | pinned",
      "spread": {"weights": "capacity | static | aggregated",
                 "static_weights": [{"weight": 2, "selector": "cloud=aws"}, {"weight": 1, "clusters": ["dc-1"]}],
                 "spread_by": "cluster | region | cloud", "min_groups": 1, "max_groups": null},
      "burst": {"tiers": ["cloud=onprem", "cloud=aws"], "return_headroom": 0.1, "return_after_seconds": 300},
      "pinned": ["eks-east"],
      "egress_weight": 1.0,
      "stickiness": 0.1,
      "on_failure": "sticky | reschedule",
      "grace_period_seconds": 120
    }

``spread`` is read for ``spread`` only, ``burst`` for ``fill_then_burst``, ``pinned`` for ``pinned``.
Egress is priced from ``engines.federation.egress`` (per GB, list prices: same zone 0, cross-zone
0.01, cross-region 0.02, between clouds or on-prem and a cloud 0.09) times the workload's expected
GB/hour, times ``egress_weight``.

Stored ``spec``: the same settings with selectors as structured expressions and clusters by id (a
renamed cluster stays pinned). A policy is refused, naming the field, when the engine cannot build
it (``PolicyError``) or when it cannot execute on the organization's clusters: a selector or tier
that matches none of them, a pinned cluster that does not exist or is not selected, more spread
groups than the selected clusters span.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar

from django.core.exceptions import ValidationError

from clusters.labels import clean_labels
from clusters.models import Cluster
from engines.federation import (
    ANY_CLUSTER,
    BurstSettings,
    ClusterSelector,
    PlacementPolicy,
    PolicyError,
    SpreadBy,
    SpreadSettings,
    Strategy,
    WeightMode,
    WeightRule,
)
from nodeless_saas.documents import describe
from policies.federation.manifest_checks import DNS_LABEL
from policies.federation.selector_text import (
    SelectorSyntaxError,
    parse_selector,
    parse_selector_expressions,
    selector_text,
    selector_to_json,
)
from policies.models import FailureBehaviour

MAX_GRACE_SECONDS = 86_400
# Bounds on the numbers a policy holds: beyond them a number is a typo, and unbounded ones would
# overflow the engine's arithmetic (timedelta, float costs) or Python's float conversion.
MAX_WHOLE_NUMBER = 1_000_000  # static weights
MAX_GROUPS = 1_000  # spread.min_groups / max_groups: clusters, regions or clouds
MAX_RETURN_AFTER_SECONDS = 7 * 86_400
MAX_EGRESS_WEIGHT = 1_000.0
MAX_NUMBER = 1e9
_ENGINE_FIELDS = {"burst": "burst.tiers", "key": "cluster_selector", "values": "cluster_selector"}


@dataclass(frozen=True)
class Member:
    """A cluster as policies see it: id, name and the labels selectors match."""

    id: str
    name: str
    labels: Mapping[str, str]


def federation_labels(cluster: Cluster) -> dict[str, str]:
    """The labels federation matches on: the cluster's own, plus its region when it has no label."""
    labels = {str(key): str(value) for key, value in (cluster.labels or {}).items()}
    if cluster.region and "region" not in labels:
        labels["region"] = cluster.region
    return labels


def members_of(clusters: Sequence[Cluster]) -> list[Member]:
    return [Member(str(cluster.pk), cluster.name, federation_labels(cluster)) for cluster in clusters]


@dataclass
class CleanedPolicy:
    """Validated model fields of a FederationPolicy, its engine form and what it selects now."""

    fields: dict[str, Any]
    engine: PlacementPolicy
    preview: list[str] = field(default_factory=list)


class _Errors:
    def __init__(self) -> None:
        self.by_field: dict[str, list[str]] = {}

    def add(self, name: str, message: str) -> None:
        self.by_field.setdefault(name, []).append(message)

    def raise_if_any(self) -> None:
        if self.by_field:
            raise ValidationError(self.by_field)


def _selector(value: Any, name: str, errors: _Errors) -> ClusterSelector:
    try:
        return parse_selector(value)
    except SelectorSyntaxError as error:
        errors.add(name, str(error))
        return ANY_CLUSTER


def _cluster_ids(values: Any, name: str, members: Sequence[Member], errors: _Errors) -> tuple[str, ...]:
    """Cluster names or ids → ids; unknown ones are reported (pinned clusters must exist)."""
    if values in (None, ""):
        return ()
    if isinstance(values, str):
        values = [part.strip() for part in values.split(",") if part.strip()]
    by_key = {member.id: member for member in members} | {member.name: member for member in members}
    ids: list[str] = []
    for value in values:
        member = by_key.get(str(value))
        if member is None:
            errors.add(name, f"no cluster named {value!r} in this organization")
        elif member.id not in ids:
            ids.append(member.id)
    return tuple(ids)


def _number(
    data: Mapping[str, Any], key: str, default: float, name: str, errors: _Errors, maximum: float = MAX_NUMBER
) -> float:
    value = data.get(key, default)
    if value is None:
        return default
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        errors.add(name, f"{describe(value)} is not a number")
        return default
    if not math.isfinite(number) or abs(number) > maximum:
        errors.add(name, f"{describe(value)} is out of range: at most {maximum:g}")
        return default
    return number


def _integer(
    value: Any, name: str, errors: _Errors, default: int | None, maximum: int = MAX_WHOLE_NUMBER
) -> int | None:
    if value in (None, ""):
        return default
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        errors.add(name, f"{describe(value)} is not a whole number")
        return default
    try:
        number = int(value)
        whole = number == float(value)
    except (TypeError, ValueError, OverflowError):
        errors.add(name, f"{describe(value)} is not a whole number")
        return default
    if not whole:
        errors.add(name, f"{describe(value)} is not a whole number")
    if abs(number) > maximum:
        errors.add(name, f"{describe(value)} is out of range: at most {maximum}")
        return default
    return number


EnumT = TypeVar("EnumT", bound=StrEnum)


def _choice(enum: type[EnumT], value: Any, default: EnumT, name: str, errors: _Errors) -> EnumT:
    if value in (None, ""):
        return default
    try:
        return enum(value)
    except ValueError:
        errors.add(name, f"{value!r} must be one of {', '.join(enum)}")
        return default


def _spread(
    data: Mapping[str, Any], members: Sequence[Member], errors: _Errors
) -> tuple[SpreadSettings, dict[str, Any]]:
    raw = data.get("spread") or {}
    stored: dict[str, Any] = {}
    rules: list[WeightRule] = []
    for index, rule in enumerate(raw.get("static_weights") or []):
        name = f"spread.static_weights[{index}]"
        if not isinstance(rule, Mapping):
            errors.add(name, "must be an object with a weight and clusters or a selector")
            continue
        weight = _integer(rule.get("weight"), name, errors, None)
        clusters = _cluster_ids(rule.get("clusters"), name, members, errors)
        selector = (
            _selector(rule["selector"], name, errors) if rule.get("selector") not in (None, "") else None
        )
        if weight is None:
            errors.add(name, "needs a weight (a whole number >= 0)")
            continue
        try:
            rules.append(WeightRule(weight, frozenset(clusters), selector))
        except PolicyError as error:
            errors.add(name, error.message)
            continue
        stored.setdefault("static_weights", []).append(
            {
                "weight": weight,
                "clusters": list(clusters),
                "selector": selector_to_json(selector) if selector is not None else None,
            }
        )
    weights = _choice(WeightMode, raw.get("weights"), WeightMode.CAPACITY, "spread.weights", errors)
    spread_by = _choice(SpreadBy, raw.get("spread_by"), SpreadBy.CLUSTER, "spread.spread_by", errors)
    min_groups = _integer(raw.get("min_groups"), "spread.min_groups", errors, 1, MAX_GROUPS) or 0
    max_groups = _integer(raw.get("max_groups"), "spread.max_groups", errors, None, MAX_GROUPS)
    stored.update(
        {
            "weights": str(weights),
            "spread_by": str(spread_by),
            "min_groups": min_groups,
            "max_groups": max_groups,
        }
    )
    stored.setdefault("static_weights", [])
    try:
        settings = SpreadSettings(weights, tuple(rules), spread_by, min_groups, max_groups)
    except PolicyError as error:
        errors.add(error.field, error.message)
        settings = SpreadSettings()
    return settings, stored


def _burst(data: Mapping[str, Any], errors: _Errors) -> tuple[BurstSettings | None, dict[str, Any]]:
    raw = data.get("burst") or {}
    tiers_raw = raw.get("tiers") or []
    if isinstance(tiers_raw, str):
        tiers_raw = [line for line in tiers_raw.splitlines() if line.strip()]
    tiers = tuple(_selector(tier, f"burst.tiers[{index}]", errors) for index, tier in enumerate(tiers_raw))
    headroom = _number(raw, "return_headroom", 0.1, "burst.return_headroom", errors)
    after = _number(
        raw, "return_after_seconds", 300.0, "burst.return_after_seconds", errors, MAX_RETURN_AFTER_SECONDS
    )
    stored = {
        "tiers": [selector_to_json(tier) for tier in tiers],
        "return_headroom": headroom,
        "return_after_seconds": after,
    }
    try:
        return BurstSettings(tiers, headroom, after), stored
    except PolicyError as error:
        errors.add(error.field, error.message)
        return None, stored


def _workload_selector(raw: Mapping[str, Any], errors: _Errors) -> tuple[list[str], dict[str, str]]:
    namespaces = [str(namespace) for namespace in raw.get("namespaces") or []]
    for namespace in namespaces:
        if not DNS_LABEL.match(namespace):
            errors.add("workload_selector", f"{namespace!r} is not a namespace name")
    try:
        labels = clean_labels(raw.get("labels") or {})
    except ValidationError as error:
        errors.add("workload_selector", " ".join(error.messages))
        labels = {}
    return list(dict.fromkeys(namespaces)), labels


def clean_policy(data: Mapping[str, Any], members: Sequence[Member]) -> CleanedPolicy:
    """Validate API-shaped ``data`` against the engine and the organization's ``members``."""
    errors = _Errors()
    if not data.get("strategy"):
        errors.add("strategy", f"is required: one of {', '.join(Strategy)}")
    strategy = _choice(Strategy, data.get("strategy"), Strategy.CHEAPEST, "strategy", errors)
    selector = _selector(data.get("cluster_selector"), "cluster_selector", errors)
    spec: dict[str, Any] = {"strategy": str(strategy), "cluster_selector": selector_to_json(selector)}
    spread, burst = SpreadSettings(), None
    if strategy is Strategy.SPREAD:
        spread, spec["spread"] = _spread(data, members, errors)
    if strategy is Strategy.FILL_THEN_BURST:
        burst, spec["burst"] = _burst(data, errors)
    pinned = (
        _cluster_ids(data.get("pinned"), "pinned", members, errors) if strategy is Strategy.PINNED else ()
    )
    spec["pinned"] = list(pinned)
    spec["egress_weight"] = _number(data, "egress_weight", 1.0, "egress_weight", errors, MAX_EGRESS_WEIGHT)
    spec["stickiness"] = _number(data, "stickiness", 0.1, "stickiness", errors)
    on_failure = data.get("on_failure") or FailureBehaviour.RESCHEDULE
    if on_failure not in FailureBehaviour.values:
        errors.add("on_failure", f"{on_failure!r} must be sticky or reschedule")
    grace = _integer(data.get("grace_period_seconds"), "grace_period_seconds", errors, 120)
    if grace is not None and not 0 <= grace <= MAX_GRACE_SECONDS:
        errors.add("grace_period_seconds", f"must be from 0 to {MAX_GRACE_SECONDS} seconds")
    errors.raise_if_any()
    try:
        engine = PlacementPolicy(
            strategy,
            selector,
            spread=spread,
            burst=burst,
            pinned=pinned,
            egress_weight=spec["egress_weight"],
            stickiness=spec["stickiness"],
        )
    except PolicyError as error:
        errors.add(_ENGINE_FIELDS.get(error.field, error.field), error.message)
        raise ValidationError(errors.by_field) from error
    namespaces, labels = _workload_selector(data.get("workload_selector") or {}, errors)
    errors.raise_if_any()
    fields = {
        "name": str(data.get("name") or "").strip(),
        "description": str(data.get("description") or "").strip(),
        "workload_namespaces": namespaces,
        "workload_labels": labels,
        "spec": spec,
        "on_failure": on_failure,
        "grace_period_seconds": grace or 0,
    }
    preview = check_executable(engine, members, errors)
    errors.raise_if_any()
    return CleanedPolicy(fields, engine, preview)


def _domain(member: Member, by: SpreadBy) -> str:
    if by is SpreadBy.CLUSTER:
        return member.name
    return member.labels.get("region" if by is SpreadBy.REGION else "cloud", "")


def _names(members: Sequence[Member]) -> str:
    shown = ", ".join(member.name for member in members[:8])
    return shown + (f" and {len(members) - 8} more" if len(members) > 8 else "")


def check_executable(policy: PlacementPolicy, members: Sequence[Member], errors: _Errors) -> list[str]:
    """What the policy selects among ``members`` (the preview lines); problems go to ``errors``.

    Without any cluster there is nothing to check against: the policy is accepted and takes
    effect when clusters are connected.
    """
    if not members:
        return ["No cluster is connected yet: the policy takes effect on the clusters you connect."]
    selected = [member for member in members if policy.selector.matches(member.labels)]
    described = policy.selector.describe()
    if not selected:
        labels = sorted({f"{key}={value}" for member in members for key, value in member.labels.items()})
        errors.add(
            "cluster_selector",
            f"{described} matches none of your {len(members)} clusters (their labels: {', '.join(labels[:12]) or 'none'})",
        )
        return []
    preview = [f"Selects {len(selected)} of {len(members)} clusters: {_names(selected)}."]
    if policy.strategy is Strategy.FILL_THEN_BURST and policy.burst is not None:
        placed: set[str] = set()
        for index, tier in enumerate(policy.burst.tiers):
            in_tier = [m for m in selected if m.id not in placed and tier.matches(m.labels)]
            placed |= {member.id for member in in_tier}
            if not in_tier:
                errors.add(
                    f"burst.tiers[{index}]", f"{tier.describe()} matches none of the selected clusters"
                )
            else:
                preview.append(f"Tier {index + 1}: {_names(in_tier)}.")
    if policy.strategy is Strategy.PINNED:
        chosen = {member.id for member in selected}
        for cluster_id in policy.pinned:
            if cluster_id not in chosen:
                name = next((m.name for m in members if m.id == cluster_id), cluster_id)
                errors.add("pinned", f"{name} does not match the cluster selector {described}")
    if policy.strategy is Strategy.SPREAD:
        by = policy.spread.spread_by
        domains = sorted({_domain(member, by) for member in selected} - {""})
        if len(domains) < policy.spread.min_groups:
            errors.add(
                "spread.min_groups",
                f"needs {policy.spread.min_groups} {by}s but the selected clusters span {len(domains)}"
                + (f" ({', '.join(domains)})" if domains else f": none has a {by} label"),
            )
        else:
            preview.append(
                f"Spreads over up to {policy.spread.max_groups or len(domains)} of {len(domains)} {by}s."
            )
        for index, rule in enumerate(policy.spread.static_weights):
            if not any(rule.matches(member.id, member.name, member.labels) for member in selected):
                errors.add(f"spread.static_weights[{index}]", "matches none of the selected clusters")
    return preview


def engine_policy(spec: Mapping[str, Any]) -> PlacementPolicy:
    """The stored spec as the engine's policy (stored specs were validated when saved)."""
    strategy = Strategy(spec["strategy"])
    spread = SpreadSettings()
    if strategy is Strategy.SPREAD:
        raw = spec.get("spread") or {}
        rules = tuple(
            WeightRule(
                rule["weight"],
                frozenset(rule.get("clusters") or ()),
                parse_selector_expressions(rule["selector"]) if rule.get("selector") is not None else None,
            )
            for rule in raw.get("static_weights") or []
        )
        spread = SpreadSettings(
            WeightMode(raw.get("weights", WeightMode.CAPACITY)),
            rules,
            SpreadBy(raw.get("spread_by", SpreadBy.CLUSTER)),
            raw.get("min_groups") or 1,
            raw.get("max_groups"),
        )
    burst = None
    if strategy is Strategy.FILL_THEN_BURST:
        raw = spec.get("burst") or {}
        burst = BurstSettings(
            tuple(parse_selector_expressions(tier) for tier in raw.get("tiers") or []),
            float(raw.get("return_headroom", 0.1)),
            float(raw.get("return_after_seconds", 300.0)),
        )
    return PlacementPolicy(
        strategy,
        parse_selector_expressions(spec.get("cluster_selector") or []),
        spread=spread,
        burst=burst,
        pinned=tuple(spec.get("pinned") or ()),
        egress_weight=float(spec.get("egress_weight", 1.0)),
        stickiness=float(spec.get("stickiness", 0.1)),
    )


def api_shape(spec: Mapping[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    """The stored spec in the API's shape: selectors as text, clusters by name (``names``: id → name)."""
    policy = engine_policy(spec)
    shape: dict[str, Any] = {
        "cluster_selector": selector_text(policy.selector),
        "strategy": str(policy.strategy),
        "spread": None,
        "burst": None,
        "pinned": [names.get(cluster_id, cluster_id) for cluster_id in policy.pinned],
        "egress_weight": policy.egress_weight,
        "stickiness": policy.stickiness,
    }
    if policy.strategy is Strategy.SPREAD:
        settings = policy.spread
        shape["spread"] = {
            "weights": str(settings.weights),
            "static_weights": [
                {
                    "weight": rule.weight,
                    "clusters": sorted(
                        names.get(cluster_id, cluster_id) for cluster_id in rule.cluster_names
                    ),
                    "selector": selector_text(rule.selector) if rule.selector is not None else "",
                }
                for rule in settings.static_weights
            ],
            "spread_by": str(settings.spread_by),
            "min_groups": settings.min_groups,
            "max_groups": settings.max_groups,
        }
    if policy.burst is not None:
        shape["burst"] = {
            "tiers": [selector_text(tier) for tier in policy.burst.tiers],
            "return_headroom": policy.burst.return_headroom,
            "return_after_seconds": policy.burst.return_after_seconds,
        }
    return shape


def describe_policy(spec: Mapping[str, Any], names: Mapping[str, str]) -> str:
    """One line for lists: ``spread by region over env=prod (capacity weights)``."""
    shape = api_shape(spec, names)
    where = shape["cluster_selector"] or "any cluster"
    strategy = shape["strategy"]
    if strategy == Strategy.SPREAD:
        spread = shape["spread"]
        how = "aggregated" if spread["weights"] == WeightMode.AGGREGATED else f"{spread['weights']} weights"
        if spread["weights"] == WeightMode.STATIC and not spread["static_weights"]:
            how = "equal weights"
        return f"spread by {spread['spread_by']} over {where} ({how})"
    if strategy == Strategy.FILL_THEN_BURST:
        return f"fill then burst over {len(shape['burst']['tiers'])} tiers: " + " → ".join(
            tier or "any" for tier in shape["burst"]["tiers"]
        )
    if strategy == Strategy.PINNED:
        return "pinned to " + ", ".join(shape["pinned"])
    return f"{strategy.replace('_', ' ')} over {where}"
