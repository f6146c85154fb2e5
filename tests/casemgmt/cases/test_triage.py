"""Triage at intake (issue 17, sections 1, 4 and 5; ../shared/DOMAIN.md "Triage at intake"): a line
that needs no authorization is answered at once, a clean approval may be made by the system, and
everything else goes to a person. The system never denies, modifies or pends on its own."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from casemgmt.audit.models import AuditEvent, AuditObject
from casemgmt.cases.metrics import Period, cms_metrics
from casemgmt.cases.models import (
    Authorization,
    AuthorizationStatus,
    Case,
    CaseStatus,
    Decision,
    DuplicateRule,
    FlagKind,
    LineOutcome,
    RequestOutcome,
    ReviewerRole,
)
from casemgmt.cases.services.decisions import CitationInput, DecisionLineInput, decision_record
from casemgmt.cases.services.gold_cards import gold_card_grant, gold_card_programme_create
from casemgmt.cases.services.intake import LineInput
from casemgmt.cases.services.reopenings import case_reopen
from casemgmt.cases.services.transitions import case_refer_to_physician
from casemgmt.cases.services.triage import intake_settings, intake_settings_update
from casemgmt.kernel.errors import PermissionDeniedError, ValidationFailed
from policies_app.engine import documented_fact_key
from policies_app.models import Criterion, PolicyVersion
from tests import factories

pytestmark = pytest.mark.django_db

CRITERIA_CODE = "62331"


def _line(code: str, units: int = 1) -> LineInput:
    return LineInput(
        code_system="CPT", code=code, units=units, date_of_service=timezone.localdate() + timedelta(days=10)
    )


@pytest.fixture
def criteria_version(editor: User) -> PolicyVersion:
    """CPT 62331's criteria read weeks of conservative therapy; its editors allow approval when met."""
    return factories.criteria_library(editor, auto_approve=True)


@pytest.fixture
def automatic(manager: User) -> None:
    intake_settings_update(user=manager, automatic_approval=True)


def _met(client: User, **overrides: object) -> Case:
    return factories.case(
        client, service_lines=(_line(CRITERIA_CODE),), clinical_facts={"conservative_therapy_weeks": 16}, **overrides
    )


# --- which services need authorization ------------------------------------------------------


def test_a_service_that_needs_no_authorization_is_answered_at_once_and_the_request_closed(
    integration_client: User, editor: User
) -> None:
    factories.requirement_rule(editor, code_start="99213", requirement="not_required")

    case = factories.case(integration_client, service_lines=(_line("99213"),))

    assert case.status == CaseStatus.CLOSED
    decision = Decision.objects.get(case=case)
    assert decision.decided_role == ReviewerRole.AUTOMATED
    line = decision.lines.get()
    assert line.outcome == LineOutcome.NOT_REQUIRED
    assert "No prior authorization is required" in line.reason
    assert not Authorization.objects.filter(case=case).exists()


def test_a_request_answered_not_required_is_not_counted_as_a_determination(
    integration_client: User, editor: User
) -> None:
    factories.requirement_rule(editor, code_start="99213", requirement="not_required")

    case = factories.case(integration_client, service_lines=(_line("99213"),))

    case.refresh_from_db()
    assert case.outcome == ""
    assert case.first_determined_at is None


def test_a_notification_only_service_is_recorded_as_notified(integration_client: User, editor: User) -> None:
    factories.requirement_rule(editor, code_start="99213", requirement="notification_only")

    case = factories.case(integration_client, service_lines=(_line("99213"),))

    assert case.status == CaseStatus.CLOSED
    assert Decision.objects.get(case=case).lines.get().outcome == LineOutcome.NOTIFIED


def test_a_benefit_exclusion_is_flagged_for_a_physician_and_stays_in_review(
    integration_client: User, editor: User
) -> None:
    factories.requirement_rule(editor, code_start="62330", requirement="not_covered")

    case = factories.case(integration_client)

    assert case.status == CaseStatus.RECEIVED
    flag = next(f for f in case.current_flags if f.kind == FlagKind.NOT_COVERED)
    assert flag.severity == "critical"
    assert "physician" in flag.message
    assert not Decision.objects.filter(case=case).exists()


