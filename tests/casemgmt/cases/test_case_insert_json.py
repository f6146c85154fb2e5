"""The JSON text `case_insert` binds for each kind of row: what the rows' own encoder writes.

orjson writes it (casemgmt/cases/case_insert.py, `_json_dumps`); these check it stays the same text
json and Django's encoder write, and that what orjson cannot write still goes through them.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.core.serializers.json import DjangoJSONEncoder

from casemgmt.cases.case_insert import _json_dumps

ROW = {"name": "Zoë", "units": 3, "ratio": 0.1, "flag": True, "none": None, "list": [1, "a"], "nested": {"k": [{}]}}


def _plain(value: object) -> str:
    return json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode(value)


def test_ordinary_rows_are_written_as_json_writes_them() -> None:
    assert _json_dumps([ROW, ROW], None) == _plain([ROW, ROW])


def test_dates_and_decimals_are_written_as_djangos_encoder_writes_them() -> None:
    row = {
        "at": datetime(2026, 12, 4, 17, 37, 41, 572757, tzinfo=UTC),
        "day": date(2026, 12, 4),
        "amount": Decimal("12.50"),
        "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
    }
    expected = DjangoJSONEncoder(ensure_ascii=False, separators=(",", ":")).encode(row)
    assert _json_dumps(row, DjangoJSONEncoder) == expected
    assert '"at":"2026-12-04T17:37:41.572Z"' in expected


def test_an_integer_wider_than_64_bits_is_still_written() -> None:
    row = {"big": 2**70, "keys": {1: "one"}}
    assert _json_dumps(row, None) == _plain(row)


def test_a_value_no_encoder_can_write_is_refused_as_json_refuses_it() -> None:
    with pytest.raises(TypeError, match="not JSON serializable"):
        _json_dumps({"when": datetime(2026, 1, 1, tzinfo=UTC)}, None)
