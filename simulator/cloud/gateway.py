"""The cloud gateway: one HTTP endpoint for every AWS API the product calls, in front of moto.

Each request is identified (service, action, caller key) and then:
1. fails with a throttling error if throttling was injected for it;
2. is checked against the caller role's IAM policies (sessions issued here only);
3. answers `DryRunOperation` / `UnauthorizedOperation` when it is an EC2 dry run;
4. is served by the gateway when moto cannot serve it faithfully — STS AssumeRole (trust
   policies, records), presigned GetCallerIdentity (EKS tokens), EC2 CreateFleet and
   DescribeSpotPriceHistory, the Pricing API, EKS access entries and Fargate profiles, the public SSM parameters of the
   EKS-optimized AMIs (moto refuses parameter names under `/aws`);
5. is forwarded to moto otherwise. Calls that launch or terminate instances notify listeners,
   so simulated clusters register and remove nodes without waiting for their next poll.
"""

from __future__ import annotations

import http.client
import json
import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote
from xml.etree import ElementTree

from simulator.catalog import AwsCatalog
from simulator.clock import Clock
from simulator.cloud.admin import AdminClients
from simulator.cloud.cloudformation import CloudFormation
from simulator.cloud.eks_access import EksAccess, json_bytes
from simulator.cloud.eks_fargate import FARGATE_ROUTES, EksFargate
from simulator.cloud.eks_world import AmiReleases
from simulator.cloud.enforcement import PolicyEnforcer, ThrottleFaults, dry_run_answer, is_dry_run
from simulator.cloud.fleet import CapacityFaults, FleetLauncher, tags_for
from simulator.cloud.pricing_api import PricingApi
from simulator.cloud.protocol import (
    AwsError,
    AwsRequest,
    ec2_response,
    error_body,
    nested_params,
    numbered_values,
    parse_request,
)
from simulator.cloud.spot_prices import price_history
from simulator.cloud.sts_gate import StsGate
from simulator.cloud.template_versions import TemplateVersions
from simulator.loopback import LoopbackServer, QuietHandler, read_body

logger = logging.getLogger(__name__)

Reply = tuple[int, dict[str, str], bytes]
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length", "server", "date"})
_INSTANCE_CHANGING_ACTIONS = frozenset(
    {"RunInstances", "TerminateInstances", "StopInstances", "StartInstances"}
)
_SPOT_PAGE = 1000
_EKS_ROUTES: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("GET", re.compile(r"^/clusters/?$"), "ListClusters"),
    ("POST", re.compile(r"^/clusters/?$"), "CreateCluster"),
    ("GET", re.compile(r"^/clusters/[^/]+/?$"), "DescribeCluster"),
    ("DELETE", re.compile(r"^/clusters/[^/]+/?$"), "DeleteCluster"),
    ("GET", re.compile(r"^/clusters/[^/]+/access-entries/?$"), "ListAccessEntries"),
    ("POST", re.compile(r"^/clusters/[^/]+/access-entries/?$"), "CreateAccessEntry"),
    ("GET", re.compile(r"^/clusters/[^/]+/access-entries/[^/]+/?$"), "DescribeAccessEntry"),
    ("DELETE", re.compile(r"^/clusters/[^/]+/access-entries/[^/]+/?$"), "DeleteAccessEntry"),
    (
        "POST",
        re.compile(r"^/clusters/[^/]+/access-entries/[^/]+/access-policies/?$"),
        "AssociateAccessPolicy",
    ),
    (
        "GET",
        re.compile(r"^/clusters/[^/]+/access-entries/[^/]+/access-policies/?$"),
        "ListAssociatedAccessPolicies",
    ),
    ("GET", re.compile(r"^/clusters/[^/]+/node-groups/?$"), "ListNodegroups"),
    *FARGATE_ROUTES,
)


def eks_action(method: str, path: str) -> str:
    for route_method, pattern, action in _EKS_ROUTES:
        if method == route_method and pattern.match(path):
            return action
    return "Unknown"


def action_name(request: AwsRequest) -> str:
    """The IAM action of a request, e.g. `ec2:CreateFleet`."""
    if request.service == "eks":
        return f"eks:{eks_action(request.method, request.path)}"
    if request.service == "sqs" and request.action.endswith("Batch"):
        return f"sqs:{request.action.removesuffix('Batch')}"  # IAM authorizes batches as the single action
    return f"{request.service}:{request.action}"


