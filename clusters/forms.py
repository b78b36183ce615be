from __future__ import annotations

from django import forms

from clusters.models import ClusterMode
from clusters.regions import AWS_REGIONS

REGION_CHOICES = [(region, region) for region in AWS_REGIONS]


class CloudAccountForm(forms.Form):
    role_arn = forms.CharField(
        label="Role ARN",
        max_length=2048,
        widget=forms.TextInput(attrs={"placeholder": "arn:aws:iam::123456789012:role/NodelessControlPlane"}),
        help_text="The RoleArn output of the CloudFormation stack.",
    )
    name = forms.CharField(max_length=100, required=False, help_text="Defaults to the account ID.")
    regions = forms.MultipleChoiceField(
        choices=REGION_CHOICES, initial=["us-east-1"], widget=forms.SelectMultiple(attrs={"size": 6})
    )
    on_demand_discount_pct = forms.DecimalField(
        label="On-demand discount %",
        min_value=0,
        max_value=99.99,
        initial=0,
        required=False,
        decimal_places=2,
    )
    spot_discount_pct = forms.DecimalField(
        label="Spot discount %", min_value=0, max_value=99.99, initial=0, required=False, decimal_places=2
    )
    serverless_discount_pct = forms.DecimalField(
        label="Serverless discount %",
        min_value=0,
        max_value=99.99,
        initial=0,
        required=False,
        decimal_places=2,
    )


class EksImportForm(forms.Form):
    region = forms.CharField(widget=forms.HiddenInput)
    eks_cluster_name = forms.CharField(widget=forms.HiddenInput)
    name = forms.CharField(max_length=100, required=False)
    mode = forms.ChoiceField(choices=ClusterMode.choices, initial=ClusterMode.OBSERVE)
    labels = forms.CharField(required=False, help_text="e.g. env=prod, team=payments")


class KubeconfigForm(forms.Form):
    name = forms.CharField(max_length=100, required=False, help_text="Defaults to the context name.")
    kubeconfig = forms.CharField(
        # Kept when the form comes back with errors, in that one response to the person who pasted
        # it (the view marks it no-store); never logged, never in a URL, never shown once connected.
        widget=forms.Textarea(attrs={"rows": 10, "spellcheck": "false", "autocomplete": "off"}),
        required=False,
        help_text="Paste the output of `kubectl config view --raw --flatten --minify`, or upload the file below. "
        "It is encrypted at rest and never shown again.",
    )
    kubeconfig_file = forms.FileField(required=False, label="…or upload a kubeconfig file")
    context = forms.CharField(
        required=False, max_length=200, help_text="Leave empty to use the current context."
    )
    mode = forms.ChoiceField(choices=ClusterMode.choices, initial=ClusterMode.OBSERVE)
    labels = forms.CharField(required=False, help_text="e.g. cloud=onprem, region=dc1, env=prod")

    def kubeconfig_text(self) -> str:
        upload = self.cleaned_data.get("kubeconfig_file")
        if upload:
            if upload.size > 1_000_000:
                raise forms.ValidationError("That file is larger than 1 MB; it is not a kubeconfig.")
            text = str(upload.read().decode("utf-8", errors="replace"))
            # A file input cannot be refilled: an error shows the file's text in the box instead.
            self.data = {**self.data, "kubeconfig": text}
            return text
        return str(self.cleaned_data.get("kubeconfig") or "")


class ClusterSettingsForm(forms.Form):
    name = forms.CharField(max_length=100)
    mode = forms.ChoiceField(choices=ClusterMode.choices)
    labels = forms.CharField(
        required=False,
        help_text="key=value pairs, comma-separated: cloud, region, zone, env, and any of your own.",
    )


class NodeClassForm(forms.Form):
    """The node class's editable fields; checked by `node_class_update`, like the API's PATCH."""

    node_role_arn = forms.CharField(
        required=False, max_length=300, help_text="Empty: the node role the onboarding stack created."
    )
    instance_profile = forms.CharField(required=False, max_length=128)
    discovery_tag = forms.CharField(
        required=False,
        max_length=300,
        help_text="key=value: subnets and security groups with this tag are used too.",
    )
    root_volume_gib = forms.CharField(
        required=False, max_length=10, label="Root volume (GiB)", help_text="Empty: sized per instance type."
    )
