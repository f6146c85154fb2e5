"""The case page reads a constant number of queries, whatever the case holds: lines, flags,
decisions, a referral, notes, attachments and events."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from casemgmt.cases.models import Case, CaseStatus
from casemgmt.cases.services.attachments import attachment_add
from casemgmt.cases.services.decisions import DecisionLineInput, decision_record
from casemgmt.cases.services.intake import LineInput
from casemgmt.cases.services.notes import case_note_add
from tests import factories
from tests.casemgmt.workspace.conftest import signed_in

pytestmark = pytest.mark.django_db

# The ceiling for every reviewer's page (issue 19, bench/queue): a case in review.
MAX_QUERIES = 12
# A decided or referred case reads its decisions' lines, their citations and the authorizations
# issued for its services as well: the session, the user, the roles, the case, its lines, flags,
# fact catalogue, decisions, decision lines, citations, events, authorizations, attachments and
# the audit row.
MAX_QUERIES_DECIDED = 14
PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def library(editor: User) -> None:
    factories.two_policy_library(editor)


def referred_case(client: User, nurse: User, *, extra_lines: int = 0, notes: int = 1, attachments: int = 1) -> Case:
    """A case whose nurse approved line 2 and referred line 1 (and any extra lines) to a physician,
    with notes and attachments."""
    dos = timezone.localdate() + timedelta(days=10)
    lines = [
        LineInput(code_system="CPT", code="62330", units=1, date_of_service=dos, description="Spine decompression"),
        LineInput(code_system="CPT", code="62331", units=2, date_of_service=dos, description="Epidural injection"),
        *(
            LineInput(code_system="CPT", code="62330", units=1, date_of_service=dos + timedelta(days=i + 1))
            for i in range(extra_lines)
        ),
    ]
    case = factories.case(
        client,
        service_lines=tuple(lines),
        clinical_facts={"conservative_therapy_weeks": 8},
        clinical_notes="Lumbar stenosis; eight weeks of physical therapy.",
    )
    for i in range(attachments):
        attachment_add(case_id=case.pk, user=client, upload=SimpleUploadedFile(f"mri-{i}.pdf", PDF))
    for i in range(notes):
        case_note_add(case_id=case.pk, user=nurse, text=f"Called the clinic ({i}).")
    decision_record(
        case_id=case.pk,
        user=nurse,
        lines=[
            DecisionLineInput(service_line=1, outcome="referred", reason="Investigational flag: please decide."),
            DecisionLineInput(service_line=2, outcome="approved"),
            *(
                DecisionLineInput(service_line=3 + i, outcome="referred", reason="Please decide.")
                for i in range(extra_lines)
            ),
        ],
        citations=[],
    )
    case.refresh_from_db()
    assert case.status == CaseStatus.PHYSICIAN_REVIEW
    return case


def page_queries(user: User, case: Case) -> int:
    browser = signed_in(user)
    browser.get(f"/cases/{case.case_number}/")  # the session's first write is not the page's
    with CaptureQueriesContext(connection) as queries:
        response = browser.get(f"/cases/{case.case_number}/")
    assert response.status_code == 200
    return len(queries)


def test_a_case_in_review_reads_at_most_twelve_queries(integration_client, nurse):
    dos = timezone.localdate() + timedelta(days=10)
    case = factories.case(
        integration_client,
        service_lines=(
            LineInput(code_system="CPT", code="62330", units=1, date_of_service=dos),
            LineInput(code_system="CPT", code="62331", units=2, date_of_service=dos),
        ),
        clinical_facts={"conservative_therapy_weeks": 8},
    )
    attachment_add(case_id=case.pk, user=integration_client, upload=SimpleUploadedFile("mri.pdf", PDF))
    case_note_add(case_id=case.pk, user=nurse, text="Called the clinic.")
    assert page_queries(nurse, case) <= MAX_QUERIES


@pytest.mark.parametrize("reviewer", ["nurse", "physician"])
def test_a_referred_case_reads_a_bounded_number_of_queries(reviewer, request, integration_client, nurse):
    case = referred_case(integration_client, nurse)
    assert page_queries(request.getfixturevalue(reviewer), case) <= MAX_QUERIES_DECIDED


@pytest.mark.parametrize("reviewer", ["nurse", "physician"])
def test_the_case_pages_query_count_does_not_grow_with_the_case(reviewer, request, integration_client, nurse):
    user = request.getfixturevalue(reviewer)
    small = page_queries(user, referred_case(integration_client, nurse))
    large = page_queries(user, referred_case(integration_client, nurse, extra_lines=2, notes=4, attachments=3))
    assert large == small
