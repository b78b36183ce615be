from __future__ import annotations

from typing import Any

from django import forms

from policies.models import CapacityTypeChoice, ObjectiveChoice, PackingChoice
from policies.models.provisioning import MAX_INTEGER_COLUMN
from policies.provisioning_settings import ARCHITECTURES, SERVERLESS_HELP

# What the model's PositiveIntegerFields hold (PostgreSQL integer): larger numbers are a 400 here,
# not a database error.

BUCKET_CHOICES = [
    ("", "Any"),
    ("0", "0 (<5%)"),
    ("1", "1 (5-10%)"),
    ("2", "2 (10-15%)"),
    ("3", "3 (15-20%)"),
    ("4", "4 (>20%)"),
]


class ListField(forms.CharField):
    """A comma-separated list, shown and edited as text."""

    def prepare_value(self, value: Any) -> Any:
        return ", ".join(value) if isinstance(value, list | tuple) else value


class ProvisioningPolicyForm(forms.Form):
    objective = forms.ChoiceField(choices=ObjectiveChoice.choices)
    capacity_types = forms.MultipleChoiceField(
        choices=CapacityTypeChoice.choices, widget=forms.CheckboxSelectMultiple, help_text=SERVERLESS_HELP
    )
    packing = forms.ChoiceField(choices=PackingChoice.choices)
    families_allow = ListField(
        required=False, label="Allowed families", help_text="e.g. m7g, c7g, r7g — empty allows all"
    )
    families_deny = ListField(required=False, label="Denied families", help_text="e.g. t3, t4g")
    architectures = forms.MultipleChoiceField(
        choices=[(a, a) for a in ARCHITECTURES],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: x86_64, and arm64 for pods whose node affinity on kubernetes.io/arch "
        "allows it. Ticking arm64 opts every pod in to Graviton.",
    )
    current_generation_only = forms.BooleanField(required=False, label="Current generation only")
    min_vcpu = forms.IntegerField(
        required=False, min_value=1, max_value=MAX_INTEGER_COLUMN, label="Min vCPU per node"
    )
    max_vcpu = forms.IntegerField(
        required=False, min_value=1, max_value=MAX_INTEGER_COLUMN, label="Max vCPU per node"
    )
    min_memory_gib = forms.DecimalField(
        required=False, min_value=0, max_digits=8, decimal_places=2, label="Min memory per node (GiB)"
    )
    max_memory_gib = forms.DecimalField(
        required=False, min_value=0, max_digits=8, decimal_places=2, label="Max memory per node (GiB)"
    )
    gpu_models = ListField(
        required=False, label="GPU models", help_text="e.g. T4, A10G, L4 — empty allows all"
    )
    isolate_namespaces = ListField(
        required=False, label="Isolate namespaces", help_text="Pods here always get a node of their own"
    )
    isolate_label_selectors = ListField(
        required=False, label="Isolate pods labelled", help_text="e.g. tenant=acme, sandbox=true"
    )
    exclude_namespaces = ListField(
        required=False,
        label="Leave alone namespaces",
        help_text="Nodeless never plans for nor touches their pods",
    )
    exclude_label_selectors = ListField(
        required=False, label="Leave alone pods labelled", help_text="e.g. autoscaler=other"
    )
    isolate_cpu_millicores = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_INTEGER_COLUMN,
        label="Isolate pods requesting at least (millicores)",
    )
    isolate_memory_mib = forms.IntegerField(
        required=False, min_value=1, max_value=MAX_INTEGER_COLUMN, label="…or at least (MiB)"
    )
    isolate_gpu_pods = forms.BooleanField(required=False, label="Give every GPU pod its own node")
    gpu_sharing = forms.BooleanField(
        required=False, label="Allow GPU sharing (fractional GPU requests share a device)"
    )
    burstable_unlimited = forms.BooleanField(
        required=False,
        label="Let burstable (T-family) nodes run pods at full CPU in unlimited mode",
        help_text="Priced with the surplus-credit charge; otherwise they get pods up to their baseline CPU",
    )
    max_pods_per_node = forms.IntegerField(required=False, min_value=1, max_value=MAX_INTEGER_COLUMN)
    scale_down_delay_seconds = forms.IntegerField(
        min_value=0,
        max_value=86400,
        label="Scale-down delay (s)",
        help_text="How long a node stays empty before it is removed",
    )
    consolidation_min_saving_pct = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=100,
        label="Consolidate when it saves at least (%)",
        help_text="Of what the nodes it removes cost per hour; empty: 10 %",
    )
    max_vcpu_total = forms.IntegerField(
        required=False, min_value=1, max_value=MAX_INTEGER_COLUMN, label="Max vCPU (all managed nodes)"
    )
    max_nodes = forms.IntegerField(
        required=False, min_value=1, max_value=MAX_INTEGER_COLUMN, label="Max nodes"
    )
    max_cost_per_hour = forms.DecimalField(
        required=False, min_value=0, max_digits=10, decimal_places=4, label="Max $/hour"
    )
    spot_max_interruption_bucket = forms.TypedChoiceField(
        choices=BUCKET_CHOICES,
        required=False,
        coerce=int,
        empty_value=None,
        label="Spot: worst interruption bucket",
    )
    spot_fallback_seconds = forms.IntegerField(
        min_value=0,
        max_value=MAX_INTEGER_COLUMN,
        label="Spot: fall back to on-demand after (s)",
        help_text="A node planned on spot asks for spot only this long when EC2 has no spot capacity, "
        "then for on-demand too; 0 falls back at once.",
    )
