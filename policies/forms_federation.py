"""Forms for federation policies and federated workloads.

The policy form is flat and readable (selectors as text, tiers one per line, static weights as
``weight: target`` lines) and produces the API's shape, so the form and the API share one
validation in ``policies.federation.services``. Field paths in its errors
(``spread.static_weights[1]``) are mapped back onto the form's fields.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from clusters.labels import format_label_text, parse_label_text
from engines.federation import SpreadBy, Strategy, WeightMode
from policies.federation.spec import MAX_EGRESS_WEIGHT, MAX_GROUPS, MAX_RETURN_AFTER_SECONDS
from policies.forms import ListField
from policies.models import FailureBehaviour, FederationPolicy
from policies.models.provisioning import MAX_INTEGER_COLUMN

MAX_UPLOAD_BYTES = 1_000_000
SELECTOR_HELP = "e.g. env=prod, cloud in (aws, gcp), !spot, tier>2 — empty selects every cluster"
_CLUSTERS_TARGET = re.compile(r"^clusters\s+(?!(in|notin)\b)(?P<names>.+)$", re.IGNORECASE)
_FORM_FIELDS = {
    "workload_selector": "workload_namespaces",
    "spread.weights": "spread_weights",
    "spread.static_weights": "static_weights",
    "spread.spread_by": "spread_by",
    "spread.min_groups": "min_groups",
    "spread.max_groups": "max_groups",
    "burst.tiers": "burst_tiers",
    "burst.return_headroom": "return_headroom",
    "burst.return_after_seconds": "return_after_seconds",
}


_LABELS = {
    Strategy.CHEAPEST: "Cheapest — the cluster where a replica costs least",
    Strategy.MOST_CAPACITY: "Most capacity — the cluster with the most free room",
    Strategy.SPREAD: "Spread — replicas split across clusters by weight",
    Strategy.DUPLICATE: "Duplicate — every replica count on every selected cluster",
    Strategy.FILL_THEN_BURST: "Fill then burst — fill the first tier (e.g. on-prem), then the next",
    Strategy.PINNED: "Pinned — only the clusters named below",
    WeightMode.CAPACITY: "In proportion to free capacity",
    WeightMode.STATIC: "Static weights (the rules below; none: equal shares)",
    WeightMode.AGGREGATED: "Aggregated — as few clusters as hold the replicas",
    SpreadBy.CLUSTER: "Cluster",
    SpreadBy.REGION: "Region",
    SpreadBy.CLOUD: "Cloud",
}


def _choices(enum: Any) -> list[tuple[str, str]]:
    return [(str(member), _LABELS.get(member, str(member).replace("_", " "))) for member in enum]


def parse_static_weights(text: str) -> list[dict[str, Any]]:
    """Lines of ``3: cloud=aws`` (a selector) or ``1: clusters eks-east, dc-1`` (cluster names)."""
    rules: list[dict[str, Any]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        weight, colon, target = line.partition(":")
        if not colon or not weight.strip().isdigit():
            raise ValidationError(
                f"line {number}: write weight: target, e.g. 3: cloud=aws or 1: clusters dc-1"
            )
        match = _CLUSTERS_TARGET.match(target.strip())
        rule: dict[str, Any] = {"weight": int(weight)}
        if match:
            rule["clusters"] = [name.strip() for name in match["names"].split(",") if name.strip()]
        else:
            rule["selector"] = target.strip()
        rules.append(rule)
    return rules


def format_static_weights(rules: list[dict[str, Any]]) -> str:
    lines = []
    for rule in rules:
        target = (
            f"clusters {', '.join(rule['clusters'])}" if rule.get("clusters") else rule.get("selector", "")
        )
        lines.append(f"{rule['weight']}: {target}")
    return "\n".join(lines)


EDITED_VERSION_HELP = (
    "The version this form was filled from: saving fails if someone saved another meanwhile."
)


class FederationPolicyForm(forms.Form):
    name = forms.CharField(max_length=100)
    edited_version = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_INTEGER_COLUMN,
        widget=forms.HiddenInput,
        help_text=EDITED_VERSION_HELP,
    )
    description = forms.CharField(max_length=300, required=False)
    workload_namespaces = ListField(
        required=False,
        label="Workload namespaces",
        help_text="Workloads in these namespaces use it; empty: any",
    )
    workload_labels = forms.CharField(required=False, label="Workload labels", help_text="e.g. tier=web")
    cluster_selector = forms.CharField(required=False, help_text=SELECTOR_HELP)
    strategy = forms.ChoiceField(choices=_choices(Strategy))
    spread_weights = forms.ChoiceField(choices=_choices(WeightMode), required=False, label="Weights")
    static_weights = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One per line: 3: cloud=aws or 1: clusters dc-1, dc-2 — empty: every cluster weighs 1",
    )
    spread_by = forms.ChoiceField(choices=_choices(SpreadBy), required=False, label="Spread by")
    min_groups = forms.IntegerField(
        required=False, min_value=1, max_value=MAX_GROUPS, label="Min clusters / regions / clouds"
    )
    max_groups = forms.IntegerField(
        required=False, min_value=1, max_value=MAX_GROUPS, label="Max clusters / regions / clouds"
    )
    burst_tiers = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        label="Tiers",
        help_text="One cluster selector per line, first filled first: cloud=onprem, then cloud=aws…",
    )
    return_headroom = forms.FloatField(
        required=False,
        min_value=0,
        max_value=0.99,
        label="Return headroom",
        help_text="Share of tier 1 kept free",
    )
    return_after_seconds = forms.IntegerField(
        required=False, min_value=0, max_value=MAX_RETURN_AFTER_SECONDS, label="Return after (s)"
    )
    pinned = forms.MultipleChoiceField(
        required=False, widget=forms.CheckboxSelectMultiple, label="Pinned clusters"
    )
    egress_weight = forms.FloatField(
        min_value=0,
        max_value=MAX_EGRESS_WEIGHT,
        initial=1.0,
        help_text="1 = egress at its price; 0 ignores it",
    )
    stickiness = forms.FloatField(
        min_value=0, max_value=0.99, initial=0.1, help_text="Favour where it runs now"
    )
    on_failure = forms.ChoiceField(choices=FailureBehaviour.choices)
    grace_period_seconds = forms.IntegerField(
        min_value=0, max_value=86_400, initial=120, label="Grace period (s)"
    )

    def __init__(self, *args: Any, cluster_names: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        pinned = self.fields["pinned"]
        assert isinstance(pinned, forms.MultipleChoiceField)
        pinned.choices = [(name, name) for name in cluster_names]

    def clean_workload_namespaces(self) -> list[str]:
        text = self.cleaned_data.get("workload_namespaces") or ""
        return [part.strip() for part in text.replace("\n", ",").split(",") if part.strip()]

    def clean_workload_labels(self) -> dict[str, str]:
        return parse_label_text(self.cleaned_data.get("workload_labels") or "")

    def clean_static_weights(self) -> list[dict[str, Any]]:
        return parse_static_weights(self.cleaned_data.get("static_weights") or "")

    def api_data(self) -> dict[str, Any]:
        """The cleaned form in the API's shape (see ``policies.federation.spec``)."""
        data = self.cleaned_data
        return {
            "name": data["name"],
            "description": data.get("description", ""),
            "workload_selector": {
                "namespaces": data.get("workload_namespaces") or [],
                "labels": data.get("workload_labels") or {},
            },
            "cluster_selector": data.get("cluster_selector", ""),
            "strategy": data["strategy"],
            "spread": {
                "weights": data.get("spread_weights") or WeightMode.CAPACITY.value,
                "static_weights": data.get("static_weights") or [],
                "spread_by": data.get("spread_by") or SpreadBy.CLUSTER.value,
                "min_groups": data.get("min_groups") or 1,
                "max_groups": data.get("max_groups"),
            },
            "burst": {
                "tiers": [line for line in (data.get("burst_tiers") or "").splitlines() if line.strip()],
                "return_headroom": 0.1 if data.get("return_headroom") is None else data["return_headroom"],
                "return_after_seconds": 300
                if data.get("return_after_seconds") is None
                else data["return_after_seconds"],
            },
            "pinned": data.get("pinned") or [],
            "egress_weight": data["egress_weight"],
            "stickiness": data["stickiness"],
            "on_failure": data["on_failure"],
            "grace_period_seconds": data["grace_period_seconds"],
        }

    def add_policy_errors(self, error: ValidationError) -> None:
        """A service error keyed by API field path, shown on the form field that holds it."""
        for path, messages in error.message_dict.items():
            base, _, index = path.partition("[")
            field = _FORM_FIELDS.get(base, base)
            detail = ""
            if index:
                position = int(index.rstrip("]")) + 1
                detail = f"tier {position}: " if base == "burst.tiers" else f"line {position}: "
            for message in messages:
                self.add_error(field if field in self.fields else None, f"{detail}{message}")


