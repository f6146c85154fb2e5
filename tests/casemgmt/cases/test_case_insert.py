"""The single-statement intake write (PostgreSQL) stores exactly what the ORM path stores.

Intake writes a new case, its lines, flags, events and audit row in one statement on
PostgreSQL (casemgmt/cases/case_insert.py) and with the ORM elsewhere. These tests submit the same
request both ways on PostgreSQL and compare the rows. They skip on SQLite with the reason (it
has only the ORM path) and fail under CI=true, where PostgreSQL must be there.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.db import transaction
from django.forms.models import model_to_dict
from django.utils import timezone

from casemgmt.audit.models import AuditEvent
from casemgmt.cases import case_insert
from casemgmt.cases.models import Case, CaseEvent, Flag, ServiceLine
from casemgmt.cases.services import intake
from casemgmt.cases.services.intake import CaseInput, LineInput, case_submit
from casemgmt.kernel.errors import ConflictError
from tests import factories
from tests.services_fixtures import require_postgresql

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def postgresql_only() -> None:
    require_postgresql(" (the single-statement write is PostgreSQL's)")


@pytest.fixture
def library(editor) -> None:
    factories.two_policy_library(editor)


@pytest.fixture
def orm_path(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(case_insert, "available", lambda using="default": False)
    yield


def _input(external_id: str) -> CaseInput:
    dos = timezone.localdate() + timedelta(days=10)
    return factories.case_input(
        external_id=external_id,
        service_lines=tuple(
            LineInput(code_system="CPT", code=code, units=units, date_of_service=dos, modifiers=mods)
            for code, units, mods in [("62330", 1, ()), ("62331", 2, ("59",)), ("72148", 1, ())]
        ),
        clinical_facts={"conservative_therapy_weeks": 6},
    )


# Fields that differ between any two submissions, whichever path wrote them.
_CASE_VARIES = {"id", "case_number", "external_id", "received_at", "due_at", "updated_at"}


def _rows(case: Case) -> dict[str, Any]:
    lines = [
        {k: v for k, v in model_to_dict(line).items() if k not in {"id", "case"}}
        for line in ServiceLine.objects.filter(case=case).order_by("sequence")
    ]
    flags = [
        (f.service_line.sequence, f.kind, f.severity, f.message, f.policy_version_id, f.citation, f.details)
        for f in Flag.objects.filter(case=case).select_related("service_line").order_by("id")
    ]
    events = [
        (e.kind, e.actor_id, {k: v for k, v in e.detail.items() if k != "due_at"})
        for e in CaseEvent.objects.filter(case=case).order_by("id")
    ]
    audit = [
        {
            k: v if k != "changes" else {f: c for f, c in v.items() if f not in _CASE_VARIES}
            for k, v in model_to_dict(a).items()
            if k not in {"id", "at", "object_id", "case_number", "request_id"}
        }
        for a in AuditEvent.objects.filter(case_number=case.case_number).order_by("id")
    ]
    fields = {k: v for k, v in model_to_dict(case).items() if k not in _CASE_VARIES}
    return {"case": fields, "lines": lines, "flags": flags, "events": events, "audit": audit}


def test_one_statement_stores_what_the_orm_path_stores(integration_client, library, orm_path, monkeypatch):
    by_orm = case_submit(client=integration_client, data=_input("ORM-1"))
    monkeypatch.undo()
    assert case_insert.available()

    by_statement = case_submit(client=integration_client, data=_input("ONE-1"))

    assert _rows(by_statement) == _rows(by_orm)
    assert _rows(by_statement)["flags"], "the comparison must cover flags"
    assert _rows(by_statement)["audit"], "the comparison must cover the audit row"


def test_values_come_back_from_the_database_as_they_were_in_memory(integration_client, library):
    case = case_submit(client=integration_client, data=_input("ONE-6"))

    stored = Case.objects.get(pk=case.pk)
    # Timestamps to the microsecond, JSON and dates as written (they travel as JSON text).
    assert (stored.received_at, stored.due_at) == (case.received_at, case.due_at)
    assert stored.clinical_facts == case.clinical_facts and stored.diagnosis_codes == case.diagnosis_codes
    assert stored.member_birth_date == case.member_birth_date
    line = ServiceLine.objects.get(case=case, sequence=2)
    assert (line.modifiers, line.units) == (["59"], 2)
    audit = AuditEvent.objects.get(case_number=case.case_number, action="create")
    assert audit.changes["received_at"]["new"] == case.received_at.isoformat()


def test_objects_come_back_saved_with_their_keys(integration_client, library):
    case = case_submit(client=integration_client, data=_input("ONE-2"))

    assert case.pk is not None and not case._state.adding
    lines = list(case.lines.all())
    assert [line.sequence for line in lines] == [1, 2, 3]
    assert all(line.pk and line.case_id == case.pk for line in lines)
    stored = {line.sequence: line.pk for line in ServiceLine.objects.filter(case=case)}
    assert {line.sequence: line.pk for line in lines} == stored
    for flag in case.current_flags:  # type: ignore[attr-defined]
        assert (
            Flag.objects.get(pk=flag.pk).service_line_id == flag.service_line_id == stored[flag.service_line.sequence]
        )


def test_a_refused_statement_writes_nothing_and_leaves_the_transaction_usable(integration_client, library):
    case_submit(client=integration_client, data=_input("ONE-3"))
    counts = (Case.objects.count(), ServiceLine.objects.count(), Flag.objects.count(), CaseEvent.objects.count())

    with transaction.atomic():
        with pytest.raises(ConflictError):
            case_submit(client=integration_client, data=_input("ONE-3"))
        # The savepoint took the failed statement back; this transaction still works.
        assert Case.objects.filter(external_id="ONE-3").count() == 1

    assert (
        Case.objects.count(),
        ServiceLine.objects.count(),
        Flag.objects.count(),
        CaseEvent.objects.count(),
    ) == counts


def test_a_taken_case_number_is_retried(integration_client, library, monkeypatch):
    first = case_submit(client=integration_client, data=_input("ONE-4"))
    numbers = iter([first.case_number, "PA-FRESH001"])
    monkeypatch.setattr(intake, "_new_case_number", lambda: next(numbers))

    second = case_submit(client=integration_client, data=_input("ONE-5"))

    assert second.case_number == "PA-FRESH001"
    assert Case.objects.get(case_number="PA-FRESH001").lines.count() == 3
