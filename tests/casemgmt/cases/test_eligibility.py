"""Eligibility: loading member coverage (the service and `manage.py load_eligibility`) and the flag
a line gets when no coverage covers its date of service.

../shared/DOMAIN.md, "Triage at intake" ("Eligibility: the member must be covered on the date of
service under that line of business"); issue 17, section 2.
"""

from __future__ import annotations

from datetime import date, timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.utils import timezone

from casemgmt.audit.models import AuditEvent
from casemgmt.cases.management.commands import load_eligibility
from casemgmt.cases.models import Case, FlagKind, FlagSeverity, MemberCoverage, ServiceLine
from casemgmt.cases.services import eligibility
from casemgmt.cases.services.eligibility import (
    AUDIT_OBJECT,
    MAX_ROWS_REPORTED,
    CoverageRow,
    LoadResult,
    coverage_rows_load,
    eligibility_flags,
)
from casemgmt.cases.services.intake import LineInput
from casemgmt.kernel.errors import PermissionDeniedError, ValidationFailed
from tests import factories

pytestmark = pytest.mark.django_db

HEADER = "member_id,line_of_business,plan_id,coverage_start,coverage_end\n"


def row(
    member_id: str = "M123",
    line_of_business: str = "commercial",
    plan_id: str = "P-1",
    start: date | str | None = date(2026, 1, 1),
    end: date | str | None = date(2026, 12, 31),
) -> CoverageRow:
    return CoverageRow(member_id, line_of_business, plan_id, start, end)


def load(*rows: CoverageRow, user: User | None = None) -> LoadResult:
    return coverage_rows_load(rows=rows, source="test", user=user)


def periods() -> list[tuple[str, str, str, date, date | None]]:
    return list(
        MemberCoverage.objects.order_by("member_id", "coverage_start").values_list(
            "member_id", "line_of_business", "plan_id", "coverage_start", "coverage_end"
        )
    )


def csv_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "coverage.csv"
    path.write_text(text, encoding="utf-8")
    return path


# --- loading ------------------------------------------------------------------------------------


def test_a_load_stores_each_coverage_period():
    """Issue 17, section 2: a plan loads member coverage (member id, line of business, plan or
    contract, coverage start and end)."""
    result = load(row(), row(member_id="M456", line_of_business="medicaid", plan_id="", end=None))
    assert result == LoadResult(rows=2, periods=2, inserted=2, updated=0, unchanged=0)
    assert periods() == [
        ("M123", "commercial", "P-1", date(2026, 1, 1), date(2026, 12, 31)),
        ("M456", "medicaid", "", date(2026, 1, 1), None),
    ]


def test_loading_the_same_rows_again_changes_nothing():
    """Issue 17, section 2: the load is idempotent."""
    load(row())
    loaded_at = MemberCoverage.objects.get().loaded_at
    result = load(row())
    assert result == LoadResult(rows=1, periods=1, inserted=0, updated=0, unchanged=1)
    assert MemberCoverage.objects.get().loaded_at == loaded_at


def test_a_period_loaded_again_with_another_end_takes_that_end():
    """Issue 17, section 2: a period is its member, line of business, plan and start; the enrollment
    system's latest end for it (a termination) holds."""
    load(row(end=None))
    result = load(row(end=date(2026, 3, 31)))
    assert (result.inserted, result.updated) == (0, 1)
    assert periods() == [("M123", "commercial", "P-1", date(2026, 1, 1), date(2026, 3, 31))]


def test_within_one_load_the_last_row_of_a_period_wins():
    """Issue 17, section 2 (idempotent): a period sent twice in one load is stored once, as last sent."""
    result = load(row(end=date(2026, 6, 30)), row(end=date(2026, 9, 30)))
    assert (result.rows, result.periods, result.inserted) == (2, 1, 1)
    assert periods() == [("M123", "commercial", "P-1", date(2026, 1, 1), date(2026, 9, 30))]


def test_a_load_larger_than_a_batch_is_written_whole(monkeypatch):
    """Issue 17, section 2: streamed in batches; a period repeated in a later batch still counts once."""
    monkeypatch.setattr(eligibility, "BATCH_SIZE", 2)
    rows = [row(member_id=f"M{i}") for i in range(5)] + [row(member_id="M0", end=None)]
    result = load(*rows)
    assert (result.rows, result.periods, result.inserted) == (6, 5, 5)
    assert MemberCoverage.objects.get(member_id="M0").coverage_end is None


