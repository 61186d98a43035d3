from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import SimpleRouter

from . import api, async_api, ninja_api

router = SimpleRouter()
router.register("items", api.ItemViewSet)

#: The protected inventory API (the tests mount these too).
api_urlpatterns = [
    path("api/", include(router.urls)),
    path("api/stats", api.StatsView.as_view()),
    path("api/whoami", api.whoami),
    path("api/plain/stock", api.plain_stock),
    # async views (demo_project/async_api.py), protected by the same decorator and mixin
    path("api/async/stock", async_api.stock),
    path("api/async/stats", async_api.StatsView.as_view()),
    # a django-ninja API (demo_project/ninja_api.py); its docs at /api/ninja/docs
    path("api/ninja/", ninja_api.api.urls),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("oauth_cc.well_known")),
    path("oauth/", include("oauth_cc.urls")),
    *api_urlpatterns,
    path("api/health", api.HealthView.as_view()),  # open: for load balancers
    path("api/async/health", async_api.health),  # open, async: the ASGI benchmark's baseline
    # The OpenAPI schema of the API and Swagger UI (docs/openapi.md).
    path("api/schema", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
]
