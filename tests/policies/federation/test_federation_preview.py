"""The federation policy form previews where the policy's workloads would run with the draft, next to
where the saved policy keeps them, with $/hour — before anything is saved or moved."""

from __future__ import annotations

import pytest
from django.urls import reverse

from policies.models import Placement
from tests.fixtures.federation import deployment, placements, settle, submit
from tests.policies.federation.test_federation_pages import POLICY_FORM

pytestmark = pytest.mark.django_db


def test_a_draft_that_moves_workloads_shows_where_they_would_go(cast, owner_client, member, policy) -> None:
    member("dc-1", {"cloud": "onprem", "region": "dc-east", "env": "prod"})
    member("eks-east", {"cloud": "aws", "region": "us-east-1", "env": "prod"})
    saved = policy("pin-dc", strategy="pinned", pinned=["dc-1"])
    workload = submit(cast, deployment("shop-web", replicas=2), saved)
    settle(cast, lambda: placements(workload) == {"dc-1": 2})
    form = {
        **POLICY_FORM,
        "name": "pin-dc",
        "strategy": "pinned",
        "pinned": "eks-east",
        "burst_tiers": "",
        "workload_namespaces": "",
        "workload_labels": "",
        "policy_id": str(saved.pk),
    }
    html = owner_client.post(
        reverse("federation-policy-validate"), form, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "workloads would run" in html
    assert "shop/shop-web" in html and "dc-1: 2" in html and "eks-east: 2" in html and "moves" in html
    assert placements(workload) == {"dc-1": 2}  # nothing moved
    assert Placement.objects.filter(workload=workload, cluster__name="eks-east").count() == 0
