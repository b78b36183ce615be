"""The simulated CloudFormation, through boto3 against the gateway, in the real API's shapes:
CreateStack validates before anything is created, the stack goes CREATE_IN_PROGRESS →
CREATE_COMPLETE with one event per resource, DescribeStacks carries the outputs, a resource that
fails rolls the stack back and removes what was created."""

from __future__ import annotations

import json
import uuid
from typing import Any

import boto3
import pytest
import requests
import yaml
from botocore.exceptions import ClientError

from clusters.onboarding.cloudformation import template_yaml
from simulator.cloud.simulated_cloud import SimulatedCloud

FAST = {"Delay": 1, "MaxAttempts": 60}


def _cfn(cloud: SimulatedCloud) -> Any:
    factory: Any = boto3.client  # keyword credentials from a dict: the stubs' overloads want literals
    return factory(
        "cloudformation",
        endpoint_url=cloud.endpoint_url,
        region_name=cloud.region,
        **cloud.customer_admin_credentials(),
    )


def _parameters(**values: str) -> list[dict[str, str]]:
    return [{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()]


def _statuses(cfn: Any, name: str) -> list[tuple[str, str]]:
    events = cfn.describe_stack_events(StackName=name)["StackEvents"]
    return [(e["LogicalResourceId"], e["ResourceStatus"]) for e in reversed(events)]


def test_the_products_template_creates_the_role_node_role_queue_rules_and_outputs(
    simulated_cloud, simulated_cluster
) -> None:
    cloud = simulated_cloud
    cluster = simulated_cluster(cloud=cloud)
    cfn = _cfn(cloud)
    name = f"nodeless-access-{uuid.uuid4().hex[:6]}"
    role_name = f"NodelessControlPlane-{uuid.uuid4().hex[:6]}"
    stack_id = cfn.create_stack(
        StackName=name,
        TemplateBody=template_yaml(),
        Parameters=_parameters(
            ExternalId="ext-1234",
            NodelessPrincipal=f"arn:aws:iam::{cloud.vendor_account_id}:root",
            RoleName=role_name,
            Regions="us-east-1,us-west-2",
            ClusterName=cluster.config.name,
        ),
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )["StackId"]
    assert stack_id.startswith(
        f"arn:aws:cloudformation:{cloud.region}:{cloud.customer_account_id}:stack/{name}/"
    )
    assert cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"] in (
        "CREATE_IN_PROGRESS",
        "CREATE_COMPLETE",
    )
    cfn.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig=FAST)

    stack = cfn.describe_stacks(StackName=stack_id)["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    account = cloud.customer_account_id
    assert outputs["RoleArn"] == f"arn:aws:iam::{account}:role/{role_name}"
    assert outputs["NodeRoleArn"] == f"arn:aws:iam::{account}:role/NodelessNodeRole-{name}"
    assert outputs["InterruptionQueueName"] == f"nodeless-interruptions-{name}"
    assert (
        outputs["InterruptionQueueArn"]
        == f"arn:aws:sqs:{cloud.region}:{account}:nodeless-interruptions-{name}"
    )

    # What the stack made is in the account, as the template says.
    iam = cloud.admin.client("iam", account)
    trust = iam.get_role(RoleName=role_name)["Role"]["AssumeRolePolicyDocument"]
    trust = json.loads(trust) if isinstance(trust, str) else trust
    assert trust["Statement"][0]["Condition"] == {"StringEquals": {"sts:ExternalId": "ext-1234"}}
    attached = iam.list_attached_role_policies(RoleName=role_name)["AttachedPolicies"]
    assert [p["PolicyName"] for p in attached] == [f"NodelessControllerPolicy-{name}"]
    profile = iam.get_instance_profile(InstanceProfileName=outputs["NodeInstanceProfileName"])[
        "InstanceProfile"
    ]
    assert [r["RoleName"] for r in profile["Roles"]] == [f"NodelessNodeRole-{name}"]
    sqs = cloud.admin.client("sqs", account, cloud.region)
    policy = json.loads(
        sqs.get_queue_attributes(QueueUrl=outputs["InterruptionQueueUrl"], AttributeNames=["Policy"])[
            "Attributes"
        ]["Policy"]
    )
    assert policy["Statement"][0]["Principal"] == {"Service": ["events.amazonaws.com", "sqs.amazonaws.com"]}
    events = cloud.admin.client("events", account, cloud.region)
    rules = events.list_rules(NamePrefix=f"{name}-", Limit=50)["Rules"]  # the shared cloud holds many
    assert len(rules) == 4
    # The access entry maps the role into the cluster.
    eks = boto3.client(
        "eks", endpoint_url=cloud.endpoint_url, region_name=cloud.region, **cloud.customer_admin_credentials()
    )
    assert outputs["RoleArn"] in eks.list_access_entries(clusterName=cluster.config.name)["accessEntries"]
    # One CREATE_IN_PROGRESS and one CREATE_COMPLETE per resource, the stack's own first and last.
    statuses = _statuses(cfn, name)
    assert statuses[0] == (name, "CREATE_IN_PROGRESS") and statuses[-1] == (name, "CREATE_COMPLETE")
    assert ("NodelessRole", "CREATE_COMPLETE") in statuses and (
        "ClusterAccessEntry",
        "CREATE_COMPLETE",
    ) in statuses
    created = [logical for logical, status in statuses if status == "CREATE_COMPLETE" and logical != name]
    assert created.index("NodelessRole") < created.index("NodelessControllerPolicy")
    assert created.index("InterruptionQueue") < created.index("InterruptionQueuePolicy")

    cfn.delete_stack(StackName=name)
    cfn.get_waiter("stack_delete_complete").wait(StackName=stack_id, WaiterConfig=FAST)
    with pytest.raises(ClientError, match="NoSuchEntity"):
        iam.get_role(RoleName=role_name)
    with pytest.raises(ClientError, match=f"Stack with id {name} does not exist"):
        cfn.describe_stacks(StackName=name)
    assert cfn.describe_stacks(StackName=stack_id)["Stacks"][0]["StackStatus"] == "DELETE_COMPLETE"


def test_create_stack_validates_before_creating_anything(simulated_cloud) -> None:
    cfn = _cfn(simulated_cloud)
    body = template_yaml()
    principal = f"arn:aws:iam::{simulated_cloud.vendor_account_id}:root"
    with pytest.raises(ClientError, match=r"InsufficientCapabilitiesException.*CAPABILITY_NAMED_IAM"):
        cfn.create_stack(
            StackName="no-ack",
            TemplateBody=body,
            Parameters=_parameters(ExternalId="ext-1", NodelessPrincipal=principal),
        )
    with pytest.raises(ClientError, match=r"Parameters: \[ExternalId, NodelessPrincipal\] must have values"):
        cfn.create_stack(StackName="no-params", TemplateBody=body, Capabilities=["CAPABILITY_NAMED_IAM"])
    with pytest.raises(ClientError, match="Parameter 'ExternalId' must match pattern"):
        cfn.create_stack(
            StackName="bad-param",
            TemplateBody=body,
            Parameters=_parameters(ExternalId="x", NodelessPrincipal=principal),
            Capabilities=["CAPABILITY_NAMED_IAM"],
        )
    with pytest.raises(ClientError, match=r"Unrecognized resource types: \[Acme::Thing\]"):
        cfn.create_stack(
            StackName="bad-type", TemplateBody=yaml.safe_dump({"Resources": {"X": {"Type": "Acme::Thing"}}})
        )
    with pytest.raises(ClientError, match="Template format error"):
        cfn.create_stack(StackName="bad-yaml", TemplateBody="Resources: [unclosed")
    with pytest.raises(ClientError, match="ValidationError"):
        cfn.create_stack(StackName="1-starts-with-a-digit", TemplateBody=body)
    with pytest.raises(ClientError, match="Stack with id no-params does not exist"):
        cfn.describe_stacks(StackName="no-params")


def test_a_failing_resource_rolls_the_stack_back_and_removes_what_was_made(simulated_cloud) -> None:
    cfn = _cfn(simulated_cloud)
    name = f"rollback-{uuid.uuid4().hex[:6]}"
    queue_name = f"q-{uuid.uuid4().hex[:6]}"
    template = {
        "Resources": {
            "Queue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": queue_name}},
            # After the queue (it refers to it); an access entry for a cluster that does not exist.
            "Entry": {
                "Type": "AWS::EKS::AccessEntry",
                "Properties": {
                    "ClusterName": "no-such-cluster",
                    "PrincipalArn": {"Fn::GetAtt": ["Queue", "Arn"]},
                },
            },
        }
    }
    cfn.create_stack(StackName=name, TemplateBody=json.dumps(template))
    with pytest.raises(Exception, match="ROLLBACK_COMPLETE"):
        cfn.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig=FAST)
    stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE"
    assert "The following resource(s) failed to create: [Entry]" in stack["StackStatusReason"]
    events = cfn.describe_stack_events(StackName=name)["StackEvents"]
    failed = [e for e in events if e["ResourceStatus"] == "CREATE_FAILED"]
    assert [e["LogicalResourceId"] for e in failed] == ["Entry"]
    assert "No cluster found for name: no-such-cluster" in failed[0]["ResourceStatusReason"]
    assert [s for _, s in _statuses(cfn, name) if s.startswith("ROLLBACK")] == [
        "ROLLBACK_IN_PROGRESS",
        "ROLLBACK_COMPLETE",
    ]
    assert ("Queue", "DELETE_COMPLETE") in _statuses(cfn, name)
    sqs = simulated_cloud.admin.client("sqs", simulated_cloud.customer_account_id, simulated_cloud.region)
    with pytest.raises(ClientError):
        sqs.get_queue_url(QueueName=queue_name)
    # A rolled-back stack keeps its name until deleted, as in AWS.
    with pytest.raises(ClientError, match="AlreadyExistsException"):
        cfn.create_stack(StackName=name, TemplateBody=json.dumps(template))


