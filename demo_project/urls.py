from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import SimpleRouter

from . import api

router = SimpleRouter()
router.register("items", api.ItemViewSet)

#: The protected inventory API (the tests mount these too).
api_urlpatterns = [
    path("api/", include(router.urls)),
    path("api/stats", api.StatsView.as_view()),
    path("api/whoami", api.whoami),
    path("api/plain/stock", api.plain_stock),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("oauth_cc.well_known")),
    path("oauth/", include("oauth_cc.urls")),
    *api_urlpatterns,
    path("api/health", api.HealthView.as_view()),  # open: for load balancers
    # The OpenAPI schema of the API and Swagger UI (docs/openapi.md).
    path("api/schema", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
]
