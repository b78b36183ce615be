"""Building metered data for page, API and ledger tests through the real write path: pure metering of
hand-made samples, recorded with `interval_record` and rolled up with `rollups_refresh`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from html.parser import HTMLParser

from django.db import transaction

from billing.models import PodPlacement
from billing.services.ledger import interval_record, rollups_refresh
from clusters.models import Cluster, ClusterConnection
from engines.kube.capacity import CapacityType
from engines.metering import Interval, NodeSample, PodSample, Quantities, meter_interval
from policies.models import Decision, DecisionKind
from tenants.models import Organization

MINUTE = timedelta(minutes=1)


def make_cluster(organization: Organization, name: str, **fields) -> Cluster:
    return Cluster.objects.create(
        organization=organization,
        name=name,
        connection=ClusterConnection.KUBECONFIG,
        endpoint="https://127.0.0.1:9",
        region="us-east-1",
        **fields,
    )


def shop_nodes(scale: float = 1.0) -> list[NodeSample]:
    """One on-demand node and one spot node of 2 cores / 8 GiB (spot at 40 % of on-demand); `scale`
    multiplies the prices so a few minutes add up to readable dollars."""
    on_demand, spot = 0.096 * scale, 0.0384 * scale
    return [
        NodeSample(
            "od-1",
            "m5.large",
            CapacityType.ON_DEMAND,
            "us-east-1a",
            on_demand,
            Quantities(2, 8),
            Quantities(1.9, 7.2),
            on_demand_price_per_hour=on_demand,
        ),
        NodeSample(
            "spot-1",
            "m5.large",
            CapacityType.SPOT,
            "us-east-1a",
            spot,
            Quantities(2, 8),
            Quantities(1.9, 7.2),
            on_demand_price_per_hour=on_demand,
        ),
    ]


def shop_pods(prefix: str = "") -> list[PodSample]:
    return [
        PodSample(
            "shop",
            f"{prefix}web-1",
            "Deployment/web",
            "od-1",
            Quantities(1, 4),
            serverless_price_per_hour=0.0583,
        ),
        PodSample(
            "shop",
            f"{prefix}web-2",
            "Deployment/web",
            "spot-1",
            Quantities(1, 2),
            serverless_price_per_hour=0.0494,
        ),
        PodSample(
            "batch", f"{prefix}etl-1", "Job/etl", "spot-1", Quantities(0.5, 4), serverless_price_per_hour=0.04
        ),
    ]


def record_minutes(
    cluster: Cluster,
    starts: Sequence[datetime],
    nodes: Sequence[NodeSample] | None = None,
    pods: Sequence[PodSample] | None = None,
) -> None:
    nodes = shop_nodes() if nodes is None else nodes
    pods = shop_pods() if pods is None else pods
    with transaction.atomic():
        for start in starts:
            usage = meter_interval(Interval(start.timestamp(), (start + MINUTE).timestamp()), nodes, pods)
            interval_record(cluster, usage=usage)
        rollups_refresh(cluster, moments=starts)


def minutes(first: datetime, count: int) -> list[datetime]:
    return [first + index * MINUTE for index in range(count)]


class _TableParser(HTMLParser):
    """The cell texts of one <table id=...> of a page: header row, body rows, footer rows."""

    def __init__(self, table_id: str) -> None:
        super().__init__()
        self.table_id, self.depth = table_id, 0
        self.rows: list[list[str]] = []
        self.row: list[str] | None = None
        self.cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table" and (self.depth or dict(attrs).get("id") == self.table_id):
            self.depth += 1
        elif self.depth and tag == "tr":
            self.row = []
        elif self.depth and tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "table" and self.depth:
            self.depth -= 1
        elif self.depth and tag in ("td", "th") and self.cell is not None and self.row is not None:
            self.row.append(" ".join("".join(self.cell).split()))
            self.cell = None
        elif self.depth and tag == "tr" and self.row is not None:
            self.rows.append(self.row)
            self.row = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def page_table(html: str, table_id: str) -> list[list[str]]:
    parser = _TableParser(table_id)
    parser.feed(html)
    return parser.rows


def as_number(text: str) -> str:
    """A page cell as its CSV value: "$1,234.50" → "1234.50", "-$3.10" → "-3.10", "12.5 %" → "12.5"."""
    return text.replace("$", "").replace(",", "").replace(" %", "").replace("—", "")


def seed_placements(cluster: Cluster) -> Decision:
    """A launch decision (chosen m5.large on-demand, two runner-ups) and three pods on its node."""
    decision = Decision.objects.create(
        organization_id=cluster.organization_id,
        cluster=cluster,
        kind=DecisionKind.LAUNCH,
        subject="3 pods",
        reason="m5.large on-demand in us-east-1a is the cheapest offering that holds the 3 pending pods",
        chosen={
            "instance_type": "m5.large",
            "zone": "us-east-1a",
            "capacity_type": "on_demand",
            "price_per_hour": 0.096,
            "effective_price_per_hour": 0.096,
        },
        runner_ups=[
            {
                "instance_type": "c5.xlarge",
                "zone": "us-east-1a",
                "capacity_type": "on_demand",
                "price_per_hour": 0.17,
                "effective_price_per_hour": 0.17,
            },
            {
                "instance_type": "m6i.large",
                "zone": "us-east-1b",
                "capacity_type": "spot",
                "price_per_hour": 0.05,
                "effective_price_per_hour": 0.11,
            },
        ],
        inputs={"pods": ["shop/web-1", "shop/web-2", "batch/etl-1"], "fallbacks": 2},
        cost_per_hour=Decimal("0.096"),
    )
    for pod in shop_pods():
        PodPlacement.objects.create(
            organization_id=cluster.organization_id,
            cluster=cluster,
            namespace=pod.namespace,
            name=pod.name,
            workload=pod.workload,
            phase="Running",
            node_name="ip-10-0-0-1.ec2.internal",
            decision=decision,
            instance_type="m5.large",
            capacity_type="on_demand",
            zone="us-east-1a",
            node_price_per_hour=Decimal("0.096"),
            cost_per_hour=Decimal("0.024"),
            cpu=pod.requests.cpu,
            memory_gib=pod.requests.memory_gib,
        )
    return decision
