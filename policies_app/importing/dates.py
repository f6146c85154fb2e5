"""Dates as payers write them, found anywhere in a line."""

from __future__ import annotations

import re
from datetime import date

from policies_app.importer import parse_date

_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
DATE_PATTERN = (
    rf"(?:{_MONTH}\s+\d{{1,2}},?\s+\d{{4}}|\d{{1,2}}\s+{_MONTH}\s+\d{{4}}|{_MONTH},?\s+\d{{4}}"
    r"|\d{1,2}/\d{1,2}/\d{4}|\d{1,2}/\d{4}|\d{4}-\d{2}-\d{2}|\d{4}-\d{2}(?!\d))"
)
DATE_RE = re.compile(rf"(?<![\w/-])({DATE_PATTERN})(?![\w/])", re.IGNORECASE)
_DAY_FIRST_RE = re.compile(rf"^(\d{{1,2}})\s+({_MONTH})\s+(\d{{4}})$", re.IGNORECASE)


def to_date(text: str) -> tuple[date, bool] | None:
    """The date and whether it names a day, or None when the text is no real date."""
    text = " ".join(text.split())
    if m := _DAY_FIRST_RE.match(text):
        text = f"{m.group(2)} {m.group(1)}, {m.group(3)}"
    parsed = parse_date(text)
    if parsed is None:
        return None
    return parsed.value, parsed.has_day