def policy_initial(shape: Mapping[str, Any]) -> dict[str, Any]:
    """Form initial values from a policy's API shape (``serializers.policy_representation``)."""
    spread = shape.get("spread") or {}
    burst = shape.get("burst") or {}
    selector = shape.get("workload_selector") or {}
    return {
        "name": shape["name"],
        "description": shape.get("description", ""),
        "workload_namespaces": selector.get("namespaces") or [],
        "workload_labels": format_label_text(selector.get("labels") or {}),
        "cluster_selector": shape.get("cluster_selector", ""),
        "strategy": shape["strategy"],
        "spread_weights": spread.get("weights", WeightMode.CAPACITY.value),
        "static_weights": format_static_weights(spread.get("static_weights") or []),
        "spread_by": spread.get("spread_by", SpreadBy.CLUSTER.value),
        "min_groups": spread.get("min_groups", 1),
        "max_groups": spread.get("max_groups"),
        "burst_tiers": "\n".join(burst.get("tiers") or []),
        "return_headroom": burst.get("return_headroom", 0.1),
        "return_after_seconds": int(burst.get("return_after_seconds", 300)),
        "pinned": shape.get("pinned") or [],
        "egress_weight": shape.get("egress_weight", 1.0),
        "stickiness": shape.get("stickiness", 0.1),
        "on_failure": shape.get("on_failure", FailureBehaviour.RESCHEDULE),
        "grace_period_seconds": shape.get("grace_period_seconds", 120),
    }


