"""The AWS implementation of the cloud provider interface (boto3, under the customer's role).

Launch, as Karpenter does it:
1. split the ordered offerings into runs of one capacity type (a fleet has one);
2. for each run, call EC2 CreateFleet `instant` with one launch template config per launch template
   version and one override per offering (its instance type and subnet), `Priority` in list order
   and a prioritized allocation strategy, so EC2 itself falls back along the run and reports the
   offerings it could not serve in `Errors`; the request tags the fleet, the instance, its volumes
   and network interfaces (what the controller policy's `aws:RequestTag` conditions require);
3. stop at the first run that yields an instance; otherwise move on to the next run;
4. each run's `ClientToken` derives from the request's idempotency token, so a retried launch
   returns the instance of the first attempt instead of launching another.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from botocore.parsers import ResponseParserError

from clusters.cloud.aws_errors import AWS_ERRORS, CAPACITY_CODES, AwsError, classify, classify_code
from clusters.cloud.aws_session import AwsEndpoints, client
from clusters.cloud.errors import CloudError, InsufficientCapacityError, InvalidRequestError
from clusters.cloud.interface import (
    LAUNCH_TOKEN_TAG,
    EksClusterInfo,
    Instance,
    InstanceState,
    InterruptionNotice,
    LaunchRequest,
    LaunchResult,
    NoticeKind,
    Offering,
    OfferingFailure,
    Placement,
    PriceQuote,
)
from engines.kube.capacity import CapacityType

logger = logging.getLogger(__name__)

SPOT_NOTICE = timedelta(minutes=2)
MAX_TOKEN_LENGTH = 64
_NOTICE_KINDS = {
    "EC2 Spot Instance Interruption Warning": NoticeKind.SPOT_INTERRUPTION,
    "EC2 Instance Rebalance Recommendation": NoticeKind.REBALANCE_RECOMMENDATION,
    "AWS Health Event": NoticeKind.SCHEDULED_CHANGE,
    "EC2 Instance State-change Notification": NoticeKind.STATE_CHANGE,
}
_PRICE_FILTERS = {
    "operatingSystem": "Linux",
    "tenancy": "Shared",
    "preInstalledSw": "NA",
    "capacitystatus": "Used",
}


# CreateFleet creates these resources; each is authorized with the tags the request gives it.
TAGGED_RESOURCES = ("fleet", "instance", "volume", "network-interface")


@dataclass(frozen=True)
class AwsProviderConfig:
    region: str
    interruption_queue_url: str = ""
    role_arn: str = ""  # named in error messages
    max_attempts: int = 3


def capacity_runs(offerings: Sequence[Offering]) -> list[tuple[CapacityType, list[Offering]]]:
    """Consecutive offerings with one capacity type, in order (a fleet has one capacity type)."""
    runs: list[tuple[CapacityType, list[Offering]]] = []
    for offering in offerings:
        if runs and runs[-1][0] == offering.capacity_type:
            runs[-1][1].append(offering)
        else:
            runs.append((offering.capacity_type, [offering]))
    return runs


def fleet_token(idempotency_token: str, run_index: int) -> str:
    token = f"{idempotency_token}-{run_index}"
    if len(token) <= MAX_TOKEN_LENGTH:
        return token
    return hashlib.sha256(token.encode()).hexdigest()[:MAX_TOKEN_LENGTH]


def _launched_instance(item: Mapping[str, Any], offering: Offering, tags: Mapping[str, str]) -> Instance:
    """The instance an instant fleet just launched, from the fleet's answer alone (as Karpenter
    builds it): a DescribeInstances round trip per launch would delay every node by its latency,
    and its address is not needed - the node is matched by instance id when it registers."""
    lifecycle = item.get("Lifecycle")
    return Instance(
        instance_id=item["InstanceIds"][0],
        instance_type=str(item.get("InstanceType") or offering.instance_type),
        zone=offering.zone,
        capacity_type=offering.capacity_type
        if lifecycle is None
        else (CapacityType.SPOT if lifecycle == CapacityType.SPOT.aws_value else CapacityType.ON_DEMAND),
        state=InstanceState.PENDING,
        launched_at=datetime.now(UTC),
        private_ip="",
        private_dns_name="",
        tags=dict(tags),
    )


def _instance(item: Mapping[str, Any]) -> Instance:
    return Instance(
        instance_id=item["InstanceId"],
        instance_type=item["InstanceType"],
        zone=item["Placement"]["AvailabilityZone"],
        capacity_type=CapacityType.SPOT
        if item.get("InstanceLifecycle") == CapacityType.SPOT.aws_value
        else CapacityType.ON_DEMAND,
        state=InstanceState(item["State"]["Name"]),
        launched_at=item["LaunchTime"],
        private_ip=item.get("PrivateIpAddress", ""),
        private_dns_name=item.get("PrivateDnsName", ""),
        tags={t["Key"]: t["Value"] for t in item.get("Tags") or ()},
    )


def interruption_queue_name(cluster_name: str) -> str:
    """The queue the Nodeless CloudFormation stack creates for a cluster's interruption events."""
    return f"nodeless-{cluster_name}-interruptions"


