"""The serverless routing decision (`route_serverless`, pure) and its act step against an in-memory
Fargate: which profile to create, when, which pods to recreate, which to leave pending and why, and
which of our profiles to delete."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from django.utils import timezone

from clusters.cloud.errors import InvalidRequestError
from clusters.cloud.fargate import FargateBusy, FargateProfile, FargateSelector
from engines.kube import Pod
from engines.kube.cluster import cluster_state
from tests.workers.provisioning.fakes import FakeKube
from tests.workers.provisioning.provisioning_builders import pod_json
from workers.provisioning.fargate import SERVERLESS_UNAVAILABLE, ServerlessTarget, act_serverless
from workers.provisioning.serverless import (
    NOT_RECREATABLE,
    QUEUED,
    WAITING,
    fargate_selector,
    route_serverless,
)

OURS = {"nodeless.io/managed-by": "nodeless"}


def _pod(
    name: str, labels: dict[str, str], *, namespace: str = "shop", owner: str = "rs", node: str = ""
) -> Pod:
    raw = pod_json(name, namespace=namespace, owner=owner, node=node)
    raw["metadata"]["labels"] = labels
    return Pod(raw)


def _profile(
    selector: FargateSelector, status: str = "ACTIVE", tags: Mapping[str, str] = OURS
) -> FargateProfile:
    return FargateProfile(selector.profile_name, status, (selector,), tags)


WEB = FargateSelector("shop", (("app", "web"),))
API = FargateSelector("shop", (("app", "api"),))


def _route(
    pods: Sequence[Pod], profiles: Sequence[FargateProfile], live: Sequence[Pod] = (), **kw: Any
) -> Any:
    return route_serverless(
        pods, profiles, live, needed_before=kw.get("needed", {}), now=kw.get("now", 1000.0), keep_seconds=30
    )


def test_the_selector_is_the_namespace_and_the_workload_labels_that_every_replica_carries() -> None:
    pod = _pod(
        "web-1",
        {
            "app": "web",
            "pod-template-hash": "abc",
            "eks.amazonaws.com/fargate-profile": "x",
            "a": "1",
            "b": "2",
            "c": "3",
            "d": "4",
            "e": "5",
        },
    )
    selector = fargate_selector(pod)
    assert selector.namespace == "shop"
    assert selector.labels == (
        ("a", "1"),
        ("app", "web"),
        ("b", "2"),
        ("c", "3"),
        ("d", "4"),
    )  # EKS: 5 at most
    assert selector.profile_name.startswith("nodeless-shop-") and len(selector.profile_name) <= 100


def test_no_profile_creates_one_and_eks_allows_one_operation_at_a_time() -> None:
    plan = _route([_pod("web-1", {"app": "web"}), _pod("api-1", {"app": "api"})], [])
    assert plan.create in (WEB, API)
    reasons = {p.pod_key: p.reason for p in plan.pending}
    created, queued = (WEB, API) if plan.create == WEB else (API, WEB)
    assert any(r == WAITING.format(profile=created.profile_name) for r in reasons.values())
    assert any(r == QUEUED.format(profile=queued.profile_name) for r in reasons.values())
    assert not plan.recreate
    # Another profile being created (ours or the customer's): nothing is created this pass.
    busy = _route([_pod("api-1", {"app": "api"})], [_profile(WEB, "CREATING")])
    assert busy.create is None and busy.pending[0].reason == QUEUED.format(profile=API.profile_name)


def test_a_creating_profile_makes_its_pods_wait() -> None:
    plan = _route([_pod("web-1", {"app": "web"})], [_profile(WEB, "CREATING")])
    assert plan.create is None and plan.pending[0].reason == WAITING.format(profile=WEB.profile_name)
    assert not plan.pending[0].remember


def test_an_active_profile_recreates_owned_pods_and_leaves_bare_ones_pending_with_the_reason() -> None:
    owned, bare = _pod("web-1", {"app": "web"}), _pod("web-solo", {"app": "web"}, owner="")
    # A customer's own profile routes them just as well.
    customer = FargateProfile("their-profile", "ACTIVE", (FargateSelector("shop"),), {})
    for profiles in ([_profile(WEB)], [customer]):
        plan = _route([owned, bare], profiles)
        assert [(r.key, r.uid) for r in plan.recreate] == [("shop/web-1", owned.uid)]
        assert [p.reason for p in plan.pending] == [NOT_RECREATABLE.format(profile=profiles[0].name)]
        assert plan.create is None


def test_ten_profiles_is_the_most_eks_allows() -> None:
    profiles = [_profile(FargateSelector(f"ns{i}")) for i in range(10)]
    plan = _route([_pod("web-1", {"app": "web"})], profiles)
    assert plan.create is None and "the most EKS allows" in plan.pending[0].reason


def test_our_profile_is_deleted_once_no_pod_needed_it_for_the_delay_and_never_while_one_runs_through_it() -> (
    None
):
    profile = _profile(WEB)
    # First sight: counted as needed now (a worker without memory deletes nothing at once).
    first = _route([], [profile], now=1000.0)
    assert first.delete == "" and first.needed == {profile.name: 1000.0}
    assert _route([], [profile], now=1020.0, needed=first.needed).delete == ""
    assert _route([], [profile], now=1031.0, needed=first.needed).delete == profile.name
    running = _pod(
        "web-2", {"app": "web", "eks.amazonaws.com/fargate-profile": profile.name}, node="fargate-ip-1"
    )
    kept = _route([], [profile], [running], now=5000.0, needed=first.needed)
    assert kept.delete == "" and kept.needed[profile.name] == 5000.0
    # Never the customer's, nor while another operation runs.
    theirs = FargateProfile("theirs", "ACTIVE", (WEB,), {})
    assert _route([], [theirs], now=5000.0, needed={"theirs": 0.0}).delete == ""
    assert (
        _route([], [profile, _profile(API, "CREATING")], now=5000.0, needed={profile.name: 0.0}).delete == ""
    )


def test_once_serverless_is_no_longer_allowed_a_profile_goes_unless_a_pod_nobody_owns_runs_through_it() -> (
    None
):
    profile = _profile(WEB)
    routed = {"app": "web", "eks.amazonaws.com/fargate-profile": profile.name}
    owned = _pod("web-2", routed, node="fargate-ip-1")
    bare = _pod("solo", routed, owner="", node="fargate-ip-2")

    def route(live: list[Pod]) -> Any:
        return route_serverless(
            [], [profile], live, needed_before={profile.name: 0.0}, now=5000.0, keep_seconds=30, allowed=False
        )

    # Its owner creates the pod again when EKS deletes it with the profile: on the capacity now allowed.
    assert route([owned]).delete == profile.name
    assert route([owned, bare]).delete == ""


class FakeFargate:
    def __init__(self) -> None:
        self.profiles_by_name: dict[str, FargateProfile] = {}
        self.refuse = ""
        self.busy = False
        self.created: list[tuple[str, str, tuple[str, ...]]] = []

    def profiles(self) -> list[FargateProfile]:
        return list(self.profiles_by_name.values())

    def create(
        self, selector: FargateSelector, *, role_arn: str, subnets: Sequence[str], tags: Mapping[str, str]
    ) -> None:
        if self.busy:
            raise FargateBusy("busy")
        if self.refuse:
            raise InvalidRequestError(self.refuse)
        self.created.append((selector.profile_name, role_arn, tuple(subnets)))
        self.profiles_by_name[selector.profile_name] = FargateProfile(
            selector.profile_name, "CREATING", (selector,), tags
        )

    def delete(self, name: str) -> None:
        self.profiles_by_name.pop(name, None)


@pytest.fixture
def fargate() -> FakeFargate:
    return FakeFargate()


def _act(fargate: FakeFargate | None, kube: FakeKube, cluster_id: str) -> Any:
    target = (
        None
        if fargate is None
        else ServerlessTarget(fargate, "arn:aws:iam::1:role/Pods", ("subnet-a",), OURS)
    )
    pods = [Pod(p) for p in kube.pod_objects.values()]
    state = cluster_state(pods, [], timezone.now())
    return act_serverless(cluster_id, target, kube, state.pending, state, now=timezone.now(), keep_seconds=0)


def test_without_a_target_serverless_pods_stay_pending_saying_so() -> None:
    kube = FakeKube()
    kube.add_pod("web-1", owner="rs")
    outcome = _act(None, kube, str(uuid.uuid4()))
    assert [p.reason for p in outcome.pending] == [SERVERLESS_UNAVAILABLE]


def test_the_act_step_creates_then_recreates_and_remembers_a_refusal(fargate) -> None:
    cluster = str(uuid.uuid4())  # what the step remembers (Redis) is per cluster
    kube = FakeKube()
    pod = kube.add_pod("web-1", owner="rs")
    pod["metadata"]["labels"] = {"app": "web"}
    name = fargate_selector(Pod(pod)).profile_name
    fargate.busy = True
    assert (
        _act(fargate, kube, str(uuid.uuid4())).pending[0].reason == WAITING.format(profile=name)
        and not fargate.created
    )
    fargate.busy = False
    _act(fargate, kube, cluster)
    assert fargate.created == [(name, "arn:aws:iam::1:role/Pods", ("subnet-a",))]
    fargate.profiles_by_name[name] = FargateProfile(
        name, "ACTIVE", fargate.profiles_by_name[name].selectors, OURS
    )
    outcome = _act(fargate, kube, cluster)
    assert outcome.recreated == ["default/web-1"] and not kube.pod_objects
    # The profile is deleted once nothing needs it (keep 0 s here).
    _act(fargate, kube, cluster)
    assert not fargate.profiles_by_name

    refused = kube.add_pod("api-1", owner="rs")
    refused["metadata"]["labels"] = {"app": "api"}
    fargate.refuse = "Subnet subnet-a provided in Fargate Profile is not a private subnet"
    first = _act(fargate, kube, cluster)
    assert "not a private subnet" in first.pending[0].reason and first.pending[0].remember
    fargate.refuse = ""
    again = _act(fargate, kube, cluster)  # remembered for a while: no second attempt at once
    assert "not a private subnet" in again.pending[0].reason and not fargate.profiles_by_name
