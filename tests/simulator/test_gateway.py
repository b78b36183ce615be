"""The cloud gateway in front of moto, called with plain boto3 as any client would."""

import time

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from simulator.cloud.simulated_cloud import trust_policy

NO_RETRIES = Config(retries={"mode": "standard", "total_max_attempts": 1})


def vendor_client(cloud, service, **kwargs):
    return boto3.client(
        service,
        endpoint_url=cloud.endpoint_url,
        region_name=cloud.region,
        config=NO_RETRIES,
        **cloud.vendor_credentials(),
        **kwargs,
    )


def role_client(cloud, service, role_arn, external_id):
    credentials = vendor_client(cloud, "sts").assume_role(
        RoleArn=role_arn, RoleSessionName="test-session", ExternalId=external_id
    )["Credentials"]
    return boto3.client(
        service,
        endpoint_url=cloud.endpoint_url,
        region_name=cloud.region,
        config=NO_RETRIES,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


def error_code(call):
    with pytest.raises(ClientError) as error:
        call()
    return error.value.response["Error"]["Code"]


def test_assume_role_enforces_the_external_id_and_records_every_attempt(simulated_cloud):
    sts = vendor_client(simulated_cloud, "sts")
    session = f"check-{time.monotonic_ns()}"
    assert (
        error_code(
            lambda: sts.assume_role(
                RoleArn=simulated_cloud.role_arn, RoleSessionName=session, ExternalId="guess"
            )
        )
        == "AccessDenied"
    )
    assert (
        error_code(lambda: sts.assume_role(RoleArn=simulated_cloud.role_arn, RoleSessionName=session))
        == "AccessDenied"
    )
    sts.assume_role(
        RoleArn=simulated_cloud.role_arn, RoleSessionName=session, ExternalId=simulated_cloud.external_id
    )
    records = [r for r in simulated_cloud.assume_role_records() if r.session_name == session]
    assert [(r.role_arn, r.external_id, r.allowed) for r in records] == [
        (simulated_cloud.role_arn, "guess", False),
        (simulated_cloud.role_arn, None, False),
        (simulated_cloud.role_arn, simulated_cloud.external_id, True),
    ]


def test_a_role_that_does_not_exist_cannot_be_assumed(simulated_cloud):
    missing = f"arn:aws:iam::{simulated_cloud.customer_account_id}:role/Missing"
    sts = vendor_client(simulated_cloud, "sts")
    assert (
        error_code(
            lambda: sts.assume_role(
                RoleArn=missing, RoleSessionName="s1", ExternalId=simulated_cloud.external_id
            )
        )
        == "AccessDenied"
    )


def test_a_caller_from_another_account_cannot_assume_the_role(simulated_cloud):
    name = f"Other{time.monotonic_ns()}"
    role_arn = simulated_cloud.create_role(name, trust_policy("999999999999", "ext-1"), ())
    sts = vendor_client(simulated_cloud, "sts")
    assert (
        error_code(lambda: sts.assume_role(RoleArn=role_arn, RoleSessionName="s1", ExternalId="ext-1"))
        == "AccessDenied"
    )


def test_missing_permissions_are_enforced_and_dry_runs_tell_them_apart(simulated_cloud):
    name = f"ReadOnly{time.monotonic_ns()}"
    role_arn = simulated_cloud.create_role(
        name, trust_policy(simulated_cloud.vendor_account_id, "ro-ext"), ("ec2:Describe*",)
    )
    ec2 = role_client(simulated_cloud, "ec2", role_arn, "ro-ext")
    assert error_code(lambda: ec2.describe_instances(DryRun=True)) == "DryRunOperation"
    assert (
        error_code(lambda: ec2.terminate_instances(InstanceIds=["i-0123456789abcdef0"], DryRun=True))
        == "UnauthorizedOperation"
    )
    with pytest.raises(ClientError) as denied:
        ec2.terminate_instances(InstanceIds=["i-0123456789abcdef0"])
    assert denied.value.response["Error"]["Code"] == "UnauthorizedOperation"
    assert "ec2:TerminateInstances" in denied.value.response["Error"]["Message"]
    assert (
        error_code(
            lambda: role_client(simulated_cloud, "pricing", role_arn, "ro-ext").get_products(
                ServiceCode="AmazonEC2"
            )
        )
        == "AccessDeniedException"
    )


def test_a_permission_removed_from_the_role_is_denied_at_once(simulated_cloud):
    name = f"Shrinking{time.monotonic_ns()}"
    role_arn = simulated_cloud.create_role(
        name, trust_policy(simulated_cloud.vendor_account_id, "sh-ext"), ("ec2:*",)
    )
    ec2 = role_client(simulated_cloud, "ec2", role_arn, "sh-ext")
    assert error_code(lambda: ec2.describe_instances(DryRun=True)) == "DryRunOperation"
    iam = boto3.client(
        "iam",
        endpoint_url=simulated_cloud.endpoint_url,
        region_name="us-east-1",
        **simulated_cloud.customer_admin_credentials(),
    )
    iam.delete_role_policy(RoleName=name, PolicyName=f"{name}Policy")
    assert error_code(lambda: ec2.describe_instances(DryRun=True)) == "UnauthorizedOperation"


def test_injected_throttling_fails_the_next_calls_only(simulated_cloud):
    ec2 = vendor_client(simulated_cloud, "ec2")
    simulated_cloud.throttle("ec2:DescribeInstances", times=2)
    assert error_code(ec2.describe_instances) == "RequestLimitExceeded"
    assert error_code(ec2.describe_instances) == "RequestLimitExceeded"
    assert "Reservations" in ec2.describe_instances()


def test_spot_price_history_comes_from_the_reference_data(simulated_cloud):
    ec2 = vendor_client(simulated_cloud, "ec2")
    history = ec2.describe_spot_price_history(InstanceTypes=["m5.large"], ProductDescriptions=["Linux/UNIX"])[
        "SpotPriceHistory"
    ]
    zones = {p["AvailabilityZone"] for p in history}
    on_demand = simulated_cloud.catalog.on_demand_price("us-east-1", "m5.large")
    assert zones == {
        z
        for z in simulated_cloud.catalog.zones("us-east-1")
        if simulated_cloud.catalog.offered("us-east-1", z, "m5.large")
    }
    assert all(0 < float(p["SpotPrice"]) < on_demand for p in history)
    assert all(p["ProductDescription"] == "Linux/UNIX" for p in history)


def test_the_pricing_api_answers_through_boto3(simulated_cloud):
    pricing = vendor_client(simulated_cloud, "pricing")
    services = pricing.describe_services(ServiceCode="AmazonEC2")["Services"]
    assert "instanceType" in services[0]["AttributeNames"]
    values = pricing.get_attribute_values(ServiceCode="AmazonEC2", AttributeName="regionCode")[
        "AttributeValues"
    ]
    assert {"Value": "us-east-1"} in values


def test_eks_clusters_exist_in_the_cloud_with_the_simulated_name(simulated_cloud, simulated_cluster):
    cluster = simulated_cluster(cloud=simulated_cloud, run_controllers=False)
    eks = role_client(simulated_cloud, "eks", simulated_cloud.role_arn, simulated_cloud.external_id)
    described = eks.describe_cluster(name=cluster.name)
    assert described["cluster"]["status"] == "ACTIVE"
