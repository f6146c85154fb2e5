"""Extension requests: more units or a later end for an authorization, reviewed like a new request.

../shared/DOMAIN.md, "After the decision" ("More units or a longer period is an extension request,
reviewed like a new one. An authorization is replaced or voided, never edited."); issue 16, section 1.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from casemgmt.cases.models import (
    Authorization,
    AuthorizationStatus,
    Case,
    CaseEventKind,
    CaseStatus,
    LineOutcome,
    ReviewType,
)
from casemgmt.cases.services.decisions import CitationInput, DecisionLineInput, decision_record
from casemgmt.cases.services.extensions import authorization_extension_request
from casemgmt.cases.services.intake import LineInput
from casemgmt.cases.services.reopenings import case_reopen
from casemgmt.kernel.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationFailed
from casemgmt.kernel.roles import Role
from policies_app.models import LineOfBusiness, PolicyVersion
from tests import factories

pytestmark = pytest.mark.django_db

UNITS = 4
REASON = "The member improved but needs four more sessions to finish the course."


@pytest.fixture
def version(editor: User) -> PolicyVersion:
    return factories.publish(
        factories.draft_version(
            factories.policy(number="EX.01", lines_of_business=list(LineOfBusiness.values)),
            codes=[("CPT", "62330", "")],
        ),
        editor,
    )


@pytest.fixture
def claims_system(db: None) -> User:
    return factories.user("claims.system", Role.CLAIMS_SYSTEM)


def approved(client: User, physician: User, version: PolicyVersion, *, dos: date | None = None) -> Authorization:
    dos = dos or timezone.localdate() + timedelta(days=10)
    review_type = ReviewType.RETROSPECTIVE if dos < timezone.localdate() else ReviewType.PROSPECTIVE
    line = LineInput(code_system="CPT", code="62330", units=UNITS, date_of_service=dos)
    case = factories.case(client, service_lines=(line,), review_type=review_type)
    decide(case, physician, version, LineOutcome.APPROVED)
    return Authorization.objects.get(case=case)


def decide(case: Case, user: User, version: PolicyVersion, outcome: str) -> None:
    adverse = outcome != LineOutcome.APPROVED
    decision_record(
        case_id=case.pk,
        user=user,
        lines=[
            DecisionLineInput(service_line=case.lines.get().sequence, outcome=outcome, reason="No." if adverse else "")
        ],
        citations=[CitationInput(policy_version_id=version.pk)],
        rationale="Per policy.",
    )


def request(authorization: Authorization, user: User, **overrides: Any) -> Case:
    values: dict[str, Any] = {
        "authorization_number": authorization.authorization_number,
        "user": user,
        "units": None,
        "valid_to": None,
        "reason": REASON,
        "urgency": "standard",
    }
    values.update(overrides)
    return authorization_extension_request(**values)


@pytest.fixture
def authorization(integration_client, physician, version) -> Authorization:
    return approved(integration_client, physician, version)


# --- opening ------------------------------------------------------------------------------------


def test_an_extension_is_a_case_of_its_own_for_the_authorizations_service(integration_client, authorization):
    """DOMAIN.md "After the decision"; issue 16 section 1: the request opens a linked case (review type
    extension) with the authorization's service, naming the original request's line."""
    extension = request(authorization, integration_client, units=8)
    assert extension.review_type == ReviewType.EXTENSION
    assert extension.extension_of_id == authorization.pk
    assert extension.status == CaseStatus.RECEIVED
    assert extension.case_number != authorization.case.case_number
    line = extension.lines.get()
    assert (line.code_system, line.code, line.units) == ("CPT", "62330", 8)
    assert line.origin_id == authorization.origin_line_id
    assert extension.submitted_by_id == authorization.client_id


def test_an_extension_is_due_by_the_extension_deadline_rule(integration_client, authorization):
    """DOMAIN.md "After the decision": reviewed like a new request, on the extension clock
    (ERISA pre-service, 29 CFR 2560.503-1: 15 days for a standard commercial request)."""
    extension = request(authorization, integration_client, units=8)
    assert extension.deadline_rule is not None and extension.deadline_rule.review_type == ReviewType.EXTENSION
    assert extension.due_at - extension.received_at == timedelta(days=15)


def test_the_request_is_recorded_on_the_authorizations_case(integration_client, authorization):
    """Issue 16 section 1: the extension is linked to the authorization; its case's history shows the request."""
    later = authorization.valid_to + timedelta(days=30)
    extension = request(authorization, integration_client, valid_to=later)
    event = authorization.case.events.get(kind=CaseEventKind.EXTENSION_REQUESTED)
    assert event.detail["extension"] == extension.case_number
    assert event.detail["authorization"] == authorization.authorization_number
    assert event.detail["requested_valid_to"] == later.isoformat()


def test_a_later_end_alone_keeps_the_approved_units(integration_client, authorization):
    """Issue 16 section 1: "asks for more units or a later end": one without the other."""
    extension = request(authorization, integration_client, valid_to=authorization.valid_to + timedelta(days=30))
    assert extension.lines.get().units == authorization.approved_units


def test_a_reviewer_records_a_request_received_by_phone(nurse, authorization):
    """The brief: a reviewer or manager records an extension request received by phone."""
    assert request(authorization, nurse, units=6).extension_of_id == authorization.pk


def test_another_client_is_told_the_authorization_does_not_exist(other_client, authorization):
    """Issue 16 section 1: integration clients see only their own authorizations."""
    with pytest.raises(NotFoundError):
        request(authorization, other_client, units=6)


