"""DRF serializers compiled into plain functions, for the API's hot path (POST /cases).

Why: DRF runs every field through a general machinery (get_value, validate_empty_values,
run_validators, get_attribute with its callable checks, ...). For the intake request, about 35
input and 60 output fields, that machinery cost more than the rest of the submission's Python
work together (bench/intake). The serializers stay the definition of the API (the OpenAPI
schema, the error bodies); this module reads their declarations and builds functions that do
what DRF does for the value types a well-formed request carries.

The rules that keep it exact:

- Only field classes and options listed here compile; any other field, option, custom validator
  or overridden method makes `compile_*` return None, and the caller uses DRF.
- The input function accepts only what it can prove DRF accepts, with the value DRF returns;
  for anything else (a wrong type, a string DRF would coerce, any refusal) it answers DECLINE
  and the request goes through DRF, which then produces the usual 400 with its field paths.
- The output function uses the field's own `to_representation` for dates and times (time zone
  and format settings apply unchanged); where DRF would skip or fail, it answers DECLINE.

tests/casemgmt/api/test_fast_serializers.py compares both with DRF on generated input.
"""

from __future__ import annotations

import re
import types
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any, cast

from django.conf import settings
from django.core import validators as django_validators
from django.core.exceptions import ObjectDoesNotExist
from django.db.models.manager import BaseManager
from django.utils import timezone
from rest_framework import ISO_8601, serializers
from rest_framework import validators as drf_validators
from rest_framework.fields import (
    DictField,
    ListField,
    _UnvalidatedField,
    empty,
    is_simple_callable,
)
from rest_framework.settings import api_settings


class _Decline:
    """Returned (never raised) when a value is not one this module can vouch for."""

    def __repr__(self) -> str:
        return "DECLINE"


DECLINE: Any = _Decline()

Check = Callable[[Any], Any]
Render = Callable[[Any], Any]

_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_SURROGATE = re.compile("[\ud800-\udfff]")

# The validators DRF adds by itself from a field's options; any other one is custom.
_CHAR_VALIDATORS = (
    django_validators.MaxLengthValidator,
    django_validators.MinLengthValidator,
    django_validators.ProhibitNullCharactersValidator,
    drf_validators.ProhibitSurrogateCharactersValidator,
)
_NUMBER_VALIDATORS = (django_validators.MaxValueValidator, django_validators.MinValueValidator)
_LENGTH_VALIDATORS = (django_validators.MaxLengthValidator, django_validators.MinLengthValidator)


def _only(field: serializers.Field, allowed: tuple[type, ...]) -> bool:
    return all(type(v) in allowed for v in field.validators)


# --- input ------------------------------------------------------------------------------------


def _char_check(field: serializers.CharField) -> Check | None:
    if type(field) is not serializers.CharField or not _only(field, _CHAR_VALIDATORS):
        return None
    max_length, min_length = field.max_length, field.min_length
    allow_blank, trim = field.allow_blank, field.trim_whitespace

    def check(value: Any) -> Any:
        if type(value) is not str:
            return DECLINE
        text = value.strip() if trim else value
        if text == "":
            # DRF: blank (or, trimmed, only whitespace) is '' when allowed, a refusal otherwise.
            return "" if allow_blank else DECLINE
        if max_length is not None and len(text) > max_length:
            return DECLINE
        if min_length is not None and len(text) < min_length:
            return DECLINE
        if "\x00" in text or (not text.isascii() and _SURROGATE.search(text)):
            return DECLINE
        return text

    return check


def _choice_check(field: serializers.ChoiceField) -> Check | None:
    if type(field) is not serializers.ChoiceField or field.validators:
        return None
    choices = dict(field.choice_strings_to_values)

    def check(value: Any) -> Any:
        if type(value) is not str or value not in choices:
            return DECLINE
        return choices[value]

    return check


def _integer_check(field: serializers.IntegerField) -> Check | None:
    if type(field) is not serializers.IntegerField or not _only(field, _NUMBER_VALIDATORS):
        return None
    low, high = field.min_value, field.max_value

    def check(value: Any) -> Any:
        if type(value) is not int or (low is not None and value < low) or (high is not None and value > high):
            return DECLINE
        # DRF reads an integer through str(), which refuses more than 4300 digits.
        return value if value.bit_length() <= 64 else DECLINE

    return check


