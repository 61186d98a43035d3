"""The demo's async views: protected like the others, served best under ASGI (asgi.py).

- ``stock``: an ``async def`` view, ``scopes_required`` as on a sync view;
- ``StatsView``: a class-based view with async handlers and ``ProtectedResourceMixin``;
- ``health``: an open async view (no token), the baseline of the benchmark.

The token is verified without blocking the event loop (``oauth_cc.resource.asynchronous``),
and the views read the database with Django's async ORM.
"""

from django.db.models import Sum
from django.http import HttpRequest, JsonResponse
from django.views import View

from oauth_cc.decorators import ProtectedResourceMixin, scopes_required

from .models import Item

READ = "inventory:read"


@scopes_required(READ)
async def stock(request: HttpRequest) -> JsonResponse:
    """``GET /api/async/stock``: the inventory, for a token with ``inventory:read``."""
    items = [item async for item in Item.objects.values("name", "quantity")]
    return JsonResponse({"client_id": request.oauth_token.client_id, "stock": items})


class StatsView(ProtectedResourceMixin, View):
    """``GET /api/async/stats``: totals, for a token with ``inventory:read``."""

    required_scopes = [READ]

    async def get(self, request: HttpRequest) -> JsonResponse:
        totals = await Item.objects.aaggregate(total=Sum("quantity"))
        return JsonResponse({"items": await Item.objects.acount(),
                             "total_quantity": totals["total"] or 0})


async def health(request: HttpRequest) -> JsonResponse:
    """``GET /api/async/health``: open, no database query."""
    return JsonResponse({"status": "ok"})
