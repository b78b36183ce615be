from rest_framework.routers import SimpleRouter

from clusters.api import views

router = SimpleRouter()
router.register("cloud-accounts", views.CloudAccountViewSet, basename="api-cloud-account")
router.register("clusters", views.ClusterViewSet, basename="api-cluster")

urlpatterns = router.urls
