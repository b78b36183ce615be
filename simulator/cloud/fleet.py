"""EC2 CreateFleet `instant`, as AWS runs it (moto places every fleet on its first override, ignores
zones, and has no capacity errors or ClientToken idempotency):

1. order the overrides by `Priority` (prioritized strategies) or by price (lowest-price ones);
2. walk them until the target capacity is met: an override the simulator cannot serve — an
   unknown type, a type not offered in the zone, or an offering configured as out of capacity —
   adds an entry to `Errors` (`InsufficientInstanceCapacity`, `Unsupported`, ...);
3. launch the rest through moto's RunInstances in the caller's account, from the launch template
   (its image, user data, instance profile, security groups, metadata options, volumes), in the
   override's subnet (else the zone's default subnet), as spot when the target capacity type is
   spot, with the fleet's instance and volume tags; a burstable instance runs with the template's
   `CreditSpecification`, else its family's default (`DescribeInstanceCreditSpecifications` says which);
Before launching, the request is refused as EC2 refuses it: a launch template that does not exist
(`InvalidLaunchTemplateName.NotFoundException` / `InvalidLaunchTemplateId.NotFound`), an override
naming a subnet that does not exist (`InvalidSubnetID.NotFound`), and instance tags whose keys
contain `/` or spaces while the template puts instance tags in the metadata
(`InvalidParameterValue`; https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/work-with-tags-in-IMDS.html).

4. remember the response under the `ClientToken`: the same token returns the same instances
   without launching again (different parameters get `IdempotentParameterMismatch`).
"""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from simulator.catalog import AwsCatalog
from simulator.cloud.protocol import AwsError, AwsRequest, nested_params
from simulator.cloud.spot_prices import spot_price

CAPACITY_ERROR = "InsufficientInstanceCapacity"


# EC2's credit option per burstable family when neither the launch nor its template sets one:
# "Default: standard (T2 instances) or unlimited (T3/T3a/T4g instances)" (RunInstances,
# CreditSpecification). Other families have no credit option.
DEFAULT_CPU_CREDITS = {"t2": "standard", "t3": "unlimited", "t3a": "unlimited", "t4g": "unlimited"}


def cpu_credits(instance_type: str, template_data: Mapping[str, Any]) -> str | None:
    """The credit option an instance of `instance_type` runs with, launched from `template_data`."""
    default = DEFAULT_CPU_CREDITS.get(instance_type.split(".", 1)[0])
    if default is None:
        return None
    asked = (template_data.get("CreditSpecification") or {}).get("CpuCredits")
    return str(asked) if asked in ("standard", "unlimited") else default


# EC2: "a client token is valid for at least 24 hours after the request completes".
CLIENT_TOKEN_LIFETIME_SECONDS = 24 * 3600.0


@dataclass(frozen=True)
class Offering:
    instance_type: str
    zone: str
    capacity_type: str  # "spot" or "on-demand"


class CapacityFaults:
    """Offerings that currently have no capacity (thread-safe, changed by tests)."""

    def __init__(self) -> None:
        self._exhausted: set[Offering] = set()
        self._lock = threading.Lock()

    def exhaust(self, offering: Offering) -> None:
        with self._lock:
            self._exhausted.add(offering)

    def restore(self, offering: Offering | None = None) -> None:
        with self._lock:
            if offering is None:
                self._exhausted.clear()
            else:
                self._exhausted.discard(offering)

    def exhausted(self, offering: Offering) -> bool:
        with self._lock:
            return offering in self._exhausted


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


