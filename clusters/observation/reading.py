"""Reading a cluster: the one observation every worker step reads (the provisioning pass, metering,
the health check), fed by the cluster's informer.

A read is consistent where decisions need it to be. Bound pods and nodes come from the informer,
which may be a few milliseconds behind; the pods waiting for a node are listed fresh on every read
(`spec.nodeName=`, a handful of pods even on a 50,000-pod cluster), so a pod created a moment ago is
seen at once, and a pod the informer still thinks is waiting but the fresh list does not — bound or
deleted meanwhile — is read again by name, so it is neither planned twice nor missing from its node.
"""

from __future__ import annotations

from contextlib import closing
from datetime import datetime
from typing import Any

from django.utils import timezone

from clusters.kube.access import ClusterCredentialsError, cluster_api, new_cluster_api
from clusters.kube.api import ClusterApi, ClusterRefused, ClusterUnreachable
from clusters.kube.deadline import Deadline
from clusters.models import Cluster
from clusters.observation.informers import ClusterInformer, registry
from engines.kube.cluster import ClusterState, cluster_state
from engines.kube.nodes import Node
from engines.kube.pods import Pod, essential_pod
from engines.kube.volumes import StorageState

Json = dict[str, Any]
# How long a first read waits for the informer's initial list (a 50,000-pod cluster lists in seconds).
SYNC_SECONDS = 60
# Pods the informer still shows waiting but the fresh list does not are read one by one up to this
# many; beyond it (a burst of binds), the informer is listed again.
MAX_REREADS = 100
WAITING = "spec.nodeName=,status.phase!=Succeeded,status.phase!=Failed"
STALE_WAIT_SECONDS = 0.2
# How long a pass waits for the storage watches' first lists (started when a pass first needs them).
STORAGE_SYNC_SECONDS = 5.0
# How long a read waits for a labelled watch's first list (the federation loop's objects, a few per
# member); a slower one is listed directly that time.
LABELLED_SYNC_SECONDS = 2.0


def _moved_on(pod: Pod | None) -> bool:
    """The informer now holds the pod bound, finished or gone: it is no longer waiting there either."""
    return pod is None or not pod.is_pending


class ClusterUnavailable(Exception):
    """The cluster cannot be read now; the message says why, in words a person can act on."""


def _fingerprint(cluster: Cluster) -> tuple[str, ...]:
    """What reaching the cluster depends on: a change means a new informer. Compared as it is:
    hashing it on every read (a kubeconfig is kilobytes) took ~2% of the federation worker's CPU
    in the fleet bench, where each pass reads every member."""
    account = cluster.cloud_account
    return (
        cluster.connection,
        cluster.endpoint,
        cluster.ca_pem,
        cluster.kubeconfig_ciphertext,
        cluster.kubeconfig_context,
        cluster.eks_cluster_name,
        cluster.region,
        account.role_arn if account else "",
    )


def informer_for(cluster: Cluster) -> ClusterInformer:
    """The cluster's informer in this process (started on first use). `cluster` must come with its
    organization and cloud account loaded: the informer's threads build clients from them and must
    never query the database."""
    loaded = Cluster.organization.is_cached(cluster) and (
        cluster.cloud_account_id is None or Cluster.cloud_account.is_cached(cluster)
    )
    if not loaded:
        raise ValueError(
            "informer_for needs the cluster with select_related('organization', 'cloud_account')"
        )
    return registry.get(str(cluster.pk), _fingerprint(cluster), cluster.name, lambda: cluster_api(cluster))


def read_storage(cluster: Cluster) -> StorageState | None:
    """The cluster's claims, volumes, storage classes and CSINodes from its informer (None when they
    cannot be watched: the caller reads the few it needs directly)."""
    return informer_for(cluster).storage(STORAGE_SYNC_SECONDS)


def read_labelled(cluster: Cluster, kind: str, label_selector: str) -> list[Json] | None:
    """The cluster's objects of ``kind`` that ``label_selector`` selects, from its informer (their
    watch started on the first read); None while they are not listed yet or cannot be watched: the
    caller lists them directly."""
    return informer_for(cluster).labelled(kind, label_selector, LABELLED_SYNC_SECONDS)


def heard_from(cluster: Cluster, seconds: float) -> bool:
    """Whether the cluster's API server sent its informer anything, or answered a request of ours
    (``answered``), in the last ``seconds`` (``ClusterInformer.heard_within``)."""
    return informer_for(cluster).heard_within(seconds)


