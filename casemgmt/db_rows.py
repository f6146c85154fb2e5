"""Model instances from rows of hand-written SQL, as the ORM would have built them.

The hot paths of the API (the token lookup, intake's pre-write read) read with raw SQL, because
compiling their ORM queries cost more than running them (bench/intake). `Model.from_db` alone
is not enough: the ORM also runs each column's converters (SQLite returns booleans as integers
and datetimes without their zone), and this module does the same.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from django.db import connections
from django.db.models import Model

M = TypeVar("M", bound=Model)

Converter = Callable[[Any, Any, Any], Any]


@functools.cache
def _layout(model: type[Model], alias: str) -> tuple[list[str], list[tuple[int, Any, list[Converter]]]]:
    connection = connections[alias]
    fields = model._meta.concrete_fields
    converting = []
    for i, field in enumerate(fields):
        column = field.get_col(model._meta.db_table)
        converters = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
        if converters:
            converting.append((i, column, converters))
    return [f.attname for f in fields], converting


def columns(model: type[Model], alias: str, table_alias: str) -> str:
    """The model's concrete columns, in the order `instance` reads them, for a SELECT list."""
    q = connections[alias].ops.quote_name
    return ", ".join(f"{table_alias}.{q(str(f.column))}" for f in model._meta.concrete_fields)


def width(model: type[Model]) -> int:
    return len(model._meta.concrete_fields)


def instance(model: type[M], alias: str, values: Sequence[Any]) -> M:
    """The model instance of one row's `columns(model, ...)`, converted as the ORM converts them."""
    names, converting = _layout(model, alias)
    if converting:
        connection = connections[alias]
        values = list(values)
        for i, column, converters in converting:
            value = values[i]
            for converter in converters:
                value = converter(value, column, connection)
            values[i] = value
    return model.from_db(alias, names, values)