def test_a_template_url_reads_the_published_object_from_simulated_s3(simulated_cloud) -> None:
    cloud = simulated_cloud
    vendor_s3 = boto3.client(
        "s3", endpoint_url=cloud.endpoint_url, region_name="us-east-1", **cloud.vendor_credentials()
    )
    bucket = f"templates-{uuid.uuid4().hex[:8]}"
    vendor_s3.create_bucket(Bucket=bucket)
    queue_name = f"published-{uuid.uuid4().hex[:6]}"
    template = {
        "Resources": {"Queue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": queue_name}}},
        "Outputs": {"Url": {"Value": {"Ref": "Queue"}}},
    }
    vendor_s3.put_object(Bucket=bucket, Key="t.json", Body=json.dumps(template).encode())
    cfn = _cfn(cloud)
    name = f"from-url-{uuid.uuid4().hex[:6]}"
    cfn.create_stack(StackName=name, TemplateURL=f"{cloud.endpoint_url}/{bucket}/t.json")
    cfn.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig=FAST)
    outputs = cfn.describe_stacks(StackName=name)["Stacks"][0]["Outputs"]
    assert outputs[0]["OutputValue"].endswith(f"/{queue_name}")
    with pytest.raises(ClientError, match="TemplateURL must be a supported URL"):
        cfn.create_stack(StackName="elsewhere", TemplateURL="https://example.com/t.json")


