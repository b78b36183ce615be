"""AWS keeps a terminated instance visible for about an hour, then it leaves DescribeInstances; a
running instance is never removed. The simulated account does the same, so its listings (and the
simulator's memory) do not grow with every instance it ever ran."""

from simulator.cloud.retention import TERMINATED_VISIBLE_SECONDS

# Straight to moto as the account's administrator (not through the strict gateway): any image id runs.
IMAGE_ID = "ami-0a0b0c0d0e0f10203"


def described(ec2, instance_id):
    reservations = ec2.describe_instances(Filters=[{"Name": "instance-id", "Values": [instance_id]}])
    return [i["State"]["Name"] for r in reservations["Reservations"] for i in r["Instances"]]


def test_a_terminated_instance_is_listed_for_an_hour_then_gone_and_a_running_one_stays(simulated_cloud):
    ec2 = simulated_cloud.admin.client("ec2", simulated_cloud.customer_account_id, simulated_cloud.region)
    started = ec2.run_instances(ImageId=IMAGE_ID, MinCount=2, MaxCount=2, InstanceType="m5.large")
    gone, kept = (i["InstanceId"] for i in started["Instances"])
    ec2.create_tags(Resources=[gone], Tags=[{"Key": "team", "Value": "a"}])
    ec2.terminate_instances(InstanceIds=[gone])
    sweep = simulated_cloud.terminated_instances.sweep
    t0 = simulated_cloud.clock.now()
    sweep(t0)
    sweep(t0 + TERMINATED_VISIBLE_SECONDS / 2)
    assert described(ec2, gone) == ["terminated"]
    assert sweep(t0 + TERMINATED_VISIBLE_SECONDS) >= 1
    assert described(ec2, gone) == []
    assert not ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [gone]}])["Tags"]
    assert described(ec2, kept) == ["running"]
    ec2.terminate_instances(InstanceIds=[kept])


def test_a_terminated_instance_gives_its_address_back_to_the_subnet(simulated_cloud):
    """AWS deletes the primary network interface of a terminated instance, and its private address
    is free again; moto keeps it, so without this a small subnet runs out after a few launches."""
    ec2 = simulated_cloud.admin.client("ec2", simulated_cloud.customer_account_id, simulated_cloud.region)
    vpc = ec2.create_vpc(CidrBlock="10.99.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.99.0.0/28")["Subnet"]["SubnetId"]

    def free():
        return ec2.describe_subnets(SubnetIds=[subnet])["Subnets"][0]["AvailableIpAddressCount"]

    empty = free()
    started = ec2.run_instances(
        ImageId=IMAGE_ID, MinCount=3, MaxCount=3, InstanceType="m5.large", SubnetId=subnet
    )
    ids = [i["InstanceId"] for i in started["Instances"]]
    assert free() == empty - 3
    ec2.terminate_instances(InstanceIds=ids)
    simulated_cloud.terminated_instances.sweep(simulated_cloud.clock.now())
    assert free() == empty
    assert not ec2.describe_network_interfaces(Filters=[{"Name": "subnet-id", "Values": [subnet]}])[
        "NetworkInterfaces"
    ]
