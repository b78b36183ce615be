"""The demo organization `make demo` seeds: an owner account, the simulated AWS account connected
through a role with the organization's external ID, its EKS clusters in nodeless mode, an on-prem
cluster connected with a kubeconfig, and a provisioning policy — so every page has live data."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

import boto3
import yaml
from botocore.exceptions import ClientError
from django.conf import settings
from django.db import transaction

from clusters import services as cluster_services
from clusters.models import CloudAccount, Cluster
from clusters.onboarding.cloudformation import required_iam_actions, template_yaml
from engines.kube.capacity import CapacityType
from policies import services as policy_services
from policies.federation import selectors as federation_selectors
from policies.federation import services as federation_services
from policies.selectors import organization_default_policy
from simulator.cloud.onboarding import onboard_customer
from simulator.descriptor import SimulationDescriptor, kubeconfig
from tenants import services
from tenants.actors import Actor
from tenants.models import Organization, OrganizationMember, Role, User

DEMO_EMAIL = "demo@nodeless.local"
DEMO_ORGANIZATION = "Acme Platform"
DEMO_POLICY = {
    "objective": "cost",
    "capacity_types": [CapacityType.ON_DEMAND.value, CapacityType.SPOT.value],
    "packing": "pack",
    "isolate_gpu_pods": True,
    "scale_down_delay_seconds": 30,
    "spot_fallback_seconds": 120,
}
# Federation: on-prem first, then the EKS clusters (imported EKS clusters carry cloud=aws), for every
# workload, so a first Deployment submitted in the demo is placed instead of refused for want of a
# policy.
DEMO_FEDERATION_POLICY = {
    "name": "onprem-first",
    "strategy": "fill_then_burst",
    "burst": {"tiers": ["cloud=onprem", "cloud=aws"]},
}


@dataclass(frozen=True)
class DemoCredentials:
    email: str
    password: str
    organization: Organization
    nodeless_clusters: list[str] = field(default_factory=list)


@transaction.atomic
def demo_owner() -> DemoCredentials:
    """Idempotent: reuses the demo owner and organization, and sets a fresh password each run."""
    password = secrets.token_urlsafe(12)
    user = User.objects.filter(email=DEMO_EMAIL).first()
    if user is None:
        user, organization = services.signup(
            email=DEMO_EMAIL, password=password, full_name="Demo Owner", organization_name=DEMO_ORGANIZATION
        )
    else:
        user.set_password(password)
        user.save(update_fields=["password"])
        membership = (
            OrganizationMember.objects.filter(user=user, role=Role.OWNER)
            .select_related("organization")
            .first()
        )
        if membership is None:
            organization = services.organization_create(
                owner=user, name=DEMO_ORGANIZATION, actor=Actor.system("demo")
            )
        else:
            organization = membership.organization
    return DemoCredentials(email=DEMO_EMAIL, password=password, organization=organization)


def demo_connect(credentials: DemoCredentials, descriptor: SimulationDescriptor) -> list[str]:
    """Connect the simulated infrastructure the way a customer would (idempotent across restarts:
    the simulation's accounts are fixed by its seed; endpoints are resolved at connection time).
    Returns the names of the nodeless clusters."""
    organization = credentials.organization
    owner = User.objects.get(email=credentials.email)
    actor = Actor(user=owner, system_label="demo seed")
    role_arn = onboard_customer(
        descriptor,
        role_name="NodelessControlPlane",
        external_id=organization.external_id,
        principal_arn=settings.NODELESS_AWS_PRINCIPAL_ARN,
        actions=required_iam_actions(),
    )
    account = CloudAccount.objects.filter(organization=organization, role_arn=role_arn).first()
    if account is None:
        account = cluster_services.cloud_account_connect(
            organization,
            actor=actor,
            name="Acme production",
            role_arn=role_arn,
            regions=["us-east-1"],
            discounts={"on_demand_discount_pct": 8},
        )
    else:
        cluster_services.cloud_account_verify(organization, account=account, actor=actor)
    if organization_default_policy(organization.pk) is None:
        policy_services.provisioning_policy_save(organization, actor=actor, cluster=None, data=DEMO_POLICY)
    if not federation_selectors.federation_policy_list(organization).exists():
        federation_services.federation_policy_create(organization, actor=actor, data=DEMO_FEDERATION_POLICY)
    nodeless = []
    for index, simulated in enumerate(descriptor.clusters):
        existing = Cluster.objects.filter(organization=organization, name=simulated.name).first()
        if simulated.kind == "eks":
            nodeless.append(simulated.name)
            if existing is None:
                asked = cluster_services.cluster_import_eks(
                    organization,
                    actor=actor,
                    account=account,
                    region=simulated.region,
                    eks_cluster_name=simulated.name,
                    mode="nodeless",
                    labels={"env": "prod" if index == 0 else "staging"},
                )
                # The demo starts with its clusters in service: verify them here rather than wait
                # for the worker the connection asked for (its check finds the same, later).
                cluster_services.cluster_check_run(str(asked.pk))
            continue
        kubeconfig = _kubeconfig(descriptor, simulated.name)
        if existing is None:
            asked = cluster_services.cluster_connect_kubeconfig(
                organization,
                actor=actor,
                name=simulated.name,
                kubeconfig=kubeconfig,
                context=simulated.name,
                labels={"cloud": "onprem", "region": "dc1", "env": "prod"},
            )
        else:  # a restarted simulation has new addresses and credentials
            asked = cluster_services.cluster_replace_kubeconfig(
                organization, cluster=existing, actor=actor, kubeconfig=kubeconfig, context=simulated.name
            )
        cluster_services.cluster_check_run(str(asked.pk))
    return nodeless


TEMPLATE_BUCKET = "nodeless-public"
TEMPLATE_KEY = "onboarding/nodeless-role.yaml"


def publish_template(descriptor: SimulationDescriptor) -> str:
    """Publish the onboarding template to the simulated S3 from the vendor account, as the product
    publishes it to S3 for the console's quick-create link; returns its URL."""
    aws = descriptor.aws
    if aws is None:
        raise ValueError("this simulation has no cloud")
    s3: Any = boto3.client(
        "s3",
        endpoint_url=aws.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id=aws.vendor_access_key_id,
        aws_secret_access_key=aws.vendor_secret_access_key,
    )
    try:
        s3.create_bucket(Bucket=TEMPLATE_BUCKET)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "BucketAlreadyOwnedByYou":
            raise
    s3.put_object(Bucket=TEMPLATE_BUCKET, Key=TEMPLATE_KEY, Body=template_yaml().encode())
    return f"{aws.endpoint_url}/{TEMPLATE_BUCKET}/{TEMPLATE_KEY}"


def _kubeconfig(descriptor: SimulationDescriptor, context: str) -> str:
    """What the customer would paste: a kubeconfig with that one cluster's context."""
    return yaml.safe_dump(kubeconfig((descriptor.cluster(context),)), sort_keys=False)


# Kept for `seed_demo`: the owner only, without a simulation.
demo_seed = demo_owner
