"""The long-running processes of the product, in one place.

`make demo` runs them (`lab.demo.processes`), and a test checks docker-compose.yml starts the same programs
with the same application arguments, so the two cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Sequence

# program, then the arguments that pick the application; deployment-specific flags come after.
WEB = ["gunicorn", "nodeless_saas.wsgi"]
WORKER = ["celery", "-A", "nodeless_saas", "worker"]
BEAT = ["celery", "-A", "nodeless_saas", "beat"]
# Watches nodeless clusters' pods and nodes and enqueues reconcile passes (one per deployment).
WATCHER = ["python", "manage.py", "watch_clusters"]

# The federation worker: a process of its own takes the organizations' federation queues
# (`workers.routing`), a thread per pass, so every pass of an organization runs where its last one
# left the rows it read and the statuses it wrote; the other workers leave those queues to it. A
# process's passes share its GIL: more organizations than one core carries want more such processes,
# each given a part of the queues.
FEDERATION_THREADS = 4


def federation_worker_flags(queues: Sequence[str]) -> list[str]:
    """The flags after `WORKER` of the process that takes `queues` (the federation queues)."""
    return [
        "--queues",
        ",".join(queues),
        "--pool",
        "threads",
        "--concurrency",
        str(FEDERATION_THREADS),
        "--hostname",
        "federation@%h",
    ]


def general_worker_flags(federation_queues: Sequence[str]) -> list[str]:
    """The flags after `WORKER` of the workers of everything else."""
    return ["--exclude-queues", ",".join(federation_queues)]