class CloudGateway:
    def __init__(
        self,
        *,
        moto_url: str,
        admin: AdminClients,
        catalog: AwsCatalog,
        clock: Clock,
        sts: StsGate,
        eks_access: EksAccess,
        amis: AmiReleases | None = None,
        eks_fargate: EksFargate | None = None,
    ) -> None:
        self.eks_fargate = eks_fargate
        self.amis = amis or AmiReleases()
        self.moto_netloc = moto_url.split("://", 1)[1]
        self.admin = admin
        self.catalog = catalog
        self.clock = clock
        self.sts = sts
        self.eks_access = eks_access
        self.enforcer = PolicyEnforcer(admin, sts)
        self.throttles = ThrottleFaults()
        self.capacity = CapacityFaults()
        self.template_versions = TemplateVersions(self._ec2_for_caller)
        self.fleets = FleetLauncher(
            catalog, self.capacity, self._ec2_for_caller, clock.now, self.template_versions.is_deleted
        )
        self.pricing = PricingApi(catalog)
        self.stacks = CloudFormation(
            client=admin.client,
            eks_access=eks_access,
            now=clock.now,
            template_accounts=lambda: [sts.vendor_account_id],
            own_netloc=lambda: self.netloc,
        )
        self.console: Callable[[str, str, str, dict[str, str], bytes], Reply | None] | None = None
        self.listeners: list[Callable[[], None]] = []
        self._server: LoopbackServer | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the gateway is not started")
        return self._server.url

    @property
    def netloc(self) -> str:
        return self.url.split("://", 1)[1]

    def start(self) -> None:
        gateway = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                body = read_body(self)
                path, _, query = self.path.partition("?")
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, reply_headers, reply = gateway.handle(self.command, path, query, headers, body)
                self.send_response(status)
                for name, value in reply_headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET

        self._server = LoopbackServer(Handler)
        self._server.start("sim-cloud-gateway")

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def notify(self) -> None:
        for listener in list(self.listeners):
            try:
                listener()
            except Exception:
                logger.exception("gateway listener failed")

    # --- dispatch ----------------------------------------------------------------------------

    def handle(self, method: str, path: str, query: str, headers: dict[str, str], body: bytes) -> Reply:
        if self.console is not None and path.startswith("/console/"):
            page = self.console(method, path, query, headers, body)
            if page is not None:
                return page
        request = parse_request(method, path, query, headers, body)
        try:
            return self._route(request)
        except AwsError as error:
            return error_body(request, error)
        except Exception as error:  # a simulator bug must reach the client as a 500, not hang it
            logger.exception("cloud gateway failed on %s %s", method, path)
            return error_body(request, AwsError("InternalFailure", f"simulator error: {error!r}", 500))

    def _route(self, request: AwsRequest) -> Reply:
        action = action_name(request)
        self.throttles.check(request, action)
        if request.service == "sts":
            return self._sts(request)
        self.enforcer.authorize(request, action)
        if request.service == "ec2":
            return self._ec2(request, action)
        if request.service == "ssm" and request.action in ("GetParameter", "GetParameters"):
            served = self._ssm(request)
            if served is not None:
                return served
        if request.service == "cloudformation":
            reply = self.stacks.handle(request, self.account_of(request.access_key_id, request.region))
            self.enforcer.invalidate()  # a stack's roles and policies are IAM writes
            return reply
        if request.service == "pricing":
            result = self.pricing.handle(request.action, request.json_body)
            return 200, {"Content-Type": "application/x-amz-json-1.1"}, json.dumps(result).encode()
        if request.service == "eks" and self.eks_fargate is not None:
            fargate = self.eks_fargate.route(request.path)
            if fargate is not None:
                if action == "eks:CreateFargateProfile":
                    self.enforcer.authorize(request, "iam:PassRole")  # the pod execution role
                result = self.eks_fargate.handle(request.method, fargate, request.json_body, request.query)
                return 200, {"Content-Type": "application/json"}, json_bytes(result)
        if request.service == "eks":
            match = self.eks_access.route(request.path)
            if match is not None:
                _, account = self.sts.caller(request.access_key_id)
                result = self.eks_access.handle(
                    request.method, match, request.json_body, account, request.region
                )
                return 200, {"Content-Type": "application/json"}, json_bytes(result)
        reply = self._forward(request)
        if request.service == "iam" and not request.action.startswith(("Get", "List")):
            self.enforcer.invalidate()
        return reply

    def account_of(self, access_key_id: str, region: str) -> str:
        """The caller's account: a session issued here, temporary keys moto issued (an account's
        administrator), else the vendor account (every other key, as `StsGate.caller`)."""
        session = self.sts.session(access_key_id)
        if session is not None:
            return session.account_id
        if access_key_id.startswith("ASIA"):
            identity = self.admin.client_for_key("sts", access_key_id, region).get_caller_identity()
            return str(identity["Account"])
        return self.sts.vendor_account_id

    def _sts(self, request: AwsRequest) -> Reply:
        if request.action == "AssumeRole":
            self.sts.check_assume_role(request)
            status, headers, body = self._forward(request)
            if status == 200:
                self.sts.remember(request, body)
            return status, headers, body
        if request.action == "GetCallerIdentity" and request.presigned:
            identity = self.sts.verify_presigned(request, self.netloc)
            if identity is not None:
                return self._caller_identity(request, identity)
            return self._forward_presigned(request)
        if request.action != "GetCallerIdentity":  # AWS lets every identity ask who it is
            self.enforcer.authorize(request, action_name(request))
        return self._forward(request)

    def _ssm(self, request: AwsRequest) -> Reply | None:
        body = request.json_body
        names = [body["Name"]] if request.action == "GetParameter" else list(body.get("Names") or [])
        if not names or not all(str(n).startswith("/aws/service/eks/") for n in names):
            return None
        _, account = self.sts.caller(request.access_key_id)
        if request.action == "GetParameter":
            result = self.amis.get_parameter(names[0], request.region, account)
        else:
            found, invalid = [], []
            for name in names:
                try:
                    found.append(self.amis.get_parameter(name, request.region, account)["Parameter"])
                except AwsError:
                    invalid.append(name)
            result = {"Parameters": found, "InvalidParameters": invalid}
        return 200, {"Content-Type": "application/x-amz-json-1.1"}, json.dumps(result).encode()

    def _ec2(self, request: AwsRequest, action: str) -> Reply:
        if request.action == "CreateFleet":
            self.enforcer.authorize(request, "ec2:RunInstances")
            if any(k.startswith("TagSpecification.") for k in request.params):
                self.enforcer.authorize(request, "ec2:CreateTags")
            self.enforcer.authorize_creation(
                request,
                "ec2:CreateFleet",
                {
                    kind: {t["Key"]: t["Value"] for t in tags_for(request, kind)}
                    for kind in ("fleet", "instance", "volume", "network-interface")
                },
            )
        if request.action == "CreateLaunchTemplate":
            self.enforcer.authorize_creation(
                request,
                "ec2:CreateLaunchTemplate",
                {"launch-template": {t["Key"]: t["Value"] for t in tags_for(request, "launch-template")}},
            )
        if is_dry_run(request.params):
            raise dry_run_answer(request, self.enforcer, action)
        if request.action == "CreateFleet":
            _, account = self.sts.caller(request.access_key_id)
            result = self.fleets.create_fleet(request, account)
            if result["Instances"]:
                self.notify()
            return 200, {"Content-Type": "text/xml"}, ec2_response("CreateFleet", result)
        if request.action == "DeleteLaunchTemplateVersions":
            result = self.template_versions.delete(request)
            return 200, {"Content-Type": "text/xml"}, ec2_response(request.action, result)
        if request.action == "DescribeLaunchTemplateVersions" and (
            "LaunchTemplateId" in request.params or "LaunchTemplateName" in request.params
        ):
            result = self.template_versions.describe(request)
            return 200, {"Content-Type": "text/xml"}, ec2_response(request.action, result)
        if request.action == "DescribeInstanceCreditSpecifications":
            ids = [v for k, v in request.params.items() if k.startswith("InstanceId.")]
            credits = self.fleets.credit_specifications(ids)
            if credits is not None:
                result = {"InstanceCreditSpecifications": credits}
                return 200, {"Content-Type": "text/xml"}, ec2_response(request.action, result)
        if request.action == "DescribeSpotPriceHistory":
            return (
                200,
                {"Content-Type": "text/xml"},
                ec2_response("DescribeSpotPriceHistory", self._spot_history(request)),
            )
        reply = self._forward(request)
        if request.action in _INSTANCE_CHANGING_ACTIONS and reply[0] == 200:
            self.notify()
        return reply

    # --- gateway-served answers ---------------------------------------------------------------

    def _spot_history(self, request: AwsRequest) -> dict[str, Any]:
        params = request.params
        filters: dict[str, list[str]] = {}
        for entry in nested_params(params, "Filter") or []:
            values = entry.get("Value") or []
            filters[entry.get("Name", "")] = [
                str(v) for v in (values if isinstance(values, list) else [values])
            ]
        types = numbered_values(params, "InstanceType") + filters.get("instance-type", [])
        zones = ([params["AvailabilityZone"]] if params.get("AvailabilityZone") else []) + filters.get(
            "availability-zone", []
        )
        descriptions = numbered_values(params, "ProductDescription") + filters.get("product-description", [])
        points = price_history(
            self.catalog,
            request.region,
            now=self.clock.now(),
            instance_types=types,
            zones=zones,
            start=_parse_time(params.get("StartTime")),
            end=_parse_time(params.get("EndTime")),
            product_descriptions=descriptions,
        )
        offset = int(params.get("NextToken") or 0)
        size = min(int(params.get("MaxResults") or _SPOT_PAGE), _SPOT_PAGE)
        page = points[offset : offset + size]
        result: dict[str, Any] = {
            "SpotPriceHistory": [
                {
                    "AvailabilityZone": p.zone,
                    "InstanceType": p.instance_type,
                    "ProductDescription": p.product_description,
                    "SpotPrice": f"{p.price:.6f}",
                    "Timestamp": datetime.fromtimestamp(p.timestamp, tz=UTC),
                }
                for p in page
            ]
        }
        result["NextToken"] = str(offset + size) if offset + size < len(points) else ""
        return result

    def _caller_identity(self, request: AwsRequest, identity: dict[str, Any]) -> Reply:
        if "json" in request.headers.get("accept", ""):
            body = {
                "GetCallerIdentityResponse": {
                    "GetCallerIdentityResult": identity,
                    "ResponseMetadata": {"RequestId": "sim"},
                }
            }
            return 200, {"Content-Type": "application/json"}, json.dumps(body).encode()
        root = ElementTree.Element(
            "GetCallerIdentityResponse", xmlns="https://sts.amazonaws.com/doc/2011-06-15/"
        )
        result = ElementTree.SubElement(root, "GetCallerIdentityResult")
        for key in ("Arn", "UserId", "Account"):
            ElementTree.SubElement(result, key).text = identity[key]
        return 200, {"Content-Type": "text/xml"}, ElementTree.tostring(root)

    # --- forwarding --------------------------------------------------------------------------

    def _ec2_for_caller(self, request: AwsRequest) -> Any:
        return self.admin.client_for_key("ec2", request.access_key_id, request.region)

    def _forward(self, request: AwsRequest, extra_headers: dict[str, str] | None = None) -> Reply:
        headers = {k: v for k, v in request.headers.items() if k not in _HOP_BY_HOP}
        headers.update(extra_headers or {})
        headers["content-length"] = str(len(request.body))
        connection = http.client.HTTPConnection(self.moto_netloc, timeout=120)
        try:
            target = request.path + (f"?{request.query}" if request.query else "")
            connection.request(request.method, target, body=request.body, headers=headers)
            response = connection.getresponse()
            body = response.read()
            reply_headers = {k: v for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP}
            return response.status, reply_headers, body
        finally:
            connection.close()

    def _forward_presigned(self, request: AwsRequest) -> Reply:
        """moto routes a bare presigned GET to S3; an Authorization header built from the query
        makes it answer GetCallerIdentity for the key's account."""
        params = dict(item.split("=", 1) for item in request.query.split("&") if "=" in item)
        authorization = (
            f"AWS4-HMAC-SHA256 Credential={unquote(params.get('X-Amz-Credential', ''))}, "
            f"SignedHeaders={unquote(params.get('X-Amz-SignedHeaders', 'host'))}, Signature={params.get('X-Amz-Signature', '')}"
        )
        status, headers, body = self._forward(request, {"authorization": authorization})
        if status == 200 and "json" in request.headers.get("accept", ""):
            root = ElementTree.fromstring(body)
            namespace = "{https://sts.amazonaws.com/doc/2011-06-15/}"
            identity = {k: (root.findtext(f".//{namespace}{k}") or "") for k in ("Arn", "UserId", "Account")}
            return self._caller_identity(request, identity)
        return status, headers, body


def _parse_time(value: str | None) -> float | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
