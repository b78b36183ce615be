from rest_framework.routers import SimpleRouter

from policies.api import provisioning, views

router = SimpleRouter()
router.register("federation-policies", views.FederationPolicyViewSet, basename="api-federation-policy")
router.register(
    "provisioning-policies", provisioning.ProvisioningPolicyViewSet, basename="api-provisioning-policy"
)
router.register("workloads", views.WorkloadViewSet, basename="api-workload")

urlpatterns = router.urls
