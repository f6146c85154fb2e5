"""The database itself refuses to change a recorded decision, a decision line or a citation.

Raw SQL, as a shell session or a SQL client would send it, not the ORM: the triggers of
casemgmt/kernel/db_triggers.py must stop it whatever the application does. UPDATE is refused on
PostgreSQL and SQLite; DELETE on PostgreSQL (SQLite keeps DELETE open for the test runner,
which empties tables with it; see docs/architecture.md), so the DELETE tests need PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.db import DatabaseError, connection, transaction

from casemgmt.cases.models import Citation, Decision, DecisionLine, LineOutcome
from casemgmt.cases.services.decisions import CitationInput, DecisionLineInput, decision_record
from tests import factories
from tests.services_fixtures import unavailable

pytestmark = pytest.mark.django_db

# (table, a column to change, a new value): one row of each is written by a denial.
TARGETS = [
    ("casemgmt_decision", "rationale", "Edited after the fact."),
    ("casemgmt_decisionline", "outcome", LineOutcome.APPROVED.value),
    ("casemgmt_citation", "policy_title", "A different policy"),
]


@pytest.fixture
def denial(integration_client: User, physician: User, editor: User) -> Decision:
    version = factories.publish(factories.draft_version(), editor)
    case = factories.case(integration_client)
    return decision_record(
        case_id=case.pk,
        user=physician,
        lines=[DecisionLineInput(service_line=1, outcome=LineOutcome.DENIED, reason="Investigational.")],
        citations=[CitationInput(policy_version_id=version.pk, criterion="The procedure is investigational.")],
        rationale="Investigational per the cited policy.",
    )


def snapshot() -> tuple[list[Any], ...]:
    return (
        list(Decision.objects.values().order_by("pk")),
        list(DecisionLine.objects.values().order_by("pk")),
        list(Citation.objects.values().order_by("pk")),
    )


def raw(sql: str, params: Sequence[Any]) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)


@pytest.mark.parametrize(("table", "column", "value"), TARGETS, ids=[t for t, _, _ in TARGETS])
def test_a_direct_update_is_refused(denial: Decision, table: str, column: str, value: str) -> None:
    before = snapshot()
    with pytest.raises(DatabaseError, match="append-only"):
        raw(f"UPDATE {table} SET {column} = %s", [value])  # every row: no WHERE gets around it either
    assert snapshot() == before


@pytest.mark.parametrize(("table", "column", "value"), TARGETS, ids=[t for t, _, _ in TARGETS])
def test_a_direct_update_that_changes_nothing_is_refused_too(
    denial: Decision, table: str, column: str, value: str
) -> None:
    """Even rewriting a column with its own value: the row may not be touched at all."""
    with pytest.raises(DatabaseError, match="append-only"):
        raw(f"UPDATE {table} SET {column} = {column}", [])


@pytest.mark.parametrize("table", [t for t, _, _ in TARGETS])
def test_a_direct_delete_is_refused_on_postgresql(denial: Decision, table: str) -> None:
    if "postgresql" not in settings.DATABASES["default"]["ENGINE"]:
        unavailable("DELETE is refused on PostgreSQL only (SQLite keeps it open for the test runner)")
    before = snapshot()
    with pytest.raises(DatabaseError, match="append-only"):
        raw(f"DELETE FROM {table}", [])
    assert snapshot() == before


def test_a_correction_is_a_new_decision_that_supersedes(denial: Decision, physician: User) -> None:
    """How a decision changes instead: a new one points to it, and the old one stays as it was."""
    before = snapshot()
    correction = decision_record(
        case_id=denial.case_id,
        user=physician,
        lines=[DecisionLineInput(service_line=1, outcome=LineOutcome.APPROVED)],
        citations=[],
        rationale="On review, the criteria are met.",
        correction=True,
    )
    assert correction.supersedes_id == denial.pk
    decisions, lines, citations = snapshot()
    assert [d for d in decisions if d["id"] != correction.pk] == before[0]
    assert [line for line in lines if line["decision_id"] != correction.pk] == before[1]
    assert citations == before[2]
