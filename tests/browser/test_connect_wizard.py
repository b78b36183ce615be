"""In a real browser: connect an AWS account through the wizard, pick the EKS cluster, see it healthy;
then connect an on-prem cluster with a pasted kubeconfig."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import PASSWORD
from tests.fixtures.connections import kubeconfig_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _sign_in(page: Page, base: str, email: str) -> None:
    page.goto(f"{base}/login/")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()


def test_the_aws_wizard_verifies_the_role_and_imports_the_cluster(
    live_server, page: Page, cast, aws_world, background_worker
) -> None:
    role_arn = aws_world.role(cast.org_a.external_id)
    _sign_in(page, live_server.url, cast.alice.email)
    page.get_by_role("link", name="Clusters").click()
    page.get_by_role("link", name="Connect EKS (AWS role)").click()
    expect(page.locator("#external-id")).to_have_text(cast.org_a.external_id)
    quick_create = page.get_by_role("link", name="Launch the stack in the AWS console").get_attribute("href")
    assert quick_create is not None
    assert f"param_ExternalId={cast.org_a.external_id}" in quick_create and "templateURL=" in quick_create

    page.get_by_label("Role ARN").fill("arn:aws:iam::123:role/typo")
    page.get_by_role("button", name="Verify and connect").click()
    expect(page.get_by_text("not an IAM role ARN")).to_be_visible()

    page.get_by_label("Role ARN").fill(role_arn)
    page.get_by_role("button", name="Verify and connect").click()
    expect(page.get_by_text("every permission Nodeless needs is in place")).to_be_visible()
    row = page.locator("tr", has_text=aws_world.cluster.name)
    row.get_by_label("Labels").fill("env=prod")
    row.get_by_role("button", name="Connect").click()
    expect(page.get_by_role("heading", name=aws_world.cluster.name)).to_be_visible()
    # A worker connects it while the page polls its progress.
    expect(page.locator("#cluster-health").get_by_text("Healthy")).to_be_visible(timeout=20_000)
    expect(page.locator("#cluster-check-progress")).to_have_count(0)


def test_a_pasted_kubeconfig_connects_an_onprem_cluster(
    live_server, page: Page, cast, simulated_cluster, background_worker
) -> None:
    onprem = simulated_cluster()
    _sign_in(page, live_server.url, cast.alice.email)
    page.goto(f"{live_server.url}/clusters/connect/kubeconfig/")
    page.locator("textarea[name=kubeconfig]").fill(
        kubeconfig_for(onprem, user={"exec": {"command": "gke-gcloud-auth-plugin"}})
    )
    page.get_by_role("button", name="Verify and connect").click()
    expect(page.get_by_text("exec plugin (gke-gcloud-auth-plugin)")).to_be_visible()
    # What was pasted comes back to be fixed, not pasted again.
    expect(page.locator("textarea[name=kubeconfig]")).to_have_value(re.compile("gke-gcloud-auth-plugin"))
    page.locator("textarea[name=kubeconfig]").fill(kubeconfig_for(onprem))
    page.get_by_label("Name").fill("dc1")
    page.get_by_role("button", name="Verify and connect").click()
    expect(page.get_by_role("heading", name="dc1")).to_be_visible()
    expect(page.locator("#cluster-health").get_by_text("Healthy")).to_be_visible(timeout=20_000)


def test_a_silent_port_shows_the_connection_progress_then_why_it_failed(
    live_server, page: Page, cast, simulated_cluster, background_worker
) -> None:
    import socket

    silent = socket.create_server(("127.0.0.1", 0))
    server = f"https://127.0.0.1:{silent.getsockname()[1]}"
    try:
        _sign_in(page, live_server.url, cast.alice.email)
        page.goto(f"{live_server.url}/clusters/connect/kubeconfig/")
        page.locator("textarea[name=kubeconfig]").fill(kubeconfig_for(simulated_cluster(), server=server))
        page.get_by_label("Name").fill("dc-silent")
        page.get_by_role("button", name="Verify and connect").click()
        # The page is there at once, with the worker's progress, while the worker waits on the port.
        expect(page.get_by_role("heading", name="dc-silent")).to_be_visible()
        expect(page.locator("#cluster-check-progress li[data-state=current]")).to_contain_text(
            "Reaching the API server"
        )
        expect(page.locator("#cluster-health")).to_contain_text(
            "Could not connect: no Kubernetes API server answered", timeout=30_000
        )
        expect(page.get_by_role("button", name="Try again")).to_be_visible()
    finally:
        silent.close()
