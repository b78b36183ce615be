"""DescribeInstances pages go on when the reservation a page token names has left the account (the
simulated account drops terminated instances an hour after they end, as AWS does): AWS's tokens keep
working while the account changes, so the simulated cloud's must too (`simulator.cloud.moto_paging`)."""

from moto.ec2.models import ec2_backends

IMAGE_ID = "ami-0a0b0c0d0e0f10203"


def test_the_next_page_comes_after_the_token_s_reservation_left(simulated_cloud):
    account, region = simulated_cloud.customer_account_id, simulated_cloud.region
    ec2 = simulated_cloud.admin.client("ec2", account, region)
    team = [{"Name": "tag:team", "Values": ["paging"]}]
    spec = [{"ResourceType": "instance", "Tags": [{"Key": "team", "Value": "paging"}]}]
    made = [
        ec2.run_instances(
            ImageId=IMAGE_ID, MinCount=1, MaxCount=1, InstanceType="m5.large", TagSpecifications=spec
        )["ReservationId"]
        for _ in range(7)
    ]
    first = ec2.describe_instances(Filters=team, MaxResults=5)
    assert [r["ReservationId"] for r in first["Reservations"]] == made[:5]
    token = first["NextToken"]
    assert token == made[4]  # moto's token names the page's last reservation
    # The token's reservation and the one before it leave the account (as `retention` removes them).
    backend = ec2_backends[account][region]
    for gone in made[3:5]:
        backend.reservations.pop(gone)

    second = ec2.describe_instances(Filters=team, MaxResults=5, NextToken=token)

    assert [r["ReservationId"] for r in second["Reservations"]] == made[5:]
    assert not second.get("NextToken")
