"""The resource server's one API view."""

from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from oauth_cc.rest_framework import required_scopes


@api_view(["GET"])
@required_scopes("inventory:read")
def whoami(request: Request) -> Response:
    token = request.auth
    return Response({
        "client_id": request.user.client_id,
        "scope": " ".join(sorted(token.scopes)),
        "aud": list(token.audience),
        "kid": token.kid,
        "served_by": "resource_project",
    })
