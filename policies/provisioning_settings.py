"""Provisioning policy settings: validation that refuses any policy the planner could not execute,
and the mapping onto the planner's PlannerPolicy."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from decimal import Decimal
from functools import partial
from typing import Any

from django.core.exceptions import ValidationError

from engines.planner import (
    CapacityType,
    Catalog,
    Exclusions,
    InstanceRequirements,
    IsolationRules,
    LabelSelector,
    Limits,
    Objective,
    Packing,
    PlannerPolicy,
)
from engines.planner.consolidation import DEFAULT_MIN_SAVING_SHARE
from policies.models import CapacityTypeChoice, ObjectiveChoice, PackingChoice, ProvisioningPolicy
from policies.models.provisioning import MAX_INTEGER_COLUMN, default_capacity_types

EDITABLE_FIELDS = (
    "objective",
    "capacity_types",
    "families_allow",
    "families_deny",
    "architectures",
    "current_generation_only",
    "min_vcpu",
    "max_vcpu",
    "min_memory_gib",
    "max_memory_gib",
    "gpu_models",
    "packing",
    "isolate_namespaces",
    "isolate_label_selectors",
    "isolate_cpu_millicores",
    "isolate_memory_mib",
    "isolate_gpu_pods",
    "exclude_namespaces",
    "exclude_label_selectors",
    "gpu_sharing",
    "burstable_unlimited",
    "max_pods_per_node",
    "scale_down_delay_seconds",
    "consolidation_min_saving_pct",
    "max_vcpu_total",
    "max_nodes",
    "max_cost_per_hour",
    "spot_max_interruption_bucket",
    "spot_fallback_seconds",
)
ARCHITECTURES = ("x86_64", "arm64")
DEFAULT_CONSOLIDATION_MIN_SAVING_PCT = round(DEFAULT_MIN_SAVING_SHARE * 100)


def policy_settings(policy: ProvisioningPolicy) -> dict[str, Any]:
    values = {field: getattr(policy, field) for field in EDITABLE_FIELDS}
    return {key: (str(value) if isinstance(value, Decimal) else value) for key, value in values.items()}


SERVERLESS_HELP = (
    "Serverless runs a pod on its own Fargate micro-VM (EKS clusters): Nodeless creates the Fargate "
    "profiles it needs and recreates the pending pods their controllers own. Serverless alone leaves "
    "pods Fargate cannot run (GPUs, DaemonSets) pending."
)


def _strings(value: Any, field: str) -> list[str]:
    if value in (None, ""):
        return []
    if isinstance(value, str):
        value = [part for part in value.replace("\n", ",").split(",")]
    if not isinstance(value, list | tuple):
        raise ValidationError({field: "Give a list of names."})
    return list(dict.fromkeys(str(item).strip() for item in value if str(item).strip()))


def _selector(text: str, field: str = "isolate_label_selectors") -> LabelSelector:
    if "=" not in text:
        raise ValidationError({field: f"'{text}' must be key=value, e.g. tenant=acme."})
    key, value = (part.strip() for part in text.split("=", 1))
    return LabelSelector(match_labels={key: value})


class _Errors:
    """Field errors gathered across independent checks, so a form shows every mistake at once
    rather than one per submit."""

    def __init__(self) -> None:
        self.by_field: dict[str, list[str]] = {}

    def attempt(self, check: Callable[[], object]) -> None:
        try:
            check()
        except ValidationError as error:
            for field, messages in error.message_dict.items():
                self.by_field.setdefault(field, []).extend(messages)

    def raise_any(self) -> None:
        if self.by_field:
            raise ValidationError(self.by_field)


_INTEGER_FIELDS = (
    "min_vcpu",
    "max_vcpu",
    "isolate_cpu_millicores",
    "isolate_memory_mib",
    "max_pods_per_node",
    "max_vcpu_total",
    "max_nodes",
    "spot_max_interruption_bucket",
)
_DECIMAL_FIELDS = ("min_memory_gib", "max_memory_gib", "max_cost_per_hour")


def clean_settings(data: dict[str, Any], catalog: Catalog) -> dict[str, Any]:
    """Validate every field against the others and the catalog; return normalized settings.

    Raises ValidationError naming each field that is wrong and what to change, e.g. when the
    requirements leave no instance type in the catalog (checked once every field is valid).
    """
    out: dict[str, Any] = {}
    errors = _Errors()
    errors.attempt(lambda: _clean_objective(data, out))
    errors.attempt(lambda: _clean_packing(data, out))
    errors.attempt(lambda: _clean_capacity_types(data, out))
    errors.attempt(lambda: _clean_families(data, out, catalog))
    errors.attempt(lambda: _clean_architectures(data, out))
    errors.attempt(lambda: _clean_gpu_models(data, out, catalog))
    for field in _INTEGER_FIELDS:
        errors.attempt(partial(_integer_field, data, out, field, None))
    for field in _DECIMAL_FIELDS:
        errors.attempt(partial(_decimal_field, data, out, field))
    errors.attempt(partial(_integer_field, data, out, "scale_down_delay_seconds", 60))
    errors.attempt(partial(_integer_field, data, out, "spot_fallback_seconds", 120))
    errors.attempt(lambda: _clean_consolidation_saving(data, out))
    for field in ("current_generation_only", "isolate_gpu_pods", "gpu_sharing", "burstable_unlimited"):
        out[field] = bool(data.get(field, field == "isolate_gpu_pods"))
    out["isolate_namespaces"] = _strings(data.get("isolate_namespaces"), "isolate_namespaces")
    out["exclude_namespaces"] = _strings(data.get("exclude_namespaces"), "exclude_namespaces")
    errors.attempt(lambda: _clean_selectors(data, out))
    for check in _RANGE_CHECKS:
        with suppress(KeyError):  # a field it compares did not parse, and has its own error
            errors.attempt(partial(check, out))
    errors.raise_any()
    _check_some_instance_type_fits(out, catalog)
    return out


def _integer_field(data: dict[str, Any], out: dict[str, Any], field: str, default: int | None) -> None:
    """An optional whole number; with a `default`, an empty value means that default (and 0 stays 0)."""
    value = _optional_int(data.get(field, default), field)
    out[field] = value if default is None else (value or 0)


def _decimal_field(data: dict[str, Any], out: dict[str, Any], field: str) -> None:
    out[field] = _optional_decimal(data.get(field), field)


def _clean_consolidation_saving(data: dict[str, Any], out: dict[str, Any]) -> None:
    """A percentage; empty means the default (10 %), 0 means any saving at all."""
    field = "consolidation_min_saving_pct"
    value = _optional_int(data.get(field), field)
    if value is not None and value > 100:
        raise ValidationError({field: "Give a percentage between 0 and 100."})
    out[field] = DEFAULT_CONSOLIDATION_MIN_SAVING_PCT if value is None else value


def _clean_objective(data: dict[str, Any], out: dict[str, Any]) -> None:
    out["objective"] = data.get("objective") or ObjectiveChoice.COST
    if out["objective"] not in ObjectiveChoice.values:
        raise ValidationError({"objective": f"Choose one of {', '.join(ObjectiveChoice.values)}."})


def _clean_packing(data: dict[str, Any], out: dict[str, Any]) -> None:
    out["packing"] = data.get("packing") or PackingChoice.PACK
    if out["packing"] not in PackingChoice.values:
        raise ValidationError({"packing": "Choose pack or isolate."})


def _clean_capacity_types(data: dict[str, Any], out: dict[str, Any]) -> None:
    out["capacity_types"] = _strings(data.get("capacity_types", default_capacity_types()), "capacity_types")
    if not out["capacity_types"]:
        raise ValidationError(
            {"capacity_types": "Allow at least one capacity type: on_demand, spot or serverless."}
        )
    unknown_types = set(out["capacity_types"]) - set(CapacityTypeChoice.values)
    if unknown_types:
        raise ValidationError({"capacity_types": f"Unknown capacity type {sorted(unknown_types)[0]!r}."})


def _clean_families(data: dict[str, Any], out: dict[str, Any], catalog: Catalog) -> None:
    families = {instance.family for instance in catalog.instance_types}
    for field in ("families_allow", "families_deny"):
        out[field] = _strings(data.get(field), field)
        unknown = [family for family in out[field] if family not in families]
        if unknown:
            raise ValidationError(
                {field: f"{unknown[0]!r} is not an instance family in {catalog.region} (e.g. m7g, c7i)."}
            )
    overlap = set(out["families_allow"]) & set(out["families_deny"])
    if overlap:
        raise ValidationError({"families_deny": f"{sorted(overlap)[0]} is both allowed and denied."})


def _clean_architectures(data: dict[str, Any], out: dict[str, Any]) -> None:
    out["architectures"] = _strings(data.get("architectures"), "architectures")
    if set(out["architectures"]) - set(ARCHITECTURES):
        raise ValidationError({"architectures": "Architectures are x86_64 and arm64."})


def _clean_gpu_models(data: dict[str, Any], out: dict[str, Any], catalog: Catalog) -> None:
    gpu_models = {instance.gpu_model for instance in catalog.instance_types if instance.gpu_model}
    out["gpu_models"] = _strings(data.get("gpu_models"), "gpu_models")
    unknown = [model for model in out["gpu_models"] if model not in gpu_models]
    if unknown:
        raise ValidationError(
            {
                "gpu_models": f"No instance type has GPU model {unknown[0]!r}; known: {', '.join(sorted(gpu_models))}."
            }
        )


def _clean_selectors(data: dict[str, Any], out: dict[str, Any]) -> None:
    for field in ("isolate_label_selectors", "exclude_label_selectors"):
        out[field] = _strings(data.get(field), field)
        for text in out[field]:
            _selector(text, field)


def _optional_int(value: Any, field: str) -> int | None:
    if value in (None, ""):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValidationError({field: "Enter a whole number."})
    if number < 0:
        raise ValidationError({field: "Must not be negative."})
    if number > MAX_INTEGER_COLUMN:
        raise ValidationError({field: f"Must be at most {MAX_INTEGER_COLUMN:,}."})
    return number


def _optional_decimal(value: Any, field: str) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        number = Decimal(str(value))
    except ArithmeticError:
        raise ValidationError({field: "Enter a number."})
    if number < 0:
        raise ValidationError({field: "Must not be negative."})
    return number


def _vcpu_range(out: dict[str, Any]) -> None:
    if out["min_vcpu"] is not None and out["max_vcpu"] is not None and out["min_vcpu"] > out["max_vcpu"]:
        raise ValidationError(
            {"max_vcpu": f"The maximum ({out['max_vcpu']}) is below the minimum ({out['min_vcpu']})."}
        )


def _memory_range(out: dict[str, Any]) -> None:
    low, high = out["min_memory_gib"], out["max_memory_gib"]
    if low is not None and high is not None and low > high:
        raise ValidationError(
            {"max_memory_gib": f"The maximum ({high} GiB) is below the minimum ({low} GiB)."}
        )


def _interruption_bucket(out: dict[str, Any]) -> None:
    bucket = out["spot_max_interruption_bucket"]
    if bucket is not None and bucket > 4:
        raise ValidationError(
            {"spot_max_interruption_bucket": "Buckets run from 0 (<5% interruptions) to 4 (>20%)."}
        )


def _pods_per_node(out: dict[str, Any]) -> None:
    if out["max_pods_per_node"] == 0:
        raise ValidationError(
            {"max_pods_per_node": "A node must hold at least one pod; leave empty for no cap."}
        )


def _limits(out: dict[str, Any]) -> None:
    errors = {
        field: "A limit of 0 launches nothing; leave empty for no limit."
        for field in ("max_nodes", "max_vcpu_total")
        if out[field] == 0
    }
    if out["max_cost_per_hour"] is not None and out["max_cost_per_hour"] == 0:
        errors["max_cost_per_hour"] = "A limit of $0/hour launches nothing; leave empty for no limit."
    if errors:
        raise ValidationError(errors)


def _scale_down_delay(out: dict[str, Any]) -> None:
    if out["scale_down_delay_seconds"] > 86400:
        raise ValidationError({"scale_down_delay_seconds": "Use at most one day (86400 s)."})


_RANGE_CHECKS: tuple[Callable[[dict[str, Any]], None], ...] = (
    _vcpu_range,
    _memory_range,
    _interruption_bucket,
    _pods_per_node,
    _limits,
    _scale_down_delay,
)


def _check_some_instance_type_fits(out: dict[str, Any], catalog: Catalog) -> None:
    vm_types = [c for c in out["capacity_types"] if c != CapacityType.SERVERLESS]
    if not vm_types:
        return
    requirements = instance_requirements(out)
    allowed = [t for t in catalog.instance_types if _satisfies(t, requirements)]
    if not allowed:
        raise ValidationError(
            {
                "__all__": "No instance type in the catalog satisfies these requirements; widen the families, "
                "architectures or vCPU/memory bounds."
            }
        )
    names = {t.name for t in allowed}
    offered = {o.capacity_type.value for o in catalog.offerings if o.instance_type in names}
    if not offered & set(vm_types):
        raise ValidationError(
            {
                "capacity_types": f"None of the matching instance types is offered as {', '.join(vm_types)} in {catalog.region}."
            }
        )


def _satisfies(instance: Any, requirements: InstanceRequirements) -> bool:
    r = requirements
    return not (
        (r.families_allow and instance.family not in r.families_allow)
        or instance.family in r.families_deny
        or (r.architectures and instance.architecture not in r.architectures)
        or (r.current_generation_only and not instance.current_generation)
        or (r.min_vcpu is not None and instance.vcpu < r.min_vcpu)
        or (r.max_vcpu is not None and instance.vcpu > r.max_vcpu)
        or (r.min_memory_mib is not None and instance.memory_mib < r.min_memory_mib)
        or (r.max_memory_mib is not None and instance.memory_mib > r.max_memory_mib)
    )


# The policy names architectures as EC2 does; nodes, pods and the catalog as Kubernetes does.
KUBERNETES_ARCH = {"x86_64": "amd64", "arm64": "arm64"}
DEFAULT_ARCHITECTURES = frozenset({"amd64"})


def node_architectures(settings: dict[str, Any]) -> frozenset[str]:
    """The `kubernetes.io/arch` values the policy's new nodes may have (empty: no restriction)."""
    return frozenset(KUBERNETES_ARCH[name] for name in settings["architectures"])


