"""The cost-quality certificate: every launch decision stores its plan's cost and the planner's lower
bound for the same pods, and the decision page, the cluster page and the API say how close to the
best possible the plan is."""

from __future__ import annotations

import pytest
from django.urls import reverse

from policies.models import Decision, DecisionKind
from policies.plan_quality import PlanCertificate

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("cost", "bound", "gap", "words"),
    [
        (1.0, 1.0, 0.0, "Optimal"),
        (1.03, 1.0, 3.0, "Within 3.0 %"),
        (0.5, 0.0, None, "No lower bound"),
    ],
)
def test_the_gap_is_cost_over_the_bound(cost, bound, gap, words) -> None:
    certificate = PlanCertificate(cost_per_hour=cost, lower_bound_per_hour=bound, pods=3, launches=1)
    assert certificate.gap_percent == (None if gap is None else pytest.approx(gap))
    assert words in certificate.summary


def test_a_pass_stores_the_plan_with_each_launch_and_every_surface_shows_it(
    nodeless, owner_client, api_a
) -> None:
    for index in range(6):
        nodeless.create_pod(f"p{index}", cpu="300m", memory="512Mi")
    report = nodeless.reconcile()
    assert report.launched >= 1
    launches = list(Decision.objects.filter(cluster=nodeless.cluster, kind=DecisionKind.LAUNCH))
    assert len(launches) == report.launched
    plans = {tuple(sorted(d.inputs["plan"].items())) for d in launches}
    assert len(plans) == 1, "every launch of one pass belongs to the same plan"
    plan = launches[0].inputs["plan"]
    assert plan["pods"] == 6 and plan["launches"] == report.launched
    assert 0 < plan["lower_bound_per_hour"] <= plan["cost_per_hour"] + 1e-9
    assert plan["cost_per_hour"] >= sum(float(d.chosen["effective_price_per_hour"]) for d in launches) - 1e-6

    page = owner_client.get(reverse("decision-detail", args=[launches[0].pk])).content.decode()
    assert 'id="plan-certificate"' in page and "no plan can cost less than" in page
    detail = api_a.get(f"/api/v1/decisions/{launches[0].pk}/").json()["plan_certificate"]
    # Money in the API is a decimal string; rates per hour carry six decimals.
    assert isinstance(detail["lower_bound_per_hour"], str)
    assert float(detail["lower_bound_per_hour"]) == pytest.approx(plan["lower_bound_per_hour"], abs=5e-7)
    assert detail["gap_percent"] >= 0
    panel = owner_client.get(reverse("cluster-decisions", args=[nodeless.cluster.pk])).content.decode()
    assert 'id="cluster-plan-certificate"' in panel
