"""A new case and every row that hangs off it, written by one INSERT statement on PostgreSQL.

Why: intake is the API's hot path, and on the ORM a 3-line submission is a transaction of its
own (BEGIN, the case, its lines, flags, events, COMMIT): six round trips to the database, each
with the ORM's statement compilation. bench/intake measured that as most of the time a
submission costs beyond the bare web stack. Data-modifying CTEs let PostgreSQL insert the case,
then its lines (taking the case's new id), then rows that point at the case and at a line
(matched by the line's sequence), in one statement: atomic on its own, one round trip.

The columns and values come from the models' own field definitions (`pre_save` and
`get_db_prep_save`, as the ORM's insert does), so a field added to a model needs no change
here; tests/casemgmt/cases/test_case_insert.py checks the rows equal what the ORM path writes. Other
databases use the ORM path (`available()` says which applies).
"""

from __future__ import annotations

import datetime
import decimal
import functools
import ipaddress
import json
import uuid
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import orjson
from django.db import connections, models, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field, Model
from psycopg.types.json import Jsonb

from casemgmt.cases.models import Case, ServiceLine


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


@functools.cache
def _fields(model: type[Model], filled: frozenset[str]) -> tuple[tuple[Field[object, object], int], ...]:
    """A model's columns to insert (all but the primary key and `filled`), each with its `_kind`."""
    return tuple((f, _kind(f)) for f in model._meta.concrete_fields if not f.primary_key and f.attname not in filled)


# The address types Django binds a GenericIPAddressField as on PostgreSQL.
_IP_TYPES = (
    ipaddress.IPv4Address,
    ipaddress.IPv6Address,
    ipaddress.IPv4Interface,
    ipaddress.IPv6Interface,
    ipaddress.IPv4Network,
    ipaddress.IPv6Network,
)


