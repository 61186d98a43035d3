"""The demo's inventory as a django-ninja API, protected by ``oauth_cc.contrib.ninja``.

Mounted at ``/api/ninja/`` (Swagger UI at ``/api/ninja/docs``), next to the DRF API of
``demo_project.api``, on the same ``Item`` rows:

- ``GET  /api/ninja/items``: ``inventory:read`` (a sync operation);
- ``POST /api/ninja/items``: ``inventory:write`` (a sync operation);
- ``GET  /api/ninja/stats``: ``inventory:read`` (an async operation: the token is verified
  without blocking the event loop under ASGI).

The router's ``OAuthToken(READ)`` protects every operation; ``POST`` declares its own.
"""

from datetime import datetime

from django.db.models import Sum
from django.http import HttpRequest
from ninja import Field, NinjaAPI, Router, Schema, Status

from oauth_cc.contrib.ninja import OAuthToken, install

from .models import Item

READ, WRITE = "inventory:read", "inventory:write"


class ItemIn(Schema):
    name: str = Field(max_length=100)
    # The column's range (PostgreSQL int4): a larger number is a 422, not a database error.
    quantity: int = Field(0, le=2**31 - 1)


class ItemOut(Schema):
    id: int
    name: str
    quantity: int
    created_at: datetime


class StatsOut(Schema):
    items: int
    total_quantity: int
    client_id: str


router = Router(auth=OAuthToken(READ), tags=["inventory"])


@router.get("/items", response=list[ItemOut])
def list_items(request: HttpRequest) -> list[Item]:
    return list(Item.objects.all())


@router.post("/items", response={201: ItemOut}, auth=OAuthToken(WRITE))
def create_item(request: HttpRequest, item: ItemIn) -> Status[Item]:
    return Status(201, Item.objects.create(name=item.name, quantity=max(item.quantity, 0)))


@router.get("/stats", response=StatsOut)
async def stats(request: HttpRequest) -> dict[str, object]:
    totals = await Item.objects.aaggregate(total=Sum("quantity"))
    return {"items": await Item.objects.acount(), "total_quantity": totals["total"] or 0,
            "client_id": request.auth.client_id}  # type: ignore[attr-defined]


# install(): RFC 6750 errors (401/403 with their challenges) and the OAuth 2.0
# clientCredentials scheme in /api/ninja/openapi.json.
api = install(NinjaAPI(title="oauth_cc demo inventory (django-ninja)",
                       urls_namespace="demo_ninja"))
api.add_router("", router)
