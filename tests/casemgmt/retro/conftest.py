"""A small library and decided cases for retrospective review tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from casemgmt.cases.models import Case
from casemgmt.cases.services.decisions import CitationInput, DecisionLineInput, decision_record
from casemgmt.cases.services.intake import LineInput
from policies_app.models import Criterion, Policy, PolicyVersion
from tests import factories


def days_ago(n: int) -> date:
    return timezone.localdate() - timedelta(days=n)


def line(code: str, dos: date, system: str = "CPT") -> LineInput:
    return LineInput(code_system=system, code=code, units=2, date_of_service=dos)


def decided_case(
    client: User,
    reviewer: User,
    *,
    code: str,
    dos: date,
    outcome: str = "approved",
    cite: list[PolicyVersion] | None = None,
    facts: dict[str, Any] | None = None,
    lob: str = "commercial",
) -> Case:
    """A retrospective request for one service, decided by `reviewer` with `outcome`."""
    case = factories.case(
        client,
        review_type="retrospective",
        line_of_business=lob,
        service_lines=(line(code, dos),),
        clinical_facts=facts or {},
    )
    reason = "" if outcome == "approved" else "Not supported by the cited policy."
    units = 1 if outcome == "partially_approved" else None
    decision_record(
        case_id=case.pk,
        user=reviewer,
        lines=[DecisionLineInput(service_line=1, outcome=outcome, reason=reason, approved_units=units)],
        citations=[CitationInput(policy_version_id=v.pk) for v in cite or []],
        rationale="Reviewed.",
    )
    case.refresh_from_db()
    return case


@dataclass
class Library:
    a1: PolicyVersion  # RA.01 62330: medically necessary, later replaced by a2 (investigational)
    b1: PolicyVersion  # RB.02 22840: medically necessary when >= 12 weeks of conservative therapy
    c1: PolicyVersion  # RC.03 63030: a version that ended; no version after it
    e1: PolicyVersion  # RE.05 0275T: investigational, later replaced by e2 which drops the code


@pytest.fixture
def library(editor: User) -> Library:
    a = factories.policy(number="RA.01", title="Lumbar decompression")
    a1 = factories.publish(
        factories.draft_version(
            a,
            version_label="A1",
            coverage_position="medically_necessary",
            effective_start=days_ago(500),
            codes=[("CPT", "62330", "")],
        ),
        editor,
    )
    b = factories.policy(number="RB.02", title="Spinal fusion", retrospective_review=True)
    b1_draft = factories.draft_version(
        b,
        version_label="B1",
        coverage_position="medically_necessary_with_criteria",
        effective_start=days_ago(500),
        codes=[("CPT", "22840", "")],
    )
    root = Criterion.objects.create(version=b1_draft, node_type="all_of", label="All of the following")
    factories.leaf(b1_draft, root, "At least 12 weeks of conservative therapy", "conservative_therapy_weeks", "gte", 12)
    b1 = factories.publish(b1_draft, editor)
    c = factories.policy(number="RC.03", title="Laminectomy")
    c1 = factories.publish(
        factories.draft_version(
            c,
            version_label="C1",
            coverage_position="medically_necessary",
            effective_start=days_ago(500),
            effective_end=days_ago(200),
            codes=[("CPT", "63030", "")],
        ),
        editor,
    )
    e = factories.policy(number="RE.05", title="Interspinous spacers")
    e1 = factories.publish(
        factories.draft_version(e, version_label="E1", effective_start=days_ago(500), codes=[("CPT", "0275T", "")]),
        editor,
    )
    return Library(a1, b1, c1, e1)


def publish_replacements(library: Library, editor: User) -> tuple[PolicyVersion, PolicyVersion]:
    """A2 makes 62330 investigational from 100 days ago; E2 (from 100 days ago) drops 0275T."""
    a2 = factories.publish(
        factories.draft_version(
            library.a1.policy,
            version_label="A2",
            coverage_position="investigational",
            effective_start=days_ago(100),
            codes=[("CPT", "62330", "")],
        ),
        editor,
    )
    e2 = factories.publish(
        factories.draft_version(
            library.e1.policy,
            version_label="E2",
            coverage_position="medically_necessary",
            effective_start=days_ago(100),
            codes=[("CPT", "0276T", "")],
        ),
        editor,
    )
    return a2, e2


@pytest.fixture
def small_chunks(settings: Any) -> None:
    settings.RETRO_CHUNK_SIZE = 3


def policy_of(version: PolicyVersion) -> Policy:
    return version.policy
