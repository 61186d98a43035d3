"""Hot-path lookups as queries compiled once per database.

Building an ORM query (filter resolution, joins, the compiler) costs several times running
it on an indexed column. The token endpoint's client lookup and the opaque-token lookup
therefore build their SQL once per database alias, from the models' own table and column
names, and run it on a plain cursor.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from django.db import connections, router
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Model

_compiled: dict[tuple[str, str], str] = {}


def fetch(name: str, model: type[Model], build: Callable[[Callable[[str], str]], str],
          params: Callable[[BaseDatabaseWrapper], list[Any]]
          ) -> tuple[str, list[tuple[Any, ...]]]:
    """The database alias and the rows of the query ``name``; ``build(quote_name)`` makes its
    SQL the first time it runs on that database."""
    alias = router.db_for_read(model)
    connection = connections[alias]
    sql = _compiled.get((name, alias))
    if sql is None:
        sql = _compiled[name, alias] = build(connection.ops.quote_name)
    with connection.cursor() as cursor:
        cursor.execute(sql, params(connection))
        return alias, cursor.fetchall()


def aware(value: Any) -> Any:
    """A datetime read by a plain cursor, made aware (Django stores UTC)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value
