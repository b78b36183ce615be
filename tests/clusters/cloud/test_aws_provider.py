"""The product's AWS cloud provider against the simulated cloud (moto behind the gateway)."""

import time
from urllib.parse import urlparse

import boto3
import pytest

from clusters.cloud.aws_provider import (
    AwsCloudProvider,
    AwsProviderConfig,
    capacity_runs,
    fleet_token,
)
from clusters.cloud.aws_session import AssumeRoleTarget, AwsEndpoints, assumed_role_session
from clusters.cloud.errors import (
    ErrorKind,
    InsufficientCapacityError,
    InvalidRequestError,
    ThrottledError,
    UnauthorizedError,
)
from clusters.cloud.interface import LAUNCH_TOKEN_TAG, InstanceState, LaunchRequest, Offering
from engines.kube.capacity import CapacityType
from simulator.cloud.simulated_cloud import trust_policy
from tests.fixtures.simulation import node_launch_template, placement

SPOT, ON_DEMAND = CapacityType.SPOT, CapacityType.ON_DEMAND


@pytest.fixture
def cloud_cluster(simulated_cloud):
    return simulated_cloud.add_cluster(f"prov-{time.monotonic_ns()}")


@pytest.fixture
def provider(cloud_provider, cloud_cluster):
    return cloud_provider(cloud_cluster.name)


@pytest.fixture
def launch_request(simulated_cloud, cloud_cluster):
    """LaunchRequest with every offering placed on a launch template of the cluster and its zone's
    subnet (the strict cloud launches nothing without them)."""
    template = node_launch_template(simulated_cloud, cloud_cluster.name, access_entry=False)

    def make(offerings, idempotency_token, tags):
        placements = tuple(
            placement(simulated_cloud, cloud_cluster.name, template, o.zone) for o in offerings
        )
        return LaunchRequest(offerings, idempotency_token, tags, placements=placements)

    return make


def token():
    return f"claim-{time.monotonic_ns()}"


def ours(cloud_cluster, **extra):
    return {cloud_cluster.tag_key: cloud_cluster.tag_value, **extra}


def test_launch_falls_back_along_the_offerings_on_capacity_errors(
    simulated_cloud, cloud_cluster, provider, launch_request
):
    simulated_cloud.exhaust_capacity("m5.large", "us-east-1a", "spot")
    simulated_cloud.exhaust_capacity("m5.large", "us-east-1b", "spot")
    offerings = (
        Offering("m5.large", "us-east-1a", SPOT),
        Offering("m5.large", "us-east-1b", SPOT),
        Offering("m5.large", "us-east-1c", SPOT),
        Offering("m5.large", "us-east-1a", ON_DEMAND),
    )
    result = provider.launch(launch_request(offerings, token(), ours(cloud_cluster)))
    assert result.offering == offerings[2]
    assert [(f.offering, f.kind, f.provider_code) for f in result.skipped] == [
        (offerings[0], ErrorKind.INSUFFICIENT_CAPACITY.value, "InsufficientInstanceCapacity"),
        (offerings[1], ErrorKind.INSUFFICIENT_CAPACITY.value, "InsufficientInstanceCapacity"),
    ]
    assert (result.instance.zone, result.instance.capacity_type, result.instance.instance_type) == (
        "us-east-1c",
        SPOT,
        "m5.large",
    )


def test_launch_moves_to_the_next_capacity_type_when_a_whole_run_is_exhausted(
    simulated_cloud, cloud_cluster, provider, launch_request
):
    simulated_cloud.exhaust_capacity("c5.large", "us-east-1a", "spot")
    offerings = (Offering("c5.large", "us-east-1a", SPOT), Offering("c5.large", "us-east-1a", ON_DEMAND))
    result = provider.launch(launch_request(offerings, token(), ours(cloud_cluster)))
    assert result.offering == offerings[1] and result.instance.capacity_type is ON_DEMAND


