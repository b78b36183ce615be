"""The policy form previews what the draft would do to the live cluster, next to the saved policy,
before anything is saved."""

from __future__ import annotations

import pytest

from policies.selectors import organization_default_policy
from tests.fixtures.provisioning import BASE_POLICY

pytestmark = pytest.mark.django_db


def _form(**changes) -> dict:
    data = {**BASE_POLICY, **changes}
    return {k: v for k, v in data.items() if v is not None}


def test_the_preview_shows_both_policies_on_the_pending_pods_and_saves_nothing(
    nodeless, owner_client
) -> None:
    for index in range(4):
        nodeless.create_pod(f"pre{index}", cpu="1", memory="2Gi")
    nodeless.observe()
    saved = organization_default_policy(nodeless.cast.org_a.pk)
    assert saved is not None
    saved_version = saved.version
    page = owner_client.post(
        "/policies/provisioning/validate/", _form(capacity_types=["on_demand"], packing="isolate")
    )
    html = page.content.decode()
    assert f"Preview on {nodeless.cluster.name}" in html and "the 4 pending pod(s)" in html
    assert "Saved policy" in html and "This draft" in html
    # Isolating on on-demand costs more than the saved spot-and-pack policy, and says so.
    assert "more</strong>" in html and "4 × " in html
    policy = organization_default_policy(nodeless.cast.org_a.pk)
    assert policy is not None and policy.version == saved_version
    assert not nodeless.rows()  # nothing launched either


def test_an_invalid_draft_gets_errors_and_no_preview(nodeless, owner_client) -> None:
    nodeless.create_pod("p", cpu="1", memory="1Gi")
    html = owner_client.post(
        "/policies/provisioning/validate/", _form(families_allow="m9zz")
    ).content.decode()
    assert "not an instance family" in html and "Preview on" not in html


def test_a_draft_that_serves_no_pod_states_no_saving_and_says_what_it_leaves_pending(
    nodeless, owner_client
) -> None:
    for index in range(4):
        nodeless.create_pod(f"big{index}", cpu="1500m", memory="2Gi")
    nodeless.observe()
    html = owner_client.post("/policies/provisioning/validate/", _form(max_vcpu=1)).content.decode()
    assert "the 4 pending pod(s)" in html
    assert "saves" not in html and "more</strong>" not in html
    assert "No pod is served by both policies, so there is no saving to state." in html
    assert "The draft leaves <strong>4 pod(s) pending</strong>" in html


def test_a_draft_that_serves_some_pods_is_compared_on_those_pods_only(nodeless, owner_client) -> None:
    for index in range(2):
        nodeless.create_pod(f"small{index}", cpu="500m", memory="1Gi")
        nodeless.create_pod(f"big{index}", cpu="3", memory="2Gi")
    nodeless.observe()
    html = owner_client.post("/policies/provisioning/validate/", _form(max_vcpu=2)).content.decode()
    assert "For the 2 pod(s) both policies serve, the draft" in html
    assert "The draft leaves <strong>2 pod(s) pending</strong>" in html
