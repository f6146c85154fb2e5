"""Eligibility: the member coverage the plan's enrollment system states, and the flag a service
line gets when no coverage covers its date of service (../shared/DOMAIN.md, "Triage at intake").

A load (`manage.py load_eligibility`, `POST /api/v1/eligibility`) is all or nothing: every row is
checked, and one bad row means nothing is written, with every bad row named. It is idempotent: a
coverage period is its member, line of business, plan and start date (the table's unique
constraint); loading a period again changes nothing, and a period loaded again with another end
takes that end, since the enrollment system's latest word on a period is the one that holds (a
termination, an extension, a termination withdrawn). Within one load the last row of a period
wins.

The check is off unless the plan turns it on (ELIGIBILITY_CHECK), so a plan without an
eligibility file is not flagged on every line. A missing coverage is a warning for the nurse,
never a refusal: members are enrolled retroactively.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import NamedTuple

from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from casemgmt.audit.models import AuditAction, AuditObject
from casemgmt.audit.services import audit_record
from casemgmt.cases.models import Case, Flag, FlagKind, FlagSeverity, MemberCoverage, ServiceLine
from casemgmt.kernel.errors import ValidationFailed
from casemgmt.kernel.roles import Role, require_role
from policies_app.models import LineOfBusiness

MEMBER_ID_MAX = 50
PLAN_ID_MAX = 50
# Rows written per statement (ORM) or per COPY (PostgreSQL).
BATCH_SIZE = 5000
# A file with a shifted column has a problem on every row: name the first ones and count the rest.
MAX_ROWS_REPORTED = 100
# The audit log's object type for a load.
AUDIT_OBJECT = AuditObject.MEMBER_COVERAGE

_LINES_OF_BUSINESS = frozenset(LineOfBusiness.values)
_LINE_OF_BUSINESS_PROBLEM = f"must be one of {', '.join(LineOfBusiness.values)}"
_NOT_A_DATE = "not a date: use YYYY-MM-DD"
# PostgreSQL stores no NUL in text (the API's parser refuses one before this; a file may hold one).
_NUL = "holds a NUL character"


class CoverageRow(NamedTuple):
    """One coverage period as sent. Dates are date objects (the API) or ISO text (a CSV file);
    an empty or missing end is an open-ended coverage. `line` is the file line the row came
    from, 0 when it came from no file; problems are named by it, else by the row's position."""

    member_id: str
    line_of_business: str
    plan_id: str
    coverage_start: date | str | None
    coverage_end: date | str | None
    line: int = 0


class _Period(NamedTuple):
    member_id: str
    line_of_business: str
    plan_id: str
    coverage_start: date
    coverage_end: date | None


@dataclass(frozen=True)
class LoadResult:
    """What a load did. `periods` are the distinct coverage periods among the rows (a period sent
    twice counts once): each was inserted, had its end updated, or was already there as sent."""

    rows: int
    periods: int
    inserted: int
    updated: int
    unchanged: int


# --- checking a row ---------------------------------------------------------------------------


def _date(value: date | str | None) -> date | None:
    """The date `value` states, None when it states none; ValueError when it is not one."""
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        # Only the YYYY-MM-DD form: fromisoformat also reads 20261214 and 2026-W50-1.
        if len(text) != 10 or text[4] != "-" or text[7] != "-":
            raise ValueError(text)
        return date.fromisoformat(text)
    return value


