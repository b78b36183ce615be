"""The kubelets of every node, as one controller.

- A pod bound to a Ready node becomes Running after `start_delay` simulated seconds, with a pod
  IP, `startTime`, Ready conditions and running container statuses.
- A pod deleted gracefully is deleted for good once its containers have stopped (see
  `_finish_terminating`).
- A running pod with the annotation `sim.nodeless.io/run-seconds` (or owned by a Job, which
  defaults to `default_job_seconds`) terminates after that long: Succeeded, or Failed when
  `sim.nodeless.io/exit-code` is non-zero.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator
from typing import Any

from simulator.api import ClusterApi
from simulator.api_support import DeleteOptions, set_condition
from simulator.clock import format_timestamp, parse_timestamp
from simulator.errors import ApiError
from simulator.nodes import is_node_ready
from simulator.resources import NODES, PODS

RUN_SECONDS_ANNOTATION = "sim.nodeless.io/run-seconds"
EXIT_CODE_ANNOTATION = "sim.nodeless.io/exit-code"


def _pod_ips() -> Iterator[str]:
    for n in itertools.count(1):
        yield f"10.{100 + (n >> 16) % 100}.{(n >> 8) % 256}.{n % 256}"


class Kubelet:
    name = "kubelet"
    watches = frozenset({PODS.key, NODES.key})

    def __init__(
        self, api: ClusterApi, *, start_delay: float = 1.0, default_job_seconds: float = 30.0
    ) -> None:
        self.api = api
        self.start_delay = start_delay
        self.default_job_seconds = default_job_seconds
        self._ips = _pod_ips()
        self._bound_at: dict[str, float] = {}
        self._finish_at: dict[tuple[str, str, str], float] = {}  # (namespace, name, uid) -> time
        self._scanned_running = False

    def reconcile(self, now: float) -> float | None:
        due: list[float] = []
        if not self._scanned_running:
            # Pods created already Running (seeded traces) still need their end scheduled.
            for stored in self.api.store.by_index(PODS, "status.phase", "Running"):
                self._schedule_finish(stored.obj)
            self._scanned_running = True
        nodes = {s.obj["metadata"]["name"]: s.obj for s in self.api.store.list(NODES).items}
        pending_uids = set()
        for stored in self.api.store.by_index(PODS, "status.phase", "Pending"):
            pod = stored.obj
            node_name = (pod.get("spec") or {}).get("nodeName")
            node = nodes.get(node_name or "")
            if node is None or pod["metadata"].get("deletionTimestamp") or not is_node_ready(node):
                continue
            uid = pod["metadata"]["uid"]
            pending_uids.add(uid)
            start_at = self._bound_at.setdefault(uid, now) + self.start_delay
            if now >= start_at:
                self._start(pod, node, now)
            else:
                due.append(start_at)
        self._bound_at = {uid: t for uid, t in self._bound_at.items() if uid in pending_uids}
        for key, finish_at in list(self._finish_at.items()):
            if now >= finish_at:
                self._finish(key, now)
            else:
                due.append(finish_at)
        due.extend(self._finish_terminating(nodes, now))
        return min(due) if due else None

    def _finish_terminating(self, nodes: dict[str, dict[str, Any]], now: float) -> list[float]:
        """Pods deleted gracefully on a Ready node: a running pod's containers take the whole
        grace period to stop (they ignore SIGTERM; the worst case a client must handle), one
        whose containers never started stops at once; then the kubelet deletes it with grace
        period 0 and the pod's uid as precondition, as its status manager does. Pods on nodes
        that are gone or not Ready stay Terminating (pod GC removes those of deleted nodes)."""
        with self.api.store.lock:
            index = self.api.store.table(PODS).indexes["metadata.deletionTimestamp"]
            terminating = [key for keys in index.values() for key in keys]
        due: list[float] = []
        for namespace, name in terminating:
            stored = self.api.store.try_get(PODS, namespace, name)
            if stored is None:
                continue
            pod = stored.obj
            node = nodes.get((pod.get("spec") or {}).get("nodeName") or "")
            if node is None or not is_node_ready(node):
                continue
            deadline = parse_timestamp(pod["metadata"]["deletionTimestamp"])
            running = (pod.get("status") or {}).get("phase") == "Running"
            if running and now < deadline:
                due.append(deadline)
                continue
            options = DeleteOptions(precondition_uid=pod["metadata"]["uid"], grace_period_seconds=0)
            with contextlib.suppress(ApiError):  # deleted or replaced meanwhile
                self.api.delete(PODS, namespace, name, options)
        return due

    def _run_seconds(self, pod: dict[str, Any]) -> float | None:
        annotations = pod["metadata"].get("annotations") or {}
        if RUN_SECONDS_ANNOTATION in annotations:
            return float(annotations[RUN_SECONDS_ANNOTATION])
        owners = pod["metadata"].get("ownerReferences") or ()
        if any(o.get("kind") == "Job" for o in owners):
            return self.default_job_seconds
        return None

    def _schedule_finish(self, pod: dict[str, Any]) -> None:
        seconds = self._run_seconds(pod)
        start = (pod.get("status") or {}).get("startTime")
        if seconds is None or not start:
            return
        meta = pod["metadata"]
        self._finish_at[(meta["namespace"], meta["name"], meta["uid"])] = parse_timestamp(start) + seconds

    def _start(self, pod: dict[str, Any], node: dict[str, Any], now: float) -> None:
        meta = pod["metadata"]
        host_ip = next(
            (
                a["address"]
                for a in (node.get("status") or {}).get("addresses") or ()
                if a.get("type") == "InternalIP"
            ),
            "",
        )
        pod_ip = next(self._ips)
        started = format_timestamp(now)

        def run(copy: dict[str, Any]) -> None:
            status = copy.setdefault("status", {})
            status.update(
                {
                    "phase": "Running",
                    "hostIP": host_ip,
                    "podIP": pod_ip,
                    "podIPs": [{"ip": pod_ip}],
                    "startTime": started,
                }
            )
            for condition in (
                "PodReadyToStartContainers",
                "Initialized",
                "PodScheduled",
                "ContainersReady",
                "Ready",
            ):
                set_condition(copy, condition, "True", now=now)
            status["containerStatuses"] = [
                {
                    "name": c["name"],
                    "image": c.get("image", ""),
                    "imageID": "",
                    "containerID": f"containerd://{meta['uid'][:8]}{n}",
                    "ready": True,
                    "started": True,
                    "restartCount": 0,
                    "state": {"running": {"startedAt": started}},
                }
                for n, c in enumerate((copy.get("spec") or {}).get("containers") or ())
            ]

        try:
            updated = self.api.update(PODS, meta["namespace"], meta["name"], run, subresource="status")
        except ApiError:
            return
        self._schedule_finish(updated.obj)

    def _finish(self, key: tuple[str, str, str], now: float) -> None:
        namespace, name, uid = key
        del self._finish_at[key]
        current = self.api.store.try_get(PODS, namespace, name)
        if current is None or current.obj["metadata"]["uid"] != uid:
            return
        exit_code = int((current.obj["metadata"].get("annotations") or {}).get(EXIT_CODE_ANNOTATION, 0))
        finished = format_timestamp(now)

        def terminate(copy: dict[str, Any]) -> None:
            status = copy.setdefault("status", {})
            status["phase"] = "Succeeded" if exit_code == 0 else "Failed"
            for condition in ("ContainersReady", "Ready"):
                set_condition(copy, condition, "False", now=now, reason="PodCompleted")
            for container_status in status.get("containerStatuses") or ():
                container_status.update(
                    {
                        "ready": False,
                        "started": False,
                        "state": {
                            "terminated": {
                                "exitCode": exit_code,
                                "reason": "Completed" if exit_code == 0 else "Error",
                                "startedAt": status.get("startTime"),
                                "finishedAt": finished,
                            }
                        },
                    }
                )

        try:
            self.api.update(PODS, namespace, name, terminate, subresource="status")
        except ApiError:
            return
