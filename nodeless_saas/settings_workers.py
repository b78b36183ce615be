"""The workers' settings: how Celery runs tasks, the shard queues, and every periodic schedule and
pace of the product (reconcile passes, metering, federation, price refreshes, API budgets).

Star-imported by `nodeless_saas.settings` (the settings module Django loads), which keeps what
depends on the deployment's posture: where the broker is and where Celery beat keeps its schedule.
Nothing here reads the posture, so these settings are the same in production, the demo and tests
unless their own variables say otherwise (see the README for every variable).
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from nodeless_saas.env import env_int, env_str

CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 120, minimum=1)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 180, minimum=1)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery's Django fixup closes every database connection before and after each task unless this is
# set (each batch of passes would open a new PostgreSQL backend); it closes them every this many
# tasks instead, and `workers.tasks` drops a connection that failed or outlived CONN_MAX_AGE before
# each task, as Django does around each request.
CELERY_DB_REUSE_MAX = 100_000
# Per-cluster work goes to shard queues (`workers.routing`); a worker consumes all of them unless
# started with `-Q` naming a subset. Changing the count moves clusters between queues: drain first.
NODELESS_SHARDS = env_int("NODELESS_SHARDS", 8, minimum=1, maximum=256)
NODELESS_SHARD_QUEUES = tuple(f"clusters-{shard}" for shard in range(NODELESS_SHARDS))
# Each organization's federation passes go to one of these queues (`workers.routing`), so that a
# worker process given its own federation queues (docker-compose's `federation`: one process, a
# thread per pass) runs every pass of an organization, and keeps what the last one left: the rows it
# read and the statuses it wrote (`workers.federation.runner`). In a prefork pool the passes of one
# organization landed on any child, which kept them only for the passes it happened to run.
NODELESS_FEDERATION_SHARDS = env_int("NODELESS_FEDERATION_SHARDS", 4, minimum=1, maximum=256)
NODELESS_FEDERATION_QUEUES = tuple(f"federation-{shard}" for shard in range(NODELESS_FEDERATION_SHARDS))
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_QUEUES = {
    name: {"exchange": name, "routing_key": name}
    for name in (CELERY_TASK_DEFAULT_QUEUE, *NODELESS_SHARD_QUEUES, *NODELESS_FEDERATION_QUEUES)
}
CELERY_TASK_ROUTES = ("workers.routing.route_task",)
# The ledger's interval: metering records complete intervals of this many seconds, so spend shows
# up to one interval late. A minute in production; the demo meters every 10 s so a fresh demo has
# spend within its first minute. It must divide a minute, so hours and days hold whole intervals.
NODELESS_METERING_SECONDS = env_int("NODELESS_METERING_SECONDS", 60, minimum=1, maximum=60)
if 60 % NODELESS_METERING_SECONDS:
    raise ImproperlyConfigured(f"NODELESS_METERING_SECONDS={NODELESS_METERING_SECONDS} does not divide 60")
# Every nodeless cluster gets a reconcile pass this often (`workers.schedule`: due times, oldest
# first, organizations in turn), besides the passes its pods' changes trigger.
NODELESS_RECONCILE_SECONDS = env_int("NODELESS_RECONCILE_SECONDS", 10, minimum=1)
NODELESS_SCHEDULE_TICK_SECONDS = env_int("NODELESS_SCHEDULE_TICK_SECONDS", 1, minimum=1)
# At most this many scheduled passes waiting in the shard queues: a tick tops them up to it. A backlog
# beyond waits in the due table, oldest first, where fair ordering still applies, rather than in the
# broker, where it no longer can. Keep it above a tick's worth of the workers' passes, or they idle.
NODELESS_SCHEDULE_MAX_QUEUED = env_int("NODELESS_SCHEDULE_MAX_QUEUED", 500, minimum=1)
# A tick sends the due passes of one shard in batches of up to this many clusters, one task each
# (`workers.provisioning.batch`: one statement takes their leases, one query reads their policies);
# each worker process runs at most NODELESS_PASSES_IN_FLIGHT passes at once, whatever the batches
# (each of the pass pool's threads keeps a database connection: mind PostgreSQL's max_connections).
NODELESS_RECONCILE_BATCH = env_int("NODELESS_RECONCILE_BATCH", 16, minimum=1, maximum=200)
NODELESS_PASSES_IN_FLIGHT = env_int("NODELESS_PASSES_IN_FLIGHT", 16, minimum=1, maximum=1000)
# Calls to one cluster's API server and cloud account per second, and the burst above it (a token
# bucket in Redis per cluster, `workers.provisioning.budget`); Karpenter's client runs 200 QPS, 300
# burst. A pass that would wait longer than a couple of seconds for its budget stops (the next pass
# carries on), so one cluster with a storm of work does not hold a worker.
NODELESS_CLUSTER_API_RATE = env_int("NODELESS_CLUSTER_API_RATE", 200, minimum=1)
NODELESS_CLUSTER_API_BURST = env_int("NODELESS_CLUSTER_API_BURST", 300, minimum=1)
# How many members a federation pass applies placements to at once (each member's in order, within
# its API budget above); 1 applies member after member, as a sequential executor would.
NODELESS_FEDERATION_APPLY_THREADS = env_int("NODELESS_FEDERATION_APPLY_THREADS", 32, minimum=1)
# A dotted path to `(cluster) -> (CloudProvider, KubePort)` replacing how a pass reaches a cluster
# (the fleet benchmark injects ports that only wait); empty: the cluster's cloud account and API server.
NODELESS_PROVISIONING_PORTS = env_str("NODELESS_PROVISIONING_PORTS", "")
# Every periodic schedule of the product, in one place.
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    # The scheduler ticks often; each cluster's pass comes due every NODELESS_RECONCILE_SECONDS.
    "provisioning": {
        "task": "workers.tasks.provisioning_schedule",
        "schedule": float(NODELESS_SCHEDULE_TICK_SECONDS),
    },
    "cluster-health": {
        "task": "workers.tasks.cluster_health_check_all",
        "schedule": float(env_int("NODELESS_HEALTH_CHECK_SECONDS", 60, minimum=10)),
    },
    "federation": {
        "task": "workers.tasks.federation_pass_all",
        "schedule": float(env_int("NODELESS_FEDERATION_SECONDS", 10, minimum=2)),
    },
    "metering": {
        "task": "workers.tasks.metering_meter_all",
        "schedule": float(NODELESS_METERING_SECONDS),  # the ledger's interval
    },
    "metering-prune": {
        "task": "workers.tasks.metering_prune",
        "schedule": 3600.0,
    },
    "lease-rows-prune": {
        "task": "workers.tasks.lease_rows_prune",
        "schedule": 3600.0,
    },
    # Spot prices move at most a few times an hour; the planner plans with a 24-hour forecast of them.
    "market-spot": {
        "task": "workers.tasks.market_refresh_spot_all",
        "schedule": float(env_int("NODELESS_SPOT_PRICE_SECONDS", 3600, minimum=60)),
    },
    # List prices change a few times a year; Karpenter reads them every 12 hours.
    "market-on-demand": {
        "task": "workers.tasks.market_refresh_on_demand_all",
        "schedule": float(env_int("NODELESS_ON_DEMAND_PRICE_SECONDS", 12 * 3600, minimum=60)),
    },
}
# Each periodic task catches up on its own (the scheduler takes every pass that is due, metering
# every complete interval), so a tick that waited a whole period behind busy workers is dropped
# instead of queueing: with two workers on long passes, ticks every second piled up by the dozen.
for _entry in CELERY_BEAT_SCHEDULE.values():
    _entry["options"] = {"expires": _entry["schedule"]}