def test_only_the_lines_that_need_authorization_are_reviewed(
    integration_client: User, editor: User, physician: User
) -> None:
    factories.requirement_rule(editor, code_start="99213", requirement="not_required")
    case = factories.case(integration_client, service_lines=(_line("99213"), _line("62330")))
    assert case.status == CaseStatus.RECEIVED

    decision = decision_record(
        case_id=case.pk,
        user=physician,
        lines=[DecisionLineInput(service_line=2, outcome="approved")],
        citations=[],
    )

    outcomes = {line.service_line.sequence: line for line in decision.lines.select_related("service_line")}
    assert outcomes[1].outcome == LineOutcome.NOT_REQUIRED
    assert outcomes[1].carried_from is not None
    assert outcomes[2].outcome == LineOutcome.APPROVED
    case.refresh_from_db()
    assert case.status == CaseStatus.DECIDED
    assert case.outcome == RequestOutcome.APPROVED
    assert case.determined_automatically is False


def test_a_reviewer_cannot_decide_a_line_answered_at_intake(
    integration_client: User, editor: User, physician: User
) -> None:
    factories.requirement_rule(editor, code_start="99213", requirement="not_required")
    case = factories.case(integration_client, service_lines=(_line("99213"), _line("62330")))

    with pytest.raises(ValidationFailed) as raised:
        decision_record(
            case_id=case.pk,
            user=physician,
            lines=[
                DecisionLineInput(service_line=1, outcome="approved"),
                DecisionLineInput(service_line=2, outcome="approved"),
            ],
            citations=[],
        )

    assert "answered at intake" in str(raised.value.errors["lines[0].service_line"])
    assert Decision.objects.filter(case=case).count() == 1


# --- automatic approval -----------------------------------------------------------------------


def test_criteria_met_are_not_approved_while_the_plan_switch_is_off(
    integration_client: User, criteria_version: PolicyVersion
) -> None:
    assert intake_settings().automatic_approval is False

    case = _met(integration_client)

    assert case.status == CaseStatus.RECEIVED
    assert not Decision.objects.filter(case=case).exists()


@pytest.mark.usefixtures("automatic")
def test_criteria_met_with_every_fact_known_are_approved_at_intake(
    integration_client: User, criteria_version: PolicyVersion
) -> None:
    case = _met(integration_client)

    assert case.status == CaseStatus.DECIDED
    decision = Decision.objects.get(case=case)
    assert decision.decided_role == ReviewerRole.AUTOMATED
    assert decision.decided_by.is_active is False
    line = decision.lines.get()
    assert line.outcome == LineOutcome.APPROVED
    citation = line.citations.get()
    assert citation.policy_version_id == criteria_version.pk
    assert "At least 12 weeks of conservative therapy (16)" in citation.criterion
    authorization = Authorization.objects.get(case=case)
    assert authorization.status == AuthorizationStatus.ACTIVE
    assert case.intake_authorizations[line.service_line_id] == authorization
    case.refresh_from_db()
    assert case.determined_automatically is True
    assert case.outcome == RequestOutcome.APPROVED
    assert case.first_determined_at == case.received_at


@pytest.mark.usefixtures("automatic")
def test_an_automatic_approval_is_audited_as_the_automated_reviewer(
    integration_client: User, criteria_version: PolicyVersion
) -> None:
    case = _met(integration_client)

    row = AuditEvent.objects.get(object_type=AuditObject.DECISION, case_number=case.case_number)
    assert row.actor_username == "automated-review"
    assert row.roles == "automated"
    assert row.changes["line 1"] == {"old": None, "new": "approved"}


@pytest.mark.usefixtures("automatic")
def test_criteria_met_are_not_approved_where_the_version_does_not_allow_it(
    integration_client: User, editor: User
) -> None:
    factories.criteria_library(editor, auto_approve=False)

    case = _met(integration_client)

    assert case.status == CaseStatus.RECEIVED


@pytest.mark.usefixtures("automatic", "criteria_version")
def test_criteria_with_a_fact_unknown_go_to_a_person(integration_client: User) -> None:
    case = factories.case(integration_client, service_lines=(_line(CRITERIA_CODE),))

    assert case.status == CaseStatus.RECEIVED
    assert not Decision.objects.filter(case=case).exists()