def default_architectures(settings: dict[str, Any]) -> frozenset[str]:
    """What a pod that says nothing about its architecture gets: amd64, unless the policy opts in to
    arm64 (ticking it, alone or with x86_64), which then is as good as amd64 for every pod."""
    return frozenset() if "arm64" in settings["architectures"] else DEFAULT_ARCHITECTURES


def instance_requirements(settings: dict[str, Any]) -> InstanceRequirements:
    def mib(value: Any) -> int | None:
        return None if value is None else int(Decimal(str(value)) * 1024)

    return InstanceRequirements(
        families_allow=frozenset(settings["families_allow"]),
        families_deny=frozenset(settings["families_deny"]),
        architectures=node_architectures(settings),
        current_generation_only=bool(settings["current_generation_only"]),
        min_vcpu=settings["min_vcpu"],
        max_vcpu=settings["max_vcpu"],
        min_memory_mib=mib(settings["min_memory_gib"]),
        max_memory_mib=mib(settings["max_memory_gib"]),
        gpu_models=frozenset(settings["gpu_models"]),
    )


def planner_policy(settings: dict[str, Any]) -> PlannerPolicy:
    return PlannerPolicy(
        objective=Objective(settings["objective"]),
        capacity_types=frozenset(CapacityType(name) for name in settings["capacity_types"]),
        instance_requirements=instance_requirements(settings),
        packing=Packing(settings["packing"]),
        isolation=IsolationRules(
            namespaces=frozenset(settings["isolate_namespaces"]),
            label_selectors=tuple(_selector(text) for text in settings["isolate_label_selectors"]),
            cpu_threshold_millis=settings["isolate_cpu_millicores"],
            memory_threshold_mib=settings["isolate_memory_mib"],
            gpu_pods=bool(settings["isolate_gpu_pods"]),
        ),
        max_pods_per_node=settings["max_pods_per_node"],
        spot_max_interruption_bucket=settings["spot_max_interruption_bucket"],
        limits=Limits(
            max_vcpu=settings["max_vcpu_total"],
            max_nodes=settings["max_nodes"],
            max_cost_per_hour=None
            if settings["max_cost_per_hour"] is None
            else float(settings["max_cost_per_hour"]),
        ),
        gpu_sharing=bool(settings["gpu_sharing"]),
        # Settings saved before the field existed lack it: they meant the default.
        burstable_unlimited=bool(settings.get("burstable_unlimited", False)),
        default_architectures=default_architectures(settings),
        exclusions=Exclusions(
            namespaces=frozenset(settings.get("exclude_namespaces") or ()),
            label_selectors=tuple(_selector(text) for text in settings.get("exclude_label_selectors") or ()),
        ),
    )