def _date_check(field: serializers.DateField) -> Check | None:
    input_formats = getattr(field, "input_formats", api_settings.DATE_INPUT_FORMATS)
    if type(field) is not serializers.DateField or field.validators or [f.lower() for f in input_formats] != [ISO_8601]:
        return None

    def check(value: Any) -> Any:
        if type(value) is not str or _ISO_DATE.fullmatch(value) is None:
            return DECLINE
        try:
            return date.fromisoformat(value)
        except ValueError:
            return DECLINE

    return check


def _list_of(child: Check, *, allow_empty: bool, min_length: int | None, max_length: int | None) -> Check:
    """A list's check, as ListField and ListSerializer both run it: its type, emptiness and
    length, then each item."""

    def check(value: Any) -> Any:
        if type(value) is not list or (not allow_empty and not value):
            return DECLINE
        if (max_length is not None and len(value) > max_length) or (min_length is not None and len(value) < min_length):
            return DECLINE
        items = [child(item) for item in value]
        return DECLINE if any(item is DECLINE for item in items) else items

    return check


def _list_check(field: ListField) -> Check | None:
    if type(field) is not ListField or not _only(field, _LENGTH_VALIDATORS):
        return None
    child = compile_input(field.child)
    if child is None:
        return None
    return _list_of(child, allow_empty=field.allow_empty, min_length=field.min_length, max_length=field.max_length)


def _dict_check(field: DictField) -> Check | None:
    if type(field) is not DictField or field.validators or type(field.child) is not _UnvalidatedField:
        return None
    allow_empty = field.allow_empty

    def check(value: Any) -> Any:
        if type(value) is not dict or (not allow_empty and not value):
            return DECLINE
        return {str(k): v for k, v in value.items()}

    return check


def _serializer_check(serializer: serializers.Serializer) -> Check | None:
    from casemgmt.api.serializers import StrictSerializer

    cls = type(serializer)
    allowed_to_internal = (serializers.Serializer.to_internal_value, StrictSerializer.to_internal_value)
    if (
        cls.to_internal_value not in allowed_to_internal
        or cls.run_validation is not serializers.Serializer.run_validation
        or cls.validate is not serializers.Serializer.validate
        or serializer.validators
        or getattr(getattr(serializer, "Meta", None), "validators", None)
    ):
        return None
    strict = cls.to_internal_value is StrictSerializer.to_internal_value
    plan = []
    for name, field in serializer.fields.items():
        if field.read_only or getattr(serializer, f"validate_{name}", None) is not None:
            return None
        if field.source != name:
            return None
        field_check = compile_input(field)
        if field_check is None:
            return None
        default: Any = field.default
        if field.required:
            default = DECLINE
        elif default is empty:
            pass  # left out of the result, as DRF's SkipField does
        elif callable(default) and (hasattr(default, "requires_context") or hasattr(default, "set_context")):
            return None
        plan.append((name, field_check, field.allow_null, default))
    names = frozenset(name for name, *_ in plan)

    def check_serializer(value: Any) -> Any:
        if type(value) is not dict or (strict and not names.issuperset(value)):
            return DECLINE
        result: dict[str, Any] = {}
        for name, field_check, allow_null, default in plan:
            raw = value.get(name, empty)
            if raw is empty:
                if default is DECLINE:
                    return DECLINE
                if default is not empty:
                    result[name] = default() if callable(default) else default
                continue
            if raw is None:
                if not allow_null:
                    return DECLINE
                result[name] = None
                continue
            checked = field_check(raw)
            if checked is DECLINE:
                return DECLINE
            result[name] = checked
        return result

    return check_serializer


def _list_serializer_check(field: serializers.ListSerializer) -> Check | None:
    cls = type(field)
    if (
        cls is not serializers.ListSerializer
        or field.validators
        or cls.validate is not serializers.ListSerializer.validate
    ):
        return None
    child = compile_input(field.child) if field.child is not None else None
    if child is None:
        return None
    return _list_of(
        child,
        allow_empty=bool(field.allow_empty),
        min_length=getattr(field, "min_length", None),
        max_length=getattr(field, "max_length", None),
    )


def compile_input(field: serializers.Field) -> Check | None:
    """A function giving what `field.run_validation(value)` returns, or DECLINE; None when the
    field cannot be compiled (then use DRF)."""
    if isinstance(field, serializers.ListSerializer):
        return _list_serializer_check(field)
    if isinstance(field, serializers.Serializer):
        return _serializer_check(field)
    builders: dict[type, Callable[[Any], Check | None]] = {
        serializers.ChoiceField: _choice_check,
        serializers.CharField: _char_check,
        serializers.IntegerField: _integer_check,
        serializers.DateField: _date_check,
        ListField: _list_check,
        DictField: _dict_check,
    }
    build = builders.get(type(field))
    return build(field) if build is not None else None


