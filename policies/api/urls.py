from rest_framework.routers import SimpleRouter

from policies.api import views

router = SimpleRouter()
router.register("federation-policies", views.FederationPolicyViewSet, basename="api-federation-policy")
router.register("workloads", views.WorkloadViewSet, basename="api-workload")

urlpatterns = router.urls
