"""AWS keeps a terminated instance visible for about an hour, then it leaves DescribeInstances; a
running instance is never removed. The simulated account does the same, so its listings (and the
simulator's memory) do not grow with every instance it ever ran."""

from simulator.cloud.retention import TERMINATED_VISIBLE_SECONDS
from simulator.cloud.simulated_cloud import NODE_IMAGE_ID


def described(ec2, instance_id):
    reservations = ec2.describe_instances(Filters=[{"Name": "instance-id", "Values": [instance_id]}])
    return [i["State"]["Name"] for r in reservations["Reservations"] for i in r["Instances"]]


def test_a_terminated_instance_is_listed_for_an_hour_then_gone_and_a_running_one_stays(simulated_cloud):
    ec2 = simulated_cloud.admin.client("ec2", simulated_cloud.customer_account_id, simulated_cloud.region)
    started = ec2.run_instances(ImageId=NODE_IMAGE_ID, MinCount=2, MaxCount=2, InstanceType="m5.large")
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