def coverage_row_problems(row: CoverageRow) -> tuple[_Period | None, dict[str, list[str]]]:
    """The period a row states, or None with its problems by field."""
    member_id, line_of_business, plan_id, start_value, end_value, _line = row
    member_id, line_of_business, plan_id = member_id.strip(), line_of_business.strip(), plan_id.strip()
    try:
        start, end = _date(start_value), _date(end_value)
    except ValueError:
        start = end = None
    else:
        # A file's million rows take this way: each check once, no message built.
        if (
            start is not None
            and (end is None or end >= start)
            and 0 < len(member_id) <= MEMBER_ID_MAX
            and len(plan_id) <= PLAN_ID_MAX
            and line_of_business in _LINES_OF_BUSINESS
            and "\x00" not in member_id
            and "\x00" not in plan_id
        ):
            return _Period(member_id, line_of_business, plan_id, start, end), {}
    problems: dict[str, list[str]] = {}
    if not member_id:
        problems["member_id"] = ["required"]
    elif len(member_id) > MEMBER_ID_MAX:
        problems["member_id"] = [f"at most {MEMBER_ID_MAX} characters"]
    elif "\x00" in member_id:
        problems["member_id"] = [_NUL]
    if line_of_business not in _LINES_OF_BUSINESS:
        problems["line_of_business"] = [_LINE_OF_BUSINESS_PROBLEM]
    if len(plan_id) > PLAN_ID_MAX:
        problems["plan_id"] = [f"at most {PLAN_ID_MAX} characters"]
    elif "\x00" in plan_id:
        problems["plan_id"] = [_NUL]
    try:
        start = _date(start_value)
        if start is None:
            problems["coverage_start"] = ["required: a date as YYYY-MM-DD"]
    except ValueError:
        start = None
        problems["coverage_start"] = [_NOT_A_DATE]
    try:
        end = _date(end_value)
    except ValueError:
        problems["coverage_end"] = [_NOT_A_DATE]
    else:
        if start is not None and end is not None and end < start:
            problems["coverage_end"] = [f"is before the coverage start ({start.isoformat()})"]
    return None, problems


def _row_name(row: CoverageRow, index: int) -> str:
    return f"line {row.line}: " if row.line else f"coverages[{index}]."


# --- writing -----------------------------------------------------------------------------------


class _OrmWriter:
    """Any database: each batch's periods compared with the rows already there, new ones
    inserted (a concurrent load's copy of one is skipped), changed ends updated."""

    def __init__(self, loaded_at: datetime) -> None:
        self.loaded_at = loaded_at
        # The periods this load wrote: a later batch repeating one does not count it again.
        self.seen: set[tuple[str, str, str, date]] = set()
        self.inserted = self.updated = self.unchanged = 0

    def add(self, batch: list[_Period]) -> None:
        latest = {(p.member_id, p.line_of_business, p.plan_id, p.coverage_start): p for p in batch}
        existing: dict[tuple[str, str, str, date], tuple[int, date | None]] = {}
        members = sorted({key[0] for key in latest})
        for i in range(0, len(members), 500):
            rows = MemberCoverage.objects.filter(member_id__in=members[i : i + 500]).values_list(
                "pk", "member_id", "line_of_business", "plan_id", "coverage_start", "coverage_end"
            )
            for pk, member_id, line_of_business, plan_id, start, end in rows:
                key = (member_id, line_of_business, plan_id, start)
                if key in latest:
                    existing[key] = (pk, end)
        new: list[MemberCoverage] = []
        changed: list[MemberCoverage] = []
        for key, period in latest.items():
            repeated = key in self.seen
            self.seen.add(key)
            if key not in existing:
                new.append(MemberCoverage(**period._asdict(), loaded_at=self.loaded_at))
                self.inserted += 1
            elif existing[key][1] != period.coverage_end:
                pk = existing[key][0]
                changed.append(MemberCoverage(pk=pk, coverage_end=period.coverage_end, loaded_at=self.loaded_at))
                self.updated += not repeated
            else:
                self.unchanged += not repeated
        MemberCoverage.objects.bulk_create(new, ignore_conflicts=True)
        MemberCoverage.objects.bulk_update(changed, ["coverage_end", "loaded_at"])

    def finish(self) -> tuple[int, int, int, int]:
        return len(self.seen), self.inserted, self.updated, self.unchanged


