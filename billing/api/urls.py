from rest_framework.routers import SimpleRouter

from billing.api import replay, rightsizing, views

router = SimpleRouter()
router.register("reports", views.ReportViewSet, basename="api-report")
router.register("placements/pods", views.PodPlacementViewSet, basename="api-pod-placement")
router.register("decisions", views.DecisionViewSet, basename="api-decision")
router.register("rightsizing", rightsizing.RightsizingViewSet, basename="api-rightsizing")
router.register("replays", replay.ReplayViewSet, basename="api-replay")

urlpatterns = router.urls