@pytest.mark.usefixtures("automatic", "criteria_version")
def test_criteria_not_met_are_never_denied_automatically(integration_client: User) -> None:
    case = factories.case(
        integration_client, service_lines=(_line(CRITERIA_CODE),), clinical_facts={"conservative_therapy_weeks": 2}
    )

    assert case.status == CaseStatus.RECEIVED
    assert not Decision.objects.filter(case=case).exists()
    assert any(f.kind == FlagKind.CRITERIA_NOT_MET for f in case.current_flags)


@pytest.mark.usefixtures("automatic", "criteria_version")
def test_a_duplicate_is_not_approved_automatically(integration_client: User) -> None:
    DuplicateRule.objects.update_or_create(line_of_business="commercial", defaults={"action": "flag"})
    # The first request is approved at intake; the same service again is flagged for a person.
    first = _met(integration_client)
    assert first.status == CaseStatus.DECIDED

    second = _met(integration_client)

    assert second.status == CaseStatus.RECEIVED
    assert any(f.kind == FlagKind.DUPLICATE_REQUEST for f in second.current_flags)


@pytest.mark.usefixtures("automatic", "criteria_version")
def test_an_approved_line_keeps_its_authorization_when_a_reviewer_decides_the_rest(
    integration_client: User, physician: User, editor: User
) -> None:
    factories.publish(factories.draft_version(), editor)  # CPT 62330 is investigational
    case = factories.case(
        integration_client,
        service_lines=(_line(CRITERIA_CODE), _line("62330")),
        clinical_facts={"conservative_therapy_weeks": 16},
    )
    assert case.status == CaseStatus.RECEIVED
    issued = Authorization.objects.get(case=case)
    investigational = PolicyVersion.objects.get(policy__number="TP.01")

    case_refer_to_physician(case_id=case.pk, user=physician, summary="Investigational line")
    decision_record(
        case_id=case.pk,
        user=physician,
        lines=[DecisionLineInput(service_line=2, outcome="denied", reason="Investigational per policy TP.01.")],
        citations=[CitationInput(policy_version_id=investigational.pk)],
    )

    issued.refresh_from_db()
    assert issued.status == AuthorizationStatus.ACTIVE
    assert Authorization.objects.filter(case=case).count() == 1
    case.refresh_from_db()
    assert case.outcome == RequestOutcome.MIXED


# --- gold cards -------------------------------------------------------------------------------


@pytest.fixture
def gold_card(manager: User) -> None:
    programme = gold_card_programme_create(
        user=manager, name="Spine injections", line_of_business="commercial", code_system="CPT", code_start="62321"
    )
    gold_card_grant(
        user=manager, programme_id=programme.pk, provider_npi=factories.VALID_NPI, reason="Peer-reviewed record"
    )


@pytest.mark.usefixtures("automatic", "gold_card")
def test_a_gold_card_holders_request_is_approved_at_intake_naming_the_exemption(integration_client: User) -> None:
    case = factories.case(integration_client, service_lines=(_line("62321"),))

    assert case.status == CaseStatus.DECIDED
    line = Decision.objects.get(case=case).lines.get()
    assert line.outcome == LineOutcome.APPROVED
    assert "gold card" in line.reason
    assert "Spine injections" in line.reason
    assert Authorization.objects.filter(case=case).exists()


@pytest.mark.usefixtures("automatic", "gold_card")
def test_a_gold_card_does_not_cover_another_providers_request(integration_client: User) -> None:
    case = factories.case(
        integration_client,
        service_lines=(_line("62321"),),
        requesting_provider=factories.ProviderInput(npi=factories.OTHER_VALID_NPI, name="Other"),
    )

    assert case.status == CaseStatus.RECEIVED


@pytest.mark.usefixtures("automatic")
def test_a_gold_card_does_not_approve_an_investigational_service(
    integration_client: User, manager: User, editor: User
) -> None:
    factories.publish(factories.draft_version(), editor)  # CPT 62330 is investigational
    programme = gold_card_programme_create(
        user=manager, name="Spine", line_of_business="commercial", code_system="CPT", code_start="62330"
    )
    gold_card_grant(user=manager, programme_id=programme.pk, provider_npi=factories.VALID_NPI, reason="Record")

    case = factories.case(integration_client)

    assert case.status == CaseStatus.RECEIVED


