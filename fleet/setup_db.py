"""``python -m fleet.setup_db``: prepare the fleet's fresh database, once, with the
authorization server's settings (``fleet.as_settings``): migrate, the first signing key
(``rotatekeys``), and the clients (``createclient --json``). Prints one JSON object with the
clients' ids and secrets on stdout, and nothing else there.
"""

from __future__ import annotations

import io
import json
from typing import Any

import django
from django.core.management import call_command

SCOPES = "inventory:read inventory:write"

#: name -> createclient arguments
CLIENTS: dict[str, list[str]] = {
    # JWTs, and may introspect (as the demo's client does).
    "jwt": ["demo-client", "--scope", SCOPES, "--default-scope", "inventory:read",
            "--introspect"],
    # Opaque tokens.
    "opaque": ["demo-opaque-client", "--scope", SCOPES, "--default-scope", "inventory:read",
               "--token-format", "opaque"],
    # For the throttling test: it gets locked out for a minute.
    "throttled": ["fleet-throttle-target", "--scope", "inventory:read"],
    # For the rotation-under-load test: its secret is rotated (a second one, then the first
    # revoked), so no other test may rely on its first secret.
    "rotating": ["fleet-rotating-client", "--scope", "inventory:read"],
    # For the attack test: guessed at from another address while it keeps working.
    "attacked": ["fleet-attack-target", "--scope", "inventory:read"],
    # What the separate resource project introspects with; it asks for no tokens.
    "introspector": ["fleet-resource-server", "--introspect",
                     "--description", "The fleet's resource project (remote introspection)"],
}


def main() -> None:
    django.setup()
    call_command("migrate", interactive=False, verbosity=0)
    call_command("rotatekeys", stdout=io.StringIO())
    clients: dict[str, Any] = {}
    for role, arguments in CLIENTS.items():
        out = io.StringIO()
        call_command("createclient", *arguments, "--json", stdout=out)
        created = json.loads(out.getvalue())
        clients[role] = {"name": created["name"], "client_id": created["client_id"],
                         "client_secret": created["client_secret"],
                         "scope": created["scope"]}
    out = io.StringIO()
    call_command("rotatekeys", "--list", stdout=out)
    print(json.dumps({"clients": clients, "keys": out.getvalue().split("\n")[:-1]}))


if __name__ == "__main__":
    main()