@pytest.mark.parametrize("persona", ["claims_system", "outsider", "editor"])
def test_whoever_is_not_the_requester_or_a_reviewer_may_not_ask(request_fixture, authorization, persona):
    """Issue 16 section 1: the claims system looks authorizations up read-only; other roles have no part."""
    with pytest.raises(PermissionDeniedError):
        request(authorization, request_fixture(persona), units=6)


@pytest.fixture
def request_fixture(request: pytest.FixtureRequest) -> Any:
    return request.getfixturevalue


# --- what may be asked ---------------------------------------------------------------------------


def test_neither_more_units_nor_a_later_end_is_refused_naming_both(integration_client, authorization):
    """Issue 16 section 1: an extension asks for more units or a later end."""
    with pytest.raises(ValidationFailed) as refused:
        request(authorization, integration_client)
    assert set(refused.value.errors) == {"units", "valid_to"}


def test_no_more_units_than_approved_is_refused(integration_client, authorization):
    """Issue 16 section 1: "more units": the total wanted must exceed what is approved."""
    with pytest.raises(ValidationFailed) as refused:
        request(authorization, integration_client, units=UNITS)
    assert list(refused.value.errors) == ["units"]


def test_an_end_no_later_than_the_current_one_is_refused(integration_client, authorization):
    """Issue 16 section 1: "a later end"."""
    with pytest.raises(ValidationFailed) as refused:
        request(authorization, integration_client, valid_to=authorization.valid_to)
    assert list(refused.value.errors) == ["valid_to"]


def test_a_request_without_a_reason_is_refused(integration_client, authorization):
    """The brief: the request says why (reason is required)."""
    with pytest.raises(ValidationFailed) as refused:
        request(authorization, integration_client, units=6, reason="  ")
    assert list(refused.value.errors) == ["reason"]


def test_an_expired_authorization_cannot_be_extended(integration_client, physician, version):
    """The brief: the authorization must be active; one whose period has passed is expired."""
    expired = approved(integration_client, physician, version, dos=timezone.localdate() - timedelta(days=100))
    with pytest.raises(ConflictError) as refused:
        request(expired, integration_client, units=6)
    assert refused.value.extra["status"] == AuthorizationStatus.EXPIRED


def test_a_voided_authorization_cannot_be_extended(integration_client, physician, version, authorization):
    """The brief: the authorization must be active (a reopened denial voided this one)."""
    case_reopen(case_id=authorization.case_id, user=physician, reason="New evidence: the policy excludes it.")
    decide(authorization.case, physician, version, LineOutcome.DENIED)
    with pytest.raises(ConflictError):
        request(authorization, integration_client, units=6)


def test_a_second_open_extension_is_refused_naming_the_first(integration_client, authorization):
    """The brief: one extension of an authorization under review at a time (409)."""
    first = request(authorization, integration_client, units=6)
    with pytest.raises(ConflictError) as refused:
        request(authorization, integration_client, units=8)
    assert refused.value.extra["case_number"] == first.case_number


# --- its decision ---------------------------------------------------------------------------------


def test_an_approved_extension_supersedes_the_authorization(integration_client, nurse, version, authorization):
    """Issue 16 section 1: "its approval supersedes the authorization with the new one"; the old one
    is ended, never edited (DOMAIN.md "After the decision")."""
    extension = request(authorization, integration_client, units=8)
    decide(extension, nurse, version, LineOutcome.APPROVED)
    authorization.refresh_from_db()
    new = Authorization.objects.get(case=extension)
    assert authorization.status == AuthorizationStatus.SUPERSEDED
    assert authorization.approved_units == UNITS
    assert (new.status, new.approved_units, new.supersedes_id) == (AuthorizationStatus.ACTIVE, 8, authorization.pk)
    assert new.valid_from == authorization.valid_from
    assert new.valid_to >= authorization.valid_to
    assert new.origin_line_id == authorization.origin_line_id
    assert new.client_id == authorization.client_id


def test_an_approved_later_end_is_honoured(integration_client, nurse, version, authorization):
    """Issue 16 section 1: an extension asks for a later end; approved, the new authorization ends
    no earlier than asked."""
    later = authorization.valid_to + timedelta(days=120)
    extension = request(authorization, integration_client, valid_to=later)
    decide(extension, nurse, version, LineOutcome.APPROVED)
    new = Authorization.objects.get(case=extension)
    assert new.valid_to == later
    assert new.approved_units == authorization.approved_units
    assert later.isoformat() in new.validity_basis


def test_a_denied_extension_leaves_the_authorization(integration_client, physician, version, authorization):
    """DOMAIN.md "After the decision": a denied extension replaces nothing; the authorization stands."""
    extension = request(authorization, integration_client, units=8)
    decide(extension, physician, version, LineOutcome.DENIED)
    authorization.refresh_from_db()
    assert authorization.status == AuthorizationStatus.ACTIVE
    assert not Authorization.objects.filter(case=extension).exists()


def test_once_decided_the_authorization_may_be_extended_again(integration_client, nurse, version, authorization):
    """The brief: only an open extension blocks another; the new authorization can be extended in turn."""
    extension = request(authorization, integration_client, units=8)
    decide(extension, nurse, version, LineOutcome.APPROVED)
    new = Authorization.objects.get(case=extension)
    again = request(new, integration_client, units=10)
    assert again.extension_of_id == new.pk