# --- output -----------------------------------------------------------------------------------


_mapping_types: dict[type, bool] = {}


def _is_mapping(kind: type) -> bool:
    known = _mapping_types.get(kind)
    if known is None:
        known = _mapping_types.setdefault(kind, issubclass(kind, Mapping))
    return known


_simple_methods: dict[Any, bool] = {}


def _simple_callable(value: Any) -> bool:
    """DRF's is_simple_callable, remembered per function: a bound method's answer depends only on
    its function (the signature DRF inspects drops `self`), and inspecting costs more than a field."""
    if type(value) is types.MethodType:
        known = _simple_methods.get(value.__func__)
        if known is None:
            known = _simple_methods.setdefault(value.__func__, is_simple_callable(value))
        return known
    return bool(is_simple_callable(value))


def _getter(attrs: list[str]) -> Callable[[Any], Any]:
    """DRF's `fields.get_attribute`, checking for a callable only where there is one."""

    if len(attrs) == 1:
        # Most fields read one attribute: no loop.
        (attr,) = attrs

        def get_one(instance: Any) -> Any:
            value = instance[attr] if _is_mapping(type(instance)) else getattr(instance, attr)
            return value() if callable(value) and _simple_callable(value) else value

        return get_one

    def get(instance: Any) -> Any:
        for attr in attrs:
            instance = instance[attr] if _is_mapping(type(instance)) else getattr(instance, attr)
            if callable(instance) and _simple_callable(instance):
                instance = instance()
        return instance

    return get


def _datetime_render(field: serializers.DateTimeField) -> Render:
    """DateTimeField.to_representation for its usual configuration (ISO 8601 in the current time
    zone); any other configuration, and any value it would not simply convert, goes to DRF's."""
    output_format = getattr(field, "format", api_settings.DATETIME_FORMAT)
    if hasattr(field, "timezone") or not isinstance(output_format, str) or output_format.lower() != ISO_8601:
        return field.to_representation

    def render(value: Any) -> Any:
        if type(value) is not datetime or value.tzinfo is None or not settings.USE_TZ:
            return field.to_representation(value)
        try:
            text = value.astimezone(timezone.get_current_timezone()).isoformat()
        except OverflowError:
            return field.to_representation(value)
        return text[:-6] + "Z" if text.endswith("+00:00") else text

    return render


def _field_render(field: serializers.Field) -> Render | None:
    kind = type(field)
    if kind is serializers.CharField:
        return str
    if kind is serializers.IntegerField:
        return int
    if kind is serializers.DateTimeField:
        return _datetime_render(cast(serializers.DateTimeField, field))
    if kind is serializers.DateField:
        return field.to_representation
    if kind is ListField:
        child = _field_render(cast(ListField, field).child)
        if child is None:
            return None
        return lambda value: [None if item is None else child(item) for item in value]
    if kind is serializers.ListSerializer:
        item = compile_output(cast(serializers.ListSerializer, field).child)  # type: ignore[arg-type]
        if item is None:
            return None

        def render_many(value: Any) -> Any:
            iterable = value.all() if isinstance(value, BaseManager) else value
            items = [item(x) for x in iterable]
            return DECLINE if any(x is DECLINE for x in items) else items

        return render_many
    if isinstance(field, serializers.Serializer):
        return compile_output(field)
    return None


def compile_output(serializer: serializers.Serializer) -> Render | None:
    """A function giving what `serializer.to_representation(instance)` returns, or DECLINE;
    None when the serializer cannot be compiled (then use DRF)."""
    if type(serializer).to_representation is not serializers.Serializer.to_representation:
        return None
    plan = []
    for name, field in serializer.fields.items():
        if field.write_only:
            continue
        render = _field_render(field)
        if render is None or field.source == "*":
            return None
        plan.append((name, _getter(list(field.source_attrs)), render))

    def render_serializer(instance: Any) -> Any:
        result: dict[str, Any] = {}
        for name, get, field_render in plan:
            try:
                value = get(instance)
            except (KeyError, AttributeError, ObjectDoesNotExist):
                return DECLINE  # DRF would skip the field, give None or explain the error: let it
            if value is None:
                result[name] = None
                continue
            if field_render is str and type(value) is str:
                result[name] = value  # str(value) would give the same string
                continue
            rendered = field_render(value)
            if rendered is DECLINE:
                return DECLINE
            result[name] = rendered
        return result

    return render_serializer
