"""REST API v1 for cloud accounts and clusters: the same validation and errors as the wizard."""

from __future__ import annotations

from django.db import transaction
from django.db.models import QuerySet
from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from clusters import selectors, services
from clusters.api.serializers import (
    CloudAccountSerializer,
    CloudAccountUpdateSerializer,
    ClusterCreateSerializer,
    ClusterSerializer,
    ClusterUpdateSerializer,
    EksClusterInfoSerializer,
    NodeClassSerializer,
    NodeClassUpdateSerializer,
)
from clusters.models import CloudAccount, Cluster, ClusterConnection
from clusters.services.stack_outputs import cloud_account_stack_outputs_set
from tenants.access import get_for_organization
from tenants.api.base import OrganizationScopedViewSet
from tenants.models import Organization, Role

_DISCOUNTS = ("on_demand_discount_pct", "spot_discount_pct", "serverless_discount_pct")


class CloudAccountViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, OrganizationScopedViewSet[CloudAccount]
):
    serializer_class = CloudAccountSerializer
    queryset = CloudAccount.objects.none()
    write_role = Role.ADMIN
    # Discovery calls AWS with the organization's role: admins only, as on the import page.
    action_roles = {"eks_clusters": Role.ADMIN}
    permission_phrase = "manage cloud accounts"

    def scoped_queryset(self, organization: Organization) -> QuerySet[CloudAccount]:
        return selectors.cloud_account_list(organization)

    @extend_schema(request=CloudAccountSerializer, responses={201: CloudAccountSerializer})
    def create(self, request: Request) -> Response:
        """Verify the role (AssumeRole with the organization's external ID + dry runs), then store it."""
        serializer = CloudAccountSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        account = services.cloud_account_connect(
            self.organization,
            actor=self.actor,
            name=data.get("name", ""),
            role_arn=data["role_arn"],
            regions=data["regions"],
            discounts={key: data[key] for key in _DISCOUNTS if key in data},
            stack_name=data.get("stack_name", ""),
        )
        return Response(CloudAccountSerializer(account).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=CloudAccountUpdateSerializer, responses=CloudAccountSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        account = self.get_object()
        serializer = CloudAccountUpdateSerializer(account, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        with transaction.atomic():  # all of the change or none of it
            account = services.cloud_account_update(
                self.organization,
                account=account,
                actor=self.actor,
                name=data.get("name"),
                regions=data.get("regions"),
                discounts={key: data[key] for key in _DISCOUNTS if key in data} or None,
                stack_name=data.get("stack_name"),
            )
            if "stack_outputs" in data:
                account = cloud_account_stack_outputs_set(
                    self.organization, account=account, actor=self.actor, outputs=data["stack_outputs"]
                )
        return Response(CloudAccountSerializer(account).data)

    def destroy(self, request: Request, pk: str) -> Response:
        services.cloud_account_delete(self.organization, account=self.get_object(), actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses=CloudAccountSerializer)
    @action(detail=True, methods=["post"])
    def verify(self, request: Request, pk: str) -> Response:
        account = services.cloud_account_verify(
            self.organization, account=self.get_object(), actor=self.actor
        )
        return Response(CloudAccountSerializer(account).data)

    @extend_schema(responses=EksClusterInfoSerializer(many=True))
    @action(detail=True, methods=["get"], url_path="eks-clusters")
    def eks_clusters(self, request: Request, pk: str) -> Response:
        """EKS clusters the role can see in the account's regions, ready to import."""
        clusters = services.eks_clusters_discover(self.organization, account=self.get_object())
        return Response(EksClusterInfoSerializer(clusters, many=True).data)


class ClusterViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrganizationScopedViewSet[Cluster]):
    serializer_class = ClusterSerializer
    queryset = Cluster.objects.none()
    write_role = Role.ADMIN
    permission_phrase = "manage clusters"

    def scoped_queryset(self, organization: Organization) -> QuerySet[Cluster]:
        return selectors.cluster_list(organization)

    @extend_schema(request=ClusterCreateSerializer, responses={202: ClusterSerializer})
    def create(self, request: Request) -> Response:
        """Store the cluster as `connecting` and have a worker verify it (reach the API server, check
        permissions, list it); the answer comes at once, and the cluster's `status` becomes
        `connected` or `failed` (why in `health_problem`)."""
        serializer = ClusterCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        common = {
            "actor": self.actor,
            "name": data.get("name", ""),
            "mode": data["mode"],
            "labels": data.get("labels"),
        }
        if data["connection"] == ClusterConnection.EKS:
            account = get_for_organization(self.organization, CloudAccount, data["cloud_account"])
            cluster = services.cluster_import_eks(
                self.organization,
                account=account,
                region=data["region"],
                eks_cluster_name=data["eks_cluster_name"],
                **common,
            )
        else:
            cluster = services.cluster_connect_kubeconfig(
                self.organization,
                kubeconfig=data["kubeconfig"],
                context=data.get("kubeconfig_context", ""),
                **common,
            )
        return self._accepted(cluster)

    def _accepted(self, cluster: Cluster) -> Response:
        """202: a worker connects or checks the cluster; GET its Location until `check_started_at` is
        null, then `status` and `health` say how it went."""
        location = reverse("api-cluster-detail", args=[cluster.pk])
        return Response(
            ClusterSerializer(cluster).data, status=status.HTTP_202_ACCEPTED, headers={"Location": location}
        )

    @extend_schema(request=ClusterUpdateSerializer, responses=ClusterSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        cluster = self.get_object()
        serializer = ClusterUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        cluster = services.cluster_update(
            self.organization,
            cluster=cluster,
            actor=self.actor,
            name=data.get("name"),
            labels=data.get("labels"),
            mode=data.get("mode"),
        )
        return Response(ClusterSerializer(cluster).data)

    def destroy(self, request: Request, pk: str) -> Response:
        """Stop managing the cluster; nothing in the cluster or the cloud account is changed."""
        services.cluster_delete(self.organization, cluster=self.get_object(), actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(methods=["GET"], request=None, responses=NodeClassSerializer)
    @extend_schema(methods=["PATCH"], request=NodeClassUpdateSerializer, responses=NodeClassSerializer)
    @action(detail=True, methods=["get", "patch"], url_path="node-class")
    def node_class(self, request: Request, pk: str) -> Response:
        """What the nodes Nodeless launches for this cluster are made of: the node role, its instance
        profile and the discovery tag (editable), and what was found in the account (subnets per zone,
        security groups, AMIs, the node role's access entry, the launch template versions, and the
        problem that keeps launches from going ahead, if any)."""
        cluster = self.get_object()
        if request.method == "PATCH":
            serializer = NodeClassUpdateSerializer(data=request.data, partial=True)
            serializer.is_valid(raise_exception=True)
            node_class = services.node_class_update(
                self.organization, cluster=cluster, actor=self.actor, **serializer.validated_data
            )
            return Response(NodeClassSerializer(node_class).data)
        return Response(NodeClassSerializer(selectors.cluster_node_class(cluster)).data)

    @extend_schema(request=None, responses={202: ClusterSerializer})
    @action(detail=True, methods=["post"])
    def health(self, request: Request, pk: str) -> Response:
        """Have a worker check the cluster now (API, version, permissions, inventory), or try a failed
        connection again; one already in flight answers this ask too."""
        return self._accepted(services.cluster_check_request(self.organization, cluster=self.get_object()))