def _jsonable(value: Any) -> Any:
    """A value as the ORM would bind it (`get_db_prep_save`), as JSON that PostgreSQL reads back
    into the column's type. Only the outer value is converted: a JSON column's content goes
    through its own encoder, so what cannot be stored by the ORM fails here too."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, Jsonb):
        if value.dumps is None or value.dumps is json.dumps:
            return value.obj
        # A field with its own encoder (the audit log's DjangoJSONEncoder): store its output.
        return json.loads(value.dumps(value.obj))
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, (decimal.Decimal, uuid.UUID, *_IP_TYPES)):
        return str(value)
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    raise TypeError(f"case_insert cannot write a {type(value).__name__} value")


# How a field's value reaches the statement. Django's general path (pre_save, then
# get_db_prep_save, then _jsonable) cost two thirds of this module's time: about 20 us a field,
# 95 fields a submission (bench/intake). Most fields store their attribute as it is; for those,
# and only while the value has the exact type the field keeps, the attribute is read directly.
# _JSON_ENCODED: a JSON column with an encoder of its own, whose value goes into the row as it
# is and is encoded once, with the whole row, by that encoder (what the ORM's binding does).
_GENERAL, _TEXT, _INT, _BOOL, _DATE, _DATETIME, _JSON, _JSON_ENCODED = range(8)
_FAST_TYPES: dict[int, tuple[type, ...]] = {
    _TEXT: (str, type(None)),
    _INT: (int, type(None)),
    _BOOL: (bool, type(None)),
    _JSON: (dict, list, str, int, float, bool, type(None)),
    _DATE: (type(None),),  # a date itself is written as ISO text, below
    _DATETIME: (type(None),),
}
_SAVE_METHODS = ("pre_save", "get_db_prep_save", "get_db_prep_value", "get_prep_value")


def _behaves_as(field: Field[object, object], base: type[Any]) -> bool:
    """True when `field` saves a value exactly as `base` does (a subclass that encrypts, say,
    overrides one of these and keeps Django's general path)."""
    return all(getattr(type(field), m) is getattr(base, m) for m in _SAVE_METHODS)


def _kind(field: Field[object, object]) -> int:
    if isinstance(field, models.DateTimeField):
        auto = field.auto_now or field.auto_now_add
        return _DATETIME if not auto and _behaves_as(field, models.DateTimeField) else _GENERAL
    if isinstance(field, models.DateField):
        auto = field.auto_now or field.auto_now_add
        return _DATE if not auto and _behaves_as(field, models.DateField) else _GENERAL
    for base, kind in (
        (models.BooleanField, _BOOL),
        (models.CharField, _TEXT),
        (models.TextField, _TEXT),
        (models.IntegerField, _INT),
        (models.PositiveIntegerField, _INT),
        (models.PositiveSmallIntegerField, _INT),
        (models.SmallIntegerField, _INT),
        (models.BigIntegerField, _INT),
    ):
        if _behaves_as(field, base):
            return kind
    if isinstance(field, models.ForeignKey) and _behaves_as(field, models.ForeignKey):
        target = field.target_field
        return _INT if isinstance(target, models.AutoField | models.BigAutoField | models.IntegerField) else _GENERAL
    if _behaves_as(field, models.JSONField):
        return _JSON if field.encoder is None else _JSON_ENCODED  # type: ignore[attr-defined]
    return _GENERAL


def _row(
    obj: Model, layout: Sequence[tuple[Field[object, object], int]], connection: BaseDatabaseWrapper
) -> dict[str, Any]:
    row: dict[str, Any] = {}
    values = obj.__dict__
    for field, kind in layout:
        value = values.get(field.attname, _GENERAL)
        column: str = field.column  # type: ignore[assignment]
        if kind in _FAST_TYPES and type(value) in _FAST_TYPES[kind]:
            row[column] = value
        elif kind == _TEXT and isinstance(value, str):
            # A str subclass (a TextChoices member): its text, which is what psycopg sends too.
            row[column] = str.__str__(value)
        elif (kind == _DATETIME and type(value) is datetime.datetime and value.tzinfo is not None) or (
            kind == _DATE and type(value) is datetime.date
        ):
            row[column] = value.isoformat()
        elif kind == _JSON_ENCODED and value is not _GENERAL:
            row[column] = value
        else:
            row[column] = _jsonable(field.get_db_prep_save(field.pre_save(obj, True), connection))
    return row


# The key that carries a row's service-line sequence; no column is named so.
_LINE_KEY = "__line_sequence"


# Compared and hashed by identity: `_group` returns one per kind of rows, so the statement cache
# looks a shape up without hashing every field of it.
@dataclass(frozen=True, eq=False)
class _Group:
    model: type[Model]
    fields: tuple[tuple[Field[object, object], int], ...]
    fills: tuple[tuple[str, str], ...]  # (column, source): the keys the statement fills in
    by_line: bool
    encoder: type[json.JSONEncoder] | None  # the rows' encoder: their JSON columns' own, if any


@functools.cache
def _group(model: type[Model], case_fk: str | None, line_fk: str | None) -> _Group:
    fills = [(_attname(model, case_fk), "c.id")] if case_fk else []
    if line_fk:
        fills.append((_attname(model, line_fk), "l.id"))
    fields = _fields(model, frozenset(column for column, _ in fills))
    # One dump per group of rows, so it has one encoder: where JSON columns differ in theirs
    # (None: the plain one), those with an encoder of their own take the general path.
    encoders = {f.encoder for f, kind in fields if kind in (_JSON, _JSON_ENCODED)}  # type: ignore[attr-defined]
    if len(encoders) > 1:
        fields = tuple((f, _GENERAL if kind == _JSON_ENCODED else kind) for f, kind in fields)
        encoders = {None}
    encoder = encoders.pop() if encoders else None
    return _Group(model, fields, tuple(fills), line_fk is not None, encoder)


@functools.cache
def _statement(groups: tuple[_Group, ...], using: str, guard: str | None) -> str:
    """The statement for one shape of graph: the case, its lines (groups[0]), then the others.

    Every group's rows arrive as one JSON array parameter, read into the table's row type by
    jsonb_populate_record, so the text depends only on the shape, never on how many rows there
    are: PostgreSQL prepares it once per connection and psycopg converts it once per process.
    With a `guard`, the case is inserted only where the guard holds, and with it everything else.
    """
    q = connections[using].ops.quote_name
    ctes = []
    selects = []
    for i, group in enumerate(groups):
        name = "c" if i == 0 else "l" if i == 1 else f"g{i}"
        table = q(group.model._meta.db_table)
        columns = ", ".join(q(c) for c in [*(c for c, _ in group.fills), *(str(f.column) for f, _ in group.fields)])
        values = ", ".join([*(s for _, s in group.fills), *(f"r.{q(str(f.column))}" for f, _ in group.fields)])
        if i == 0:
            ctes.append(
                f"c AS (INSERT INTO {table} ({columns}) SELECT {values} "
                f"FROM jsonb_populate_record(NULL::{table}, %s::jsonb) AS r"
                f"{f' WHERE {guard}' if guard else ''} RETURNING id)"
            )
            selects.append("(SELECT id FROM c)")
            continue
        source = "c, jsonb_array_elements(%s::jsonb) WITH ORDINALITY AS e(doc, o)"
        if group.by_line:
            source += f" JOIN l ON l.sequence = (e.doc->>'{_LINE_KEY}')::integer"
        # The ordinality orders the insert, so the ids come back in the order of the rows.
        returning = "id, sequence" if name == "l" else "id"
        ctes.append(
            f"{name} AS (INSERT INTO {table} ({columns}) SELECT {values} "
            f"FROM {source}, jsonb_populate_record(NULL::{table}, e.doc) AS r ORDER BY e.o RETURNING {returning})"
        )
        # Ids come from one sequence in the order the rows were inserted, which ORDER BY e.o fixed.
        selects.append(f"ARRAY(SELECT id FROM {name} ORDER BY id)")
    return f"WITH {', '.join(ctes)} SELECT {', '.join(selects)}"


def case_graph_insert(
    *,
    case: Case,
    lines: Sequence[ServiceLine],
    children: Sequence[Rows] = (),
    guard: tuple[str, Sequence[Any]] | None = None,
    using: str = "default",
) -> bool:
    """Insert `case`, its `lines` and `children` in one statement and give every object its id.

    The objects end as `Model.save()` and `bulk_create` leave them: with primary keys, their
    foreign-key ids set, and marked as saved. `guard` is an SQL condition and its parameters:
    when it does not hold in the statement's snapshot nothing is written, the objects stay
    unsaved and the answer is False.
    """
    connection = connections[using]
    ordered_lines = sorted(lines, key=lambda line: line.sequence)
    groups = [group for group in children if group.objs]
    if not ordered_lines and any(group.line_fk for group in groups):
        raise ValueError("rows that point at a service line need the case's lines")
    shape = [_group(Case, None, None)]
    params: list[Any] = [_row(case, shape[0].fields, connection)]
    if ordered_lines:
        shape.append(_group(ServiceLine, "case", None))
        params.append([_row(line, shape[-1].fields, connection) for line in ordered_lines])
    for group in groups:
        layout = _group(type(group.objs[0]), group.case_fk, group.line_fk)
        shape.append(layout)
        rows = [_row(obj, layout.fields, connection) for obj in group.objs]
        if group.line_fk is not None:
            for row, obj in zip(rows, group.objs, strict=True):
                row[_LINE_KEY] = getattr(obj, group.line_fk).sequence
        params.append(rows)
    sql = _statement(tuple(shape), connection.alias, guard[0] if guard else None)
    values: list[Any] = [_json_dumps(p, group.encoder) for p, group in zip(params, shape, strict=True)]
    if guard:
        values[1:1] = guard[1]  # the guard's placeholders follow the case's row
    # Alone, the statement is atomic; inside the caller's transaction a savepoint keeps a
    # refused insert (a case number already taken, say) from breaking that transaction.
    savepoint = transaction.atomic(using=using) if connection.in_atomic_block else nullcontext()
    with savepoint, connection.cursor() as cursor:
        cursor.execute(sql, values)
        row = cursor.fetchone()
    assert row is not None
    if row[0] is None:
        return False
    case.pk = row[0]
    _saved(case, using)
    results = list(row[1:])
    if ordered_lines:
        for line, pk in zip(ordered_lines, results.pop(0), strict=True):
            line.pk = pk
            _point_at(line, "case", case)
            _saved(line, using)
    for group, ids in zip(groups, results, strict=True):
        for obj, pk in zip(group.objs, ids, strict=True):
            obj.pk = pk
            if group.case_fk is not None:
                _point_at(obj, group.case_fk, case)
            if group.line_fk is not None:
                _point_at(obj, group.line_fk, getattr(obj, group.line_fk))
            _saved(obj, using)
    return True


def _point_at(obj: Model, name: str, target: Model) -> None:
    """Set `obj`'s foreign key `name` to the now saved `target`, keeping `target` cached."""
    field = _foreign_key(type(obj), name)
    if field.is_cached(obj) and field.get_cached_value(obj) is target:
        # The object is already the cached one: store its new key alone (through the `_id`
        # attribute's descriptor that would drop the cached object; through the relation's it
        # costs a type check and a cache write per row).
        obj.__dict__[field.attname] = target.pk
    else:
        setattr(obj, name, target)


@functools.cache
def _foreign_key(model: type[Model], name: str) -> models.ForeignKey[Any, Any]:
    field = model._meta.get_field(name)
    assert isinstance(field, models.ForeignKey)
    return field


_json_encoders: dict[type[json.JSONEncoder] | None, json.JSONEncoder] = {}

# What orjson leaves to `default` (the class's own encoder), so the text holds what that encoder
# writes: dates and times as Django's encoder writes them (milliseconds, "Z"), dataclasses
# refused as json refuses them; dictionary keys that are not text converted as json converts.
_ORJSON_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_NON_STR_KEYS


def _json_dumps(value: Any, cls: type[json.JSONEncoder] | None) -> str:
    """`value` as JSON text, as `cls` (json's own encoder if None) writes it.

    orjson writes the rows about five times faster than json (bench/intake); what it cannot
    write (an integer wider than 64 bits, say) goes through `cls` itself, which writes it or
    raises as before.
    """
    encoder = _json_encoder(cls)
    try:
        return orjson.dumps(value, default=encoder.default, option=_ORJSON_OPTIONS).decode()
    except orjson.JSONEncodeError:
        return encoder.encode(value)


def _json_encoder(cls: type[json.JSONEncoder] | None) -> json.JSONEncoder:
    # One per class and process: json.dumps with options builds a new encoder on every call.
    encoder = _json_encoders.get(cls)
    if encoder is None:
        encoder = _json_encoders[cls] = (cls or json.JSONEncoder)(ensure_ascii=False, separators=(",", ":"))
    return encoder


def _saved(obj: Model, using: str) -> None:
    obj._state.adding = False
    obj._state.db = using
