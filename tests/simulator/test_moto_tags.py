"""The simulator reads a resource's tags from moto's tag table directly (`simulator.cloud.moto_tags`):
the same rows, in the same order, as moto's own `describe_tags` filtered by resource id, so tag
filters on DescribeInstances answer exactly as before, without scanning every tag of the account
once per instance."""

from moto.ec2.models import ec2_backends

from simulator.cloud.moto_tags import tags_of

IMAGE_ID = "ami-0a0b0c0d0e0f10203"


def test_tags_read_by_id_are_moto_s_own_answer_and_tag_filters_still_select(simulated_cloud):
    account, region = simulated_cloud.customer_account_id, simulated_cloud.region
    ec2 = simulated_cloud.admin.client("ec2", account, region)
    started = ec2.run_instances(
        ImageId=IMAGE_ID,
        MinCount=3,
        MaxCount=3,
        InstanceType="m5.large",
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "team", "Value": "shop"}]}],
    )
    ids = [i["InstanceId"] for i in started["Instances"]]
    ec2.create_tags(
        Resources=[ids[0]], Tags=[{"Key": "tier", "Value": "web"}, {"Key": "team", "Value": "ads"}]
    )
    ec2.create_tags(Resources=[ids[1]], Tags=[{"Key": "empty", "Value": ""}])
    backend = ec2_backends[account][region]
    for instance_id in ids:
        instance = backend.get_instance(instance_id)
        assert tags_of(instance) == backend.describe_tags(filters={"resource-id": [instance_id]})
        assert instance.get_tags() == tags_of(instance)  # what the running simulator uses
    assert {t["key"]: t["value"] for t in tags_of(backend.get_instance(ids[0]))} == {
        "team": "ads",
        "tier": "web",
    }

    def selected(*filters: dict) -> set[str]:
        answer = ec2.describe_instances(Filters=[*filters, {"Name": "instance-id", "Values": ids}])
        return {i["InstanceId"] for r in answer["Reservations"] for i in r["Instances"]}

    assert selected({"Name": "tag:team", "Values": ["shop"]}) == set(ids[1:])
    assert selected({"Name": "tag:team", "Values": ["ads"]}, {"Name": "tag:tier", "Values": ["web"]}) == {
        ids[0]
    }
    assert selected({"Name": "tag-key", "Values": ["empty"]}) == {ids[1]}
    ec2.terminate_instances(InstanceIds=ids)