def answered(cluster: Cluster) -> None:
    """A request to the cluster was answered just now (``heard_from`` counts it)."""
    informer_for(cluster).answered()


def _waiting_now(api: ClusterApi) -> dict[str, Pod]:
    return {
        str(pod["metadata"]["uid"]): Pod(essential_pod(pod))
        for pod in api.list("Pod", field_selector=WAITING)
    }


def _read_again(informer: ClusterInformer, api: ClusterApi, pod: Pod) -> Pod | None:
    """The pod as the API server has it now; None when it is gone (or a new pod took its name)."""
    current = api.get("Pod", pod.namespace, pod.name)
    if current is None or current["metadata"].get("uid") != pod.uid:
        return None
    informer.put_pod(current)
    return Pod(essential_pod(current))


def _reconciled_pods(informer: ClusterInformer, pods: list[Pod], api: ClusterApi) -> list[Pod]:
    """The informer's pods with the waiting ones replaced by the fresh list (see the module doc)."""
    waiting = _waiting_now(api)
    stale = {pod.uid: pod for pod in pods if pod.is_pending and pod.uid not in waiting}
    if stale:
        # Bound or deleted since the informer heard of them: the watch is usually a few milliseconds
        # behind, so wait for it briefly before reading any of them again.
        informer.wait_for_pods(
            lambda pod_of: all(_moved_on(pod_of(uid)) for uid in stale), STALE_WAIT_SECONDS
        )
    newer: dict[str, Pod | None] = {uid: informer.pod(uid) for uid in stale}
    behind = [stale[uid] for uid, pod in newer.items() if not _moved_on(pod)]
    if len(behind) > MAX_REREADS:  # a burst of binds: list everything once rather than pod by pod
        return [*(Pod(essential_pod(raw)) for raw in api.list("Pod"))]
    for pod in behind:
        newer[pod.uid] = _read_again(informer, api, pod)
    merged: dict[str, Pod] = {}
    for pod in pods:
        if pod.uid not in newer:
            merged[pod.uid] = pod
        elif (current := newer[pod.uid]) is not None:
            merged[pod.uid] = current
    merged.update(waiting)
    return list(merged.values())


def list_cluster(
    cluster: Cluster, *, now: datetime | None = None, deadline: Deadline | None = None
) -> ClusterState:
    """The cluster listed once, without starting a watch, every call within `deadline`: for a one-off
    look from a process that will not read it again (connecting a cluster, "Check now"). Raises
    ClusterUnavailable."""
    try:
        with closing(new_cluster_api(cluster, deadline=deadline)) as api:
            pods = [essential_pod(pod) for pod in api.list("Pod")]
            nodes = list(api.list("Node"))
    except ClusterCredentialsError as error:
        raise ClusterUnavailable(str(error)) from error
    except (ClusterUnreachable, ClusterRefused) as error:
        raise ClusterUnavailable(str(error)) from error
    return cluster_state((Pod(p) for p in pods), (Node(n) for n in nodes), now or timezone.now())


def read_cluster(cluster: Cluster, *, now: datetime | None = None, fresh: bool = True) -> ClusterState:
    """The cluster as it is now. Raises ClusterUnavailable (with why) when it cannot be read.

    ``fresh=False``: the informer's view alone, a few milliseconds behind, without a call to the
    API server, for a reader that tolerates it: the federation loop, whose look at a member makes
    a call of its own anyway (so a member that does not answer is still found out) and whose next
    pass sees what this one missed. At 100 members, the fresh list of waiting pods (and the
    re-reads of pods bound meanwhile, while a burst of ours starts) was a call per member per pass.
    """
    try:
        informer = informer_for(cluster)
        api = cluster_api(cluster)
        if not informer.wait_synced(SYNC_SECONDS):
            raise ClusterUnavailable(
                informer.problem or f"the cluster was not listed within {SYNC_SECONDS} s"
            )
        if not fresh and informer.problem:  # its view is as old as the failure
            raise ClusterUnavailable(informer.problem)
        held, nodes = informer.snapshot()
        pods = _reconciled_pods(informer, held, api) if fresh else held
    except ClusterCredentialsError as error:
        raise ClusterUnavailable(str(error)) from error
    except (ClusterUnreachable, ClusterRefused) as error:
        raise ClusterUnavailable(str(error)) from error
    return cluster_state(pods, nodes, now or timezone.now())
