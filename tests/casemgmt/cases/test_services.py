from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import DatabaseError, IntegrityError, transaction

from casemgmt.cases.models import Case, CaseEvent, CaseStatus, Citation, DeadlineRule, Decision, Flag
from casemgmt.cases.services.decisions import CitationInput, DecisionLineInput, decision_record
from casemgmt.cases.services.flags import case_flags_refresh
from casemgmt.cases.services.intake import LineInput, ProviderInput
from casemgmt.cases.services.transitions import case_cancel, case_close, case_refer_to_physician
from casemgmt.kernel.errors import ConflictError, InvalidTransition, PermissionDeniedError, ValidationFailed
from casemgmt.security.services import api_token_create
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def investigational(editor):
    return factories.publish(factories.draft_version(), editor)


def deny(case, physician, version, **overrides):
    values = {
        "case_id": case.pk,
        "user": physician,
        "lines": [DecisionLineInput(service_line=1, outcome="denied", reason="Investigational service.")],
        "citations": [CitationInput(policy_version_id=version.pk, criterion="Investigational per policy.")],
    }
    values.update(overrides)
    return decision_record(**values)


def test_submit_stores_case_with_lines_and_received_event(integration_client):
    case = factories.case(integration_client)
    assert case.status == CaseStatus.RECEIVED
    assert case.case_number.startswith("PA-")
    assert list(case.lines.values_list("sequence", "code")) == [(1, "62330")]
    assert CaseEvent.objects.filter(case=case, kind="received").exists()


def test_submit_flags_line_governed_by_published_version(integration_client, investigational):
    case = factories.case(integration_client)
    flag = Flag.objects.get(case=case)
    assert flag.kind == "investigational"
    assert flag.policy_version == investigational
    assert flag.citation["policy_number"] == "TP.01"


def test_submit_ignores_draft_versions(integration_client, editor):
    factories.draft_version()
    case = factories.case(integration_client)
    assert not Flag.objects.filter(case=case).exists()


@pytest.mark.parametrize(
    ("urgency", "lob", "review_type", "hours"),
    [
        ("expedited", "commercial", "prospective", 72),
        ("expedited", "medicare_advantage", "prospective", 72),
        ("standard", "commercial", "prospective", 15 * 24),
        ("standard", "exchange", "prospective", 15 * 24),
        ("standard", "medicare_advantage", "prospective", 7 * 24),
        ("standard", "medicaid", "prospective", 7 * 24),
        ("standard", "chip", "prospective", 7 * 24),
        ("standard", "commercial", "retrospective", 30 * 24),
    ],
)
def test_due_at_follows_the_deadline_table(integration_client, urgency, lob, review_type, hours):
    case = factories.case(integration_client, urgency=urgency, line_of_business=lob, review_type=review_type)
    assert case.due_at - case.received_at == timedelta(hours=hours)


def test_deadline_rules_are_data_a_manager_can_change(integration_client):
    DeadlineRule.objects.filter(review_type="prospective", urgency="expedited").update(hours=48)
    case = factories.case(integration_client, urgency="expedited")
    assert case.due_at - case.received_at == timedelta(hours=48)


def test_submit_by_reviewer_is_refused(nurse):
    with pytest.raises(PermissionDeniedError):
        factories.case(nurse)


def test_submit_with_bad_codes_names_each_field_and_stores_nothing(integration_client):
    bad_line = LineInput(
        code_system="CPT", code="6233", units=1, date_of_service=factories.case_input().service_lines[0].date_of_service
    )
    with pytest.raises(ValidationFailed) as exc:
        factories.case(
            integration_client,
            diagnosis_codes=("Z99.999",),
            service_lines=(bad_line,),
            requesting_provider=ProviderInput(npi="1234567890", name="x"),
        )
    assert set(exc.value.errors) == {"diagnosis_codes[0]", "service_lines[0].code", "requesting_provider.npi"}
    assert Case.objects.count() == 0


