"""Every read of the billing app: spend, savings, utilization and placements."""

from billing.selectors.focus import focus_rows
from billing.selectors.overview import Overview, overview
from billing.selectors.placement import (
    decision_inputs,
    decision_options,
    decision_pods,
    federated_workloads,
    placement_namespaces,
    pod_placements,
)
from billing.selectors.reports import (
    BASELINE_METHODS,
    GROUPINGS,
    Report,
    ReportError,
    parse_grouping,
    parse_shared,
    report,
)
from policies.plan_quality import decision_plan_certificate

__all__ = [
    "focus_rows",
    "BASELINE_METHODS",
    "GROUPINGS",
    "Overview",
    "Report",
    "ReportError",
    "decision_inputs",
    "decision_plan_certificate",
    "decision_options",
    "decision_pods",
    "federated_workloads",
    "overview",
    "parse_grouping",
    "parse_shared",
    "placement_namespaces",
    "pod_placements",
    "report",
]
