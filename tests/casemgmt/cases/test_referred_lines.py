"""A nurse refers one line to a physician without pending the case (issue 19, "per-line refer to
physician"): the lines she decides take effect, the case goes to physician review, and the
physician's decision decides the referred line and restates the rest."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from casemgmt.audit.models import AuditEvent, AuditObject
from casemgmt.cases import selectors
from casemgmt.cases.letters import letter_build
from casemgmt.cases.models import (
    Authorization,
    AuthorizationStatus,
    Case,
    CaseEvent,
    CaseEventKind,
    CaseStatus,
    Decision,
    DecisionLine,
    LineOutcome,
    RequestOutcome,
    WebhookDelivery,
)
from casemgmt.cases.services.decisions import CitationInput, DecisionLineInput, decision_record
from casemgmt.cases.services.intake import LineInput
from casemgmt.cases.services.transitions import case_refer_to_physician
from casemgmt.cases.services.webhooks import webhook_subscribe
from casemgmt.kernel.errors import ValidationFailed
from casemgmt.kernel.roles import Role
from policies_app.models import PolicyVersion
from tests import factories
from tests.casemgmt.cases.test_appeals import decided_case, every_line_of_business_policy, file_appeal

pytestmark = pytest.mark.django_db

NOTE = "Imaging report is ambiguous about instability; please review line 2."
DENIAL = "The records do not show 12 weeks of conservative therapy, which the policy requires."


@pytest.fixture
def criteria_version(editor: User) -> PolicyVersion:
    """TP.02 for CPT 62331: at least 12 weeks of conservative therapy."""
    return factories.criteria_library(editor, auto_approve=False)


def two_line_case(client: User) -> Case:
    """Line 1: CPT 62330 (2 units); line 2: CPT 62331 (1 unit)."""
    dos = timezone.localdate() + timedelta(days=10)
    return factories.case(
        client,
        service_lines=(
            LineInput(code_system="CPT", code="62330", units=2, date_of_service=dos),
            LineInput(code_system="CPT", code="62331", units=1, date_of_service=dos),
        ),
    )


def refer_line_two(case: Case, nurse: User, note: str = NOTE) -> Decision:
    return decision_record(
        case_id=case.pk,
        user=nurse,
        lines=[
            DecisionLineInput(service_line=1, outcome="approved"),
            DecisionLineInput(service_line=2, outcome="referred", reason=note),
        ],
        citations=[],
    )


def deny_line_two(case: Case, physician: User, version: PolicyVersion) -> Decision:
    return decision_record(
        case_id=case.pk,
        user=physician,
        lines=[
            DecisionLineInput(
                service_line=2,
                outcome="denied",
                reason=DENIAL,
                citations=(CitationInput(policy_version_id=version.pk, criterion="12 weeks of therapy."),),
            )
        ],
        citations=[],
    )


def test_a_nurse_referring_one_line_sends_the_case_to_physician_review_without_pending_it(integration_client, nurse):
    case = two_line_case(integration_client)
    refer_line_two(case, nurse)
    case.refresh_from_db()
    assert case.status == CaseStatus.PHYSICIAN_REVIEW
    assert not case.events.filter(kind=CaseEventKind.PENDED).exists()


def test_the_line_approved_with_a_referral_gets_its_authorization_at_once(integration_client, nurse):
    case = two_line_case(integration_client)
    refer_line_two(case, nurse)
    (authorization,) = Authorization.objects.filter(case=case)
    assert authorization.service_line.sequence == 1
    assert authorization.status == AuthorizationStatus.ACTIVE
    assert authorization.approved_units == 2


def test_a_referral_is_not_a_determination_of_the_request(integration_client, nurse):
    """Referred lines are no outcome of record: the reports count the request when it is decided."""
    case = two_line_case(integration_client)
    refer_line_two(case, nurse)
    case.refresh_from_db()
    assert (case.outcome, case.first_determined_at, case.decided_at) == ("", None, None)


def test_a_referral_is_an_event_with_the_note_and_an_audit_row(integration_client, nurse):
    case = two_line_case(integration_client)
    decision = refer_line_two(case, nurse)
    event = CaseEvent.objects.get(case=case, kind=CaseEventKind.REFERRED)
    assert event.actor == nurse
    assert event.detail["lines"] == [2]
    assert event.detail["summary"] == f"Line 2: {NOTE}"
    audit = AuditEvent.objects.get(object_type=AuditObject.DECISION, object_id=str(decision.pk))
    assert audit.changes["status"] == {"old": CaseStatus.RECEIVED, "new": CaseStatus.PHYSICIAN_REVIEW}
    assert audit.changes["line 2"] == {"old": None, "new": LineOutcome.REFERRED}


def test_the_referred_line_keeps_the_note_to_the_physician_as_its_reason(integration_client, nurse):
    case = two_line_case(integration_client)
    decision = refer_line_two(case, nurse)
    line = decision.lines.get(service_line__sequence=2)
    assert (line.outcome, line.reason, line.approved_units) == (LineOutcome.REFERRED, NOTE, None)


def test_a_referred_line_needs_no_note(integration_client, nurse):
    case = two_line_case(integration_client)
    refer_line_two(case, nurse, note="")
    case.refresh_from_db()
    assert case.status == CaseStatus.PHYSICIAN_REVIEW
    assert selectors.referral_note(case) is None


def test_the_physician_decision_decides_the_referred_line_and_restates_the_approved_one(
    integration_client, nurse, physician, criteria_version
):
    case = two_line_case(integration_client)
    referral = refer_line_two(case, nurse)
    decision = deny_line_two(case, physician, criteria_version)
    lines = {line.service_line.sequence: line for line in decision.lines.select_related("service_line")}
    assert lines[1].outcome == LineOutcome.APPROVED
    assert lines[1].carried_from == referral.lines.get(service_line__sequence=1)
    assert (lines[2].outcome, lines[2].reason, lines[2].carried_from) == (LineOutcome.DENIED, DENIAL, None)
    assert decision.supersedes == referral


def test_the_physician_denial_cites_the_policy_version(integration_client, nurse, physician, criteria_version):
    case = two_line_case(integration_client)
    refer_line_two(case, nurse)
    decision = deny_line_two(case, physician, criteria_version)
    (citation,) = decision.citations.filter(decision_line__service_line__sequence=2)
    assert (citation.policy_version_id, citation.policy_number) == (criteria_version.pk, "TP.02")


def test_after_the_physician_decides_the_request_is_mixed_and_decided(
    integration_client, nurse, physician, criteria_version
):
    case = two_line_case(integration_client)
    refer_line_two(case, nurse)
    deny_line_two(case, physician, criteria_version)
    case.refresh_from_db()
    assert case.status == CaseStatus.DECIDED
    assert case.outcome == RequestOutcome.MIXED
    assert case.first_determined_at is not None


def test_the_physician_decision_leaves_the_nurse_authorization_as_issued(
    integration_client, nurse, physician, criteria_version
):
    case = two_line_case(integration_client)
    refer_line_two(case, nurse)
    deny_line_two(case, physician, criteria_version)
    (authorization,) = Authorization.objects.filter(case=case)
    assert authorization.status == AuthorizationStatus.ACTIVE
    assert authorization.service_line.sequence == 1


def test_a_physician_form_sending_the_approved_line_back_unchanged_restates_it(
    integration_client, nurse, physician, criteria_version
):
    case = two_line_case(integration_client)
    refer_line_two(case, nurse)
    decision = decision_record(
        case_id=case.pk,
        user=physician,
        lines=[
            DecisionLineInput(service_line=1, outcome="approved"),
            DecisionLineInput(
                service_line=2,
                outcome="denied",
                reason=DENIAL,
                citations=(CitationInput(policy_version_id=criteria_version.pk),),
            ),
        ],
        citations=[],
    )
    assert decision.lines.get(service_line__sequence=1).carried_from is not None
    assert Authorization.objects.filter(case=case).count() == 1


def test_the_physician_cannot_change_a_line_decided_with_the_referral(
    integration_client, nurse, physician, criteria_version
):
    case = two_line_case(integration_client)
    refer_line_two(case, nurse)
    with pytest.raises(ValidationFailed) as refused:
        decision_record(
            case_id=case.pk,
            user=physician,
            lines=[
                DecisionLineInput(
                    service_line=1,
                    outcome="denied",
                    reason=DENIAL,
                    citations=(CitationInput(policy_version_id=criteria_version.pk),),
                ),
                DecisionLineInput(service_line=2, outcome="approved"),
            ],
            citations=[],
        )
    assert "took effect" in refused.value.errors["lines[0].outcome"][0]


def test_referring_every_line_is_refused_as_a_decision(integration_client, nurse):
    case = two_line_case(integration_client)
    with pytest.raises(ValidationFailed) as refused:
        decision_record(
            case_id=case.pk,
            user=nurse,
            lines=[
                DecisionLineInput(service_line=1, outcome="referred"),
                DecisionLineInput(service_line=2, outcome="referred"),
            ],
            citations=[],
        )
    assert "refer the case to a physician instead" in refused.value.errors["lines"][0]
    assert not Decision.objects.filter(case=case).exists()


def test_a_decision_cannot_both_pend_a_line_and_refer_another(integration_client, nurse):
    case = two_line_case(integration_client)
    with pytest.raises(ValidationFailed) as refused:
        decision_record(
            case_id=case.pk,
            user=nurse,
            lines=[
                DecisionLineInput(service_line=1, outcome="pended"),
                DecisionLineInput(service_line=2, outcome="referred"),
            ],
            citations=[],
        )
    assert "lines[1].outcome" in refused.value.errors


def test_an_appealed_line_cannot_be_referred(integration_client, physician, editor):
    version = every_line_of_business_policy(editor)
    case, _ = decided_case(integration_client, physician, version, outcomes=(LineOutcome.DENIED, LineOutcome.DENIED))
    appeal = file_appeal(case, integration_client, lines=[1, 2])
    with pytest.raises(ValidationFailed) as refused:
        decision_record(
            case_id=appeal.pk,
            user=factories.user("pat.second", Role.PHYSICIAN),
            lines=[
                DecisionLineInput(service_line=1, outcome="overturned"),
                DecisionLineInput(service_line=2, outcome="referred"),
            ],
            citations=[],
        )
    assert "not an outcome of an appealed line" in refused.value.errors["lines[1].outcome"][0]


def test_a_correction_cannot_refer_a_line(integration_client, nurse, physician, criteria_version):
    case = two_line_case(integration_client)
    refer_line_two(case, nurse)
    deny_line_two(case, physician, criteria_version)
    with pytest.raises(ValidationFailed) as refused:
        decision_record(
            case_id=case.pk,
            user=physician,
            lines=[
                DecisionLineInput(service_line=1, outcome="approved"),
                DecisionLineInput(service_line=2, outcome="referred"),
            ],
            citations=[],
            correction=True,
        )
    assert "cannot refer it" in refused.value.errors["lines[1].outcome"][0]


# --- what the physician's form opens with ---------------------------------------------------


def test_the_prefill_gives_each_line_as_the_nurse_left_it(integration_client, nurse):
    case = two_line_case(integration_client)
    refer_line_two(case, nurse)
    lines = {line.sequence: line.pk for line in case.lines.all()}
    prefill = selectors.decision_prefill(case)
    assert prefill[lines[1]]["outcome"] == LineOutcome.APPROVED
    assert prefill[lines[1]]["approved_units"] == 2
    assert prefill[lines[1]]["standing"] is True
    assert prefill[lines[2]]["outcome"] == LineOutcome.REFERRED
    assert (prefill[lines[2]]["reason"], prefill[lines[2]]["note"]) == ("", NOTE)
    assert prefill[lines[2]]["standing"] is False


def test_the_prefill_carries_the_citations_of_the_latest_decision(
    integration_client, nurse, physician, criteria_version
):
    case = two_line_case(integration_client)
    refer_line_two(case, nurse)
    deny_line_two(case, physician, criteria_version)
    line_two = case.lines.get(sequence=2)
    prefill = selectors.decision_prefill(case)[line_two.pk]
    assert prefill["outcome"] == LineOutcome.DENIED
    assert prefill["reason"] == DENIAL
    assert prefill["citations"] == [{"policy_version_id": criteria_version.pk, "criterion": "12 weeks of therapy."}]


def test_a_case_without_a_decision_has_no_prefill(integration_client):
    case = two_line_case(integration_client)
    assert selectors.decision_prefill(case) == {}


def test_the_referral_note_is_the_referred_lines_notes_until_a_decision_answers_it(
    integration_client, nurse, physician, criteria_version
):
    case = two_line_case(integration_client)
    refer_line_two(case, nurse)
    assert selectors.referral_note(case) == f"Line 2: {NOTE}"
    deny_line_two(case, physician, criteria_version)
    assert selectors.referral_note(case) is None


def test_the_referral_note_of_a_whole_case_referral_is_its_summary(integration_client, nurse):
    case = two_line_case(integration_client)
    case_refer_to_physician(case_id=case.pk, user=nurse, summary="Please look at both lines.")
    assert selectors.referral_note(case) == "Please look at both lines."


# --- what the member and the requester see ----------------------------------------------------


def test_the_letter_of_a_referral_says_the_line_is_with_a_physician_and_keeps_the_note_out(integration_client, nurse):
    case = two_line_case(integration_client)
    decision = refer_line_two(case, nurse)
    letter = letter_build(Decision.objects.get(pk=decision.pk), "member")
    line = next(line for line in letter.lines if line.sequence == 2)
    assert "physician" in line.outcome_text
    assert line.reason == ""


def test_the_physician_letter_does_not_say_it_replaces_the_referral(
    integration_client, nurse, physician, criteria_version
):
    case = two_line_case(integration_client)
    refer_line_two(case, nurse)
    decision = deny_line_two(case, physician, criteria_version)
    letter = letter_build(Decision.objects.get(pk=decision.pk), "member")
    assert letter.replaces_decision_date is None


def test_the_restated_line_counts_as_a_reviewer_decision_not_an_intake_answer(integration_client, nurse):
    case = two_line_case(integration_client)
    refer_line_two(case, nurse)
    line_one = case.lines.get(sequence=1)
    determination = selectors.line_determinations([case.pk])[line_one.pk]
    assert isinstance(determination, DecisionLine)
    assert determination.outcome == LineOutcome.APPROVED
    assert selectors.standing_intake_answers(case, determination.decision) == {}


# --- with what intake answered, and a pend after the referral -------------------------------


def test_the_physician_decision_restates_what_intake_answered_and_what_the_nurse_decided(
    integration_client, editor, nurse, physician, criteria_version
):
    factories.requirement_rule(editor, code_start="99213", requirement="not_required")
    dos = timezone.localdate() + timedelta(days=10)
    case = factories.case(
        integration_client,
        service_lines=(
            LineInput(code_system="CPT", code="99213", units=1, date_of_service=dos),
            LineInput(code_system="CPT", code="62330", units=1, date_of_service=dos),
            LineInput(code_system="CPT", code="62331", units=1, date_of_service=dos),
        ),
    )
    decision_record(
        case_id=case.pk,
        user=nurse,
        lines=[
            DecisionLineInput(service_line=2, outcome="approved"),
            DecisionLineInput(service_line=3, outcome="referred"),
        ],
        citations=[],
    )
    decision = decision_record(
        case_id=case.pk,
        user=physician,
        lines=[DecisionLineInput(service_line=3, outcome="approved")],
        citations=[],
    )
    outcomes = {line.service_line.sequence: line.outcome for line in decision.lines.select_related("service_line")}
    assert outcomes == {1: LineOutcome.NOT_REQUIRED, 2: LineOutcome.APPROVED, 3: LineOutcome.APPROVED}
    case.refresh_from_db()
    assert (case.status, case.outcome) == (CaseStatus.DECIDED, RequestOutcome.APPROVED)


def test_a_line_decided_with_the_referral_still_stands_after_the_physician_pends_the_referred_one(
    integration_client, nurse, physician
):
    case = two_line_case(integration_client)
    referral = refer_line_two(case, nurse)
    decision_record(
        case_id=case.pk,
        user=physician,
        lines=[DecisionLineInput(service_line=2, outcome="pended")],
        citations=[],
    )
    case.refresh_from_db()
    assert case.status == CaseStatus.PENDED
    answered, held = selectors.standing_lines(case, Decision.objects.filter(case=case).latest("id"))
    assert (answered, list(held)) == ({}, [1])
    assert held[1] == referral.lines.get(service_line__sequence=1)


def test_a_referral_queues_a_status_notification_to_the_requester(integration_client, nurse, settings):
    settings.WEBHOOK_ALLOW_HTTP = True
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    webhook_subscribe(client=integration_client, url="http://127.0.0.1:9/hook")
    case = two_line_case(integration_client)
    refer_line_two(case, nurse)
    delivery = WebhookDelivery.objects.get(event__kind=CaseEventKind.REFERRED)
    assert (delivery.payload["event"], delivery.payload["status"]) == ("referred", CaseStatus.PHYSICIAN_REVIEW)