# --- the plan's switch ------------------------------------------------------------------------


def test_only_a_manager_turns_automatic_approval_on(nurse: User) -> None:
    with pytest.raises(PermissionDeniedError):
        intake_settings_update(user=nurse, automatic_approval=True)

    assert intake_settings().automatic_approval is False


def test_turning_automatic_approval_on_is_audited(manager: User) -> None:
    intake_settings_update(user=manager, automatic_approval=True)

    row = AuditEvent.objects.get(object_type=AuditObject.INTAKE_SETTINGS)
    assert row.changes == {"automatic_approval": {"old": False, "new": True}}


@pytest.mark.usefixtures("automatic", "criteria_version")
def test_the_cms_report_counts_an_automatic_approval_in_its_base_and_on_its_own(integration_client: User) -> None:
    _met(integration_client)
    factories.case(integration_client, service_lines=(_line(CRITERIA_CODE),))  # waits for a reviewer

    row = cms_metrics(Period.calendar_year(timezone.localdate().year))

    assert row.standard.outcomes.approved == 1
    assert row.standard.total == 1
    assert row.automated == 1


@pytest.mark.usefixtures("automatic", "criteria_version")
def test_a_reopened_automatic_approval_is_reviewed_again_line_by_line(
    integration_client: User, physician: User, manager: User
) -> None:
    case = _met(integration_client)
    case_reopen(case_id=case.pk, user=manager, reason="Clerical error in the units requested.")

    decision = decision_record(
        case_id=case.pk,
        user=physician,
        lines=[DecisionLineInput(service_line=1, outcome="approved")],
        citations=[],
    )

    line = decision.lines.get()
    assert line.carried_from is None
    case.refresh_from_db()
    assert case.determined_automatically is False


@pytest.mark.usefixtures("automatic")
def test_any_of_met_with_another_fact_unknown_is_not_met_with_every_fact_known(
    integration_client: User, editor: User
) -> None:
    version = factories.draft_version(
        factories.policy(number="TP.04"),
        codes=[("CPT", "27447", "")],
        coverage_position="medically_necessary_with_criteria",
        auto_approve_when_met=True,
    )
    either = Criterion.objects.create(version=version, node_type="any_of", label="Any of")
    factories.leaf(
        version, either, "At least 12 weeks of conservative therapy", "conservative_therapy_weeks", "gte", 12
    )
    factories.leaf(version, either, "Imaging confirms stenosis", "imaging_confirms_stenosis", "is_true", None)
    factories.publish(version, editor)

    case = factories.case(
        integration_client, service_lines=(_line("27447"),), clinical_facts={"conservative_therapy_weeks": 16}
    )

    assert any(f.kind == FlagKind.CRITERIA_MET for f in case.current_flags)
    assert case.status == CaseStatus.RECEIVED


def test_a_requesters_answer_to_a_documented_review_criterion_is_left_to_a_nurse(
    integration_client: User, editor: User, automatic: None
) -> None:
    """Issue 20: a documented-review criterion reads unknown until a reviewer records it, so the
    requester's own yes (a DTR answer) never approves a line unread."""
    text = "The records document a failed trial of physical therapy"
    version = factories.draft_version(
        factories.policy(number="TP.09", title="Documented"),
        codes=[("CPT", "62332", "")],
        coverage_position="medically_necessary_with_criteria",
        auto_approve_when_met=True,
    )
    root = Criterion.objects.create(version=version, node_type="all_of", label="All of")
    Criterion.objects.create(version=version, parent=root, position=1, node_type="documented", label=text)
    factories.publish(version, editor)

    case = factories.case(
        integration_client, service_lines=(_line("62332"),), clinical_facts={documented_fact_key(text): True}
    )

    assert case.status == CaseStatus.RECEIVED
    assert not Decision.objects.filter(case=case).exists()
    assert list(case.flags.values_list("kind", flat=True)) == ["criteria_met"]
