"""In a real browser, as a new user with nothing but the UI and the customer's own (simulated) AWS
console: sign up → invite a colleague → connect the AWS account by launching the CloudFormation
stack from the product's link → import the EKS cluster in nodeless mode → pending pods get nodes
(the launching state shows on the cluster page) → edit the cluster's policy with a preview, and
replay the draft over the recorded period → savings report and its CSV → right-sizing → an API
token → a federated workload.

Every page is kept as a full-page screenshot (the directory is printed), and no page may log a
console error or throw.
"""

from __future__ import annotations

import csv
import io
import json
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from django.conf import settings as django_settings
from django.utils import timezone
from kubernetes import client as k8s
from playwright.sync_api import ConsoleMessage, Page, expect

from billing.services.metering import floor_minute, meter_cluster
from clusters.models import Cluster
from clusters.onboarding.aws import eks_tokens
from clusters.onboarding.cloudformation import template_yaml
from simulator.clock import ScaledClock
from simulator.cloud.simulated_cloud import CloudConfig, SimulatedCloud
from tests.browser.journeys import sign_up
from tests.fixtures.provisioning import pod_manifest
from tests.fixtures.simulation import kube_api, wait_for
from workers.provisioning.reconcile import reconcile_cluster

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WORKLOAD = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: checkout, namespace: shop}
spec:
  replicas: 2
  selector: {matchLabels: {app: checkout}}
  template:
    metadata: {labels: {app: checkout}}
    spec:
      containers:
      - name: web
        image: shop/checkout:1.4
        resources: {requests: {cpu: 250m, memory: 256Mi}}
"""


class Screenshots:
    """Full-page screenshots of each step, numbered in the order taken."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.taken: list[Path] = []
        directory.mkdir(parents=True, exist_ok=True)
        print(f"\nbrowser journey screenshots: {directory}")

    def __call__(self, page: Page, name: str) -> None:
        path = self.directory / f"{len(self.taken) + 1:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        self.taken.append(path)


@pytest.fixture
def customer_cloud(settings, tmp_path) -> Iterator[SimulatedCloud]:
    """The new customer's own AWS account (simulated, real time), with the template the product
    publishes in the simulated S3 and the product's link pointed at the simulation's console."""
    cloud = SimulatedCloud(CloudConfig(), ScaledClock(speed=1))
    cloud.start()
    try:
        factory: Any = boto3.client  # keyword credentials from a dict: the stubs' overloads want literals
        s3 = factory(
            "s3", endpoint_url=cloud.endpoint_url, region_name="us-east-1", **cloud.vendor_credentials()
        )
        s3.create_bucket(Bucket="nodeless-public")
        s3.put_object(
            Bucket="nodeless-public", Key="onboarding/nodeless-role.yaml", Body=template_yaml().encode()
        )
        settings.NODELESS_CFN_TEMPLATE_URL = (
            f"{cloud.endpoint_url}/nodeless-public/onboarding/nodeless-role.yaml"
        )
        settings.NODELESS_AWS_CONSOLE_URL = f"{cloud.endpoint_url}/console"
        settings.NODELESS_AWS_ENDPOINT_URL = cloud.endpoint_url
        eks_tokens.clear()
        yield cloud
    finally:
        eks_tokens.clear()
        cloud.stop()


@pytest.fixture
def screenshots() -> Screenshots:
    return Screenshots(Path(django_settings.VAR_DIR) / "browser-journey" / time.strftime("%Y%m%d-%H%M%S"))


