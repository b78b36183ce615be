"""Benchmark of the dashboard pages on a year of data, one JSON object per line:

    {"case": "<page>", "p50_ms", "p95_ms", "queries", "baseline_p50_ms", "ratio_p50"}

1. seeds a throw-away PostgreSQL database with one organization, 50 clusters and one year of hourly
   rollups for each (plus the daily rollups metering derives from them, per-workload allocation rows
   for 3 namespaces × 3 workloads on on-demand and spot nodes with their idle rows, and 40 pod
   placements per cluster with their launch decisions), written with COPY;
2. times the overview, the reports page (the default window, 7 days by namespace, and the month by
   workload) and the placement page, 50 requests each through Django's test client, after one
   warm-up request (the first request of a process loads the AWS price catalog, about a second);
3. counts the SQL queries of one request of each page.

The baseline, measured in the same run, is a signed-in page that reads nothing but the request's
user and organization (the organization settings page): `ratio_p50` is what each dashboard page
costs over that floor. Targets: p95 ≤ 100 ms and ≤ 20 queries per page.

    make bench-dashboard       # PostgreSQL + Redis on 127.0.0.1 (uses a throw-away database)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nodeless_saas.settings")
os.environ.setdefault("NODELESS_ENV", "test")

import django

django.setup()

from django.db import connection  # noqa: E402
from django.db.models import Model  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402

from billing.models import (  # noqa: E402  # noqa: E402
    POOL_FIELDS,
    USAGE_SUM_FIELDS,
    AllocationRollup,
    ClusterRollup,
    Granularity,
    PodPlacement,
)
from clusters.models import CloudAccount, Cluster, ClusterConnection, ClusterMode  # noqa: E402
from policies.models import Decision, DecisionKind  # noqa: E402
from tenants import services as tenant_services  # noqa: E402
from tenants.models import Organization, User  # noqa: E402

HOUR = timedelta(hours=1)
NAMESPACES = ("shop", "search", "batch")
WORKLOADS = ("Deployment/api", "Deployment/worker", "Job/nightly")
PAGES = {
    "overview": "/",
    "reports": "/reports/",
    "reports-month-by-workload": "/reports/?window=month&group=workload",
    "placement": "/placement/",
}
BASELINE_URL = "/settings/"


def emit(**figures: Any) -> None:
    print(json.dumps(figures), flush=True)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def copy_rows(model: type[Model], rows: Iterable[dict[str, Any]]) -> int:
    """Write rows with PostgreSQL's COPY (bulk_create would take minutes for millions of rows)."""
    fields = [field for field in model._meta.concrete_fields if not field.primary_key]
    columns = ", ".join(str(field.column) for field in fields)
    count = 0
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {model._meta.db_table} ({columns}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row([row[field.attname] for field in fields])
            count += 1
    return count


def _usage_row(base: dict[str, Any], measures: dict[str, float]) -> dict[str, Any]:
    row = {**base, **{name: 0.0 for name in (*USAGE_SUM_FIELDS, *POOL_FIELDS)}, **measures}
    for name in (
        "node_cost",
        "allocated_cost",
        "idle_cost",
        "on_demand_cost",
        "serverless_cost",
        "on_demand_node_cost",
        "spot_node_cost",
        "serverless_node_cost",
    ):
        row[name] = Decimal(f"{row[name]:.10f}")
    return row


class Seeder:
    """A year of plausible usage: every cluster has on-demand and spot nodes whose count follows a
    daily cycle, and nine workloads whose requests fill most of them."""

    def __init__(self, organization: Organization, clusters: list[Cluster], end: datetime, days: int) -> None:
        self.organization, self.clusters = organization, clusters
        self.start, self.end = end - timedelta(days=days), end
        self.random = random.Random(7)

    def _hour(
        self, cluster_index: int, moment: datetime
    ) -> tuple[dict[str, float], list[tuple[str, str, str, bool, float, float, float, float]]]:
        cycle = 0.75 + 0.25 * math.sin((moment.hour - 6) / 24 * 2 * math.pi)
        od_nodes, spot_nodes = 2 + cluster_index % 4, (4 + cluster_index % 7) * cycle
        od_cost, spot_cost = od_nodes * 0.192, spot_nodes * 0.0672
        node_cost = od_cost + spot_cost
        allocated = node_cost * 0.82
        rows = []
        for index, (namespace, workload) in enumerate((n, w) for n in NAMESPACES for w in WORKLOADS):
            share = allocated * (index + 1) / 45
            capacity = "spot" if index % 3 else "on_demand"
            rows.append(
                (
                    namespace,
                    workload,
                    capacity,
                    False,
                    share,
                    share * 1.9,
                    share * 1.6,
                    3600.0 * (index % 4 + 1),
                )
            )
        rows.append(("", "", "on_demand", True, od_cost * 0.18, od_cost * 0.18, 0.0, 0.0))
        rows.append(("", "", "spot", True, spot_cost * 0.18, spot_cost * 0.18 * 2.857, 0.0, 0.0))
        cores = (od_nodes + spot_nodes) * 3.9
        measures = {
            "metered_seconds": 3600.0,
            "node_cost": node_cost,
            "allocated_cost": allocated,
            "idle_cost": node_cost - allocated,
            "on_demand_cost": sum(row[5] for row in rows),
            "serverless_cost": sum(row[6] for row in rows) + allocated * 0.1,
            "on_demand_node_cost": od_cost,
            "spot_node_cost": spot_cost,
            "on_demand_node_seconds": od_nodes * 3600.0,
            "spot_node_seconds": spot_nodes * 3600.0,
            "cpu_requested": cores * 0.7 * 3600,
            "cpu_allocatable": cores * 3600,
            "cpu_used": cores * 0.7 * 3600,
            "memory_requested": cores * 3.4 * 3600,
            "memory_allocatable": cores * 15.2 * 3600,
            "memory_used": cores * 3.4 * 3600,
            "cpu_pool_cpu": cores * 0.7,
            "cpu_pool_memory": cores * 3.4,
            "cpu_pool_pods": 30.0 * cycle,
            "cpu_pool_largest_cpu": 2.0,
            "cpu_pool_largest_memory": 8.0,
        }
        return measures, rows

    def _hours(self) -> Iterator[datetime]:
        moment = self.start
        while moment < self.end:
            yield moment
            moment += HOUR

    def rollups(self) -> tuple[int, int]:
        """Hourly rows, then daily rows summed from them (peaks as maxima), as metering does. Rows are
        streamed into COPY: a year of allocation rows does not fit in memory as dicts."""
        daily: dict[tuple[int, datetime], dict[str, float]] = {}
        daily_allocations: dict[tuple[int, datetime, tuple[str, str, str, bool]], list[float]] = {}

        def base(index: int) -> dict[str, Any]:
            return {"organization_id": self.organization.pk, "cluster_id": self.clusters[index].pk}

        def hourly_clusters() -> Iterator[dict[str, Any]]:
            for index in range(len(self.clusters)):
                for moment in self._hours():
                    measures, _ = self._hour(index, moment)
                    totals = daily.setdefault((index, moment.replace(hour=0)), {})
                    for name, value in measures.items():
                        known = totals.get(name, 0.0)
                        totals[name] = max(known, value) if name in POOL_FIELDS else known + value
                    yield _usage_row(
                        {**base(index), "granularity": Granularity.HOUR, "start": moment}, measures
                    )

        def hourly_allocations() -> Iterator[dict[str, Any]]:
            for index in range(len(self.clusters)):
                for moment in self._hours():
                    for namespace, workload, capacity, idle, *amounts in self._hour(index, moment)[1]:
                        key = (index, moment.replace(hour=0), (namespace, workload, capacity, idle))
                        sums = daily_allocations.setdefault(key, [0.0] * 4)
                        for position, value in enumerate(amounts):
                            sums[position] += value
                        yield self._allocation(
                            base(index),
                            Granularity.HOUR,
                            moment,
                            namespace,
                            workload,
                            capacity,
                            idle,
                            *amounts,
                        )

        clusters = copy_rows(ClusterRollup, hourly_clusters())
        allocations = copy_rows(AllocationRollup, hourly_allocations())
        clusters += copy_rows(
            ClusterRollup,
            (
                _usage_row({**base(index), "granularity": Granularity.DAY, "start": day}, measures)
                for (index, day), measures in daily.items()
            ),
        )
        allocations += copy_rows(
            AllocationRollup,
            (
                self._allocation(base(index), Granularity.DAY, day, *key, *sums)
                for (index, day, key), sums in daily_allocations.items()
            ),
        )
        return clusters, allocations

    @staticmethod
    def _allocation(
        base: dict[str, Any],
        granularity: str,
        start: datetime,
        namespace: str,
        workload: str,
        capacity: str,
        idle: bool,
        cost: float,
        on_demand: float,
        serverless: float,
        pod_seconds: float,
    ) -> dict[str, Any]:
        return {
            **base,
            "granularity": granularity,
            "start": start,
            "namespace": namespace,
            "workload": workload,
            "capacity_type": capacity,
            "idle": idle,
            "cost": Decimal(f"{cost:.10f}"),
            "on_demand_cost": Decimal(f"{on_demand:.10f}"),
            "serverless_cost": Decimal(f"{serverless:.10f}"),
            "cpu_requested": pod_seconds * 0.5,
            "memory_requested": pod_seconds * 2.0,
            "gpu_requested": 0.0,
            "pod_seconds": pod_seconds,
            "serverless_unfit_pod_seconds": 0.0,  # the seeded pods are small web pods: all fit Fargate
        }

    def placements(self, per_cluster: int) -> int:
        now = timezone.now()
        rows = []
        for cluster in self.clusters:
            decisions = [
                Decision.objects.create(
                    organization=self.organization,
                    cluster=cluster,
                    kind=DecisionKind.LAUNCH,
                    subject=f"{per_cluster // 4} pods",
                    reason="m5.xlarge on-demand in us-east-1a is the cheapest offering that holds the pending pods",
                    chosen={
                        "instance_type": "m5.xlarge",
                        "zone": "us-east-1a",
                        "capacity_type": "on_demand",
                        "price_per_hour": 0.192,
                        "effective_price_per_hour": 0.192,
                    },
                    runner_ups=[
                        {
                            "instance_type": "c5.2xlarge",
                            "zone": "us-east-1a",
                            "capacity_type": "on_demand",
                            "price_per_hour": 0.34,
                            "effective_price_per_hour": 0.34,
                        }
                    ],
                )
                for _ in range(4)
            ]
            for index in range(per_cluster):
                namespace, workload = NAMESPACES[index % 3], WORKLOADS[index % 3]
                rows.append(
                    {
                        "organization_id": self.organization.pk,
                        "cluster_id": cluster.pk,
                        "namespace": namespace,
                        "name": f"{workload.split('/')[1]}-{index:04d}",
                        "workload": workload,
                        "phase": "Running",
                        "node_name": f"ip-10-0-{index // 10}-1.ec2.internal",
                        "managed_node_id": None,
                        "decision_id": decisions[index % 4].pk,
                        "instance_type": "m5.xlarge",
                        "capacity_type": "on_demand",
                        "zone": "us-east-1a",
                        "node_price_per_hour": Decimal("0.192"),
                        "cost_per_hour": Decimal("0.0240"),
                        "cpu": 0.5,
                        "memory_gib": 2.0,
                        "gpus": 0.0,
                        "updated_at": now,
                    }
                )
        return copy_rows(PodPlacement, rows)


def seed(clusters: int, days: int) -> tuple[User, dict[str, Any]]:
    began = time.perf_counter()
    user, organization = tenant_services.signup(
        email="bench@dashboard.example", password="bench-password-123", organization_name="Bench"
    )
    account = CloudAccount.objects.create(
        organization=organization,
        name="prod",
        account_id="123456789012",
        role_arn="arn:aws:iam::123456789012:role/Nodeless",
        regions=["us-east-1"],
        on_demand_discount_pct=8,
    )
    members = [
        Cluster.objects.create(
            organization=organization,
            name=f"cluster-{index:02d}",
            connection=ClusterConnection.EKS,
            cloud_account=account,
            eks_cluster_name=f"cluster-{index:02d}",
            region="us-east-1",
            mode=ClusterMode.NODELESS,
            endpoint=f"https://{uuid.uuid4().hex[:8]}.eks.example",
        )
        for index in range(clusters)
    ]
    end = timezone.now().replace(minute=0, second=0, microsecond=0) + HOUR
    seeder = Seeder(organization, members, end.astimezone(UTC), days)
    cluster_rows, allocation_rows = seeder.rollups()
    pods = seeder.placements(per_cluster=40)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return user, {
        "clusters": clusters,
        "days": days,
        "cluster_rollups": cluster_rows,
        "allocation_rollups": allocation_rows,
        "pod_placements": pods,
        "seed_seconds": round(time.perf_counter() - began, 1),
    }


class QueryCounter:
    """Counts every SQL statement the connection executes (an execute wrapper sees them all)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        self.count += 1
        return execute(sql, params, many, context)


def measure(client: Client, url: str, requests: int) -> dict[str, float]:
    response = client.get(url)  # warm-up: catalogs, template loading
    assert response.status_code == 200, (url, response.status_code)
    queries = QueryCounter()
    with connection.execute_wrapper(queries):
        client.get(url)
    timings = []
    for _ in range(requests):
        began = time.perf_counter()
        client.get(url)
        timings.append((time.perf_counter() - began) * 1000)
    return {
        "p50_ms": round(percentile(timings, 0.5), 1),
        "p95_ms": round(percentile(timings, 0.95), 1),
        "queries": queries.count,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clusters", type=int, default=50)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("bench/dashboard.py needs PostgreSQL: set DATABASE_URL (make bench-dashboard does)")
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        user, seeded = seed(args.clusters, args.days)
        emit(case="seed", **seeded)
        client = Client()
        client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
        baseline = measure(client, BASELINE_URL, args.requests)
        emit(case="baseline", url=BASELINE_URL, **baseline)
        for case, url in PAGES.items():
            figures = measure(client, url, args.requests)
            emit(
                case=case,
                url=url,
                **figures,
                baseline_p50_ms=baseline["p50_ms"],
                ratio_p50=round(figures["p50_ms"] / baseline["p50_ms"], 2) if baseline["p50_ms"] else None,
            )
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
