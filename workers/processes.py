"""The long-running processes of the product, in one place.

`make demo` runs them (`lab.demo.processes`), and a test checks docker-compose.yml starts the same programs
with the same application arguments, so the two cannot drift apart.
"""

from __future__ import annotations

# program, then the arguments that pick the application; deployment-specific flags come after.
WEB = ["gunicorn", "nodeless_saas.wsgi"]
WORKER = ["celery", "-A", "nodeless_saas", "worker"]
BEAT = ["celery", "-A", "nodeless_saas", "beat"]
# Watches nodeless clusters' pods and nodes and enqueues reconcile passes (one per deployment).
WATCHER = ["python", "manage.py", "watch_clusters"]