class FleetLauncher:
    def __init__(
        self,
        catalog: AwsCatalog,
        faults: CapacityFaults,
        ec2_for_caller: Callable[[AwsRequest], Any],
        now: Callable[[], float],
        version_deleted: Callable[[str, int], bool] = lambda template_id, version: False,
    ) -> None:
        self.catalog = catalog
        self.faults = faults
        self.ec2_for_caller = ec2_for_caller
        self.now = now
        self.version_deleted = version_deleted  # a launch template version deleted on its own
        # (account, token) -> (fingerprint, answer, simulated time answered), in answer order.
        self._responses: dict[tuple[str, str], tuple[str, dict[str, Any], float]] = {}
        self._lock = threading.Lock()
        self._token_locks: dict[tuple[str, str], threading.Lock] = {}
        self._cpu_credits: dict[str, str] = {}  # burstable instance id -> its credit option

    def credit_specifications(self, instance_ids: list[str]) -> list[dict[str, str]] | None:
        """DescribeInstanceCreditSpecifications for instances this launcher started (None when one
        of them is not: moto answers for those)."""
        with self._lock:
            if not instance_ids or any(i not in self._cpu_credits for i in instance_ids):
                return None
            return [{"InstanceId": i, "CpuCredits": self._cpu_credits[i]} for i in instance_ids]

    def create_fleet(self, request: AwsRequest, account_id: str) -> dict[str, Any]:
        params = request.params
        if params.get("Type", "maintain") != "instant":
            raise AwsError(
                "InvalidParameterValue", "The simulator supports CreateFleet with Type=instant only."
            )
        token = params.get("ClientToken", "")
        fingerprint = hashlib.sha256(
            json.dumps(
                {k: v for k, v in sorted(params.items()) if k not in ("ClientToken", "DryRun")}
            ).encode()
        ).hexdigest()
        if not token:
            return self._launch(request)
        # One launch per token at a time (a retry waits for the first call's answer); launches with
        # different tokens run concurrently, as EC2 serves them.
        with self._lock:
            token_lock = self._token_locks.setdefault((account_id, token), threading.Lock())
        with token_lock:
            if (account_id, token) in self._responses:
                previous_fingerprint, previous, _ = self._responses[(account_id, token)]
                if previous_fingerprint != fingerprint:
                    raise AwsError(
                        "IdempotentParameterMismatch",
                        f"Client token '{token}' was already used with different parameters.",
                    )
                return previous
            result = self._launch(request)
            answered_at = self.now()
            with self._lock:
                self._responses[(account_id, token)] = (fingerprint, result, answered_at)
                self._forget_tokens_before(answered_at - CLIENT_TOKEN_LIFETIME_SECONDS)
            return result

    def _forget_tokens_before(self, cutoff: float) -> None:
        """EC2 keeps a client token for at least 24 hours after the request; after that a retry
        with it is a new launch. Forgetting them keeps a simulation that runs for days bounded."""
        expired = []
        for key, (_, _, answered_at) in self._responses.items():
            if answered_at >= cutoff:
                break  # insertion order is answer order
            expired.append(key)
        for key in expired:
            del self._responses[key]
            self._token_locks.pop(key, None)

    def _overrides(self, request: AwsRequest) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """(launch template spec, override) pairs in the order the fleet tries them."""
        pairs = []
        for config in _as_list(nested_params(request.params, "LaunchTemplateConfigs")):
            template = config.get("LaunchTemplateSpecification") or {}
            for override in _as_list(config.get("Overrides")) or [{}]:
                pairs.append((template, override))
        capacity_type = self._capacity_type(request)
        strategy_key = (
            "SpotOptions.AllocationStrategy"
            if capacity_type == "spot"
            else "OnDemandOptions.AllocationStrategy"
        )
        strategy = request.params.get(
            strategy_key, "lowest-price" if capacity_type == "on-demand" else "price-capacity-optimized"
        )
        if "prioritized" in strategy or any("Priority" in o for _, o in pairs):
            return sorted(pairs, key=lambda p: float(p[1].get("Priority", "inf")))
        return sorted(pairs, key=lambda p: self._price(p[1], capacity_type, request.region))

    def _price(self, override: Mapping[str, Any], capacity_type: str, region: str) -> float:
        instance_type, zone = override.get("InstanceType", ""), override.get("AvailabilityZone", "")
        price = (
            spot_price(self.catalog, region, instance_type, zone, self.now())
            if capacity_type == "spot"
            else self.catalog.on_demand_price(region, instance_type)
        )
        return price if price is not None else float("inf")

    @staticmethod
    def _capacity_type(request: AwsRequest) -> str:
        return request.params.get("TargetCapacitySpecification.DefaultTargetCapacityType", "on-demand")

    def _validate(self, ec2: Any, request: AwsRequest, tags: list[dict[str, str]]) -> None:
        subnets: set[str] = set()
        templates: dict[str, Mapping[str, Any]] = {}
        for template, override in self._overrides(request):
            templates[json.dumps(template, sort_keys=True)] = template
            if override.get("SubnetId"):
                subnets.add(str(override["SubnetId"]))
        for spec in templates.values():
            data = self._template_data(ec2, spec)
            if (data.get("MetadataOptions") or {}).get("InstanceMetadataTags") == "enabled":
                bad = sorted({t["Key"] for t in tags if "/" in t["Key"] or " " in t["Key"]})
                if bad:
                    raise AwsError(
                        "InvalidParameterValue",
                        f"The tag key '{bad[0]}' is not valid: when instance tags in metadata are enabled, "
                        "tag keys cannot contain '/' or spaces.",
                    )
        known = {s["SubnetId"] for s in ec2.describe_subnets()["Subnets"]} if subnets else set()
        for subnet in sorted(subnets - known):
            raise AwsError("InvalidSubnetID.NotFound", f"The subnet ID '{subnet}' does not exist")

    def _launch(self, request: AwsRequest) -> dict[str, Any]:
        target = int(request.params.get("TargetCapacitySpecification.TotalTargetCapacity", "1"))
        capacity_type = self._capacity_type(request)
        ec2 = self.ec2_for_caller(request)
        tags = self._instance_tags(request)
        self._validate(ec2, request, tags)
        errors: list[dict[str, Any]] = []
        instances: list[dict[str, Any]] = []
        launched = 0
        for template, override in self._overrides(request):
            if launched >= target:
                break
            described = self._describe(template, override)
            problem = self._unavailable(override, capacity_type, request.region, ec2)
            if problem is not None:
                errors.append(
                    {
                        **described,
                        "Lifecycle": capacity_type,
                        "ErrorCode": problem[0],
                        "ErrorMessage": problem[1],
                    }
                )
                continue
            zone = self._zone(override, request.region, ec2)
            count = target - launched
            if override.get("SubnetId"):
                free = self._free_addresses(ec2, override["SubnetId"])
                if free < 1:
                    errors.append(
                        {
                            **described,
                            "Lifecycle": capacity_type,
                            "ErrorCode": "InsufficientFreeAddressesInSubnet",
                            "ErrorMessage": f"There are not enough free addresses in subnet "
                            f"'{override['SubnetId']}' to satisfy the requested number of instances.",
                        }
                    )
                    continue
                count = min(count, free)
            ids = self._run_instances(
                ec2,
                template,
                override,
                zone,
                count,
                capacity_type,
                tags,
                self._volume_tags(request),
            )
            launched += len(ids)
            instances.append(
                {
                    **described,
                    "Lifecycle": capacity_type,
                    "InstanceIds": ids,
                    "InstanceType": override["InstanceType"],
                }
            )
        result: dict[str, Any] = {
            "FleetId": f"fleet-{uuid.uuid4()}",
            "Errors": errors,
            "Instances": instances,
        }
        return result

    @staticmethod
    def _free_addresses(ec2: Any, subnet_id: str) -> int:
        subnets = ec2.describe_subnets(SubnetIds=[subnet_id])["Subnets"]
        return int(subnets[0]["AvailableIpAddressCount"]) if subnets else 0

    @staticmethod
    def _describe(template: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
        spec = {
            k: template[k] for k in ("LaunchTemplateId", "LaunchTemplateName", "Version") if k in template
        }
        overrides: dict[str, Any] = {
            k: override[k]
            for k in ("InstanceType", "AvailabilityZone", "SubnetId", "ImageId")
            if k in override
        }
        if "Priority" in override:
            overrides["Priority"] = float(override["Priority"])
        return {"LaunchTemplateAndOverrides": {"LaunchTemplateSpecification": spec, "Overrides": overrides}}

    def _zone(self, override: Mapping[str, Any], region: str, ec2: Any) -> str:
        if override.get("AvailabilityZone"):
            return str(override["AvailabilityZone"])
        if override.get("SubnetId"):
            subnets = ec2.describe_subnets(SubnetIds=[override["SubnetId"]])["Subnets"]
            return str(subnets[0]["AvailabilityZone"])
        return self.catalog.zones(region)[0]

    def _unavailable(
        self, override: Mapping[str, Any], capacity_type: str, region: str, ec2: Any
    ) -> tuple[str, str] | None:
        instance_type = override.get("InstanceType", "")
        spec = self.catalog.instance_types.get(instance_type)
        if spec is None:
            return ("InvalidParameterValue", f"The instance type '{instance_type}' does not exist.")
        zone = self._zone(override, region, ec2)
        if not self.catalog.offered(region, zone, instance_type):
            return (
                "Unsupported",
                f"Your requested instance type ({instance_type}) is not supported in your requested "
                f"Availability Zone ({zone}).",
            )
        if capacity_type not in spec.usage_classes:
            return (
                "Unsupported",
                f"The instance type {instance_type} does not support {capacity_type} capacity.",
            )
        if self.faults.exhausted(Offering(instance_type, zone, capacity_type)):
            others = [
                z
                for z in self.catalog.zones(region)
                if z != zone and self.catalog.offered(region, z, instance_type)
            ]
            return (
                CAPACITY_ERROR,
                f"We currently do not have sufficient {instance_type} capacity in the Availability Zone you "
                f"requested ({zone}). Our system will be working on provisioning additional capacity. You can "
                f"currently get {instance_type} capacity by not specifying an Availability Zone in your request "
                f"or choosing {', '.join(others) or 'another type'}.",
            )
        return None

    @staticmethod
    def _instance_tags(request: AwsRequest) -> list[dict[str, str]]:
        return tags_for(request, "instance")

    @staticmethod
    def _volume_tags(request: AwsRequest) -> list[dict[str, str]]:
        return tags_for(request, "volume")

    def _run_instances(
        self,
        ec2: Any,
        template: Mapping[str, Any],
        override: Mapping[str, Any],
        zone: str,
        count: int,
        capacity_type: str,
        tags: list[dict[str, str]],
        volume_tags: list[dict[str, str]],
    ) -> list[str]:
        data = self._template_data(ec2, template)
        image_id = override.get("ImageId") or data.get("ImageId")
        if not image_id:
            raise AwsError(
                "InvalidParameterValue", "The launch template has no ImageId and no override sets one."
            )
        reference = {k: template[k] for k in ("LaunchTemplateId", "LaunchTemplateName") if k in template}
        arguments: dict[str, Any] = {
            "ImageId": image_id,
            "InstanceType": override["InstanceType"],
            "MinCount": count,
            "MaxCount": count,
            "LaunchTemplate": {**reference, "Version": str(template.get("Version", "$Default"))},
        }
        for key in ("IamInstanceProfile", "MetadataOptions", "BlockDeviceMappings", "SecurityGroupIds"):
            if data.get(key):
                arguments[key] = data[key]
        if override.get("SubnetId"):
            arguments["SubnetId"] = override["SubnetId"]
        else:
            arguments["Placement"] = {"AvailabilityZone": zone}
        specifications = [
            {"ResourceType": kind, "Tags": kind_tags}
            for kind, kind_tags in (("instance", tags), ("volume", volume_tags))
            if kind_tags
        ]
        if specifications:
            arguments["TagSpecifications"] = specifications
        if capacity_type == "spot":
            arguments["InstanceMarketOptions"] = {
                "MarketType": "spot",
                "SpotOptions": {"SpotInstanceType": "one-time"},
            }
        try:
            reservation = ec2.run_instances(**arguments)
        except ClientError as error:
            details = error.response.get("Error", {})
            raise AwsError(
                details.get("Code", "InvalidParameterValue"), details.get("Message", str(error))
            ) from error
        ids = [instance["InstanceId"] for instance in reservation["Instances"]]
        credits = cpu_credits(override["InstanceType"], data)
        if credits is not None:
            with self._lock:
                self._cpu_credits.update(dict.fromkeys(ids, credits))
        return ids

    def _template_data(self, ec2: Any, template: Mapping[str, Any]) -> dict[str, Any]:
        lookup: dict[str, Any] = {}
        if "LaunchTemplateId" in template:
            lookup["LaunchTemplateId"] = template["LaunchTemplateId"]
        elif "LaunchTemplateName" in template:
            lookup["LaunchTemplateName"] = template["LaunchTemplateName"]
        else:
            raise AwsError("InvalidParameterValue", "A launch template or an ImageId override is required.")
        version = str(template.get("Version", "$Default"))
        try:
            versions = ec2.describe_launch_template_versions(**lookup, Versions=[version])[
                "LaunchTemplateVersions"
            ]
        except ClientError as error:
            raise _template_not_found(template) from error
        if not versions:
            raise _template_not_found(template)
        if self.version_deleted(str(versions[0]["LaunchTemplateId"]), int(versions[0]["VersionNumber"])):
            raise AwsError(
                "InvalidLaunchTemplateId.VersionNotFound",
                f"Could not find launch template version {version} for launch template "
                f"{versions[0]['LaunchTemplateId']}.",
            )
        data: dict[str, Any] = versions[0].get("LaunchTemplateData") or {}
        return data


def _template_not_found(template: Mapping[str, Any]) -> AwsError:
    if "LaunchTemplateId" in template:
        return AwsError(
            "InvalidLaunchTemplateId.NotFound",
            f"The specified launch template, with template ID {template['LaunchTemplateId']}, does not exist.",
        )
    return AwsError(
        "InvalidLaunchTemplateName.NotFoundException",
        f"The specified launch template, with template name {template.get('LaunchTemplateName')}, does not exist.",
    )


def tags_for(request: AwsRequest, resource_type: str) -> list[dict[str, str]]:
    """The tags a CreateFleet request puts on resources of `resource_type`."""
    tags: list[dict[str, str]] = []
    for specification in _as_list(nested_params(request.params, "TagSpecification")):
        if specification.get("ResourceType") == resource_type:
            tags.extend(
                {"Key": t["Key"], "Value": t.get("Value", "")} for t in _as_list(specification.get("Tag"))
            )
    return tags
