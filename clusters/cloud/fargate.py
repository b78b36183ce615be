"""EKS Fargate profiles of one cluster (boto3, under the customer's role): how pods the planner puts
on serverless capacity get there.

EKS routes a pod to Fargate at its creation, when an ACTIVE profile's selector matches it (the
namespace, and every label the selector names); profiles are immutable, take minutes to become
ACTIVE, and a cluster allows one profile operation at a time and 10 profiles
(https://docs.aws.amazon.com/eks/latest/userguide/fargate-profile.html). `FargateProfiles` is the
port the provisioning pass acts through; `AwsFargateProfiles` its AWS implementation.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from clusters.cloud.aws_errors import classify
from clusters.cloud.aws_session import AwsEndpoints, client
from clusters.cloud.errors import CloudError

PROFILE_PREFIX = "nodeless-"
MAX_PROFILES = 10
MAX_LABELS = 5
CREATING, ACTIVE, DELETING = "CREATING", "ACTIVE", "DELETING"


class FargateBusy(CloudError):
    """Another profile operation of the cluster is in progress (`ResourceInUseException`)."""

    retryable = True


@dataclass(frozen=True, order=True)
class FargateSelector:
    namespace: str
    labels: tuple[tuple[str, str], ...] = ()

    def matches(self, namespace: str, labels: Mapping[str, str]) -> bool:
        return namespace == self.namespace and all(labels.get(k) == v for k, v in self.labels)

    @property
    def profile_name(self) -> str:
        """The name of the profile Nodeless makes for this selector (stable, within EKS's 100 chars)."""
        digest = hashlib.sha256(repr((self.namespace, self.labels)).encode()).hexdigest()[:10]
        return f"{PROFILE_PREFIX}{self.namespace[:60]}-{digest}"

    def describe(self) -> str:
        labels = ",".join(f"{k}={v}" for k, v in self.labels)
        return f"namespace {self.namespace}" + (f" with labels {labels}" if labels else "")


@dataclass(frozen=True)
class FargateProfile:
    name: str
    status: str
    selectors: tuple[FargateSelector, ...]
    tags: Mapping[str, str]

    def matches(self, namespace: str, labels: Mapping[str, str]) -> bool:
        return any(selector.matches(namespace, labels) for selector in self.selectors)

    @property
    def ours(self) -> bool:
        return self.name.startswith(PROFILE_PREFIX) and self.tags.get("nodeless.io/managed-by") == "nodeless"


class FargateProfiles(Protocol):
    def profiles(self) -> list[FargateProfile]:
        """Every profile of the cluster (the customer's too: they route pods as well)."""
        ...

    def create(
        self, selector: FargateSelector, *, role_arn: str, subnets: Sequence[str], tags: Mapping[str, str]
    ) -> None:
        """Create the profile of `selector` (named `selector.profile_name`); raises `FargateBusy`
        while another operation is in progress, `CloudError` when EKS refuses it."""
        ...

    def delete(self, name: str) -> None:
        """Delete a profile; a profile already gone needs nothing. Raises `FargateBusy` as `create`."""
        ...


def _selector(raw: Mapping[str, Any]) -> FargateSelector:
    labels = raw.get("labels") or {}
    return FargateSelector(
        str(raw.get("namespace", "")), tuple(sorted((str(k), str(v)) for k, v in labels.items()))
    )


class AwsFargateProfiles:
    def __init__(
        self, session: boto3.Session, cluster_name: str, endpoints: AwsEndpoints | None, role_arn: str = ""
    ) -> None:
        self.cluster_name, self.role_arn = cluster_name, role_arn
        self._eks = client(session, "eks", endpoints)

    def _fail(self, error: ClientError | BotoCoreError, context: str) -> CloudError:
        if (
            isinstance(error, ClientError)
            and error.response.get("Error", {}).get("Code") == "ResourceInUseException"
        ):
            return FargateBusy(
                str(error.response.get("Error", {}).get("Message", "")),
                provider_code="ResourceInUseException",
                operation=error.operation_name,
            )
        return classify(error, role_arn=self.role_arn, context=context)

    def profiles(self) -> list[FargateProfile]:
        found = []
        try:
            names: list[str] = []
            for page in self._eks.get_paginator("list_fargate_profiles").paginate(
                clusterName=self.cluster_name
            ):
                names += page.get("fargateProfileNames") or []
            for name in names:
                try:
                    raw = self._eks.describe_fargate_profile(
                        clusterName=self.cluster_name, fargateProfileName=name
                    )
                except ClientError as error:
                    if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                        continue  # deleted between the list and the describe
                    raise
                profile = raw["fargateProfile"]
                found.append(
                    FargateProfile(
                        name=name,
                        status=str(profile.get("status", "")),
                        selectors=tuple(_selector(s) for s in profile.get("selectors") or ()),
                        tags=dict(profile.get("tags") or {}),
                    )
                )
        except (ClientError, BotoCoreError) as error:
            raise self._fail(error, f"listing the Fargate profiles of {self.cluster_name}") from error
        return found

    def create(
        self, selector: FargateSelector, *, role_arn: str, subnets: Sequence[str], tags: Mapping[str, str]
    ) -> None:
        name = selector.profile_name
        try:
            self._eks.create_fargate_profile(
                fargateProfileName=name,
                clusterName=self.cluster_name,
                podExecutionRoleArn=role_arn,
                subnets=list(subnets),
                selectors=[{"namespace": selector.namespace, "labels": dict(selector.labels)}],
                # The same token for the same profile: a retried create is the same request.
                clientRequestToken=name,
                tags=dict(tags),
            )
        except (ClientError, BotoCoreError) as error:
            raise self._fail(
                error, f"creating the Fargate profile {name} (eks:CreateFargateProfile)"
            ) from error

    def delete(self, name: str) -> None:
        try:
            self._eks.delete_fargate_profile(clusterName=self.cluster_name, fargateProfileName=name)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                return
            raise self._fail(error, f"deleting the Fargate profile {name}") from error
        except BotoCoreError as error:
            raise self._fail(error, f"deleting the Fargate profile {name}") from error