def test_one_bad_row_loads_nothing_and_is_named_by_its_position():
    """Issue 17, section 2: nothing half-loaded; the API names the row as `coverages[i].field`."""
    with pytest.raises(ValidationFailed) as refused:
        load(row(member_id="M1"), row(member_id="M2", start=date(2026, 5, 1), end=date(2026, 4, 30)))
    assert refused.value.errors == {"coverages[1].coverage_end": ["is before the coverage start (2026-05-01)"]}
    assert periods() == []


def test_a_bad_row_from_a_file_is_named_by_its_line():
    """Issue 17, section 2: bad rows reported with their line numbers."""
    bad = CoverageRow("M1", "dental", "P-1", "2026-01-01", "", line=14)
    with pytest.raises(ValidationFailed) as refused:
        load(bad)
    assert list(refused.value.errors) == ["line 14: line_of_business"]


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        (row(member_id="  "), "member_id"),
        (row(member_id="M" * 51), "member_id"),
        (row(member_id="M\x001"), "member_id"),
        (row(line_of_business="dental"), "line_of_business"),
        (row(plan_id="P" * 51), "plan_id"),
        (row(start=None), "coverage_start"),
        (row(start="2026-13-01"), "coverage_start"),
        (row(start="20260101"), "coverage_start"),
        (row(end="31/12/2026"), "coverage_end"),
        (row(start="2026-05-01", end="2026-04-30"), "coverage_end"),
    ],
)
def test_each_field_is_checked(bad: CoverageRow, field: str):
    """Issue 17, section 2 (and the brief): member id non-empty and at most 50 characters (and
    storable: no NUL), a known line of business, plan at most 50, start a date, end empty or a date
    not before the start."""
    with pytest.raises(ValidationFailed) as refused:
        load(bad)
    assert list(refused.value.errors) == [f"coverages[0].{field}"]


def test_a_file_of_bad_rows_names_the_first_hundred_and_counts_the_rest():
    """Issue 17, section 2: bad rows reported; a shifted column must not print a million lines."""
    rows = [row(line_of_business="dental") for _ in range(MAX_ROWS_REPORTED + 5)]
    with pytest.raises(ValidationFailed) as refused:
        load(*rows)
    errors = refused.value.errors
    assert len(errors) == MAX_ROWS_REPORTED + 1
    assert errors["coverages"] == [
        f"{MAX_ROWS_REPORTED + 5} rows have problems; the first 100 are named. Nothing was loaded."
    ]


def test_text_dates_and_surrounding_spaces_are_read():
    """Issue 17, section 2: a CSV file's text dates (YYYY-MM-DD) and an empty end (open-ended)."""
    load(CoverageRow(" M123 ", " medicare_advantage", " H1234 ", " 2026-02-01 ", " "))
    assert periods() == [("M123", "medicare_advantage", "H1234", date(2026, 2, 1), None)]


def test_ids_with_commas_quotes_and_backslashes_are_stored_as_sent():
    """Issue 17, section 2: a member id is the enrollment system's, character for character."""
    load(row(member_id='M,1"\\2', plan_id="P\tA"))
    assert periods() == [('M,1"\\2', "commercial", "P\tA", date(2026, 1, 1), date(2026, 12, 31))]


def test_a_load_is_audited_with_its_counts_and_no_member():
    """HIPAA 164.312(b) (the audit log records every change); the brief: counts only."""
    load(row(), row(member_id="M456"), user=None)
    event = AuditEvent.objects.get(object_type=AUDIT_OBJECT)
    assert event.detail["rows"] == 2 and event.detail["inserted"] == 2
    assert "M123" not in str(event.detail) + str(event.changes) + event.object_id + event.object_ids


def test_a_refused_load_writes_no_audit_row():
    """Issue 17, section 2 (nothing half-loaded): a refused load leaves no trace of a load."""
    with pytest.raises(ValidationFailed):
        load(row(line_of_business="dental"))
    assert not AuditEvent.objects.filter(object_type=AUDIT_OBJECT).exists()