def test_duplicate_external_id_for_one_client_is_a_conflict(integration_client):
    first = factories.case(integration_client, external_id="EHR-9")
    with pytest.raises(ConflictError) as exc:
        factories.case(integration_client, external_id="EHR-9")
    assert exc.value.extra["case_number"] == first.case_number
    assert Case.objects.count() == 1


def test_same_external_id_from_two_clients_is_two_cases(integration_client, other_client):
    factories.case(integration_client, external_id="EHR-9")
    factories.case(other_client, external_id="EHR-9")
    assert Case.objects.count() == 2


def test_physician_denial_freezes_citation_snapshot(integration_client, physician, investigational):
    case = factories.case(integration_client)
    decision = deny(case, physician, investigational)
    citation = decision.citations.get()
    assert (citation.policy_number, citation.version_label, citation.coverage_position) == (
        "TP.01",
        "2024-01",
        "investigational",
    )
    assert citation.content_sha256 == investigational.content_sha256 != ""
    assert citation.criterion == "Investigational per policy."
    case.refresh_from_db()
    assert case.status == CaseStatus.DECIDED
    assert case.decided_at is not None


def test_citation_does_not_change_when_policy_is_renamed(integration_client, physician, investigational):
    case = factories.case(integration_client)
    deny(case, physician, investigational)
    investigational.policy.title = "Renamed later"
    investigational.policy.save()
    assert Citation.objects.get().policy_title == "Test procedure policy"


def test_nurse_may_not_deny(integration_client, nurse, investigational):
    case = factories.case(integration_client)
    with pytest.raises(PermissionDeniedError, match="refer the case to a physician"):
        deny(case, nurse, investigational)
    assert not Decision.objects.exists()


def test_nurse_may_approve(integration_client, nurse):
    case = factories.case(integration_client)
    decision = decision_record(
        case_id=case.pk,
        user=nurse,
        lines=[DecisionLineInput(service_line=1, outcome="approved")],
        citations=[],
    )
    assert decision.decided_role == "nurse_reviewer"
    assert decision.lines.get().approved_units == 1


def test_denial_without_citation_is_refused(integration_client, physician, investigational):
    case = factories.case(integration_client)
    with pytest.raises(ValidationFailed) as exc:
        deny(case, physician, investigational, citations=[])
    assert "citations" in exc.value.errors


def test_denial_without_reason_is_refused(integration_client, physician, investigational):
    case = factories.case(integration_client)
    with pytest.raises(ValidationFailed) as exc:
        deny(case, physician, investigational, lines=[DecisionLineInput(service_line=1, outcome="denied")])
    assert "lines[0].reason" in exc.value.errors


def test_citing_a_draft_version_is_refused(integration_client, physician, editor):
    draft = factories.draft_version()
    case = factories.case(integration_client)
    with pytest.raises(ValidationFailed) as exc:
        deny(case, physician, draft)
    assert "citations[0].policy_version_id" in exc.value.errors


def test_decision_must_cover_every_line(integration_client, physician, investigational):
    dos = factories.case_input().service_lines[0].date_of_service
    two = (
        LineInput(code_system="CPT", code="62330", units=1, date_of_service=dos),
        LineInput(code_system="CPT", code="62331", units=1, date_of_service=dos),
    )
    case = factories.case(integration_client, service_lines=two)
    with pytest.raises(ValidationFailed) as exc:
        deny(case, physician, investigational)
    assert "lines" in exc.value.errors


def test_decided_case_refuses_a_second_decision(integration_client, physician, investigational):
    case = factories.case(integration_client)
    deny(case, physician, investigational)
    with pytest.raises(InvalidTransition) as exc:
        deny(case, physician, investigational)
    assert exc.value.extra["current_status"] == "decided"


def test_stale_row_version_is_a_conflict(integration_client, physician, investigational):
    case = factories.case(integration_client)
    with pytest.raises(ConflictError):
        deny(case, physician, investigational, expected_row_version=case.row_version + 1)


