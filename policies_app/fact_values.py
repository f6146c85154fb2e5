"""A clinical fact's value read as its catalogue type: what a reviewer records, what an editor
compares a criterion with, in the form the engine reads."""

from __future__ import annotations

import math
from datetime import date
from typing import Any

from policies_app.models import FactType

TEXT_VALUE_MAX = 500
CODE_LIST_MAX = 50

_YES = frozenset({"true", "yes", "y", "1"})
_NO = frozenset({"false", "no", "n", "0"})


def typed_value(value: Any, value_type: str) -> Any:
    """A value (typed, or as a form sends it) read as `value_type`, in the form the clinical facts
    keep it; ValueError saying what is expected."""
    if value_type in (FactType.NUMBER, FactType.INTEGER):
        number = _number(value)
        if value_type == FactType.INTEGER:
            if not float(number).is_integer():
                raise ValueError("must be a whole number")
            return int(number)
        return int(number) if isinstance(number, float) and number.is_integer() else number
    if value_type == FactType.BOOLEAN:
        if isinstance(value, bool):
            return value
        word = str(value).strip().lower()
        if word in _YES:
            return True
        if word in _NO:
            return False
        raise ValueError("must be yes or no")
    if value_type == FactType.DATE:
        if isinstance(value, date):
            return value.isoformat()
        try:
            return date.fromisoformat(str(value).strip()).isoformat()
        except ValueError:
            raise ValueError("must be a date (YYYY-MM-DD)") from None
    if value_type == FactType.CODE_LIST:
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)) or not all(isinstance(v, str) for v in items):
            raise ValueError("must be a list of codes")
        codes = [v.strip().upper() for v in items if v.strip()]
        if not codes:
            raise ValueError("must be a list of codes")
        if len(codes) > CODE_LIST_MAX:
            raise ValueError(f"at most {CODE_LIST_MAX} codes")
        return codes
    if not isinstance(value, str):
        raise ValueError("must be text")
    text = value.strip()
    if len(text) > TEXT_VALUE_MAX:
        raise ValueError(f"at most {TEXT_VALUE_MAX} characters")
    return text


def _number(value: Any) -> int | float:
    if isinstance(value, bool):
        raise ValueError("must be a number")
    if isinstance(value, (int, float)):
        number: int | float = value
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise ValueError("must be a number") from None
    else:
        raise ValueError("must be a number")
    if isinstance(number, float) and not math.isfinite(number):
        raise ValueError("must be a finite number")
    return number
