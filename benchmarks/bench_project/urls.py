from django.urls import include, path

from . import ninja_api, views

urlpatterns = [
    path("bare", views.Bare.as_view()),
    path("plain", views.plain),
    path("occ/", include("oauth_cc.urls")),
    path("occ/protected", views.OAuthCC.as_view()),
    path("dot/", include("oauth2_provider.urls", namespace="oauth2_provider")),
    path("dot/protected", views.DOT.as_view()),
    path("async/bare", views.async_bare),
    path("async/protected", views.async_protected),
    path("ninja/", ninja_api.api.urls),
]