class _PostgresWriter:
    """PostgreSQL: the rows are copied (COPY) into a temporary table, then merged into the
    coverage table in two set-wide statements (bench/eligibility measures it)."""

    STAGE = "eligibility_load"
    LATEST = "eligibility_latest"

    def __init__(self, loaded_at: datetime) -> None:
        self.loaded_at = loaded_at
        self.rows = 0
        with connection.cursor() as cursor:
            # The row's position orders repeats of a period: the last one wins.
            cursor.execute(
                f"CREATE TEMPORARY TABLE {self.STAGE} (seq bigint, member_id text, line_of_business text, "
                "plan_id text, coverage_start date, coverage_end date) ON COMMIT DROP"
            )

    def add(self, batch: list[_Period]) -> None:
        # One CSV block per batch, written by the csv module (C) rather than row by row: a date
        # is written as YYYY-MM-DD, no end as an empty field, which COPY reads as NULL (but an
        # empty plan as the empty text it is, FORCE_NOT_NULL). No field holds a NUL.
        block = io.StringIO()
        csv.writer(block, lineterminator="\n").writerows(
            (seq, *period) for seq, period in enumerate(batch, start=self.rows + 1)
        )
        self.rows += len(batch)
        with (
            connection.cursor() as cursor,
            cursor.copy(f"COPY {self.STAGE} FROM STDIN (FORMAT csv, FORCE_NOT_NULL (plan_id))") as copy,
        ):
            copy.write(block.getvalue())

    def finish(self) -> tuple[int, int, int, int]:
        q = connection.ops.quote_name
        table = q(MemberCoverage._meta.db_table)
        key = "member_id, line_of_business, plan_id, coverage_start"
        same_period = (
            "c.member_id = l.member_id AND c.line_of_business = l.line_of_business "
            "AND c.plan_id = l.plan_id AND c.coverage_start = l.coverage_start"
        )
        with connection.cursor() as cursor:
            cursor.execute(
                f"CREATE TEMPORARY TABLE {self.LATEST} ON COMMIT DROP AS "
                f"SELECT DISTINCT ON ({key}) {key}, coverage_end FROM {self.STAGE} ORDER BY {key}, seq DESC"
            )
            periods = cursor.rowcount
            cursor.execute(f"ANALYZE {self.LATEST}")
            # One load at a time (intake's reads go on): the periods found missing below are
            # still missing when inserted, without the cost of ON CONFLICT on every row.
            cursor.execute(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE")
            cursor.execute(
                f"UPDATE {table} AS c SET coverage_end = l.coverage_end, loaded_at = %s FROM {self.LATEST} AS l "
                f"WHERE {same_period} AND c.coverage_end IS DISTINCT FROM l.coverage_end",
                [self.loaded_at],
            )
            updated = cursor.rowcount
            cursor.execute(
                f"INSERT INTO {table} ({key}, coverage_end, loaded_at) "
                f"SELECT {key}, coverage_end, %s FROM {self.LATEST} AS l "
                f"WHERE NOT EXISTS (SELECT 1 FROM {table} AS c WHERE {same_period})",
                [self.loaded_at],
            )
            inserted = cursor.rowcount
            # Dropped now, not at commit: a caller's outer transaction may load again.
            cursor.execute(f"DROP TABLE {self.STAGE}, {self.LATEST}")
        return periods, inserted, updated, periods - inserted - updated


def _writer(loaded_at: datetime) -> _OrmWriter | _PostgresWriter:
    return _PostgresWriter(loaded_at) if connection.vendor == "postgresql" else _OrmWriter(loaded_at)


def coverage_rows_load(*, rows: Iterable[CoverageRow], source: str, user: User | None) -> LoadResult:
    """Load coverage periods, all or nothing (see the module docstring).

    `rows` is read once, as it comes (a file is never held in memory). A bad row stops the
    writing but not the reading, so every bad row is named (the first MAX_ROWS_REPORTED of them)
    in the ValidationFailed raised at the end, by file line or by position (`coverages[12].
    coverage_end`); the transaction then rolls back what was written. `source` says where the
    rows came from, for the audit row ("api", "load_eligibility"); `user` is None for a
    management command, run by the plan's operators.
    """
    if user is not None:
        require_role(user, Role.MANAGER, action="load member coverage")
    loaded_at = timezone.now()
    problems: dict[str, list[str]] = {}
    bad_rows = count = 0
    with transaction.atomic():
        writer = _writer(loaded_at)
        batch: list[_Period] = []
        for count, row in enumerate(rows, start=1):
            period, row_problems = coverage_row_problems(row)
            if period is None:
                bad_rows += 1
                if bad_rows <= MAX_ROWS_REPORTED:
                    name = _row_name(row, count - 1)
                    problems.update({f"{name}{field}": messages for field, messages in row_problems.items()})
                continue
            if bad_rows:
                continue  # nothing more is written; the rest is only checked
            batch.append(period)
            if len(batch) >= BATCH_SIZE:
                writer.add(batch)
                batch = []
        if bad_rows > MAX_ROWS_REPORTED:
            problems["coverages"] = [
                f"{bad_rows:,} rows have problems; the first {MAX_ROWS_REPORTED} are named. Nothing was loaded."
            ]
        if problems:
            raise ValidationFailed(problems)
        if not count:
            raise ValidationFailed({"coverages": ["no rows: nothing to load"]})
        writer.add(batch)
        periods, inserted, updated, unchanged = writer.finish()
        result = LoadResult(rows=count, periods=periods, inserted=inserted, updated=updated, unchanged=unchanged)
        # Counts only: the members loaded are in the table, not in the log.
        audit_record(
            action=AuditAction.CREATE,
            object_type=AUDIT_OBJECT,
            user=user,
            detail={
                "source": source,
                "rows": result.rows,
                "periods": result.periods,
                "inserted": result.inserted,
                "updated": result.updated,
                "unchanged": result.unchanged,
            },
        )
    return result


# --- the check at intake -------------------------------------------------------------------------


def eligibility_flags(
    *, line_of_business: str, member_id: str, lines: Sequence[ServiceLine], case: Case, now: datetime
) -> list[Flag]:
    """Unsaved `member_not_eligible` flags of `case`: one on each line whose date of service no
    coverage of the member under the case's line of business covers. None while ELIGIBILITY_CHECK
    is off. One query, for every line."""
    if not settings.ELIGIBILITY_CHECK or not lines:
        return []
    first = min(line.date_of_service for line in lines)
    last = max(line.date_of_service for line in lines)
    periods = list(
        MemberCoverage.objects.filter(member_id=member_id.strip(), coverage_start__lte=last)
        .filter(Q(coverage_end__isnull=True) | Q(coverage_end__gte=first))
        .values_list("line_of_business", "coverage_start", "coverage_end")
    )
    label = LineOfBusiness(line_of_business).label
    flags = []
    for line in lines:
        day = line.date_of_service
        covering = sorted(set(_lines_covering(periods, day)))
        if line_of_business in covering:
            continue
        # Every line of business was read: a member covered under another one that day is worth saying.
        elsewhere = ", ".join(LineOfBusiness(lob).label for lob in covering)
        elsewhere = f" (covered under {elsewhere} that day)" if elsewhere else ""
        flags.append(
            Flag(
                case=case,
                service_line=line,
                kind=FlagKind.MEMBER_NOT_ELIGIBLE,
                severity=FlagSeverity.WARNING,
                message=f"No coverage under {label} on {day.isoformat()}{elsewhere}: the member may have "
                "been enrolled retroactively; check before deciding.",
                details={
                    "date_of_service": day.isoformat(),
                    "line_of_business": line_of_business,
                    "covered_under": covering,
                },
                created_at=now,
            )
        )
    return flags


def _lines_covering(periods: Iterable[tuple[str, date, date | None]], day: date) -> Iterator[str]:
    for lob, start, end in periods:
        if start <= day and (end is None or day <= end):
            yield lob