def test_pended_outcome_keeps_case_open_and_next_decision_supersedes(integration_client, physician, investigational):
    case = factories.case(integration_client)
    first = decision_record(
        case_id=case.pk,
        user=physician,
        lines=[DecisionLineInput(service_line=1, outcome="pended")],
        citations=[],
    )
    case.refresh_from_db()
    assert case.status == CaseStatus.PENDED
    second = deny(case, physician, investigational)
    assert second.supersedes == first


def test_recorded_decision_cannot_be_updated_in_the_database(integration_client, physician, investigational):
    case = factories.case(integration_client)
    decision = deny(case, physician, investigational)
    with pytest.raises((IntegrityError, DatabaseError)), transaction.atomic():
        Decision.objects.filter(pk=decision.pk).update(rationale="edited")


def test_recorded_citation_cannot_be_updated_in_the_database(integration_client, physician, investigational):
    case = factories.case(integration_client)
    deny(case, physician, investigational)
    with pytest.raises((IntegrityError, DatabaseError)), transaction.atomic():
        Citation.objects.update(policy_title="edited")


def test_refer_moves_case_to_physician_review(integration_client, nurse):
    case = factories.case(integration_client)
    case_refer_to_physician(case_id=case.pk, user=nurse, summary="Investigational flag; please review.")
    case.refresh_from_db()
    assert case.status == CaseStatus.PHYSICIAN_REVIEW
    assert case.events.filter(kind="referred", actor=nurse).exists()


def test_refer_of_decided_case_is_an_invalid_transition(integration_client, nurse, physician, investigational):
    case = factories.case(integration_client)
    deny(case, physician, investigational)
    with pytest.raises(InvalidTransition):
        case_refer_to_physician(case_id=case.pk, user=nurse, summary="again")


def test_client_cancels_its_own_case(integration_client):
    case = factories.case(integration_client)
    case_cancel(case_id=case.pk, user=integration_client)
    case.refresh_from_db()
    assert case.status == CaseStatus.CANCELLED


def test_other_client_may_not_cancel(integration_client, other_client):
    case = factories.case(integration_client)
    with pytest.raises(PermissionDeniedError):
        case_cancel(case_id=case.pk, user=other_client)


def test_publish_reflags_open_cases_once(integration_client, editor, django_capture_on_commit_callbacks):
    case = factories.case(integration_client)
    with django_capture_on_commit_callbacks(execute=True):
        factories.publish(factories.draft_version(), editor)  # the task runs in-process at commit
    assert Flag.objects.get(case=case, superseded_at__isnull=True).kind == "investigational"
    assert case.events.filter(kind="reflagged").count() == 1


def test_flags_refresh_is_idempotent(integration_client, editor, django_capture_on_commit_callbacks):
    case = factories.case(integration_client)
    with django_capture_on_commit_callbacks(execute=True):
        factories.publish(factories.draft_version(), editor)
    assert Flag.objects.filter(case=case, superseded_at__isnull=True).count() == 1
    assert case_flags_refresh(case_id=case.pk) is False
    assert Flag.objects.filter(case=case).count() == 1


def test_api_token_is_stored_only_as_hash(integration_client):
    token, raw = api_token_create(user=integration_client)
    assert raw not in (token.key_hash, token.prefix)
    assert len(token.key_hash) == 64


def test_decided_case_can_be_closed_and_then_takes_no_decision(integration_client, physician, manager, investigational):
    case = factories.case(integration_client)
    deny(case, physician, investigational)
    case_close(case_id=case.pk, user=manager)
    case.refresh_from_db()
    assert case.status == CaseStatus.CLOSED
    with pytest.raises(InvalidTransition):
        deny(case, physician, investigational)


def test_open_case_cannot_be_closed(integration_client, manager):
    case = factories.case(integration_client)
    with pytest.raises(InvalidTransition) as exc:
        case_close(case_id=case.pk, user=manager)
    assert exc.value.extra["current_status"] == "received"
