"""CreateFleet's ClientToken, as EC2 keeps it: a retry with the same token and parameters gets the
first answer, the same token with other parameters is IdempotentParameterMismatch, and the token is
remembered for at least 24 hours after the request, then forgotten (a simulation that runs for days
does not keep every token it ever saw)."""

from typing import Any

import pytest

from simulator.cloud.fleet import CLIENT_TOKEN_LIFETIME_SECONDS, CapacityFaults, FleetLauncher
from simulator.cloud.protocol import AwsError, AwsRequest


class CountingLauncher(FleetLauncher):
    """Every real launch gets a new fleet id, so a remembered answer is recognisable."""

    launches = 0
    clock: list[float]

    def _launch(self, request: AwsRequest) -> dict[str, object]:
        self.launches += 1
        return {"FleetId": f"fleet-{self.launches}"}


def request(token: str, instance_type: str = "m5.large") -> AwsRequest:
    return AwsRequest(
        method="POST", path="/", query="", headers={}, body=b"", service="ec2", region="us-east-1",
        access_key_id="AKIA", action="CreateFleet", presigned=False,
        params={"Type": "instant", "ClientToken": token, "InstanceType": instance_type},
    )  # fmt: skip


@pytest.fixture
def launcher():
    clock = [1_000.0]
    unused: Any = None  # the launch itself is replaced: no catalog, no EC2
    fleet = CountingLauncher(
        catalog=unused, faults=CapacityFaults(), ec2_for_caller=unused, now=lambda: clock[0]
    )
    fleet.clock = clock
    return fleet


def test_a_retried_token_gets_the_first_answer_and_other_parameters_are_refused(launcher):
    first = launcher.create_fleet(request("t1"), "111122223333")
    assert launcher.create_fleet(request("t1"), "111122223333") == first
    assert launcher.launches == 1
    with pytest.raises(AwsError) as error:
        launcher.create_fleet(request("t1", "c5.large"), "111122223333")
    assert error.value.code == "IdempotentParameterMismatch"
    assert launcher.create_fleet(request("t1"), "444455556666") != first  # tokens are per account


def test_tokens_are_forgotten_a_day_after_their_request(launcher):
    old = launcher.create_fleet(request("old"), "111122223333")
    launcher.clock[0] += CLIENT_TOKEN_LIFETIME_SECONDS / 2
    launcher.create_fleet(request("middle"), "111122223333")
    assert launcher.create_fleet(request("old"), "111122223333") == old
    launcher.clock[0] += CLIENT_TOKEN_LIFETIME_SECONDS / 2 + 1
    launcher.create_fleet(request("new"), "111122223333")
    assert len(launcher._responses) == 2  # "old" is gone, "middle" is kept
    assert launcher.create_fleet(request("old"), "111122223333") != old