class WorkloadForm(forms.Form):
    """Submit (or edit) a workload: paste or upload a manifest, choose a policy."""

    manifest = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 18, "spellcheck": "false"}),
        help_text="One Deployment, StatefulSet, DaemonSet, Job or CronJob plus the objects it needs in its "
        "namespace (YAML or JSON). Every container must request cpu and memory.",
    )
    manifest_file = forms.FileField(required=False, label="…or upload a manifest file")
    edited_version = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_INTEGER_COLUMN,
        widget=forms.HiddenInput,
        help_text=EDITED_VERSION_HELP,
    )
    policy = forms.ChoiceField(required=False, label="Federation policy")
    egress_gb_per_hour = forms.DecimalField(
        required=False,
        min_value=0,
        max_digits=10,
        decimal_places=3,
        label="Egress (GB/hour)",
        help_text="Expected traffic",
    )
    data_location = forms.CharField(
        required=False, max_length=64, label="…to", help_text="cloud/region, e.g. aws/us-east-1"
    )

    def __init__(self, *args: Any, policies: list[FederationPolicy], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        policy = self.fields["policy"]
        assert isinstance(policy, forms.ChoiceField)
        policy.choices = [("", "Chosen by the policies' workload selectors")] + [
            (str(p.pk), p.name) for p in policies
        ]

    def manifest_text(self) -> str:
        upload = self.cleaned_data.get("manifest_file")
        if upload:
            if upload.size > MAX_UPLOAD_BYTES:
                raise ValidationError({"manifest": "That file is larger than 1 MB; it is not a manifest."})
            return str(upload.read().decode("utf-8", errors="replace"))
        return str(self.cleaned_data.get("manifest") or "")


class ScaleForm(forms.Form):
    replicas = forms.IntegerField(min_value=0, max_value=10_000)