def test_only_a_manager_loads_coverage(nurse: User, manager: User):
    """Issue 17, section 2 ("for the enrollment system"): a manager's account, as the access matrix says."""
    with pytest.raises(PermissionDeniedError):
        load(row(), user=nurse)
    assert load(row(), user=manager).inserted == 1


# --- manage.py load_eligibility ------------------------------------------------------------------


def run(path: Path) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("load_eligibility", str(path), stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_the_command_loads_a_file_and_says_what_it_did(tmp_path: Path):
    """Issue 17, section 2: `manage.py load_eligibility FILE.csv`."""
    path = csv_file(tmp_path, HEADER + "M1,commercial,P-1,2026-01-01,2026-12-31\nM2,medicaid,,2026-01-01,\n")
    out, _ = run(path)
    assert "2 rows, 2 coverage periods: 2 added, 0 with a new end, 0 unchanged" in out
    assert len(periods()) == 2


def test_the_command_takes_the_columns_in_any_order(tmp_path: Path):
    """Issue 17, section 2: the header names the columns."""
    path = csv_file(
        tmp_path, "coverage_end,coverage_start,plan_id,line_of_business,member_id\n,2026-01-01,P-1,chip,M1\n"
    )
    run(path)
    assert periods() == [("M1", "chip", "P-1", date(2026, 1, 1), None)]


def test_the_command_loading_a_file_again_changes_nothing(tmp_path: Path):
    """Issue 17, section 2: idempotent."""
    path = csv_file(tmp_path, HEADER + "M1,commercial,P-1,2026-01-01,2026-12-31\n")
    run(path)
    out, _ = run(path)
    assert "0 added, 0 with a new end, 1 unchanged" in out


def test_the_command_shows_a_progress_bar(tmp_path: Path):
    """Issue 17, section 2: a progress bar."""
    path = csv_file(tmp_path, HEADER + "M1,commercial,P-1,2026-01-01,2026-12-31\n")
    _, err = run(path)
    assert "100%  1/1 rows" in err


def test_a_bad_row_is_reported_by_line_and_nothing_is_loaded(tmp_path: Path):
    """Issue 17, section 2: bad rows reported with their line numbers and nothing half-loaded
    (the good row before it is not kept)."""
    path = csv_file(tmp_path, HEADER + "M1,commercial,P-1,2026-01-01,\nM2,commercial,P-1,2026-05-01,2026-04-30\n")
    err = StringIO()
    with pytest.raises(CommandError, match="nothing was loaded"):
        call_command("load_eligibility", str(path), "--no-progress", stdout=StringIO(), stderr=err)
    assert "line 3: coverage_end: is before the coverage start (2026-05-01)" in err.getvalue()
    assert periods() == []


def test_a_row_with_too_few_fields_is_reported_and_nothing_is_loaded(tmp_path: Path):
    """Issue 17, section 2: nothing half-loaded when the file itself is malformed."""
    path = csv_file(tmp_path, HEADER + "M1,commercial,P-1,2026-01-01,\nM2,commercial\n")
    err = StringIO()
    with pytest.raises(CommandError):
        call_command("load_eligibility", str(path), "--no-progress", stdout=StringIO(), stderr=err)
    assert "line 3: 2 fields where the header has 5" in err.getvalue()
    assert periods() == []


def test_a_file_without_the_header_is_refused(tmp_path: Path):
    """Issue 17, section 2: the file states its columns."""
    path = csv_file(tmp_path, "M1,commercial,P-1,2026-01-01,\n")
    err = StringIO()
    with pytest.raises(CommandError):
        call_command("load_eligibility", str(path), "--no-progress", stdout=StringIO(), stderr=err)
    assert "line 1: the header must name the columns" in err.getvalue()


def test_the_command_exits_non_zero_on_a_bad_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """Issue 17, section 2: a refused file is an error for the shell that ran it."""
    path = csv_file(tmp_path, HEADER + "M1,dental,P-1,2026-01-01,\n")
    with pytest.raises(SystemExit) as exited:
        load_eligibility.Command().run_from_argv(["manage.py", "load_eligibility", str(path), "--no-progress"])
    assert exited.value.code != 0
    assert "line 2: line_of_business" in capsys.readouterr().err


# --- the flag at intake ----------------------------------------------------------------------------


def case_with_lines(client: User, *days: date, line_of_business: str = "commercial") -> tuple[Case, list[ServiceLine]]:
    lines = tuple(LineInput(code_system="CPT", code="62330", units=1, date_of_service=day) for day in days)
    case = factories.case(client, service_lines=lines, line_of_business=line_of_business)
    return case, list(case.lines.all())


def flags(case: Case, lines: list[ServiceLine]) -> list[str]:
    found = eligibility_flags(
        line_of_business=case.line_of_business, member_id=case.member_id, lines=lines, case=case, now=timezone.now()
    )
    return [flag.message for flag in found]


@pytest.fixture
def check_on(settings) -> None:
    settings.ELIGIBILITY_CHECK = True


def soon(days: int) -> date:
    return timezone.localdate() + timedelta(days=days)


def test_the_check_is_off_by_default(integration_client: User):
    """Issue 17, section 2: off by default, so the demo works without a file."""
    case, lines = case_with_lines(integration_client, soon(10))
    assert flags(case, lines) == []


def test_a_line_inside_a_coverage_period_is_not_flagged(integration_client: User, check_on: None):
    """DOMAIN.md "Triage at intake": the member must be covered on the date of service under that
    line of business; the last day of a period is covered."""
    load(row(start=soon(-30), end=soon(10)))
    case, lines = case_with_lines(integration_client, soon(10))
    assert flags(case, lines) == []


def test_an_open_ended_coverage_covers_every_later_date(integration_client: User, check_on: None):
    """Issue 17, section 2: an empty end is an open-ended coverage."""
    load(row(start=soon(-30), end=None))
    case, lines = case_with_lines(integration_client, soon(300))
    assert flags(case, lines) == []


def test_a_line_no_coverage_covers_gets_the_member_not_eligible_warning(integration_client: User, check_on: None):
    """Issue 17, section 2: a line whose date of service no coverage covers gets the flag
    member_not_eligible; the nurse decides (a member may be retroactively enrolled)."""
    load(row(start=soon(-30), end=soon(5)))
    case, lines = case_with_lines(integration_client, soon(10))
    found = eligibility_flags(
        line_of_business="commercial", member_id=case.member_id, lines=lines, case=case, now=timezone.now()
    )
    assert [(f.kind, f.severity, f.service_line) for f in found] == [
        (FlagKind.MEMBER_NOT_ELIGIBLE, FlagSeverity.WARNING, lines[0])
    ]
    assert found[0].message == (
        f"No coverage under Commercial on {soon(10).isoformat()}: the member may have been enrolled "
        "retroactively; check before deciding."
    )


def test_only_the_uncovered_lines_are_flagged(integration_client: User, check_on: None):
    """Issue 17, section 2: the flag is per line, by its date of service."""
    load(row(start=soon(-30), end=soon(5)))
    case, lines = case_with_lines(integration_client, soon(1), soon(10))
    found = eligibility_flags(
        line_of_business="commercial", member_id=case.member_id, lines=lines, case=case, now=timezone.now()
    )
    assert [f.service_line.sequence for f in found] == [2]


def test_coverage_under_another_line_of_business_does_not_count_but_is_named(integration_client: User, check_on: None):
    """DOMAIN.md "Triage at intake": covered under *that* line of business."""
    load(row(line_of_business="medicaid", start=soon(-30), end=None))
    case, lines = case_with_lines(integration_client, soon(10))
    assert flags(case, lines) == [
        f"No coverage under Commercial on {soon(10).isoformat()} (covered under Medicaid that day): the "
        "member may have been enrolled retroactively; check before deciding."
    ]


def test_another_members_coverage_does_not_count(integration_client: User, check_on: None):
    """DOMAIN.md "Triage at intake": *the member* must be covered."""
    load(row(member_id="M999", start=soon(-30), end=None))
    case, lines = case_with_lines(integration_client, soon(10))
    assert len(flags(case, lines)) == 1


def test_every_line_is_checked_in_one_query(integration_client: User, check_on: None, django_assert_num_queries):
    """The brief: one query for all lines (intake's latency budget, issue 17 "Performance")."""
    load(row(start=soon(-30), end=soon(5)))
    case, lines = case_with_lines(integration_client, soon(1), soon(3), soon(10), soon(20))
    with django_assert_num_queries(1):
        found = flags(case, lines)
    assert len(found) == 2
