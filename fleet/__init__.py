"""A fleet on one machine: ``python -m fleet up`` (see ``fleet/__main__.py``, ``cluster.py``).

PostgreSQL and Redis, two gunicorn instances (A and B) of the demo project sharing them, a
resource server in a separate Django project (remote mode), and nginx terminating TLS in
front, all on 127.0.0.1 and all in one temporary folder. ``tests/fleet`` runs against it.
"""
