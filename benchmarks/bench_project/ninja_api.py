"""Ninja operations for benchmarks/asgi_bench.py: each protected one next to the same open."""

from typing import Any

from django.http import HttpRequest
from ninja import NinjaAPI

from oauth_cc.contrib.ninja import OAuthToken, install

from .views import BODY

api = install(NinjaAPI(urls_namespace="bench_ninja"))


@api.get("/async/bare")
async def async_bare(request: HttpRequest) -> Any:
    return BODY


@api.get("/async/protected", auth=OAuthToken("read"))
async def async_protected(request: HttpRequest) -> Any:
    return BODY


@api.get("/sync/bare")
def sync_bare(request: HttpRequest) -> Any:
    return BODY


@api.get("/sync/protected", auth=OAuthToken("read"))
def sync_protected(request: HttpRequest) -> Any:
    return BODY
