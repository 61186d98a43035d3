"""Signals sent by the authorization server.

``token_issued(sender, request, client, claims)``: after a token was issued; ``claims`` are the
token's claims (never the token itself).

``client_authentication_failed(sender, request, client_id, reason)``: a token-endpoint request
failed client authentication. ``client_id`` is the presented identifier when it names a known
client, else None; ``reason`` is a short fixed string. No secret is ever passed.
"""

from django.dispatch import Signal

token_issued = Signal()
client_authentication_failed = Signal()
