"""Model instances built as the ORM builds them, for the API's hot paths (bench/intake).

`instance`: from a row of hand-written SQL (intake's facts, `selectors.intake_facts`), read so
because compiling the ORM query cost more than running it. `Model.from_db` alone is not enough:
the ORM also runs each column's converters (SQLite returns booleans as integers and datetimes
without their zone), and this module does the same.

`unsaved`: a new instance, as `Model(**values)` builds it. Django's keyword path costs about
50 us for a case's row (a descriptor call per related object, a default looked up per field);
intake builds nine a submission.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from django.db import connections
from django.db.models import ForeignKey, Model

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


@functools.cache
def _init_plan(model: type[Model]) -> tuple[tuple[Any, str, str, bool], ...] | None:
    """Per concrete field, in the order of Model.__init__'s positional arguments: the field, its
    name, its attribute and whether it is a many-to-one key. None for a model with another kind
    of relation among its columns (a one-to-one also caches itself on the related object):
    `unsaved` leaves those to Model.__init__."""
    plan = []
    for f in model._meta.concrete_fields:
        if f.is_relation and not (type(f) is ForeignKey and f.many_to_one):
            return None
        plan.append((f, f.name, f.attname, f.is_relation))
    return tuple(plan)


def unsaved(model: type[M], /, **values: Any) -> M:
    """`model(**values)`, built by Model.__init__'s positional path.

    As the keyword path: a foreign key given by name takes the related object (or None), whose
    key it stores and which it caches; given by attribute (`case_id`), the key alone; any
    other field not given takes its default. A name that is not a field is a TypeError.
    """
    plan = _init_plan(model)
    if plan is None:
        return model(**values)
    args: list[Any] = []
    related: list[tuple[Any, Model | None]] = []
    for field, name, attname, is_fk in plan:
        if is_fk and name in values:
            obj = values.pop(name)
            if obj is not None and not isinstance(obj, field.remote_field.model):
                raise ValueError(f'"{model.__name__}.{name}" must be a "{field.remote_field.model.__name__}" instance.')
            args.append(None if obj is None else getattr(obj, field.target_field.attname))
            related.append((field, obj))
        elif attname in values:
            args.append(values.pop(attname))
        else:
            args.append(field.get_default())
    if values:
        raise TypeError(f"{model.__name__} got unexpected keyword arguments: {', '.join(map(repr, values))}")
    instance = model(*args)
    for field, obj in related:
        field.set_cached_value(instance, obj)
    return instance
