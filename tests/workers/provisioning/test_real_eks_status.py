"""Each piece missing from a customer's account gives a clear status on the cluster page and no
relaunch loop, on the strict simulated AWS: a zone with no subnet, an interruption queue EventBridge
may not send to (and none at all). (No access entry and a new AMI: test_real_eks.py.)"""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from clusters.models import Cluster, NodeClass
from clusters.services.node_class_notices import eventbridge_may_send
from clusters.services.node_classes import node_class_refresh
from clusters.services.stack_outputs import cloud_account_stack_read
from simulator.cloud.eks_world import ClusterNetwork, set_vpc_config
from tests.clusters.test_stack_reading import _stacks_go_with_the_test, customer_stack
from tests.fixtures.pages import get_page

pytestmark = pytest.mark.django_db
__all__ = ["_stacks_go_with_the_test"]  # its autouse fixture deletes the stacks a test created
PAGE_QUERIES = 30


def _fresh(world: Any) -> Cluster:
    return Cluster.objects.select_related("cloud_account", "organization").get(pk=world.cluster.pk)


def _page(world: Any, client: Any) -> str:
    client.force_login(world.cast.alice)
    url = reverse("cluster-detail", args=[world.cluster.pk])
    return str(get_page(client, url, queries=PAGE_QUERIES).content.decode())


def _stack_with_queue(world: Any, *, policy: bool) -> str:
    """The customer's stack, its queue with or without the queue policy (and EventBridge rules)."""

    cloud = world.aws.cloud
    stack = customer_stack(world, _fresh(world).cloud_account.role_arn)  # type: ignore[union-attr]
    url = stack.outputs["InterruptionQueueUrl"]
    if not policy:
        sqs = cloud.admin.client("sqs", cloud.customer_account_id, cloud.region)
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": ""})
    cloud_account_stack_read(_fresh(world).cloud_account)  # type: ignore[arg-type]
    Cluster.objects.filter(pk=world.cluster.pk).update(interruption_queue_url=url)
    return str(url)


def test_a_zone_without_a_subnet_is_named_on_the_page_and_its_pods_launch_nothing(nodeless, client) -> None:
    cloud, eks = nodeless.aws.cloud, nodeless.aws.cluster
    network = cloud.clusters[eks.name].network
    only_b = ClusterNetwork(
        network.vpc_id, {"us-east-1b": network.subnets["us-east-1b"]}, network.cluster_security_group_id
    )
    set_vpc_config(cloud.customer_account_id, cloud.region, eks.name, only_b)
    node_class = node_class_refresh(_fresh(nodeless))
    assert not node_class.problem and set(node_class.subnets) == {"us-east-1b"}
    (notice,) = [n for n in node_class.notices if "No usable subnet" in n]
    assert "us-east-1a" in notice and "us-east-1b" not in notice
    assert "No usable subnet in us-east-1a" in _page(nodeless, client)

    nodeless.policy(capacity_types=["on_demand"])
    nodeless.create_pod("zone-a", run_seconds=5, node_selector={"topology.kubernetes.io/zone": "us-east-1a"})
    for _ in range(4):
        report = nodeless.reconcile()
    assert report.launched == 0 and not nodeless.rows()  # nothing launched, nothing relaunched
    assert "default/zone-a" in report.pending


def test_an_interruption_queue_without_a_policy_is_named_on_the_page_and_launches_go_on(
    nodeless, client
) -> None:
    url = _stack_with_queue(nodeless, policy=False)
    node_class = node_class_refresh(_fresh(nodeless))
    assert not node_class.problem
    assert any("no queue policy letting EventBridge" in n for n in node_class.notices)
    assert "no queue policy letting EventBridge" in _page(nodeless, client)

    nodeless.policy(capacity_types=["spot"])
    nodeless.create_pod("app", run_seconds=3600)
    nodeless.until(lambda: nodeless.pod("app").status.phase == "Running")
    for _ in range(3):
        nodeless.reconcile()
    assert len(nodeless.rows()) == 1  # one launch, no relaunch loop

    # The stack updated with its policy: the notice goes at the next look.
    from simulator.cloud.eventbridge import allow_eventbridge

    cloud = nodeless.aws.cloud
    allow_eventbridge(cloud.admin.client("sqs", cloud.customer_account_id, cloud.region), url)
    assert not [n for n in node_class_refresh(_fresh(nodeless)).notices if "queue" in n]


def test_no_interruption_queue_at_all_is_named_on_the_page(nodeless, client) -> None:
    Cluster.objects.filter(pk=nodeless.cluster.pk).update(interruption_queue_url="")
    node_class = node_class_refresh(_fresh(nodeless))
    assert any(n.startswith("No interruption queue") for n in node_class.notices), (
        node_class.notices,
        node_class.problem,
    )
    assert "No interruption queue" in _page(nodeless, client)
    api = client.get(reverse("api-cluster-node-class", args=[nodeless.cluster.pk]))
    assert api.status_code == 200 and any("No interruption queue" in n for n in api.json()["notices"])
    assert NodeClass.objects.get(cluster=nodeless.cluster).problem == ""


@pytest.mark.parametrize(
    ("statement", "may"),
    [
        (
            {
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": "sqs:SendMessage",
            },
            True,
        ),
        (
            {"Effect": "Allow", "Principal": {"Service": ["sqs.amazonaws.com"]}, "Action": "sqs:SendMessage"},
            False,
        ),
        ({"Effect": "Allow", "Principal": "*", "Action": "sqs:*"}, True),
        (
            {
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": "sqs:ReceiveMessage",
            },
            False,
        ),
    ],
)
def test_the_queue_policy_check(statement, may) -> None:
    arn = "arn:aws:sqs:us-east-1:123456789012:q"
    assert eventbridge_may_send({"Statement": [{**statement, "Resource": arn}]}, arn) is may
    assert eventbridge_may_send(None, arn) is False
    deny = {"Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*"}
    assert eventbridge_may_send({"Statement": [{**statement, "Resource": arn}, deny]}, arn) is False
