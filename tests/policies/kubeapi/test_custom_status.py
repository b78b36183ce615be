"""How a custom resource's status is gathered from its members' copies (``custom_status``)."""

from __future__ import annotations

from policies.kubeapi.custom_status import gathered_status


def _report(
    ready: str, *, generation: int = 3, observed: int | None = 3, endpoint: int = 2, **more: object
) -> dict:
    status: dict = {"conditions": [{"type": "Ready", "status": ready, "message": f"ready {ready}"}], **more}
    if observed is not None:
        status["observedGeneration"] = observed
    return {"status": status, "generation": generation, "endpointGeneration": endpoint}


def test_one_member_gives_its_status_and_the_endpoint_generation_once_observed() -> None:
    found = gathered_status(2, {}, [("east", _report("True", url="https://x"))])
    assert found == {
        "conditions": [{"type": "Ready", "status": "True", "message": "ready True"}],
        "url": "https://x",
        "observedGeneration": 2,
    }


def test_a_member_behind_keeps_the_observed_generation_the_endpoint_had() -> None:
    behind = _report("True", generation=4, observed=3)  # its operator has not seen its newest copy
    assert gathered_status(2, {"observedGeneration": 1}, [("east", behind)])["observedGeneration"] == 1
    assert "observedGeneration" not in gathered_status(2, {}, [("east", behind)])
    older_copy = _report("True", endpoint=1)  # the member still runs the endpoint's generation 1
    assert "observedGeneration" not in gathered_status(2, {}, [("east", older_copy)])
    silent = _report("True", observed=None)  # a status without observedGeneration says nothing against
    assert gathered_status(2, {}, [("east", silent)])["observedGeneration"] == 2


def test_conditions_are_true_only_where_every_member_says_so() -> None:
    both = gathered_status(2, {}, [("east", _report("True")), ("west", _report("True"))])
    assert both["conditions"] == [{"type": "Ready", "status": "True", "message": "ready True"}]
    one = gathered_status(2, {}, [("east", _report("True")), ("west", _report("False"))])
    assert one["conditions"] == [{"type": "Ready", "status": "False", "message": "west: ready False"}]
    unknown = gathered_status(2, {}, [("east", _report("Unknown")), ("west", _report("False"))])
    assert unknown["conditions"][0]["message"] == "east: ready Unknown"


def test_the_endpoints_own_condition_stays_and_no_status_yet_changes_nothing() -> None:
    applied = {
        "type": "FullyApplied",
        "status": "False",
        "reason": "FullyAppliedFailed",
        "message": "west: …",
    }
    kept = {"conditions": [applied]}
    found = gathered_status(2, kept, [("east", _report("True"))])
    assert [c["type"] for c in found["conditions"]] == ["Ready", "FullyApplied"]
    assert found["conditions"][1] == applied
    silent = {"status": {}, "generation": 1, "endpointGeneration": 2}
    assert gathered_status(2, kept, [("east", silent), ("west", silent)]) is kept
