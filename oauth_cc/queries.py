"""Hot-path lookups: ORM querysets compiled to SQL once per database.

Building an ORM query (filter resolution, joins, the compiler) costs several times running
it on an indexed column. The token endpoint's client lookup and the opaque-token lookup are
therefore written as ordinary querysets, from the same queryset methods the rest of the code
uses (so there is one definition of, say, "a usable secret"), compiled once per database
alias with stand-in values, and run on a plain cursor with the real values bound in their
places.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from django.db import connections, router
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Model, QuerySet


class CompiledQuery:
    """``build(**stand_ins)`` compiled once per database alias.

    Each keyword of ``stand_ins`` is a value no real query uses (a datetime, a string...);
    ``rows(**values)`` finds where each stand-in went among the SQL parameters the first time
    and puts the real value there, adapted for the database as Django would.
    """

    def __init__(self, model: type[Model], build: Callable[..., QuerySet[Any]],
                 **stand_ins: Any) -> None:
        self.model = model
        self._build = build
        self._stand_ins = stand_ins
        self._compiled: dict[str, tuple[str, list[tuple[str | None, Any]]]] = {}

    @staticmethod
    def _adapt(connection: BaseDatabaseWrapper, value: Any) -> Any:
        if isinstance(value, datetime):
            return connection.ops.adapt_datetimefield_value(value)
        return value

    def _compile(self, alias: str) -> tuple[str, list[tuple[str | None, Any]]]:
        connection = connections[alias]
        queryset = self._build(**self._stand_ins)
        sql, params = queryset.query.get_compiler(alias).as_sql()
        adapted = {name: self._adapt(connection, value)
                   for name, value in self._stand_ins.items()}
        slots: list[tuple[str | None, Any]] = []
        for param in params:
            name = next((n for n, v in adapted.items() if type(v) is type(param) and v == param),
                        None)
            slots.append((name, param))
        missing = set(self._stand_ins) - {name for name, _ in slots}
        if missing:
            raise RuntimeError(f"stand-ins {sorted(missing)} do not reach the SQL")
        return sql, slots

    def rows(self, **values: Any) -> tuple[str, list[tuple[Any, ...]]]:
        """The database alias and the rows of the query with ``values`` bound."""
        alias = router.db_for_read(self.model)
        compiled = self._compiled.get(alias)
        if compiled is None:
            compiled = self._compiled[alias] = self._compile(alias)
        sql, slots = compiled
        connection = connections[alias]
        params = [self._adapt(connection, values[name]) if name else constant
                  for name, constant in slots]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return alias, cursor.fetchall()

    def clear(self) -> None:
        self._compiled.clear()


def aware(value: Any) -> Any:
    """A datetime read by a plain cursor, made aware (Django stores UTC)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value