def test_launch_tags_the_instance(cloud_cluster, provider, launch_request):
    claim = token()
    result = provider.launch(
        launch_request(
            (Offering("m5.large", "us-east-1a", ON_DEMAND),),
            claim,
            ours(cloud_cluster, **{"nodeless.io/pod": "default/p1"}),
        )
    )
    # What EC2 recorded, not what the request said.
    [listed] = provider.list_instances({LAUNCH_TOKEN_TAG: claim})
    assert listed.instance_id == result.instance.instance_id
    assert listed.tags[cloud_cluster.tag_key] == "owned"
    assert listed.tags["nodeless.io/pod"] == "default/p1"
    assert listed.tags[LAUNCH_TOKEN_TAG] == claim


def test_launch_names_the_zone_s_subnet_and_tags_the_volumes(
    simulated_cloud, cloud_cluster, provider, launch_request
):
    """Every override names a subnet; the request tags fleet, instance, volume and network interface
    (what the controller policy's aws:RequestTag conditions require)."""
    claim = token()
    result = provider.launch(
        launch_request((Offering("m5.large", "us-east-1c", ON_DEMAND),), claim, ours(cloud_cluster))
    )
    ec2 = simulated_cloud.admin.client("ec2", simulated_cloud.customer_account_id)
    described = ec2.describe_instances(InstanceIds=[result.instance.instance_id])["Reservations"][0][
        "Instances"
    ][0]
    assert described["SubnetId"] == cloud_cluster.network.subnets["us-east-1c"]
    volumes = ec2.describe_volumes(
        Filters=[{"Name": "attachment.instance-id", "Values": [result.instance.instance_id]}]
    )
    assert volumes["Volumes"]
    assert all(
        {t["Key"]: t["Value"] for t in v.get("Tags", [])}.get(LAUNCH_TOKEN_TAG) == claim
        for v in volumes["Volumes"]
    )


def test_retrying_a_launch_with_the_same_token_launches_nothing_new(
    simulated_cloud, cloud_cluster, provider, launch_request
):
    simulated_cloud.exhaust_capacity("m5.large", "us-east-1a", "on-demand")
    request = launch_request(
        (Offering("m5.large", "us-east-1a", ON_DEMAND), Offering("m5.large", "us-east-1b", ON_DEMAND)),
        token(),
        ours(cloud_cluster),
    )
    first = provider.launch(request)
    simulated_cloud.restore_capacity()  # a retry may see different capacity: the token still wins
    second = provider.launch(request)
    assert second.instance.instance_id == first.instance.instance_id
    assert len(provider.list_instances(ours(cloud_cluster))) == 1


def test_no_capacity_anywhere_is_classified_with_every_offering_named(
    simulated_cloud, cloud_cluster, provider, launch_request
):
    for zone in ("us-east-1a", "us-east-1b"):
        simulated_cloud.exhaust_capacity("p4d.24xlarge", zone, "on-demand")
    offerings = (
        Offering("p4d.24xlarge", "us-east-1a", ON_DEMAND),
        Offering("p4d.24xlarge", "us-east-1b", ON_DEMAND),
    )
    with pytest.raises(InsufficientCapacityError) as error:
        provider.launch(launch_request(offerings, token(), ours(cloud_cluster)))
    assert error.value.kind is ErrorKind.INSUFFICIENT_CAPACITY and error.value.retryable
    assert "us-east-1a" in error.value.message and "us-east-1b" in error.value.message
    assert provider.list_instances(ours(cloud_cluster)) == []


def test_an_unknown_instance_type_is_an_invalid_request(cloud_cluster, provider, launch_request):
    with pytest.raises(InvalidRequestError) as error:
        provider.launch(
            launch_request((Offering("zz9.huge", "us-east-1a", ON_DEMAND),), token(), ours(cloud_cluster))
        )
    assert error.value.kind is ErrorKind.INVALID_REQUEST and "zz9.huge" in error.value.message


