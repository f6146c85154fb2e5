"""Dates as payers write them, found anywhere in a line."""

from __future__ import annotations

import re
from datetime import date

from policies_app.importer import parse_date

_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
# A day may carry its ordinal ("March 1st, 2026"); a numeric date may use dashes ("03-01-2026") or a
# two-digit year ("03/01/26"), as letters and bulletins often do; archives and spreadsheets write the
# day, the month's abbreviation and the year between dashes ("31-Mar-2025", "31-Mar-25"). A tab parts
# cells, so a day never stands a tab before its month ("5<tab>Oct 2021" is a version and a month).
_DAY = r"\d{1,2}(?:st|nd|rd|th)?"
DATE_PATTERN = (
    rf"(?:{_MONTH}\s+{_DAY},?\s+\d{{4}}|{_DAY}[^\S\t\n]+(?:of\s+)?{_MONTH},?\s+\d{{4}}|{_MONTH},?\s+\d{{4}}"
    rf"|\d{{1,2}}-{_MONTH}-(?:\d{{4}}|\d{{2}}(?!\d))"
    r"|\d{1,2}/\d{1,2}/\d{4}|\d{1,2}-\d{1,2}-\d{4}|\d{1,2}/\d{1,2}/\d{2}(?![\d/])|\d{1,2}/\d{4}"
    r"|\d{4}-\d{2}-\d{2}|\d{4}-\d{2}(?!\d))"
)
DATE_RE = re.compile(rf"(?<![\w/-])({DATE_PATTERN})(?![\w/])", re.IGNORECASE)
_DAY_FIRST_RE = re.compile(rf"^(\d{{1,2}})\s+(?:of\s+)?({_MONTH}),?\s+(\d{{4}})$", re.IGNORECASE)
_ORDINAL_RE = re.compile(r"(?<=\d)(?:st|nd|rd|th)\b", re.IGNORECASE)
_DASHED_RE = re.compile(r"^(\d{1,2})-(\d{1,2})-(\d{4})$")
_SHORT_YEAR_RE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{2})$")
_DASHED_MONTH_RE = re.compile(rf"^(\d{{1,2}})-({_MONTH})-(\d{{2}}|\d{{4}})$", re.IGNORECASE)


def to_date(text: str) -> tuple[date, bool] | None:
    """The date and whether it names a day, or None when the text is no real date."""
    text = _ORDINAL_RE.sub("", " ".join(text.split()))
    if m := _DAY_FIRST_RE.match(text):
        text = f"{m.group(2)} {m.group(1)}, {m.group(3)}"
    elif m := _DASHED_MONTH_RE.match(text):
        year = m.group(3) if len(m.group(3)) == 4 else f"20{m.group(3)}"
        text = f"{m.group(2)} {m.group(1)}, {year}"
    elif m := _DASHED_RE.match(text):
        text = f"{m.group(1)}/{m.group(2)}/{m.group(3)}"
    elif m := _SHORT_YEAR_RE.match(text):
        # Policies are written this century; "03/01/26" is 2026.
        text = f"{m.group(1)}/{m.group(2)}/20{m.group(3)}"
    parsed = parse_date(text)
    if parsed is None:
        return None
    return parsed.value, parsed.has_day


# A log's Date column or a header label may give only the month and a two-digit year ("02/14",
# "Date of Last Revision: 10/25"); read only where a date is expected, as a fraction takes that shape too.
MONTH_YEAR_PATTERN = r"(?:0?[1-9]|1[0-2])/\d{2}(?![\d/])"
MONTH_YEAR_RE = re.compile(r"(?<![\w/.,-])(?P<m>0?[1-9]|1[0-2])/(?P<y>\d{2})(?![\w/.,-])")


def month_year_date(text: str) -> date | None:
    """The first day of the month a "MM/YY" text names, or None; a year past next year is last century's."""
    match = MONTH_YEAR_RE.fullmatch(text.strip())
    if match is None:
        return None
    year = 2000 + int(match.group("y"))
    if year > date.today().year + 1:
        year -= 100
    return date(year, int(match.group("m")), 1)


# An outliner's timestamp wraps its date in angle brackets (active) or square brackets (inactive) and
# may add the weekday and a time ("<2026-05-01 Fri>", "[2025-11-20 Thu 14:02]"): the date within is
# the date, and its brackets and weekday belong to it, not to the text around it.
TIMESTAMP_OPEN = r"[<\[]"
_TIMESTAMP_TAIL_RE = re.compile(r"(?:[ \t]+[A-Za-z]{2,3}\.?)?(?:[ \t]+\d{1,2}:\d{2})?[ \t]*[>\]]")


def timestamp_span(text: str, start: int, end: int) -> tuple[int, int]:
    """The span of the date at `start:end` widened to the outliner timestamp around it, if any."""
    if start > 0 and text[start - 1] in "<[" and (tail := _TIMESTAMP_TAIL_RE.match(text, end)):
        closing = tail.group(0)[-1]
        if (text[start - 1], closing) in (("<", ">"), ("[", "]")):
            return start - 1, tail.end()
    return start, end