def describe_eks_cluster(eks: Any, *, name: str, region: str) -> EksClusterInfo:
    """EKS DescribeCluster with `eks` (a boto3 client); botocore errors propagate."""
    cluster = eks.describe_cluster(name=name)["cluster"]
    ca_data = cluster.get("certificateAuthority", {}).get("data", "")
    try:
        ca_pem = base64.b64decode(ca_data).decode() if ca_data else ""
    except (ValueError, UnicodeDecodeError):
        ca_pem = ""
    return EksClusterInfo(
        name=name,
        region=region,
        endpoint=cluster.get("endpoint", ""),
        ca_pem=ca_pem,
        version=cluster.get("version", ""),
        status=cluster.get("status", ""),
    )


class AwsCloudProvider:
    def __init__(
        self, session: boto3.Session, config: AwsProviderConfig, endpoints: AwsEndpoints | None = None
    ) -> None:
        self.config = config
        self._session, self._endpoints = session, endpoints
        self._ec2 = client(session, "ec2", endpoints, max_attempts=config.max_attempts)
        self._sqs = client(session, "sqs", endpoints, max_attempts=config.max_attempts)
        # The Price List API lives in a few regions only; prices of every region are served there.
        self._pricing = session.client(
            "pricing",
            region_name="us-east-1",
            endpoint_url=(endpoints or AwsEndpoints()).for_service("pricing"),
            config=self._ec2.meta.config,
        )

    @cached_property
    def _eks(self) -> Any:
        # Built on first use: only the import of a cluster describes it, the loop never does.
        return client(self._session, "eks", self._endpoints, max_attempts=self.config.max_attempts)

    def _fail(self, error: AwsError, context: str) -> CloudError:
        return classify(error, role_arn=self.config.role_arn, context=context)

    # --- launch ------------------------------------------------------------------------------

    def launch(self, request: LaunchRequest) -> LaunchResult:
        if not request.offerings:
            raise InvalidRequestError("A launch needs at least one offering.")
        if len(request.placements) != len(request.offerings):
            raise InvalidRequestError("Every offering needs a placement (launch template and subnet).")
        if len(request.idempotency_token) > MAX_TOKEN_LENGTH - 4:
            raise InvalidRequestError(
                f"The idempotency token is longer than {MAX_TOKEN_LENGTH - 4} characters."
            )
        failures: list[OfferingFailure] = []
        tags = {**request.tags, LAUNCH_TOKEN_TAG: request.idempotency_token}
        placed = dict(zip(request.offerings, request.placements, strict=True))
        for index, (capacity_type, run) in enumerate(capacity_runs(request.offerings)):
            response = self._create_fleet(
                run, capacity_type, fleet_token(request.idempotency_token, index), tags, placed
            )
            failures.extend(self._failures(response, run, capacity_type))
            for launched in response.get("Instances") or ():
                if launched.get("InstanceIds"):
                    offering = self._match(launched, run, capacity_type)
                    instance = _launched_instance(launched, offering, tags)
                    return LaunchResult(instance, offering, tuple(failures))
        raise self._exhausted(failures)

    @staticmethod
    def _template_configs(run: list[Offering], placed: Mapping[Offering, Placement]) -> list[dict[str, Any]]:
        configs: dict[tuple[str, int], list[dict[str, Any]]] = {}
        for priority, offering in enumerate(run):
            placement = placed[offering]
            configs.setdefault((placement.launch_template_id, placement.launch_template_version), []).append(
                {
                    "InstanceType": offering.instance_type,
                    "SubnetId": placement.subnet_id,
                    "AvailabilityZone": offering.zone,
                    "Priority": float(priority),
                }
            )
        return [
            {
                "LaunchTemplateSpecification": {"LaunchTemplateId": template_id, "Version": str(version)},
                "Overrides": overrides,
            }
            for (template_id, version), overrides in configs.items()
        ]

    def _create_fleet(
        self,
        run: list[Offering],
        capacity_type: CapacityType,
        token: str,
        tags: Mapping[str, str],
        placed: Mapping[Offering, Placement],
    ) -> dict[str, Any]:
        options_key = "SpotOptions" if capacity_type is CapacityType.SPOT else "OnDemandOptions"
        strategy = "capacity-optimized-prioritized" if capacity_type is CapacityType.SPOT else "prioritized"
        tag_list = [{"Key": k, "Value": v} for k, v in tags.items()]
        try:
            response: dict[str, Any] = self._ec2.create_fleet(
                Type="instant",
                ClientToken=token,
                TargetCapacitySpecification={
                    "TotalTargetCapacity": 1,
                    "DefaultTargetCapacityType": capacity_type.aws_value,
                },
                **{options_key: {"AllocationStrategy": strategy}},
                LaunchTemplateConfigs=self._template_configs(run, placed),
                TagSpecifications=[{"ResourceType": kind, "Tags": tag_list} for kind in TAGGED_RESOURCES],
            )
        except AWS_ERRORS as error:
            raise self._fail(error, "launching an instance") from error
        return response

    @staticmethod
    def _match(item: Mapping[str, Any], run: list[Offering], capacity_type: CapacityType) -> Offering:
        overrides = (item.get("LaunchTemplateAndOverrides") or {}).get("Overrides") or {}
        for offering in run:
            if offering.instance_type == overrides.get("InstanceType", item.get("InstanceType")) and (
                not overrides.get("AvailabilityZone") or offering.zone == overrides["AvailabilityZone"]
            ):
                return offering
        return Offering(
            str(item.get("InstanceType", "")), str(overrides.get("AvailabilityZone", "")), capacity_type
        )

    def _failures(
        self, response: Mapping[str, Any], run: list[Offering], capacity_type: CapacityType
    ) -> list[OfferingFailure]:
        failures = []
        for error in response.get("Errors") or ():
            code = str(error.get("ErrorCode", ""))
            offering = self._match(error, run, capacity_type)
            failures.append(
                OfferingFailure(
                    offering, classify_code(code).kind.value, code, str(error.get("ErrorMessage", ""))
                )
            )
        return failures

    @staticmethod
    def _exhausted(failures: list[OfferingFailure]) -> CloudError:
        tried = "; ".join(
            f"{f.offering.instance_type} {f.offering.capacity_type.value} in {f.offering.zone}: {f.provider_code}"
            for f in failures
        )
        if not failures or any(f.provider_code in CAPACITY_CODES for f in failures):
            return InsufficientCapacityError(
                f"No capacity for any of the {len(failures)} offerings tried ({tried}). Allow more instance types, "
                "zones or capacity types in the provisioning policy, or wait for capacity to return.",
                provider_code="InsufficientInstanceCapacity",
                operation="CreateFleet",
            )
        return InvalidRequestError(
            f"EC2 could not launch any of the offerings ({tried}). Check that these instance types exist in these "
            "zones and that the launch template is valid.",
            provider_code=failures[0].provider_code,
            operation="CreateFleet",
        )

    # --- terminate and list ------------------------------------------------------------------

    def terminate(self, instance_ids: Sequence[str]) -> None:
        if not instance_ids:
            return
        try:
            self._ec2.terminate_instances(InstanceIds=list(instance_ids))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "InvalidInstanceID.NotFound":
                return  # already gone (terminated instances disappear from EC2 after a while)
            raise self._fail(error, "terminating instances") from error
        except (BotoCoreError, ResponseParserError) as error:
            raise self._fail(error, "terminating instances") from error

    def list_instances(self, tags: Mapping[str, str]) -> list[Instance]:
        filters = [{"Name": f"tag:{key}", "Values": [value]} for key, value in tags.items()]
        instances: list[Instance] = []
        try:
            for page in self._ec2.get_paginator("describe_instances").paginate(Filters=filters):
                for reservation in page.get("Reservations") or ():
                    instances.extend(_instance(item) for item in reservation["Instances"])
        except AWS_ERRORS as error:
            raise self._fail(error, "listing instances") from error
        instances.sort(key=lambda i: (i.state is InstanceState.TERMINATED, i.launched_at, i.instance_id))
        return instances

    # --- interruptions -----------------------------------------------------------------------

    def find_interruption_queue(self, cluster_name: str) -> str:
        try:
            url: str = self._sqs.get_queue_url(QueueName=interruption_queue_name(cluster_name))["QueueUrl"]
        except AWS_ERRORS:
            return ""
        return url

    def read_interruption_notices(self, max_notices: int = 10) -> list[InterruptionNotice]:
        if not self.config.interruption_queue_url:
            return []
        try:
            messages = self._sqs.receive_message(
                QueueUrl=self.config.interruption_queue_url,
                MaxNumberOfMessages=min(max_notices, 10),
                WaitTimeSeconds=0,
            ).get("Messages", [])
        except AWS_ERRORS as error:
            raise self._fail(error, "reading the interruption queue") from error
        notices = []
        unreadable = []
        for message in messages:
            notice = self._notice(message)
            if notice is None:
                unreadable.append(message["ReceiptHandle"])
            else:
                notices.append(replace(notice, receipt=message["ReceiptHandle"]))
        self._delete_messages(unreadable)
        return notices

    def acknowledge_interruption_notices(self, notices: Sequence[InterruptionNotice]) -> None:
        self._delete_messages([n.receipt for n in notices if n.receipt])

    def _delete_messages(self, receipts: Sequence[str]) -> None:
        if not receipts or not self.config.interruption_queue_url:
            return
        for start in range(0, len(receipts), 10):  # DeleteMessageBatch takes at most 10
            entries = [
                {"Id": str(n), "ReceiptHandle": receipt}
                for n, receipt in enumerate(receipts[start : start + 10])
            ]
            try:
                self._sqs.delete_message_batch(QueueUrl=self.config.interruption_queue_url, Entries=entries)
            except AWS_ERRORS as error:
                raise self._fail(error, "deleting read interruption notices") from error

    @staticmethod
    def _notice(message: Mapping[str, Any]) -> InterruptionNotice | None:
        try:
            event = json.loads(message["Body"])
            kind = _NOTICE_KINDS[event["detail-type"]]
            instance_id = (
                event.get("detail", {}).get("instance-id") or event["resources"][0].rsplit("/", 1)[-1]
            )
            noticed_at = datetime.fromisoformat(event["time"].replace("Z", "+00:00"))
        except (ValueError, KeyError, IndexError, TypeError):
            logger.warning("ignoring an unreadable interruption message %s", message.get("MessageId"))
            return None
        deadline = noticed_at + SPOT_NOTICE if kind is NoticeKind.SPOT_INTERRUPTION else None
        return InterruptionNotice(kind, instance_id, noticed_at, deadline, str(message.get("MessageId", "")))

    # --- the cluster ---------------------------------------------------------------------------

    def describe_cluster(self, name: str) -> EksClusterInfo:
        try:
            return describe_eks_cluster(self._eks, name=name, region=self.config.region)
        except AWS_ERRORS as error:
            raise self._fail(error, f"describing the EKS cluster {name}") from error

    # --- prices ------------------------------------------------------------------------------

    def on_demand_prices(self, instance_types: Sequence[str] | None = None) -> list[PriceQuote]:
        filters: list[Any] = [
            {"Type": "TERM_MATCH", "Field": k, "Value": v}
            for k, v in {**_PRICE_FILTERS, "regionCode": self.config.region}.items()
        ]
        wanted = set(instance_types) if instance_types is not None else None
        if wanted is not None and len(wanted) == 1:
            filters.append({"Type": "TERM_MATCH", "Field": "instanceType", "Value": next(iter(wanted))})
        quotes = []
        now = datetime.now(UTC)
        try:
            for page in self._pricing.get_paginator("get_products").paginate(
                ServiceCode="AmazonEC2", Filters=filters
            ):
                for document in page["PriceList"]:
                    quote = self._on_demand_quote(json.loads(document), now)
                    if quote is not None and (wanted is None or quote.instance_type in wanted):
                        quotes.append(quote)
        except AWS_ERRORS as error:
            raise self._fail(error, "reading on-demand prices") from error
        return sorted(quotes, key=lambda q: q.instance_type)

    @staticmethod
    def _on_demand_quote(document: Mapping[str, Any], now: datetime) -> PriceQuote | None:
        instance_type = document.get("product", {}).get("attributes", {}).get("instanceType")
        for term in (document.get("terms", {}).get("OnDemand") or {}).values():
            for dimension in (term.get("priceDimensions") or {}).values():
                usd = dimension.get("pricePerUnit", {}).get("USD")
                if instance_type and usd is not None:
                    return PriceQuote(instance_type, CapacityType.ON_DEMAND, None, float(usd), now)
        return None

    def spot_prices(
        self, instance_types: Sequence[str] | None = None, zones: Sequence[str] | None = None
    ) -> list[PriceQuote]:
        arguments: dict[str, Any] = {"ProductDescriptions": ["Linux/UNIX"]}
        if instance_types:
            arguments["InstanceTypes"] = list(instance_types)
        latest: dict[tuple[str, str], PriceQuote] = {}
        try:
            for page in self._ec2.get_paginator("describe_spot_price_history").paginate(**arguments):
                for point in page["SpotPriceHistory"]:
                    zone = point["AvailabilityZone"]
                    if zones and zone not in zones:
                        continue
                    quote = PriceQuote(
                        point["InstanceType"],
                        CapacityType.SPOT,
                        zone,
                        float(point["SpotPrice"]),
                        point["Timestamp"],
                    )
                    key = (quote.instance_type, zone)
                    if key not in latest or latest[key].as_of < quote.as_of:
                        latest[key] = quote
        except AWS_ERRORS as error:
            raise self._fail(error, "reading spot prices") from error
        return sorted(latest.values(), key=lambda q: (q.instance_type, q.zone or ""))
