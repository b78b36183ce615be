"""Every URL pattern of the product that addresses an object, and how to build org A's object for it.

The cross-tenant test walks the URL resolver: a route that takes an object id and is missing from
OBJECT_ROUTES (or PUBLIC_ROUTES, with the reason it is not tenant-scoped) fails the test, so a new
route cannot ship without an outsider check.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver

from clusters.models import CloudAccount, Cluster, ClusterConnection
from policies.federation.services import federation_policy_create, workload_submit
from tenants import services
from tenants.actors import Actor
from tenants.models import AuditEvent


@dataclass
class OrgAObjects:
    """Objects of org A, created lazily by the route builders (one of each kind per test)."""

    cast: Any
    cache: dict[str, Any] = field(default_factory=dict)

    def once(self, key: str, build: Callable[[], Any]) -> Any:
        if key not in self.cache:
            self.cache[key] = build()
        return self.cache[key]

    def invitation(self) -> Any:
        return self.once(
            "invitation",
            lambda: services.invitation_create(
                self.cast.org_a, actor=Actor(user=self.cast.alice), email="new@a.example", role="member"
            )[0],
        )

    def cloud_account(self) -> CloudAccount:
        return self.once(
            "cloud_account",
            lambda: CloudAccount.objects.create(
                organization=self.cast.org_a,
                name="A prod",
                account_id="123456789012",
                role_arn="arn:aws:iam::123456789012:role/NodelessControlPlane",
                regions=["us-east-1"],
            ),
        )

    def cluster(self) -> Cluster:
        return self.once(
            "cluster",
            lambda: Cluster.objects.create(
                organization=self.cast.org_a,
                name="a-prod",
                connection=ClusterConnection.KUBECONFIG,
                endpoint="https://127.0.0.1:9",
                kubeconfig_ciphertext="",
                labels={"env": "prod"},
            ),
        )

    def audit_event(self) -> AuditEvent:
        return self.once(
            "audit_event", lambda: AuditEvent.objects.filter(organization=self.cast.org_a).first()
        )

    def federation_policy(self) -> Any:
        return self.once(
            "federation_policy",
            lambda: federation_policy_create(
                self.cast.org_a,
                actor=Actor(user=self.cast.alice),
                data={"name": "a-cheapest", "strategy": "cheapest"},
            ),
        )

    def provisioning_policy(self) -> Any:
        from policies.services import provisioning_policy_save

        return self.once(
            "provisioning_policy",
            lambda: provisioning_policy_save(
                self.cast.org_a, actor=Actor(user=self.cast.alice), cluster=self.cluster(), data={}
            ),
        )

    def decision(self) -> Any:
        from policies.models import Decision, DecisionKind

        return self.once(
            "decision",
            lambda: Decision.objects.create(
                organization=self.cast.org_a,
                cluster=self.cluster(),
                kind=DecisionKind.LAUNCH,
                subject="default/a-web",
                reason="m5.large on-demand is the cheapest offering that fits",
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
                    }
                ],
            ),
        )

    def replay_run(self) -> Any:
        from billing.models import ReplayRun

        def build() -> Any:
            from django.utils import timezone

            now = timezone.now()
            return ReplayRun.objects.create(
                organization=self.cast.org_a,
                cluster=self.cluster(),
                window="24h",
                period_start=now,
                period_end=now,
            )

        return self.once("replay_run", build)

    def workload(self) -> Any:
        manifest = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "a-web"},
            "spec": {
                "selector": {"matchLabels": {"app": "a-web"}},
                "template": {
                    "metadata": {"labels": {"app": "a-web"}},
                    "spec": {
                        "containers": [
                            {
                                "name": "web",
                                "image": "nginx",
                                "resources": {"requests": {"cpu": "1", "memory": "1Gi"}},
                            }
                        ]
                    },
                },
            },
        }
        return self.once(
            "workload",
            lambda: workload_submit(
                self.cast.org_a,
                actor=Actor(user=self.cast.alice),
                manifest=manifest,
                policy=self.federation_policy(),
            ),
        )


RouteBuilder = Callable[[OrgAObjects], dict[str, Any]]

OBJECT_ROUTES: dict[str, RouteBuilder] = {
    "settings-member-role": lambda o: {"member_id": o.cast.victor_membership.pk},
    "settings-member-remove": lambda o: {"member_id": o.cast.victor_membership.pk},
    "settings-invitation-revoke": lambda o: {"invitation_id": o.invitation().pk},
    "settings-token-revoke": lambda o: {"token_id": o.cast.token_a.pk},
    "api-member-detail": lambda o: {"pk": o.cast.victor_membership.pk},
    "api-invitation-detail": lambda o: {"pk": o.invitation().pk},
    "api-invitation-revoke": lambda o: {"pk": o.invitation().pk},
    "api-token-detail": lambda o: {"pk": o.cast.token_a.pk},
    "api-token-revoke": lambda o: {"pk": o.cast.token_a.pk},
    "api-audit-event-detail": lambda o: {"pk": o.audit_event().pk},
    "cluster-detail": lambda o: {"cluster_id": o.cluster().pk},
    "cluster-check": lambda o: {"cluster_id": o.cluster().pk},
    "cluster-activity": lambda o: {"cluster_id": o.cluster().pk},
    "cluster-status": lambda o: {"cluster_id": o.cluster().pk},
    "cluster-decisions": lambda o: {"cluster_id": o.cluster().pk},
    "cluster-delete": lambda o: {"cluster_id": o.cluster().pk},
    "cluster-node-class": lambda o: {"cluster_id": o.cluster().pk},
    "cloud-account-discover": lambda o: {"account_id": o.cloud_account().pk},
    "cloud-account-import": lambda o: {"account_id": o.cloud_account().pk},
    "cloud-account-verify": lambda o: {"account_id": o.cloud_account().pk},
    "cloud-account-delete": lambda o: {"account_id": o.cloud_account().pk},
    "api-cloud-account-detail": lambda o: {"pk": o.cloud_account().pk},
    "api-cloud-account-verify": lambda o: {"pk": o.cloud_account().pk},
    "api-cloud-account-eks-clusters": lambda o: {"pk": o.cloud_account().pk},
    "api-cluster-detail": lambda o: {"pk": o.cluster().pk},
    "api-cluster-health": lambda o: {"pk": o.cluster().pk},
    "api-cluster-node-class": lambda o: {"pk": o.cluster().pk},
    "cluster-policy": lambda o: {"cluster_id": o.cluster().pk},
    "cluster-policy-reset": lambda o: {"cluster_id": o.cluster().pk},
    "workload-detail": lambda o: {"workload_id": o.workload().pk},
    "workload-pods": lambda o: {"workload_id": o.workload().pk},
    "workload-edit": lambda o: {"workload_id": o.workload().pk},
    "workload-scale": lambda o: {"workload_id": o.workload().pk},
    "workload-delete": lambda o: {"workload_id": o.workload().pk},
    "federation-policy-edit": lambda o: {"policy_id": o.federation_policy().pk},
    "federation-policy-delete": lambda o: {"policy_id": o.federation_policy().pk},
    "api-federation-policy-detail": lambda o: {"pk": o.federation_policy().pk},
    "api-workload-detail": lambda o: {"pk": o.workload().pk},
    "api-provisioning-policy-detail": lambda o: {"pk": o.provisioning_policy().pk},
    "api-provisioning-policy-revisions": lambda o: {"pk": o.provisioning_policy().pk},
    "api-workload-decisions": lambda o: {"pk": o.workload().pk},
    "decision-detail": lambda o: {"decision_id": o.decision().pk},
    "api-decision-detail": lambda o: {"pk": o.decision().pk},
    "policy-replay": lambda o: {"run_id": o.replay_run().pk},
    "policy-replay-panel": lambda o: {"run_id": o.replay_run().pk},
    "policy-replay-progress": lambda o: {"run_id": o.replay_run().pk},
    "api-replay-detail": lambda o: {"pk": o.replay_run().pk},
}

PUBLIC_ROUTES: dict[str, str] = {
    "kube-api": "the Kubernetes endpoint: its path names no object by id, and the API token's organization "
    "scopes every lookup (outsider tests in tests/policies/kubeapi)",
    "invitation": "addressed by an unguessable secret from the e-mail, shown to whoever holds the link",
    "password_reset_confirm": "addressed by Django's signed reset token, not by a tenant object",
    "signup-confirm": "addressed by an unguessable secret e-mailed to the address; no account exists yet",
}


@dataclass(frozen=True)
class Route:
    name: str
    prefix: str
    parameters: tuple[str, ...]


def all_routes() -> list[Route]:
    routes: list[Route] = []

    def walk(patterns: list[URLPattern | URLResolver], prefix: str, inherited: tuple[str, ...]) -> None:
        for entry in patterns:
            own = tuple(entry.pattern.regex.groupindex)
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, prefix + str(entry.pattern), inherited + own)
            elif entry.name:
                routes.append(Route(entry.name, prefix + str(entry.pattern), inherited + own))

    walk(get_resolver().url_patterns, "/", ())
    return routes


def object_routes() -> list[Route]:
    # Static files and Django internals are not ours: only named product routes count.
    return [route for route in all_routes() if route.parameters]
