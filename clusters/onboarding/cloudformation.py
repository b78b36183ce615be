"""The CloudFormation template that creates the role Nodeless assumes in a customer's AWS account.

Least privilege, modelled on Karpenter's controller policy: launches and tags only with our request
tags, terminates only instances carrying our tags, describes only in the chosen regions, reads
prices and the interruption queue, and passes only the node role, only to EC2. An optional EKS access
entry maps the role into one cluster, so no kubectl step is needed. The node role, its instance
profile and the interruption queue with its policy and EventBridge rules come with it
(`interruption_stack`), and the outputs name them for the product.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import yaml

from clusters.onboarding.interruption_stack import interruption_resources, stack_outputs

MANAGED_TAG = "nodeless.io/managed-by"
CLUSTER_TAG = "nodeless.io/cluster"
STACK_NAME = "nodeless-access"


def _arn(service: str, resource: str, *, region: str = "${AWS::Region}") -> dict[str, str]:
    return {"Fn::Sub": f"arn:${{AWS::Partition}}:{service}:{region}:${{AWS::AccountId}}:{resource}"}


def _controller_policy() -> dict[str, Any]:
    request_tags = {
        "StringEquals": {f"aws:RequestTag/{MANAGED_TAG}": "nodeless"},
        "StringLike": {f"aws:RequestTag/{CLUSTER_TAG}": "*"},
    }
    statements = [
        {
            "Sid": "AllowScopedEC2InstanceActions",
            "Effect": "Allow",
            "Action": ["ec2:RunInstances", "ec2:CreateFleet"],
            "Resource": [
                {"Fn::Sub": "arn:${AWS::Partition}:ec2:*::image/*"},
                {"Fn::Sub": "arn:${AWS::Partition}:ec2:*::snapshot/*"},
                {"Fn::Sub": "arn:${AWS::Partition}:ec2:*:*:security-group/*"},
                {"Fn::Sub": "arn:${AWS::Partition}:ec2:*:*:subnet/*"},
                {"Fn::Sub": "arn:${AWS::Partition}:ec2:*:*:launch-template/*"},
                {"Fn::Sub": "arn:${AWS::Partition}:ec2:*:*:spot-instances-request/*"},
            ],
        },
        {
            "Sid": "AllowScopedEC2InstanceActionsWithTags",
            "Effect": "Allow",
            "Action": ["ec2:RunInstances", "ec2:CreateFleet", "ec2:CreateLaunchTemplate"],
            "Resource": [
                {"Fn::Sub": f"arn:${{AWS::Partition}}:ec2:*:*:{kind}/*"}
                for kind in ("fleet", "instance", "volume", "network-interface", "launch-template")
            ],
            "Condition": request_tags,
        },
        {
            "Sid": "AllowScopedResourceCreationTagging",
            "Effect": "Allow",
            "Action": "ec2:CreateTags",
            "Resource": [
                {"Fn::Sub": f"arn:${{AWS::Partition}}:ec2:*:*:{kind}/*"}
                for kind in ("fleet", "instance", "volume", "network-interface", "launch-template")
            ],
            "Condition": {
                **request_tags,
                "StringEqualsIfExists": {
                    "ec2:CreateAction": ["RunInstances", "CreateFleet", "CreateLaunchTemplate"]
                },
            },
        },
        {
            # Node classes: new versions of our own launch templates (AMI roll-forward), the newest made
            # the default and the old ones deleted.
            "Sid": "AllowScopedLaunchTemplateVersions",
            "Effect": "Allow",
            "Action": [
                "ec2:CreateLaunchTemplateVersion",
                "ec2:ModifyLaunchTemplate",
                "ec2:DeleteLaunchTemplateVersions",
            ],
            "Resource": {"Fn::Sub": "arn:${AWS::Partition}:ec2:*:*:launch-template/*"},
            "Condition": {"StringEquals": {f"aws:ResourceTag/{MANAGED_TAG}": "nodeless"}},
        },
        {
            # Node classes: the node role's EC2_LINUX access entry, so its kubelets may join.
            "Sid": "AllowNodeAccessEntry",
            "Effect": "Allow",
            "Action": ["eks:DescribeAccessEntry", "eks:CreateAccessEntry"],
            "Resource": [
                {"Fn::Sub": "arn:${AWS::Partition}:eks:*:${AWS::AccountId}:cluster/*"},
                {"Fn::Sub": "arn:${AWS::Partition}:eks:*:${AWS::AccountId}:access-entry/*"},
            ],
        },
        {
            # Serverless: the Fargate profiles that route the pods the planner puts on Fargate.
            "Sid": "AllowFargateProfiles",
            "Effect": "Allow",
            "Action": [
                "eks:CreateFargateProfile",
                "eks:DeleteFargateProfile",
                "eks:DescribeFargateProfile",
                "eks:ListFargateProfiles",
            ],
            "Resource": [
                {"Fn::Sub": "arn:${AWS::Partition}:eks:*:${AWS::AccountId}:cluster/*"},
                {"Fn::Sub": "arn:${AWS::Partition}:eks:*:${AWS::AccountId}:fargateprofile/*"},
            ],
        },
        {
            "Sid": "AllowScopedDeletion",
            "Effect": "Allow",
            "Action": ["ec2:TerminateInstances", "ec2:DeleteLaunchTemplate"],
            "Resource": [
                {"Fn::Sub": "arn:${AWS::Partition}:ec2:*:*:instance/*"},
                {"Fn::Sub": "arn:${AWS::Partition}:ec2:*:*:launch-template/*"},
            ],
            "Condition": {"StringEquals": {f"aws:ResourceTag/{MANAGED_TAG}": "nodeless"}},
        },
        {
            "Sid": "AllowRegionalReadActions",
            "Effect": "Allow",
            "Action": [
                "ec2:DescribeAvailabilityZones",
                "ec2:DescribeImages",
                "ec2:DescribeInstances",
                "ec2:DescribeInstanceTypeOfferings",
                "ec2:DescribeInstanceTypes",
                "ec2:DescribeLaunchTemplates",
                "ec2:DescribeLaunchTemplateVersions",
                "ec2:DescribeSecurityGroups",
                "ec2:DescribeSpotPriceHistory",
                "ec2:DescribeSubnets",
            ],
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:RequestedRegion": {"Ref": "Regions"}}},
        },
        {
            "Sid": "AllowSSMReadActions",
            "Effect": "Allow",
            "Action": "ssm:GetParameter",
            "Resource": {"Fn::Sub": "arn:${AWS::Partition}:ssm:*::parameter/aws/service/*"},
        },
        {
            "Sid": "AllowPricingReadActions",
            "Effect": "Allow",
            "Action": "pricing:GetProducts",
            "Resource": "*",
        },
        {
            "Sid": "AllowInterruptionQueueActions",
            "Effect": "Allow",
            "Action": [
                "sqs:DeleteMessage",
                "sqs:GetQueueAttributes",
                "sqs:GetQueueUrl",
                "sqs:ReceiveMessage",
            ],
            "Resource": {"Fn::GetAtt": ["InterruptionQueue", "Arn"]},
        },
        {
            "Sid": "AllowPassingInstanceRole",
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": {"Fn::GetAtt": ["NodeRole", "Arn"]},
            "Condition": {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}},
        },
        {
            # The product reads this stack's outputs (node role, instance profile, queue) itself.
            "Sid": "AllowReadingTheOnboardingStack",
            "Effect": "Allow",
            "Action": "cloudformation:DescribeStacks",
            "Resource": {
                "Fn::Sub": "arn:${AWS::Partition}:cloudformation:${AWS::Region}:${AWS::AccountId}:stack/${AWS::StackName}/*"
            },
        },
        {
            # CreateFargateProfile passes the stack's pod execution role, and no other.
            "Sid": "AllowPassingFargatePodRole",
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": {"Fn::GetAtt": ["FargatePodExecutionRole", "Arn"]},
        },
        {
            "Sid": "AllowEKSDiscovery",
            "Effect": "Allow",
            "Action": ["eks:ListClusters", "eks:DescribeCluster"],
            "Resource": "*",
        },
    ]
    return {"Version": "2012-10-17", "Statement": statements}


def template() -> dict[str, Any]:
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "Role that lets Nodeless provision right-sized compute for your clusters (least privilege).",
        "Parameters": {
            "ExternalId": {
                "Type": "String",
                "Description": "Your organization's external ID, from Nodeless (Settings → Organization).",
                "AllowedPattern": "[A-Za-z0-9_+=,.@:/-]{2,1224}",
            },
            "NodelessPrincipal": {
                "Type": "String",
                "Description": "The Nodeless principal allowed to assume the role.",
            },
            "RoleName": {"Type": "String", "Default": "NodelessControlPlane"},
            "Regions": {
                "Type": "CommaDelimitedList",
                "Default": "us-east-1",
                "Description": "Regions Nodeless may read and launch in.",
            },
            "ClusterName": {
                "Type": "String",
                "Default": "",
                "Description": "Optional: an EKS cluster to map the role into with an access entry.",
            },
        },
        "Conditions": {"HasCluster": {"Fn::Not": [{"Fn::Equals": [{"Ref": "ClusterName"}, ""]}]}},
        "Resources": {
            "NodelessRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "RoleName": {"Ref": "RoleName"},
                    "MaxSessionDuration": 3600,
                    "AssumeRolePolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"AWS": {"Ref": "NodelessPrincipal"}},
                                "Action": "sts:AssumeRole",
                                "Condition": {"StringEquals": {"sts:ExternalId": {"Ref": "ExternalId"}}},
                            }
                        ],
                    },
                },
            },
            "NodelessControllerPolicy": {
                "Type": "AWS::IAM::ManagedPolicy",
                "Properties": {
                    "ManagedPolicyName": {"Fn::Sub": "NodelessControllerPolicy-${AWS::StackName}"},
                    "Roles": [{"Ref": "NodelessRole"}],
                    "PolicyDocument": _controller_policy(),
                },
            },
            "NodeRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "RoleName": {"Fn::Sub": "NodelessNodeRole-${AWS::StackName}"},
                    "AssumeRolePolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": "ec2.amazonaws.com"},
                                "Action": "sts:AssumeRole",
                            }
                        ],
                    },
                    "ManagedPolicyArns": [
                        {"Fn::Sub": f"arn:${{AWS::Partition}}:iam::aws:policy/{name}"}
                        for name in (
                            "AmazonEKS_CNI_Policy",
                            "AmazonEKSWorkerNodePolicy",
                            "AmazonEC2ContainerRegistryReadOnly",
                            "AmazonSSMManagedInstanceCore",
                        )
                    ],
                },
            },
            "FargatePodExecutionRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "RoleName": {"Fn::Sub": "NodelessFargatePodRole-${AWS::StackName}"},
                    "AssumeRolePolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": "eks-fargate-pods.amazonaws.com"},
                                "Action": "sts:AssumeRole",
                                "Condition": {
                                    "ArnLike": {
                                        "aws:SourceArn": {
                                            "Fn::Sub": "arn:${AWS::Partition}:eks:*:${AWS::AccountId}:fargateprofile/*"
                                        }
                                    }
                                },
                            }
                        ],
                    },
                    "ManagedPolicyArns": [
                        {
                            "Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/AmazonEKSFargatePodExecutionRolePolicy"
                        }
                    ],
                },
            },
            "NodeInstanceProfile": {
                "Type": "AWS::IAM::InstanceProfile",
                # Named like the role: launch templates name the profile the product expects
                # (`default_node_role`); without a name CloudFormation would generate one.
                "Properties": {
                    "InstanceProfileName": {"Fn::Sub": "NodelessNodeRole-${AWS::StackName}"},
                    "Roles": [{"Ref": "NodeRole"}],
                },
            },
            **interruption_resources(),
            "ClusterAccessEntry": {
                "Type": "AWS::EKS::AccessEntry",
                "Condition": "HasCluster",
                "Properties": {
                    "ClusterName": {"Ref": "ClusterName"},
                    "PrincipalArn": {"Fn::GetAtt": ["NodelessRole", "Arn"]},
                    "Type": "STANDARD",
                    # Binding pods, evicting and deleting nodes need cluster-wide write access.
                    "AccessPolicies": [
                        {
                            "PolicyArn": "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy",
                            "AccessScope": {"Type": "cluster"},
                        }
                    ],
                },
            },
        },
        "Outputs": stack_outputs(),
    }


def template_yaml() -> str:
    return yaml.safe_dump(template(), sort_keys=False, width=120)


def quick_create_url(
    *,
    template_url: str,
    external_id: str,
    principal: str,
    regions: list[str],
    cluster_name: str = "",
    role_name: str = "",
    console_url: str = "https://console.aws.amazon.com",
) -> str:
    """AWS console quick-create link with every parameter filled in (none of them is a secret).
    `role_name` names the role after the organization, so two organizations connecting one
    account do not collide on the template's default name; `console_url` is the console's base
    (the simulated console in the demo)."""
    region = regions[0] if regions else "us-east-1"
    parameters = {
        "templateURL": template_url,
        "stackName": STACK_NAME,
        "param_ExternalId": external_id,
        "param_NodelessPrincipal": principal,
        "param_Regions": ",".join(regions or [region]),
        "param_ClusterName": cluster_name,
    }
    if role_name:
        parameters["param_RoleName"] = role_name
    return f"{console_url.rstrip('/')}/cloudformation/home?region={region}#/stacks/quickcreate?" + urlencode(
        parameters
    )


def role_name_for(slug: str) -> str:
    """The role's name for an organization: IAM names are at most 64 letters, digits and +=,.@_-."""
    return f"NodelessControlPlane-{slug}"[:64]


def required_iam_actions() -> list[str]:
    """Every action the template grants: what verification checks for."""
    actions: list[str] = []
    for statement in _controller_policy()["Statement"]:
        granted = statement["Action"]
        for action in [granted] if isinstance(granted, str) else granted:
            if action not in actions:
                actions.append(action)
    return actions