def test_persistent_throttling_is_classified_after_the_client_retries(
    simulated_cloud, cloud_cluster, cloud_provider, launch_request
):
    impatient = cloud_provider(cloud_cluster.name, max_attempts=1)
    simulated_cloud.throttle("ec2:CreateFleet", times=1)
    with pytest.raises(ThrottledError) as error:
        impatient.launch(
            launch_request((Offering("m5.large", "us-east-1a", ON_DEMAND),), token(), ours(cloud_cluster))
        )
    assert error.value.provider_code == "RequestLimitExceeded" and error.value.retryable


def test_transient_throttling_is_absorbed_by_retries(simulated_cloud, cloud_cluster, cloud_provider):
    patient = cloud_provider(cloud_cluster.name, max_attempts=3)
    simulated_cloud.throttle("ec2:DescribeInstances", times=1)
    assert patient.list_instances(ours(cloud_cluster)) == []


def test_a_role_without_create_fleet_gets_an_actionable_unauthorized_error(
    simulated_cloud, cloud_cluster, launch_request
):
    name = f"NoLaunch{time.monotonic_ns()}"
    role_arn = simulated_cloud.create_role(
        name, trust_policy(simulated_cloud.vendor_account_id, "no-launch"), ("ec2:Describe*",)
    )
    endpoints = AwsEndpoints(endpoint_url=simulated_cloud.endpoint_url)
    session = assumed_role_session(
        AssumeRoleTarget(role_arn, "no-launch", simulated_cloud.region),
        endpoints=endpoints,
        base_session=boto3.Session(**simulated_cloud.vendor_credentials()),
    )
    provider = AwsCloudProvider(
        session,
        AwsProviderConfig(simulated_cloud.region, role_arn=role_arn),
        endpoints,
    )
    with pytest.raises(UnauthorizedError) as error:
        provider.launch(
            launch_request((Offering("m5.large", "us-east-1a", ON_DEMAND),), token(), ours(cloud_cluster))
        )
    assert error.value.provider_code == "UnauthorizedOperation"
    assert "ec2:CreateFleet" in error.value.message and role_arn in error.value.message


def test_a_wrong_external_id_fails_when_assuming_the_role(simulated_cloud):
    with pytest.raises(UnauthorizedError) as error:
        assumed_role_session(
            AssumeRoleTarget(simulated_cloud.role_arn, "not-our-id", simulated_cloud.region),
            endpoints=AwsEndpoints(endpoint_url=simulated_cloud.endpoint_url),
            base_session=boto3.Session(**simulated_cloud.vendor_credentials()),
        )
    assert "trust policy" in error.value.message and error.value.operation == "AssumeRole"


def test_the_session_assumes_the_role_with_the_organization_external_id(
    simulated_cloud, control_plane_session
):
    assert (
        control_plane_session.client("sts", endpoint_url=simulated_cloud.endpoint_url)
        .get_caller_identity()["Arn"]
        .startswith(f"arn:aws:sts::{simulated_cloud.customer_account_id}:assumed-role/")
    )
    sent = [
        r
        for r in simulated_cloud.assume_role_records()
        if r.allowed and r.role_arn == simulated_cloud.role_arn
    ]
    assert sent and all(r.external_id == simulated_cloud.external_id for r in sent)


def test_terminate_and_list_by_tag(cloud_cluster, provider, launch_request):
    launched = [
        provider.launch(
            launch_request(
                (Offering("m5.large", "us-east-1a", ON_DEMAND),), token(), ours(cloud_cluster, pool=pool)
            )
        ).instance
        for pool in ("a", "a", "b")
    ]
    assert {i.instance_id for i in provider.list_instances(ours(cloud_cluster, pool="a"))} == {
        launched[0].instance_id,
        launched[1].instance_id,
    }
    provider.terminate([launched[0].instance_id])
    provider.terminate([launched[0].instance_id])  # terminating twice is not an error
    states = {i.instance_id: i.state for i in provider.list_instances(ours(cloud_cluster))}
    assert states[launched[0].instance_id] in (InstanceState.SHUTTING_DOWN, InstanceState.TERMINATED)
    assert states[launched[2].instance_id] is InstanceState.RUNNING