def test_the_simulated_console_quick_creates_the_stack_from_a_launch_link(simulated_cloud) -> None:
    """The link's parameters fill the form; a refused creation keeps what was typed and says why;
    the created stack's page shows its status, events and outputs."""
    cloud = simulated_cloud
    vendor_s3 = boto3.client(
        "s3", endpoint_url=cloud.endpoint_url, region_name="us-east-1", **cloud.vendor_credentials()
    )
    bucket = f"public-{uuid.uuid4().hex[:8]}"
    vendor_s3.create_bucket(Bucket=bucket)
    vendor_s3.put_object(Bucket=bucket, Key="role.yaml", Body=template_yaml().encode())
    template_url = f"{cloud.endpoint_url}/{bucket}/role.yaml"
    role_name = f"NodelessControlPlane-{uuid.uuid4().hex[:6]}"
    stack_name = f"nodeless-access-{uuid.uuid4().hex[:6]}"
    link = {
        "region": cloud.region,
        "templateURL": template_url,
        "stackName": stack_name,
        "param_ExternalId": "ext-console",
        "param_NodelessPrincipal": f"arn:aws:iam::{cloud.vendor_account_id}:root",
        "param_RoleName": role_name,
    }
    console = f"{cloud.endpoint_url}/console/cloudformation"
    home = requests.get(f"{console}/home", params={"region": cloud.region}, timeout=10)
    assert home.status_code == 200 and "#/stacks/quickcreate?" in home.text  # forwards the link's fragment
    form = requests.get(f"{console}/quickcreate", params=link, timeout=10)
    assert form.status_code == 200
    assert 'value="ext-console"' in form.text and f'value="{role_name}"' in form.text
    assert "might create IAM resources with custom names" in form.text

    refused = requests.post(f"{console}/quickcreate", data=link, timeout=10, allow_redirects=False)
    assert refused.status_code == 200
    assert "Requires capabilities : [CAPABILITY_NAMED_IAM]" in refused.text
    assert 'value="ext-console"' in refused.text  # the input is kept

    created = requests.post(
        f"{console}/quickcreate",
        data={**link, "capability": "CAPABILITY_NAMED_IAM"},
        timeout=10,
        allow_redirects=False,
    )
    assert created.status_code == 303
    cloud.gateway.stacks.wait()
    page = requests.get(f"{cloud.endpoint_url}{created.headers['Location']}", timeout=10)
    assert "CREATE_COMPLETE" in page.text
    assert f"arn:aws:iam::{cloud.customer_account_id}:role/{role_name}" in page.text
    outputs = _cfn(cloud).describe_stacks(StackName=stack_name)["Stacks"][0]["Outputs"]
    assert {o["OutputKey"] for o in outputs} >= {"RoleArn", "NodeInstanceProfileName", "InterruptionQueueUrl"}
