from rest_framework.routers import SimpleRouter

from billing.api import views

router = SimpleRouter()
router.register("reports", views.ReportViewSet, basename="api-report")
router.register("placements/pods", views.PodPlacementViewSet, basename="api-pod-placement")
router.register("decisions", views.DecisionViewSet, basename="api-decision")

urlpatterns = router.urls