def test_prices_come_from_the_pricing_api_and_spot_history(simulated_cloud, provider):
    on_demand = provider.on_demand_prices(["m5.large", "c7g.large"])
    assert {(q.instance_type, q.usd_per_hour) for q in on_demand} == {
        ("m5.large", simulated_cloud.catalog.on_demand_price("us-east-1", "m5.large")),
        ("c7g.large", simulated_cloud.catalog.on_demand_price("us-east-1", "c7g.large")),
    }
    spot = provider.spot_prices(["m5.large"], zones=["us-east-1a", "us-east-1b"])
    assert [(q.zone, q.capacity_type) for q in spot] == [("us-east-1a", SPOT), ("us-east-1b", SPOT)]
    assert all(
        q.usd_per_hour < simulated_cloud.catalog.on_demand_price("us-east-1", "m5.large") for q in spot
    )


def test_offerings_are_split_into_runs_of_one_capacity_type():
    a, b, c = Offering("a", "z", SPOT), Offering("b", "z", SPOT), Offering("c", "z", ON_DEMAND)
    assert capacity_runs([a, b, c, a]) == [(SPOT, [a, b]), (ON_DEMAND, [c]), (SPOT, [a])]


def test_fleet_tokens_stay_within_the_aws_limit():
    assert len(fleet_token("x" * 100, 3)) <= 64
    assert fleet_token("claim-1", 0) != fleet_token("claim-1", 1)


def test_the_interruption_queue_of_a_cluster_is_found_by_its_name(cloud_cluster, provider):
    found = provider.find_interruption_queue(cloud_cluster.name)
    # The same queue, addressed through the endpoint the product uses.
    assert urlparse(found).path == urlparse(cloud_cluster.interruption_queue_url).path
    assert provider.find_interruption_queue(f"{cloud_cluster.name}-missing") == ""


def test_describe_cluster_reads_the_eks_cluster_and_classifies_an_unknown_one(cloud_cluster, provider):
    info = provider.describe_cluster(cloud_cluster.name)
    assert (info.name, info.region) == (cloud_cluster.name, "us-east-1")
    assert info.endpoint.startswith("https://") and info.status == "ACTIVE"
    with pytest.raises(InvalidRequestError) as raised:
        provider.describe_cluster(f"{cloud_cluster.name}-missing")
    assert raised.value.operation == "DescribeCluster"


def test_an_endpoint_that_answers_with_an_error_page_is_a_cloud_unavailable_error() -> None:
    """A proxy's (or a broken endpoint's) HTML error page is not an AWS answer; botocore raises its
    ResponseParserError, which is neither of its other error types: it must still be a CloudError,
    with a message that does not echo the page."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from clusters.cloud.errors import CloudUnavailableError

    class ErrorPage(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            # what a crashing endpoint's web framework sends (werkzeug's page, as the simulated
            # cloud's did once): not XML, so botocore cannot even read it as an error
            body = b"<!doctype html>\n<title>500 Internal Server Error</title>\n<p>secret-internal-host</p>"
            self.send_response(500)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), ErrorPage)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        session = boto3.Session(
            aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="x", region_name="us-east-1"
        )
        endpoints = AwsEndpoints(endpoint_url=f"http://127.0.0.1:{server.server_address[1]}")
        provider = AwsCloudProvider(session, AwsProviderConfig(region="us-east-1", max_attempts=1), endpoints)
        with pytest.raises(CloudUnavailableError) as failed:
            provider.list_instances({"nodeless.io/cluster": "c"})
        assert "not an AWS response" in str(failed.value)
        assert "secret-internal-host" not in str(failed.value)
    finally:
        server.shutdown()
