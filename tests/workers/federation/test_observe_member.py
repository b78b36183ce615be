"""A pass's look at a member reads our objects from a watch, as the informers read pods and nodes:
one small call (``GET /version``) still finds a member that stopped answering - skipped for a
member heard from within the pass's window (``liveness_seconds``: a watch event, a list, or its
version answered) - and the member is listed directly when its watch
lacks an object a pass applied there (a watch may be behind the last pass's apply, and a missing
object would be applied again)."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from clusters.models import ClusterObservation
from clusters.observation import recording
from clusters.observation.reading import heard_from, informer_for
from engines.kube.labels import WORKLOAD_ID
from tests.fixtures.federation import pool
from tests.fixtures.simulation import audited_requests, wait_for
from workers.federation import observe
from workers.federation.observe import observe_member, observe_members

pytestmark = pytest.mark.django_db
OURS = "0b1c2d3e-aaaa-bbbb-cccc-1234567890ab"


@pytest.fixture
def east(member):
    found = member("east", {"cloud": "aws", "region": "us-east-1"}, pools=(pool(1),))
    found.core.create_namespace({"metadata": {"name": "shop"}})
    found.apps.create_namespaced_deployment(
        "shop",
        {
            "metadata": {"name": "web", "labels": {WORKLOAD_ID: OURS}},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web", WORKLOAD_ID: OURS}},
                    "spec": {"containers": [{"name": "app", "image": "nginx"}]},
                },
            },
        },
    )
    return found


def test_our_objects_come_from_the_watch_with_one_small_call_a_look(east, monkeypatch) -> None:
    wait_for(lambda: OURS in observe_member(east.cluster, {OURS}, ("Deployment",)).objects)
    asked = audited_requests(east.sim, monkeypatch)
    observation = observe_member(east.cluster, {OURS}, ("Deployment",), applied={OURS})
    assert observation.reachable and observation.objects[OURS].kind == "Deployment"
    assert asked == ["GET /version"]


def test_a_member_heard_from_within_the_window_is_not_asked(east, monkeypatch) -> None:
    wait_for(lambda: OURS in observe_member(east.cluster, {OURS}, ("Deployment",)).objects)
    asked = audited_requests(east.sim, monkeypatch)
    # Any list or event within the window counts: a wide one, so a slow machine cannot turn the
    # informer's first list into old news before the look.
    heard = observe_member(east.cluster, {OURS}, ("Deployment",), applied={OURS}, answered_within=600.0)
    assert heard.reachable and heard.objects[OURS].kind == "Deployment"
    assert asked == []

    # No window (a policy whose grace period is 0): asked every time, so a member cut off a moment
    # ago is found at once.
    observe_member(east.cluster, {OURS}, ("Deployment",), applied={OURS}, answered_within=0.0)
    assert asked == ["GET /version"]


def test_a_version_answered_counts_as_heard_from_while_the_watches_are_quiet(east, monkeypatch) -> None:
    wait_for(lambda: OURS in observe_member(east.cluster, {OURS}, ("Deployment",)).objects)
    informer = informer_for(east.cluster)
    informer._heard_at = None  # as after a watch failed: the watches prove nothing
    assert not heard_from(east.cluster, 600.0)
    asked = audited_requests(east.sim, monkeypatch)
    observe_member(east.cluster, {OURS}, ("Deployment",), applied={OURS}, answered_within=600.0)
    assert asked == ["GET /version"]
    assert heard_from(east.cluster, 600.0)
    observe_member(east.cluster, {OURS}, ("Deployment",), applied={OURS}, answered_within=600.0)
    assert asked == ["GET /version"]  # not asked again within the window


@pytest.mark.parametrize(
    ("graces", "following", "window"),
    [
        ((120, 300), False, observe.LIVENESS_SECONDS),  # the default grace: Karmada's 30 s
        ((120, 10), False, 10.0),  # never longer than the shortest grace
        ((0, 120), False, 0.0),  # a grace of 0: asked on every task's first pass
        ((0,), True, observe.HEARD_SECONDS),  # a pass right after another: heard from lately
        ((), False, observe.LIVENESS_SECONDS),
    ],
)
def test_the_window_is_the_shortest_grace_at_most(graces, following, window) -> None:
    assert observe.liveness_seconds(graces, following=following) == window


def test_a_watch_without_an_object_a_pass_applied_there_is_not_trusted(east, monkeypatch) -> None:
    wait_for(lambda: OURS in observe_member(east.cluster, {OURS}, ("Deployment",)).objects)
    asked = audited_requests(east.sim, monkeypatch)
    applied_meanwhile = "11111111-2222-3333-4444-555555555555"  # the watch has not delivered it
    observe_member(
        east.cluster, {OURS, applied_meanwhile}, ("Deployment",), applied={OURS, applied_meanwhile}
    )
    assert asked == ["GET /version", "GET /apis/apps/v1/deployments"]


def test_a_look_that_keeps_nothing_leaves_the_members_kept_observation_alone(east) -> None:
    """Passes back to back keep no observation (the task's first pass does): a burst's passes do
    not wait on writing them."""
    # Forget the observation the connection kept, and that it was kept: one is due now.
    ClusterObservation.objects.filter(cluster=east.cluster).delete()
    cache.delete(recording._due_key(east.cluster))

    observe_members([east.cluster], {OURS}, ("Deployment",), following=True)
    assert not ClusterObservation.objects.filter(cluster=east.cluster).exists()

    observe_members([east.cluster], {OURS}, ("Deployment",))
    assert ClusterObservation.objects.filter(cluster=east.cluster).exists()


def _settled_look(member) -> tuple:
    """Two looks in a row at ``member`` with nothing changed between them (its controllers done)."""
    looks: list = []

    def settled() -> bool:
        looks.append(observe_member(member.cluster, {OURS}, ("Deployment",), applied={OURS}))
        latest = looks[-1].objects.get(OURS)
        return len(looks) > 1 and latest is not None and latest is looks[-2].objects.get(OURS)

    wait_for(settled)
    return looks[-2], looks[-1]


def test_a_look_at_a_member_whose_view_has_not_changed_reuses_the_last_one(east) -> None:
    """Rebuilding a quiet member's state each pass was a quarter of an organization's pass at rest."""
    before, again = _settled_look(east)
    assert again.pods[OURS] is before.pods[OURS]
    assert again.inventory == before.inventory
    assert again.state is not None and before.state is not None
    assert again.state.nodes is before.state.nodes
    assert again.state.observed_at >= before.state.observed_at  # kept pages see when it was looked at


def test_a_change_in_the_member_or_in_what_the_pass_asks_for_is_looked_at_again(east) -> None:
    _settled_look(east)
    # Asked for other workloads, kinds or applied ids: not the last look's answer.
    assert observe_member(east.cluster, set(), ("Deployment",)).objects == {}
    assert observe_member(east.cluster, {OURS}, ("Job",)).objects == {}
    _settled_look(east)

    east.apps.patch_namespaced_deployment_scale("web", "shop", {"spec": {"replicas": 3}})

    def scaled() -> bool:
        look = observe_member(east.cluster, {OURS}, ("Deployment",), applied={OURS})
        return look.objects[OURS].replicas == 3 and look.pods[OURS].running + look.pods[OURS].pending == 3

    wait_for(scaled)