def _watch_console(page: Page, errors: list[str]) -> None:
    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(f"{page.url}: {message.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: errors.append(f"{page.url}: {error}"))


class Passes:
    """What the provisioning beat does in production: a pass over the cluster, again and again."""

    def __init__(self, cluster_id: str) -> None:
        self.cluster_id = cluster_id
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.reports: list[Any] = []

    def _run(self) -> None:
        from django.db import connection

        try:
            while not self._stop.is_set():
                self.reports.append(reconcile_cluster(self.cluster_id))
                self._stop.wait(0.5)
        finally:
            connection.close()

    def __enter__(self) -> Passes:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(60)


def test_a_new_user_connects_aws_through_the_stack_and_walks_every_page(
    live_server,
    page: Page,
    settings,
    customer_cloud,
    simulated_cluster,
    kube_client,
    tmp_path,
    background_worker,
    screenshots,
) -> None:
    base = live_server.url
    errors: list[str] = []
    _watch_console(page, errors)
    eks = simulated_cluster(cloud=customer_cloud, boot_delay=4.0, pod_start_delay=0.5)
    overrides = tmp_path / "eks-endpoints.json"
    overrides.write_text(
        json.dumps({f"{customer_cloud.region}/{eks.name}": {"endpoint": eks.url, "ca_pem": eks.ca_pem}})
    )
    settings.NODELESS_EKS_ENDPOINT_OVERRIDES = str(overrides)

    # 1. Sign up, land on the overview.
    sign_up(page, base, email="nia@newco.example", organization="NewCo")
    screenshots(page, "overview-empty")

    # 2. Invite a colleague.
    page.get_by_role("link", name="Settings").click()
    page.get_by_role("link", name="Members").click()
    page.get_by_label("Email", exact=True).fill("sam@newco.example")
    page.get_by_role("button", name="Send invitation").click()
    expect(page.locator("#invite-link")).to_be_visible()
    screenshots(page, "members-invited")

    # 3. Connect AWS: the product's link opens the (simulated) AWS console's quick-create page.
    page.get_by_role("link", name="Clusters").click()
    page.get_by_role("link", name="Connect EKS (AWS role)").click()
    screenshots(page, "connect-aws")
    with page.context.expect_page() as opened:
        page.get_by_role("link", name="Launch the stack in the AWS console").click()
    console = opened.value
    _watch_console(console, errors)
    expect(console.get_by_role("heading", name="Quick create stack")).to_be_visible()
    external_id = page.locator("#external-id").inner_text().strip()
    expect(console.locator("#param_ExternalId")).to_have_value(external_id)
    console.locator("#param_ClusterName").fill(eks.name)  # map the role into the cluster
    console.get_by_label("I acknowledge that AWS CloudFormation might create IAM resources").check()
    screenshots(console, "aws-console-quick-create")
    console.get_by_role("button", name="Create stack").click()
    expect(console.locator("#stack-status")).to_have_text("CREATE_COMPLETE", timeout=30_000)
    screenshots(console, "aws-console-stack-complete")
    role_arn = console.locator("#output-RoleArn").inner_text().strip()
    console.close()

    page.get_by_label("Role ARN").fill(role_arn)
    page.get_by_label("Name").fill("NewCo production")
    page.get_by_role("button", name="Verify and connect").click()
    expect(page.get_by_text("every permission Nodeless needs is in place")).to_be_visible()
    screenshots(page, "pick-eks-clusters")

    # 4. Import the EKS cluster in nodeless mode.
    row = page.locator("tr", has_text=eks.name)
    row.get_by_label("Mode").select_option("nodeless")
    row.get_by_label("Labels").fill("env=prod")
    row.get_by_role("button", name="Connect").click()
    expect(page.get_by_role("heading", name=eks.name)).to_be_visible()
    expect(page.locator("#cluster-health").get_by_text("Healthy")).to_be_visible(timeout=30_000)
    cluster = Cluster.objects.get(name=eks.name)
    screenshots(page, "cluster-connected")

    # 5. Pending pods get nodes: the node shows launching, then Ready, and the pods run on it.
    core = kube_api(k8s.CoreV1Api, kube_client(eks))
    core.create_namespace({"metadata": {"name": "shop"}})
    for index in range(3):
        core.create_namespaced_pod(
            "shop", pod_manifest(f"web-{index}", namespace="shop", cpu="700m", memory="1Gi")
        )
    # Passes by hand until one launches: a row only leaves "launching"/"pending" in a later pass
    # that sees its node register, so the page shows the launching state without racing the boot.
    wait_for(
        lambda: reconcile_cluster(str(cluster.pk)).launched > 0 or cluster.managed_nodes.exists(),
        timeout=60,
        interval=0.5,
    )
    page.goto(f"{base}/clusters/{cluster.pk}/")
    expect(page.locator("#managed-nodes .launch-progress").first).to_be_visible(timeout=30_000)
    screenshots(page, "cluster-launching")
    with Passes(str(cluster.pk)) as passes:
        page.reload()
        expect(page.locator("#managed-nodes .badge.ok", has_text="Ready").first).to_be_visible(timeout=90_000)
        try:
            wait_for(
                lambda: all(p.status.phase == "Running" for p in core.list_namespaced_pod("shop").items),
                timeout=180,
            )
        except BaseException:
            for pod in core.list_namespaced_pod("shop").items:
                print(
                    "POD",
                    pod.metadata.name,
                    pod.status.phase,
                    pod.spec.node_name,
                    pod.spec.tolerations,
                    pod.status.conditions,
                )
            for node in core.list_node().items:
                print(
                    "NODE",
                    node.metadata.name,
                    node.spec.taints,
                    node.metadata.labels.get("node.kubernetes.io/instance-type"),
                )
            print("REPORTS", len(passes.reports), passes.reports[-3:])
            raise

    # Metering (the worker's minute) reads the cluster: the page shows what it saw, and reports have
    # spend. A read that times out on a busy machine keeps the older observation, as the worker's
    # next minute would retry: so meter again until the page shows the pods running.
    def metered_and_shown() -> bool:
        now = timezone.now()
        meter_cluster(str(cluster.pk), now=now, starts=[floor_minute(now) - timedelta(minutes=1)])
        page.reload()
        return page.locator("#cluster-pod-table").get_by_text("Running").count() > 0

    wait_for(metered_and_shown, timeout=90, interval=1)
    expect(page.locator("#cluster-pod-table").get_by_text("Running").first).to_be_visible()
    screenshots(page, "cluster-nodes-ready")

    # 6. Edit the policy, with a live preview of the draft on this cluster.
    page.goto(f"{base}/clusters/{cluster.pk}/policy/")
    page.get_by_label("Objective").select_option("cost")
    expect(page.locator("#policy-validation .alert")).to_be_visible()
    screenshots(page, "policy-editor-preview")

    # 6b. Replay the draft over the recorded last 24 hours (the pods and nodes metered above): a
    # progress bar while the worker runs it in steps, then what happened and the draft side by side
    # (spend, pending time, node count) with the planner's LP bound.
    replay = page.locator(".panel.replay")
    expect(replay.get_by_role("heading", name="Replay this draft")).to_be_visible()
    replay.get_by_label("Recorded period").select_option("24h")
    replay.get_by_role("button", name="Replay").click()
    panel = page.locator("#replay-panel")
    expect(panel.get_by_role("progressbar", name="Replay progress")).to_be_visible()
    screenshots(page, "policy-replay-progress")
    result = panel.locator("table.replay-comparison")
    expect(result).to_be_visible(timeout=120_000)
    for label in ("Spend", "Pending pod-hours", "Average nodes", "Peak nodes"):
        expect(result.locator("tr", has=page.locator("th", has_text=label))).to_have_count(1)
    expect(result.locator("thead")).to_contain_text("What happened")
    expect(result.locator("thead")).to_contain_text("This draft, replayed")
    expect(result.locator("tr", has_text="Spend").locator("td").first).to_contain_text("$")
    expect(panel.locator(".replay-bound")).to_contain_text("LP bound")
    screenshots(page, "policy-replay-result")

    # 7. Savings report and its CSV.
    page.get_by_role("link", name="Reports").click()
    expect(page.locator("#report-window")).to_be_visible()
    screenshots(page, "savings-report")
    savings_panel = page.locator(".table-panel", has=page.locator("#table-savings"))
    with page.expect_download() as download_info:
        savings_panel.get_by_role("link", name="Download CSV").click()
    rows = list(csv.reader(io.StringIO(Path(download_info.value.path()).read_text(encoding="utf-8"))))
    assert rows and rows[-1][0] == "Total"
    page.get_by_role("link", name="Placement").click()
    screenshots(page, "placement")

    # 8. Right-sizing.
    page.goto(f"{base}/rightsizing/")
    expect(page.get_by_role("heading", name="Right-sizing")).to_be_visible()
    screenshots(page, "rightsizing")

    # 9. An API token, shown once.
    page.get_by_role("link", name="Settings").click()
    page.get_by_role("link", name="API tokens").click()
    page.get_by_label("Name").fill("terraform")
    page.get_by_label("Write").check()
    page.get_by_role("button", name="Create token").click()
    assert page.locator("#token-value").inner_text().strip().startswith("nls_")
    screenshots(page, "api-token")

    # 10. A federation policy (the form shows only the chosen strategy's fields), then a workload.
    page.goto(f"{base}/policies/federation/new/")
    page.get_by_label("Name", exact=True).fill("shop everywhere")
    page.get_by_label("Workload namespaces").fill("shop")
    page.get_by_label("Strategy").select_option("spread")
    expect(page.locator('[data-strategy-panel="spread"]')).to_be_visible()
    expect(page.locator('[data-strategy-panel="fill_then_burst"]')).to_be_hidden()
    page.get_by_label("Strategy").select_option("cheapest")
    expect(page.locator('[data-strategy-panel="spread"]')).to_be_hidden()
    expect(page.locator('[data-strategy-panel="pinned"]')).to_be_hidden()
    screenshots(page, "federation-policy-form")
    page.get_by_role("button", name="Save policy").click()
    expect(page.get_by_text("shop everywhere").first).to_be_visible()
    page.goto(f"{base}/workloads/new/")
    page.locator("textarea[name=manifest]").fill(WORKLOAD)
    screenshots(page, "workload-form")
    page.get_by_role("button", name="Submit").click()
    expect(page.get_by_role("heading", name="checkout")).to_be_visible()
    screenshots(page, "workload-detail")

    assert len(screenshots.taken) >= 17
    assert not errors, errors
