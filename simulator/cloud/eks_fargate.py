"""EKS Fargate profiles (moto keeps them ACTIVE at once and checks nothing), served by the gateway.

What the real API does, and this one too (EKS API reference: CreateFargateProfile,
DescribeFargateProfile, DeleteFargateProfile, ListFargateProfiles;
https://docs.aws.amazon.com/eks/latest/userguide/fargate-profile.html):

- a profile names a pod execution role (required), private subnets of the cluster's VPC (a subnet
  with a route to an internet gateway is refused), and 1 to 5 selectors, each with a namespace and
  at most 5 labels; a cluster holds at most 10 profiles;
- it is `CREATING` for a few minutes, then `ACTIVE`; `DeleteFargateProfile` makes it `DELETING`,
  then it is gone, and the pods it scheduled are deleted with it;
- one profile operation at a time per cluster: a create or delete while another profile is
  `CREATING` or `DELETING` is refused with `ResourceInUseException`;
- profiles are immutable (no update call).

Routing the pods is the cluster's side (`simulator.controllers.fargate`): only a pod created while a
matching profile is `ACTIVE` is given to the Fargate scheduler.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote

from simulator.clock import Clock
from simulator.cloud.eks_world import ClusterNetwork
from simulator.cloud.protocol import AwsError
from simulator.cloud.timers import Timers
from simulator.controllers.fargate import FargateMatch, FargateScheduler, fargate_admission

_ROUTE = re.compile(r"^/clusters/(?P<cluster>[^/]+)/fargate-profiles(?:/(?P<name>[^/]+))?/?$")
FARGATE_ROUTES: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("GET", re.compile(r"^/clusters/[^/]+/fargate-profiles/?$"), "ListFargateProfiles"),
    ("POST", re.compile(r"^/clusters/[^/]+/fargate-profiles/?$"), "CreateFargateProfile"),
    ("GET", re.compile(r"^/clusters/[^/]+/fargate-profiles/[^/]+/?$"), "DescribeFargateProfile"),
    ("DELETE", re.compile(r"^/clusters/[^/]+/fargate-profiles/[^/]+/?$"), "DeleteFargateProfile"),
)
_NAME = re.compile(r"^[0-9A-Za-z][A-Za-z0-9\-_]{0,99}$")
# How long EKS takes (a few minutes each way; simulated seconds).
CREATE_SECONDS = 120.0
DELETE_SECONDS = 120.0
MAX_PROFILES = 10
MAX_SELECTORS = 5
MAX_LABELS = 5
FARGATE_PRINCIPAL = "eks-fargate-pods.amazonaws.com"


class FargateCluster(Protocol):
    """What a simulated cluster offers the Fargate control plane (a `SimulatedCluster`)."""

    api: Any
    controllers: Any


@dataclass
class _Profile:
    name: str
    arn: str
    cluster: str
    role_arn: str
    subnets: list[str]
    zones: tuple[str, ...]
    selectors: list[dict[str, Any]]
    tags: dict[str, str]
    created_at: float
    token: str
    status: str = "CREATING"

    def describe(self) -> dict[str, Any]:
        return {
            "fargateProfileName": self.name,
            "fargateProfileArn": self.arn,
            "clusterName": self.cluster,
            "createdAt": datetime.fromtimestamp(self.created_at, tz=UTC).isoformat(),
            "podExecutionRoleArn": self.role_arn,
            "subnets": list(self.subnets),
            "selectors": [dict(s) for s in self.selectors],
            "status": self.status,
            "tags": dict(self.tags),
            "health": {"issues": []},
        }

    def matches(self, namespace: str, labels: dict[str, str]) -> bool:
        return any(
            selector["namespace"] == namespace
            and all(labels.get(key) == value for key, value in (selector.get("labels") or {}).items())
            for selector in self.selectors
        )


@dataclass
class _Cluster:
    account: str
    region: str
    network: ClusterNetwork
    profiles: dict[str, _Profile] = field(default_factory=dict)
    attached: FargateCluster | None = None


class EksFargate:
    def __init__(self, clock: Clock, timers: Timers, ec2_iam: Callable[[str, str], tuple[Any, Any]]) -> None:
        """`ec2_iam(account, region)`: admin EC2 and IAM clients (to check subnets and the role)."""
        self.clock, self.timers, self._clients = clock, timers, ec2_iam
        self._clusters: dict[str, _Cluster] = {}
        self._lock = threading.RLock()

    # --- wiring --------------------------------------------------------------------------------

    def register(self, cluster: str, account: str, region: str, network: ClusterNetwork) -> None:
        with self._lock:
            self._clusters[cluster] = _Cluster(account, region, network)

    def attach(self, cluster: str, simulated: FargateCluster) -> None:
        """Run the cluster's Fargate side: the admission step that routes new pods, and the
        Fargate scheduler that gives each routed pod its own node."""
        with self._lock:
            self._clusters[cluster].attached = simulated
        simulated.api.mutators.append(
            fargate_admission(lambda ns, labels: self.route_pod(cluster, ns, labels))
        )
        simulated.controllers.add(
            FargateScheduler(
                simulated.api,
                self.clock.now,
                lambda name: self._zones(cluster, name),
                self.region_of(cluster),
            )
        )

    def region_of(self, cluster: str) -> str:
        with self._lock:
            return self._clusters[cluster].region

    def _zones(self, cluster: str, profile: str) -> tuple[str, ...]:
        with self._lock:
            found = self._clusters[cluster].profiles.get(profile)
            return found.zones if found else ()

    def route_pod(self, cluster: str, namespace: str, labels: dict[str, str]) -> FargateMatch | None:
        """The ACTIVE profile a new pod matches (the one its `eks.amazonaws.com/fargate-profile` label
        names when several do; EKS picks one at random otherwise, the first by name here)."""
        with self._lock:
            known = self._clusters.get(cluster)
            if known is None:
                return None
            matching = sorted(
                (p for p in known.profiles.values() if p.status == "ACTIVE" and p.matches(namespace, labels)),
                key=lambda p: p.name,
            )
            named = [p for p in matching if p.name == labels.get("eks.amazonaws.com/fargate-profile")]
            candidates = named or matching
            return FargateMatch(candidates[0].name, candidates[0].zones) if candidates else None

    def profiles(self, cluster: str) -> list[dict[str, Any]]:
        with self._lock:
            known = self._clusters.get(cluster)
            return [p.describe() for p in known.profiles.values()] if known else []

    # --- the API -------------------------------------------------------------------------------

    @staticmethod
    def route(path: str) -> re.Match[str] | None:
        return _ROUTE.match(path)

    def handle(self, method: str, match: re.Match[str], body: dict[str, Any], query: str) -> dict[str, Any]:
        with self._lock:
            known = self._clusters.get(match["cluster"])
            if known is None:
                raise AwsError(
                    "ResourceNotFoundException", f"No cluster found for name: {match['cluster']}.", 404
                )
            name = match["name"]
            if name is None:
                if method == "GET":
                    return self._list(known, query)
                if method == "POST":
                    return {"fargateProfile": self._create(match["cluster"], known, body)}
                raise AwsError("InvalidRequestException", f"{method} is not supported here.")
            profile = known.profiles.get(name)
            if profile is None:
                raise AwsError(
                    "ResourceNotFoundException", f"No Fargate Profile found with name: {name}.", 404
                )
            if method == "DELETE":
                self._in_progress(known, f"Cannot delete Fargate Profile {name}")
                profile.status = "DELETING"
                self.timers.call_at(self.clock.now() + DELETE_SECONDS, lambda: self._gone(known, profile))
            return {"fargateProfile": profile.describe()}

    def _list(self, known: _Cluster, query: str) -> dict[str, Any]:
        params = {k: v[0] for k, v in parse_qs(query).items()}
        size = max(1, min(int(params.get("maxResults") or 100), 100))
        names = sorted(known.profiles)
        offset = int(params.get("nextToken") or 0)
        page = names[offset : offset + size]
        token = str(offset + size) if offset + size < len(names) else None
        return {"fargateProfileNames": page, "nextToken": token}

    def _in_progress(self, known: _Cluster, what: str) -> None:
        busy = [p for p in known.profiles.values() if p.status in ("CREATING", "DELETING")]
        if busy:
            raise AwsError(
                "ResourceInUseException",
                f"{what} because cluster currently has Fargate profile {busy[0].name} in status {busy[0].status}",
                409,
            )

    def _create(self, cluster: str, known: _Cluster, body: dict[str, Any]) -> dict[str, Any]:
        name = str(body.get("fargateProfileName") or "")
        token = str(body.get("clientRequestToken") or "")
        existing = known.profiles.get(name)
        if existing is not None and token and existing.token == token:
            return existing.describe()  # the same request again (idempotent by its token)
        if not _NAME.match(name):
            raise AwsError("InvalidParameterException", f"Fargate Profile name {name!r} is not valid.")
        if existing is not None:
            raise AwsError(
                "ResourceInUseException", f"Fargate Profile already exists with name: {name}.", 409
            )
        role = str(body.get("podExecutionRoleArn") or "")
        if not role:
            raise AwsError("InvalidParameterException", "podExecutionRoleArn is required.")
        selectors = self._selectors(body.get("selectors"))
        self._in_progress(known, f"Cannot create Fargate Profile {name}")
        if len(known.profiles) >= MAX_PROFILES:
            raise AwsError(
                "ResourceLimitExceededException",
                f"Fargate Profile limit of {MAX_PROFILES} exceeded for cluster.",
            )
        ec2, iam = self._clients(known.account, known.region)
        self._check_role(iam, role)
        subnets = [str(s) for s in body.get("subnets") or []]
        zones = self._check_subnets(ec2, known.network, subnets)
        tags = {str(k): str(v) for k, v in (body.get("tags") or {}).items()}
        profile = _Profile(
            name=name,
            arn=f"arn:aws:eks:{known.region}:{known.account}:fargateprofile/{cluster}/{name}/{uuid.uuid4()}",
            cluster=cluster,
            role_arn=role,
            subnets=subnets,
            zones=zones,
            selectors=selectors,
            tags=tags,
            created_at=self.clock.now(),
            token=token,
        )
        known.profiles[name] = profile
        self.timers.call_at(self.clock.now() + CREATE_SECONDS, lambda: self._active(profile))
        return profile.describe()

    @staticmethod
    def _selectors(raw: Any) -> list[dict[str, Any]]:
        if not isinstance(raw, list) or not raw:
            raise AwsError("InvalidParameterException", "At least one selector is required.")
        if len(raw) > MAX_SELECTORS:
            raise AwsError(
                "InvalidParameterException", f"A Fargate Profile may have at most {MAX_SELECTORS} selectors."
            )
        selectors = []
        for selector in raw:
            namespace = str((selector or {}).get("namespace") or "")
            if not namespace:
                raise AwsError("InvalidParameterException", "Each selector must name a namespace.")
            labels = {str(k): str(v) for k, v in ((selector or {}).get("labels") or {}).items()}
            if len(labels) > MAX_LABELS:
                raise AwsError(
                    "InvalidParameterException", f"A selector may have at most {MAX_LABELS} labels."
                )
            selectors.append({"namespace": namespace, "labels": labels})
        return selectors

    @staticmethod
    def _check_role(iam: Any, role_arn: str) -> None:
        try:
            role = iam.get_role(RoleName=role_arn.rsplit("/", 1)[-1])["Role"]
        except Exception as error:
            raise AwsError(
                "InvalidParameterException", f"The pod execution role {role_arn} does not exist."
            ) from error
        trust = role.get("AssumeRolePolicyDocument") or {}
        if isinstance(trust, str):
            trust = json.loads(unquote(trust))
        principals = [
            statement.get("Principal", {}).get("Service")
            for statement in (trust.get("Statement") or [])
            if isinstance(statement, dict)
        ]
        flat = [p for entry in principals for p in (entry if isinstance(entry, list) else [entry])]
        if FARGATE_PRINCIPAL not in flat:
            raise AwsError(
                "InvalidParameterException",
                f"Misconfigured PodExecutionRole Trust Policy; Please add the {FARGATE_PRINCIPAL} Service Principal",
            )

    @staticmethod
    def _check_subnets(ec2: Any, network: ClusterNetwork, subnets: list[str]) -> tuple[str, ...]:
        if not subnets:
            raise AwsError(
                "InvalidParameterException",
                "Subnets are required: Fargate runs pods in private subnets only.",
            )
        found = {
            s["SubnetId"]: s
            for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [network.vpc_id]}])["Subnets"]
        }
        tables = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [network.vpc_id]}])[
            "RouteTables"
        ]
        zones = []
        for subnet in subnets:
            if subnet not in found:
                raise AwsError(
                    "InvalidParameterException",
                    f"Subnet {subnet} is not in the cluster's VPC {network.vpc_id}.",
                )
            if _public(subnet, tables):
                raise AwsError(
                    "InvalidParameterException",
                    f"Subnet {subnet} provided in Fargate Profile is not a private subnet",
                )
            zones.append(found[subnet]["AvailabilityZone"])
        return tuple(sorted(set(zones)))

    # --- time passing --------------------------------------------------------------------------

    def _active(self, profile: _Profile) -> None:
        with self._lock:
            if profile.status == "CREATING":
                profile.status = "ACTIVE"

    def _gone(self, known: _Cluster, profile: _Profile) -> None:
        with self._lock:
            if known.profiles.get(profile.name) is profile:
                del known.profiles[profile.name]
            attached = known.attached
        if attached is not None:
            # "When you delete a Fargate profile, any Pods that were scheduled onto Fargate with the
            # profile are deleted" (fargate-profile.html).
            FargateScheduler.delete_profile_pods(attached.api, profile.name)


def _public(subnet: str, tables: list[dict[str, Any]]) -> bool:
    """Does the subnet's route table (its own, else the VPC's main one) route to an internet gateway?"""
    own = [t for t in tables if any(a.get("SubnetId") == subnet for a in t.get("Associations") or [])]
    main = [t for t in tables if any(a.get("Main") for a in t.get("Associations") or [])]
    for table in own or main:
        if any(str(route.get("GatewayId", "")).startswith("igw-") for route in table.get("Routes") or []):
            return True
    return False


def create_pod_execution_role(iam: Any, name: str) -> str:
    """What an onboarding stack's Fargate pod execution role is: a role `eks-fargate-pods` may
    assume, with `AmazonEKSFargatePodExecutionRolePolicy`; idempotent. Returns its ARN."""
    existing = [r for r in iam.list_roles()["Roles"] if r["RoleName"] == name]
    if existing:
        return str(existing[0]["Arn"])
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": FARGATE_PRINCIPAL}, "Action": "sts:AssumeRole"}
        ],
    }
    return str(iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"])
