"""A new case and every row that hangs off it, written by one INSERT statement on PostgreSQL.

Why: intake is the API's hot path, and on the ORM a 3-line submission is a transaction of its
own (BEGIN, the case, its lines, flags, events, COMMIT): six round trips to the database, each
with the ORM's statement compilation. bench/intake measured that as most of the time a
submission costs beyond the bare web stack. Data-modifying CTEs let PostgreSQL insert the case,
then its lines (taking the case's new id), then rows that point at the case and at a line
(matched by the line's sequence), in one statement: atomic on its own, one round trip.

The columns and values come from the models' own field definitions (`pre_save` and
`get_db_prep_save`, as the ORM's insert does), so a field added to a model needs no change
here; tests/casemgmt/test_case_insert.py checks the rows equal what the ORM path writes. Other
databases use the ORM path (`available()` says which applies).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

from django.db import connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field, Model

from casemgmt.models import Case, ServiceLine


def available(using: str = "default") -> bool:
    return connections[using].vendor == "postgresql"


@dataclass(frozen=True)
class Rows:
    """Rows of one model to insert with the case. `case_fk` (and `line_fk`, matched by the
    related line's sequence) name the foreign keys (as fields: "case") the statement fills in.
    `case_fk=None`: rows with no key to the case, written in the same statement (the audit row)."""

    objs: Sequence[Model]
    case_fk: str | None
    line_fk: str | None = None


def _attname(model: type[Model], name: str) -> str:
    return model._meta.get_field(name).attname  # type: ignore[union-attr]


def _fields(model: type[Model], filled: frozenset[str]) -> list[Field[object, object]]:
    return [f for f in model._meta.concrete_fields if not f.primary_key and f.attname not in filled]


@functools.cache
def _layout(model: type[Model], filled: frozenset[str], using: str) -> tuple[list[Field[object, object]], str]:
    """A model's columns to insert, and one row of typed placeholders for them (per process)."""
    fields = _fields(model, filled)
    connection = connections[using]
    return fields, ", ".join(f"CAST(%s AS {f.db_type(connection)})" for f in fields)


def _values(obj: Model, fields: list[Field[object, object]], connection: BaseDatabaseWrapper) -> list[Any]:
    return [f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields]


def _child_cte(
    name: str,
    model: type[Model],
    objs: Sequence[Model],
    *,
    fills: list[tuple[str, str]],
    line_fk: str | None,
    connection: BaseDatabaseWrapper,
    params: list[Any],
    returning: str = "id",
) -> str:
    """`name AS (INSERT ... SELECT <filled fks>, v.* FROM c, (VALUES ...) v ORDER BY v.o RETURNING ...)`."""
    q = connection.ops.quote_name
    fields, casts = _layout(model, frozenset(attname for attname, _ in fills), connection.alias)
    value_names = [f"v{i}" for i in range(len(fields))]
    rows = []
    for position, obj in enumerate(objs):
        # The position orders the insert, so the ids come back in the order of `objs`.
        if line_fk is not None:
            rows.append(f"({position}, %s, {casts})")
            params.append(getattr(obj, line_fk).sequence)
        else:
            rows.append(f"({position}, {casts})")
        params.extend(_values(obj, fields, connection))
    alias_columns = ["o", *(["s"] if line_fk is not None else []), *value_names]
    columns = ", ".join(q(c) for c in [*(attname for attname, _ in fills), *(str(f.column) for f in fields)])
    selected = ", ".join([*(source for _, source in fills), *(f"v.{n}" for n in value_names)])
    join = " JOIN l ON l.sequence = v.s" if line_fk is not None else ""
    return (
        f"{name} AS (INSERT INTO {q(model._meta.db_table)} ({columns}) "
        f"SELECT {selected} FROM c, (VALUES {', '.join(rows)}) AS v({', '.join(alias_columns)}){join} "
        f"ORDER BY v.o RETURNING {returning})"
    )


def case_graph_insert(
    *,
    case: Case,
    lines: Sequence[ServiceLine],
    children: Sequence[Rows] = (),
    using: str = "default",
) -> None:
    """Insert `case`, its `lines` and `children` in one statement and give every object its id.

    The objects end as `Model.save()` and `bulk_create` leave them: with primary keys, their
    foreign-key ids set, and marked as saved.
    """
    connection = connections[using]
    q = connection.ops.quote_name
    params: list[Any] = []

    case_fields = _fields(Case, frozenset())
    ctes = [
        f"c AS (INSERT INTO {q(Case._meta.db_table)} ({', '.join(q(str(f.column)) for f in case_fields)}) "
        f"VALUES ({', '.join(['%s'] * len(case_fields))}) RETURNING id)"
    ]
    params.extend(_values(case, case_fields, connection))
    ordered_lines = sorted(lines, key=lambda line: line.sequence)
    if ordered_lines:
        ctes.append(
            _child_cte(
                "l",
                ServiceLine,
                ordered_lines,
                fills=[("case_id", "c.id")],
                line_fk=None,
                connection=connection,
                params=params,
                returning="id, sequence",
            )
        )
    groups = [group for group in children if group.objs]
    for i, group in enumerate(groups):
        if group.line_fk is not None and not ordered_lines:
            raise ValueError("rows that point at a service line need the case's lines")
        model = type(group.objs[0])
        fills = [(_attname(model, group.case_fk), "c.id")] if group.case_fk else []
        if group.line_fk:
            fills.append((_attname(model, group.line_fk), "l.id"))
        ctes.append(
            _child_cte(
                f"g{i}",
                model,
                group.objs,
                fills=fills,
                line_fk=group.line_fk,
                connection=connection,
                params=params,
            )
        )
    selects = ["(SELECT id FROM c)"]
    if ordered_lines:
        selects.append("ARRAY(SELECT id FROM l ORDER BY sequence)")
    # Ids come from one sequence in the order the rows were inserted, which ORDER BY v.o fixed.
    selects.extend(f"ARRAY(SELECT id FROM g{i} ORDER BY id)" for i in range(len(groups)))
    sql = f"WITH {', '.join(ctes)} SELECT {', '.join(selects)}"
    # Alone, the statement is atomic; inside the caller's transaction a savepoint keeps a
    # refused insert (a case number already taken, say) from breaking that transaction.
    guard = transaction.atomic(using=using) if connection.in_atomic_block else nullcontext()
    with guard, connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    assert row is not None
    case.pk = row[0]
    _saved(case, using)
    results = list(row[1:])
    if ordered_lines:
        for line, pk in zip(ordered_lines, results.pop(0), strict=True):
            line.pk = pk
            # Through the relation, not the `_id` attribute, which would drop the cached object.
            line.case = case
            _saved(line, using)
    for group, ids in zip(groups, results, strict=True):
        for obj, pk in zip(group.objs, ids, strict=True):
            obj.pk = pk
            if group.case_fk is not None:
                setattr(obj, group.case_fk, case)
            if group.line_fk is not None:
                setattr(obj, group.line_fk, getattr(obj, group.line_fk))
            _saved(obj, using)


def _saved(obj: Model, using: str) -> None:
    obj._state.adding = False
    obj._state.db = using
