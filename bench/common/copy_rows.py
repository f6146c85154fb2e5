"""Bulk loading for the benchmarks: PostgreSQL COPY of model rows given as dicts of columns.

Shared by the benchmarks that write their data row by row from Python (bench/retro); the ones
whose data is regular enough load it with INSERT ... SELECT over generate_series instead.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def bench_case_number(i: int) -> str:
    """A case number for the i-th synthetic case. It starts with "Z": demo case numbers are random,
    and this keeps the two sets apart in practice."""
    digits = []
    for _ in range(7):
        i, r = divmod(i, 32)
        digits.append(CROCKFORD[r])
    return "PA-Z" + "".join(reversed(digits))


def columns_of(model: Any) -> list[str]:
    return [f.column for f in model._meta.concrete_fields]


def column_defaults(model: Any, known: set[str]) -> dict[str, Any]:
    """Columns the caller does not fill (added to the model later) get the field's default."""
    from django.db import connection

    out = {}
    for f in model._meta.concrete_fields:
        if f.column not in known:
            value = f.get_db_prep_save(f.get_default(), connection)
            out[f.column] = json.dumps(value) if isinstance(value, (dict, list)) else value
    return out


def copy_rows(cursor: Any, model: Any, rows: Iterator[dict[str, Any]], known: set[str], *, with_id: bool = True) -> int:
    """COPY the rows into the model's table; without `with_id`, the id sequence numbers them."""
    columns = [c for c in columns_of(model) if with_id or c != "id"]
    fill = {k: v for k, v in column_defaults(model, known | {"id"}).items() if with_id or k != "id"}
    names = ", ".join(f'"{c}"' for c in columns)
    count = 0
    with cursor.copy(f'COPY "{model._meta.db_table}" ({names}) FROM STDIN') as copy:
        for row in rows:
            row.update(fill)
            copy.write_row([row[c] for c in columns])
            count += 1
    return count
