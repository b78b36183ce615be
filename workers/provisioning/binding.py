"""Step 6 of a reconcile pass: bind the pods planned onto nodes that became Ready (Binding API),
then lift the initializing taint. `BindSteps` is mixed into the pass
(`workers.provisioning.reconcile`); the binds run on a pool while the pass plans, so a pod waiting for
a launch does not also wait for every bind of the pass.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from clusters.models import ManagedNode, NodeState
from policies.models import DecisionKind
from workers.provisioning.context import ReconcileContext
from workers.provisioning.crash import crash_point
from workers.provisioning.decisions import record
from workers.provisioning.launching import INITIALIZING_TAINT, PARALLEL_CALLS
from workers.provisioning.observe import ClusterView, NodeView, controller_of


def pod_key(pod: dict[str, Any]) -> str:
    return f"{pod['metadata'].get('namespace', 'default')}/{pod['metadata']['name']}"


@dataclass
class BindsInFlight:
    intents: list[tuple[ManagedNode, NodeView, dict[str, Any]]]
    calls: list[Future[bool]]
    kept: dict[Any, list[dict[str, Any]]]
    ready_rows: list[tuple[ManagedNode, NodeView]]


class BindSteps:
    ctx: ReconcileContext
    view: ClusterView
    binding_uids: set[str]  # pods with a bind call in this pass, whatever its outcome
    _bound_rows: set[Any]
    report: Any  # the pass's ReconcileReport

    def _active(self) -> list[ManagedNode]:
        raise NotImplementedError

    def _node_of(self, row: ManagedNode) -> NodeView | None:
        raise NotImplementedError

    # --- 6. bind -------------------------------------------------------------------------------
    def _start_binds(self, pool: ThreadPoolExecutor) -> BindsInFlight:
        """Bind the pods planned onto nodes that became Ready; the calls run on `pool` while the
        pass goes on, and their pods are left out of this pass's planning whatever the outcome."""
        pending = {pod["metadata"]["uid"]: pod for pod in self.view.pending}
        planned = {entry["uid"] for row in self._active() for entry in row.planned_pods}
        by_owner: dict[str, list[dict[str, Any]]] = {}
        for pod in self.view.pending:
            owner = controller_of(pod)
            if owner and pod["metadata"]["uid"] not in planned:
                by_owner.setdefault(owner, []).append(pod)
        existing_uids = {pod["metadata"]["uid"] for node in self.view.nodes.values() for pod in node.pods}
        intents: list[tuple[ManagedNode, NodeView, dict[str, Any]]] = []
        kept: dict[Any, list[dict[str, Any]]] = {}
        ready_rows: list[tuple[ManagedNode, NodeView]] = []
        for row in self._active():
            node = self._node_of(row)
            if row.state != NodeState.READY or not row.planned_pods or node is None:
                continue
            ready_rows.append((row, node))
            kept[row.pk] = []
            for entry in row.planned_pods:
                target = pending.get(entry["uid"])
                if target is None and entry.get("owner") and by_owner.get(entry["owner"]):
                    target = by_owner[entry["owner"]].pop()  # a replacement of the same controller
                if target is not None:
                    intents.append((row, node, target))
                elif entry["uid"] in existing_uids:
                    kept[row.pk].append(entry)  # still running elsewhere (a draining node): keep its room
        if intents:
            crash_point("before_bind")
        self.binding_uids = {pod["metadata"]["uid"] for _, _, pod in intents}
        calls = [
            pool.submit(self.ctx.kube.bind, pod["metadata"]["namespace"], pod["metadata"]["name"], node.name)
            for _, node, pod in intents
        ]
        return BindsInFlight(intents, calls, kept, ready_rows)

    def _finish_binds(self, in_flight: BindsInFlight) -> None:
        intents, kept, ready_rows = in_flight.intents, in_flight.kept, in_flight.ready_rows
        results = [call.result() for call in in_flight.calls]
        bound: dict[Any, list[str]] = {}
        for (row, _, pod), done in zip(intents, results, strict=True):
            if done:
                bound.setdefault(row.pk, []).append(pod_key(pod))
        untaint = []
        for row, node in ready_rows:
            if row.planned_pods != kept[row.pk]:
                row.planned_pods = kept[row.pk]
                row.save(update_fields=["planned_pods"])
            names = bound.get(row.pk, [])
            self.report.bound += len(names)
            if names:
                self._bound_rows.add(row.pk)
                record(
                    self.ctx.cluster,
                    DecisionKind.BIND,
                    f"Bound {len(names)} pod(s) to {node.name} as planned",
                    node=row,
                    subject=node.name,
                    inputs={"pods": names[:50]},
                    policy_version=self.ctx.policy_version,
                )
            if not row.planned_pods and any(t.get("key") == INITIALIZING_TAINT for t in node.taints):
                untaint.append(
                    (
                        self.ctx.kube.set_taints,
                        (node.name, [t for t in node.taints if t.get("key") != INITIALIZING_TAINT]),
                    )
                )
        self._parallel(untaint)

    def _parallel(self, calls: list[tuple[Any, tuple[Any, ...]]]) -> list[Any]:
        """Run independent API calls concurrently (they are network-bound); results in order."""
        if len(calls) <= 1:
            return [function(*args) for function, args in calls]
        with ThreadPoolExecutor(max_workers=min(PARALLEL_CALLS, len(calls))) as pool:
            return list(pool.map(lambda call: call[0](*call[1]), calls))
