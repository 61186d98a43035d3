from django.contrib import admin
from django.urls import include, path
from rest_framework.routers import SimpleRouter

from . import api

router = SimpleRouter()
router.register("items", api.ItemViewSet)

urlpatterns = [
    path("admin/", admin.site.urls),
    path("oauth/", include("oauth_cc.urls")),
    path("api/", include(router.urls)),
    path("api/stats", api.StatsView.as_view()),
    path("api/whoami", api.whoami),
    path("api/plain/stock", api.plain_stock),
]
