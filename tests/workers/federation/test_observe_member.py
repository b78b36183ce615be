"""A pass's look at a member reads our objects from a watch, as the informers read pods and nodes:
one small call (``GET /version``) still finds a member that stopped answering - skipped only in a
pass that follows another of its task at once, for a member whose watches delivered something in
the last ``HEARD_SECONDS`` (it answered then) - and the member is listed directly when its watch
lacks an object a pass applied there (a watch may be behind the last pass's apply, and a missing
object would be applied again)."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from clusters.models import ClusterObservation
from clusters.observation import recording
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
                    "metadata": {"labels": {"app": "web"}},
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


def test_a_following_pass_does_not_ask_a_member_whose_watches_just_delivered(east, monkeypatch) -> None:
    # Any list or event within the window counts: a wide one, so a slow machine cannot turn the
    # informer's first list into old news before the look.
    monkeypatch.setattr(observe, "HEARD_SECONDS", 600.0)
    wait_for(lambda: OURS in observe_member(east.cluster, {OURS}, ("Deployment",)).objects)
    asked = audited_requests(east.sim, monkeypatch)

    following = observe_member(east.cluster, {OURS}, ("Deployment",), applied={OURS}, following=True)
    assert following.reachable and following.objects[OURS].kind == "Deployment"
    assert asked == []

    # A task's first pass asks anyway: a member cut off a moment ago is found at once.
    observe_member(east.cluster, {OURS}, ("Deployment",), applied={OURS})
    assert asked == ["GET /version"]


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
