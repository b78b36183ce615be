from rest_framework.routers import SimpleRouter

from billing.api import rightsizing, views

router = SimpleRouter()
router.register("reports", views.ReportViewSet, basename="api-report")
router.register("placements/pods", views.PodPlacementViewSet, basename="api-pod-placement")
router.register("decisions", views.DecisionViewSet, basename="api-decision")
router.register("rightsizing", rightsizing.RightsizingViewSet, basename="api-rightsizing")

urlpatterns = router.urls
