"""The case page reads a constant number of queries, whatever the case holds and whatever state
it is in: lines, flags, decisions, a referral, an appeal, a reopening, authorizations, letters,
notes, attachments and events."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from casemgmt.cases.models import Case, CaseStatus, LineOutcome
from casemgmt.cases.services.appeals import appeal_open
from casemgmt.cases.services.assignment import case_claim
from casemgmt.cases.services.attachments import attachment_add
from casemgmt.cases.services.decisions import CitationInput, DecisionLineInput, decision_record
from casemgmt.cases.services.intake import LineInput
from casemgmt.cases.services.notes import case_note_add
from casemgmt.cases.services.pend import case_pend_for_information
from casemgmt.cases.services.reopenings import case_reopen
from casemgmt.kernel.roles import Role
from policies_app.models import PolicyVersion
from tests import factories
from tests.casemgmt.workspace.conftest import signed_in

pytestmark = pytest.mark.django_db

# The ceiling for every reviewer's page, whatever the case's state (issue 19,
# bench/queue): the session, the user, the roles, the case (with its appeals), its lines, flags,
# events, attachments, decision lines (with their decisions and the authorizations issued for the
# request's services on any of its cases), citations, the fact catalogue and the audit row.
MAX_QUERIES = 12
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


def two_line_case(client: User, nurse: User) -> Case:
    """A two-line request with a note and an attachment, nobody working it yet."""
    dos = timezone.localdate() + timedelta(days=10)
    case = factories.case(
        client,
        service_lines=(
            LineInput(code_system="CPT", code="62330", units=1, date_of_service=dos),
            LineInput(code_system="CPT", code="62331", units=2, date_of_service=dos),
        ),
        clinical_facts={"conservative_therapy_weeks": 8},
    )
    attachment_add(case_id=case.pk, user=client, upload=SimpleUploadedFile("mri.pdf", PDF))
    case_note_add(case_id=case.pk, user=nurse, text="Called the clinic.")
    return case


def in_review(client: User, nurse: User, physician: User) -> Case:
    case = two_line_case(client, nurse)
    return case_claim(case_id=case.pk, user=nurse)


def pended(client: User, nurse: User, physician: User) -> Case:
    case = in_review(client, nurse, physician)
    return case_pend_for_information(case_id=case.pk, user=nurse, needed="The MRI report.")


def decided(client: User, nurse: User, physician: User) -> Case:
    """Line 1 denied, line 2 approved (an authorization issued), by a physician."""
    case = two_line_case(client, nurse)
    version = PolicyVersion.objects.filter(policy__number="TP.02").get()
    decision_record(
        case_id=case.pk,
        user=physician,
        lines=[
            DecisionLineInput(service_line=1, outcome=LineOutcome.DENIED, reason="Investigational."),
            DecisionLineInput(
                service_line=2,
                outcome=LineOutcome.APPROVED,
                citations=(CitationInput(policy_version_id=version.pk, criterion="Twelve weeks of therapy."),),
            ),
        ],
        citations=[CitationInput(policy_version_id=version.pk, criterion="The policy as a whole.")],
        rationale="Line 1 is investigational.",
    )
    case.refresh_from_db()
    return case


def appealed(client: User, nurse: User, physician: User) -> Case:
    """The decided case once its denied line is appealed: the appeal is another case."""
    case = decided(client, nurse, physician)
    appeal_open(
        case_id=case.pk, user=client, lines=[1], reason="It is needed.", urgency="standard", requested_by="provider"
    )
    return case


def appeal(client: User, nurse: User, physician: User) -> Case:
    """The appeal itself, in review."""
    case = appealed(client, nurse, physician)
    return Case.objects.get(appeal_of=case)


def appeal_decided(client: User, nurse: User, physician: User) -> Case:
    """The appeal overturned by another physician: it issues an authorization for the request's line."""
    other = factories.user("paula.physician", Role.PHYSICIAN)
    case = appeal(client, nurse, physician)
    decision_record(
        case_id=case.pk,
        user=other,
        lines=[DecisionLineInput(service_line=1, outcome=LineOutcome.OVERTURNED)],
        citations=[],
    )
    case.refresh_from_db()
    return case


def reopened(client: User, nurse: User, physician: User) -> Case:
    case = decided(client, nurse, physician)
    return case_reopen(case_id=case.pk, user=physician, reason="A clerical error on line 2.")


def received(client: User, nurse: User, physician: User) -> Case:
    return two_line_case(client, nurse)


def referred(client: User, nurse: User, physician: User) -> Case:
    return referred_case(client, nurse)


STATES: dict[str, Callable[[User, User, User], Case]] = {
    "received": received,
    "in review": in_review,
    "pended": pended,
    "referred": referred,
    "decided": decided,
    "appealed": appealed,
    "an appeal": appeal,
    "a decided appeal": appeal_decided,
    "reopened": reopened,
}
EXPECTED_STATUS = {
    "received": CaseStatus.RECEIVED,
    "in review": CaseStatus.IN_REVIEW,
    "pended": CaseStatus.PENDED,
    "referred": CaseStatus.PHYSICIAN_REVIEW,
    "decided": CaseStatus.DECIDED,
    "appealed": CaseStatus.DECIDED,
    "an appeal": CaseStatus.RECEIVED,
    "a decided appeal": CaseStatus.DECIDED,
    "reopened": CaseStatus.IN_REVIEW,
}


@pytest.mark.parametrize("reviewer", ["nurse", "physician"])
@pytest.mark.parametrize("state", STATES)
def test_the_case_page_reads_at_most_twelve_queries_in_every_state(
    state, reviewer, request, integration_client, nurse, physician
):
    case = STATES[state](integration_client, nurse, physician)
    assert case.status == EXPECTED_STATUS[state]
    assert page_queries(request.getfixturevalue(reviewer), case) <= MAX_QUERIES


@pytest.mark.parametrize("reviewer", ["nurse", "physician"])
def test_the_case_pages_query_count_does_not_grow_with_the_case(reviewer, request, integration_client, nurse):
    user = request.getfixturevalue(reviewer)
    small = page_queries(user, referred_case(integration_client, nurse))
    large = page_queries(user, referred_case(integration_client, nurse, extra_lines=2, notes=4, attachments=3))
    assert large == small
