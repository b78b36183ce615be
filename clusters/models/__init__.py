"""Cloud accounts and clusters: how Nodeless reaches a customer's infrastructure, its health, and the
compute Nodeless launched in it."""

from clusters.models.accounts import CloudAccount, CloudProvider, VerificationStatus
from clusters.models.clusters import (
    Cluster,
    ClusterCheckStep,
    ClusterConnection,
    ClusterHealth,
    ClusterMode,
    ClusterStatus,
)
from clusters.models.market import MarketRefresh, OnDemandPrice, SpotPrice, SpotPriceForecast
from clusters.models.node_classes import NodeClass
from clusters.models.nodes import ACTIVE_STATES, ManagedNode, NodeState
from clusters.models.observations import ClusterObservation

__all__ = [
    "ACTIVE_STATES",
    "CloudAccount",
    "CloudProvider",
    "Cluster",
    "ClusterCheckStep",
    "ClusterConnection",
    "ClusterHealth",
    "ClusterMode",
    "ClusterObservation",
    "ClusterStatus",
    "ManagedNode",
    "NodeClass",
    "MarketRefresh",
    "NodeState",
    "OnDemandPrice",
    "SpotPrice",
    "SpotPriceForecast",
    "VerificationStatus",
]
