"""The federation loop: places federated workloads on member clusters and keeps them there.

One pass per organization (``run_pass``), run by the Celery task ``workers.tasks.federation_pass``
(enqueued when workloads or policies change, and by beat every few seconds), under the lease
``federation:<organization id>`` so one worker acts at a time:

    observe members → sync placement status → decide (engine) → write → apply / remove → status

While workloads keep arriving, a task runs passes back to back under one lease hold, each looking
and deciding while the members take the applies of the pass before (``runner``).

Modules: ``observe`` (one look at every member), ``scheduling`` (the engine against one fleet),
``apply`` (server-side apply and removal), ``kube`` (member API requests), ``runner`` (the pass).
The rows the pass reads and writes belong to the policies app and change only through its loop
services: ``policies.federation.placements`` (rows, placements, decisions), ``.status`` (status
back from the members), ``.failover`` (sticky or reschedule, grace periods) and ``.inputs`` (the
engine's inputs from rows).
"""

from workers.federation.runner import PassReport, lease_name, run_pass

__all__ = ["PassReport", "lease_name", "run_pass"]
