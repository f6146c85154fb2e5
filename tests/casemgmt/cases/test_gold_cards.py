"""Gold cards (casemgmt.cases.services.gold_cards): programmes, evaluation, grant and revoke, and
the selector intake asks (casemgmt.cases.selectors.gold_card_exemption_for)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from casemgmt.audit.models import AuditEvent, AuditObject
from casemgmt.cases.models import GoldCardExemption, GoldCardProgramme, GoldCardSource, GoldCardStatus
from casemgmt.cases.selectors import gold_card_exemption_for
from casemgmt.cases.services.decisions import DecisionLineInput, decision_record
from casemgmt.cases.services.gold_cards import (
    gold_card_grant,
    gold_card_programme_create,
    gold_card_programme_deactivate,
    gold_card_programme_update,
    gold_card_revoke,
    gold_cards_evaluate,
    months_before,
)
from casemgmt.cases.services.intake import LineInput, ProviderInput
from casemgmt.cases.tasks import gold_cards_evaluate_task
from casemgmt.kernel.errors import InvalidTransition, PermissionDeniedError, ValidationFailed
from policies_app.models import PolicyVersion
from tests import factories
from tests.factories import OTHER_VALID_NPI, VALID_NPI

pytestmark = pytest.mark.django_db


def later() -> datetime:
    return timezone.now() + timedelta(minutes=1)


@pytest.fixture
def version(editor: User) -> PolicyVersion:
    """A published policy for CPT 62330, to cite in denials."""
    return factories.publish(factories.draft_version(), editor)


def approved(client: User, nurse: User, n: int, **kw: object) -> None:
    for _ in range(n):
        factories.decided_case(client, nurse, **kw)  # type: ignore[arg-type]


def denied(client: User, physician: User, version: PolicyVersion, n: int, **kw: object) -> None:
    for _ in range(n):
        factories.decided_case(client, physician, "denied", version=version, **kw)  # type: ignore[arg-type]


def active_cards(programme: GoldCardProgramme) -> list[GoldCardExemption]:
    return list(GoldCardExemption.objects.filter(programme=programme, status=GoldCardStatus.ACTIVE))


# --- evaluation ---------------------------------------------------------------------------------


def test_a_provider_at_the_rate_with_enough_requests_earns_an_exemption_with_its_evidence(
    manager, integration_client, nurse
):
    programme = factories.gold_card_programme(manager)
    approved(integration_client, nurse, 5)
    now = later()

    summary = gold_cards_evaluate(now=now)

    [card] = active_cards(programme)
    assert (card.provider_npi, card.source) == (VALID_NPI, GoldCardSource.EVALUATED)
    assert (card.decided_count, card.approved_count, card.approval_rate) == (5, 5, Decimal("100.00"))
    assert card.period_end == timezone.localdate(now)
    assert card.period_start == timezone.localdate(months_before(now, 6))
    assert summary.granted == 1


def test_a_provider_below_the_rate_earns_none(manager, integration_client, nurse, physician, version):
    programme = factories.gold_card_programme(manager, min_requests=2)
    approved(integration_client, nurse, 9)
    denied(integration_client, physician, version, 2)  # 9 of 11: 81.8%

    gold_cards_evaluate(now=later())

    assert active_cards(programme) == []


def test_exactly_the_rate_qualifies(manager, integration_client, nurse, physician, version):
    programme = factories.gold_card_programme(manager, min_requests=2)
    approved(integration_client, nurse, 9)
    denied(integration_client, physician, version, 1)  # 9 of 10: 90%

    gold_cards_evaluate(now=later())

    [card] = active_cards(programme)
    assert card.approval_rate == Decimal("90.00")


def test_too_few_requests_earn_none(manager, integration_client, nurse):
    programme = factories.gold_card_programme(manager)
    approved(integration_client, nurse, 4)

    gold_cards_evaluate(now=later())

    assert active_cards(programme) == []


def test_a_request_with_a_line_of_the_programme_not_approved_in_full_is_not_approved(
    manager, integration_client, physician, version
):
    programme = factories.gold_card_programme(manager, code_start="62330", code_end="62331", min_requests=1)
    factories.decided_case(
        integration_client, physician, "approved", "partially_approved", codes=("62330", "62331"), version=version
    )

    gold_cards_evaluate(now=later())

    assert active_cards(programme) == []


def test_lines_outside_the_programme_do_not_count(manager, integration_client, physician, version):
    programme = factories.gold_card_programme(manager, min_requests=1, min_approval_rate=100)
    factories.decided_case(
        integration_client, physician, "approved", "denied", codes=("62330", "64633"), version=version
    )

    gold_cards_evaluate(now=later())

    [card] = active_cards(programme)
    assert (card.decided_count, card.approved_count) == (1, 1)


def test_only_the_programmes_line_of_business_counts(manager, integration_client, nurse):
    programme = factories.gold_card_programme(manager, line_of_business="medicaid", min_requests=1)
    approved(integration_client, nurse, 3)  # commercial

    gold_cards_evaluate(now=later())

    assert active_cards(programme) == []


def test_a_programme_by_policy_counts_the_codes_of_its_versions_ranges_included(
    manager, editor, integration_client, nurse
):
    policy_version = factories.publish(
        factories.draft_version(
            factories.policy(number="TP.09", title="Injections"),
            codes=[("CPT", "62320", "62327")],
            coverage_position="medically_necessary",
        ),
        editor,
    )
    programme = factories.gold_card_programme(
        manager, code_system="", code_start="", policy_id=policy_version.policy_id, min_requests=2
    )
    approved(integration_client, nurse, 2, codes=("62323",))
    approved(integration_client, nurse, 2, codes=("62330",), npi=OTHER_VALID_NPI)

    gold_cards_evaluate(now=later())

    assert [card.provider_npi for card in active_cards(programme)] == [VALID_NPI]


def approved_diagnosis_line(client: User, nurse: User, code: str, n: int, npi: str = VALID_NPI) -> None:
    """`n` requests from `npi` of one line coded in ICD-10-CM, each approved by `nurse`."""
    for _ in range(n):
        line = LineInput(
            code_system="ICD10CM", code=code, units=1, date_of_service=timezone.localdate() + timedelta(days=10)
        )
        case = factories.case(client, service_lines=(line,), requesting_provider=ProviderInput(npi=npi, name="Clinic"))
        decision_record(
            case_id=case.pk, user=nurse, lines=[DecisionLineInput(service_line=1, outcome="approved")], citations=[]
        )


def test_a_programme_by_policy_counts_the_codes_under_the_last_code_of_its_icd10cm_ranges(
    manager, editor, integration_client, nurse
):
    """An ICD-10-CM range runs in tabular order: S32.0-S32.2 holds S32.2XXA, not S32.301A."""
    policy_version = factories.publish(
        factories.draft_version(
            factories.policy(number="TP.10", title="Lumbar fractures"),
            codes=[("ICD10CM", "S32.0", "S32.2")],
            coverage_position="medically_necessary",
        ),
        editor,
    )
    programme = factories.gold_card_programme(
        manager, code_system="", code_start="", policy_id=policy_version.policy_id, min_requests=2
    )
    approved_diagnosis_line(integration_client, nurse, "S32.2XXA", 2)
    approved_diagnosis_line(integration_client, nurse, "S32.301A", 2, npi=OTHER_VALID_NPI)

    gold_cards_evaluate(now=later())

    assert [card.provider_npi for card in active_cards(programme)] == [VALID_NPI]


def test_a_programme_by_policy_counts_the_codes_under_an_icd10cm_code_it_lists_alone(
    manager, editor, integration_client, nurse
):
    """A policy listing the subcategory M48.06 covers M48.062, as the flagging engine reads it."""
    policy_version = factories.publish(
        factories.draft_version(
            factories.policy(number="TP.11", title="Lumbar stenosis"),
            codes=[("ICD10CM", "M48.06", "")],
            coverage_position="medically_necessary",
        ),
        editor,
    )
    programme = factories.gold_card_programme(
        manager, code_system="", code_start="", policy_id=policy_version.policy_id, min_requests=2
    )
    approved_diagnosis_line(integration_client, nurse, "M48.062", 2)
    approved_diagnosis_line(integration_client, nurse, "M48.07", 2, npi=OTHER_VALID_NPI)

    gold_cards_evaluate(now=later())

    assert [card.provider_npi for card in active_cards(programme)] == [VALID_NPI]


def test_decisions_before_the_period_do_not_count(manager, integration_client, nurse):
    programme = factories.gold_card_programme(manager, period_months=1)
    approved(integration_client, nurse, 5)

    gold_cards_evaluate(now=timezone.now() + timedelta(days=40))

    assert active_cards(programme) == []


def test_each_provider_is_counted_on_its_own(manager, integration_client, nurse, physician, version):
    programme = factories.gold_card_programme(manager, min_requests=2)
    approved(integration_client, nurse, 2)
    approved(integration_client, nurse, 1, npi=OTHER_VALID_NPI)
    denied(integration_client, physician, version, 1, npi=OTHER_VALID_NPI)

    gold_cards_evaluate(now=later())

    assert [card.provider_npi for card in active_cards(programme)] == [VALID_NPI]


def test_an_evaluated_exemption_ends_when_the_provider_falls_below_the_rate(
    manager, integration_client, nurse, physician, version
):
    programme = factories.gold_card_programme(manager, min_requests=2)
    approved(integration_client, nurse, 2)
    gold_cards_evaluate(now=later())
    [card] = active_cards(programme)
    denied(integration_client, physician, version, 2)

    summary = gold_cards_evaluate(now=later())

    card.refresh_from_db()
    assert card.status == GoldCardStatus.ENDED
    assert card.ended_at is not None
    assert "2 of 4 requests approved (50.00%)" in card.ended_reason
    assert summary.ended == 1


def test_a_granted_exemption_is_not_ended_by_evaluation(manager, integration_client, physician, version):
    programme = factories.gold_card_programme(manager, min_requests=2)
    card = gold_card_grant(user=manager, programme_id=programme.pk, provider_npi=VALID_NPI, reason="Known clinic.")
    denied(integration_client, physician, version, 3)

    gold_cards_evaluate(now=later())

    card.refresh_from_db()
    assert card.status == GoldCardStatus.ACTIVE


def test_a_revoked_provider_is_not_granted_again_by_evaluation_within_the_period(manager, integration_client, nurse):
    programme = factories.gold_card_programme(manager)
    approved(integration_client, nurse, 5)
    gold_cards_evaluate(now=later())
    [card] = active_cards(programme)
    gold_card_revoke(user=manager, exemption_id=card.pk, reason="Billing irregularities under review.")

    summary = gold_cards_evaluate(now=later())

    assert active_cards(programme) == []
    assert summary.programmes[0].skipped_revoked == [VALID_NPI]


def test_evaluation_is_idempotent(manager, integration_client, nurse):
    programme = factories.gold_card_programme(manager)
    approved(integration_client, nurse, 5)
    gold_cards_evaluate(now=later())

    again = gold_cards_evaluate(now=later())

    assert (again.granted, again.ended) == (0, 0)
    assert GoldCardExemption.objects.filter(programme=programme).count() == 1


def test_evaluation_is_audited_once_per_programme_and_once_per_exemption(manager, integration_client, nurse):
    programme = factories.gold_card_programme(manager)
    approved(integration_client, nurse, 5)

    gold_cards_evaluate(now=later())

    [run] = AuditEvent.objects.filter(object_type=AuditObject.GOLD_CARD_PROGRAMME, detail__event="evaluated")
    assert run.object_id == str(programme.pk)
    assert (run.detail["providers"], run.detail["granted"]) == (1, 1)
    [earned] = AuditEvent.objects.filter(object_type=AuditObject.GOLD_CARD_EXEMPTION)
    assert earned.action == "create"
    assert earned.changes["approval_rate"]["new"] == "100.00"


def test_a_deactivated_programme_is_not_evaluated(manager, integration_client, nurse):
    programme = factories.gold_card_programme(manager)
    approved(integration_client, nurse, 5)
    gold_card_programme_deactivate(user=manager, programme_id=programme.pk)

    summary = gold_cards_evaluate(now=later())

    assert summary.programmes == []
    assert not GoldCardExemption.objects.exists()


def test_the_task_evaluates_and_is_on_the_nightly_schedule(manager, integration_client, nurse):
    factories.gold_card_programme(manager)
    approved(integration_client, nurse, 5)

    assert gold_cards_evaluate_task() == {"programmes": 1, "granted": 1, "ended": 0}
    assert PeriodicTask.objects.get(name="gold cards: evaluation").task == "casemgmt.tasks.gold_cards_evaluate_task"


# --- automatic approvals ------------------------------------------------------------------------


def test_approvals_made_automatically_at_intake_do_not_count(manager, integration_client):
    from casemgmt.cases.services.triage import intake_settings_update

    programme = factories.gold_card_programme(manager, min_requests=1)
    gold_card_grant(user=manager, programme_id=programme.pk, provider_npi=VALID_NPI, reason="Pilot clinic.")
    intake_settings_update(user=manager, automatic_approval=True)
    other = factories.gold_card_programme(manager, name="Same services, evaluated", min_requests=1)
    # No policy governs 62330 here: the gold card approves the request at intake.
    case = factories.case(integration_client)
    assert case.determined_automatically

    gold_cards_evaluate(now=later())

    assert active_cards(other) == []


# --- programmes -------------------------------------------------------------------------------


def test_only_a_manager_defines_a_programme(nurse):
    with pytest.raises(PermissionDeniedError):
        factories.gold_card_programme(nurse)


@pytest.mark.parametrize(
    ("values", "path"),
    [
        ({"name": " "}, "name"),
        ({"line_of_business": "gold"}, "line_of_business"),
        ({"code_start": "6233"}, "code_start"),
        ({"code_end": "62320"}, "code_end"),
        ({"code_system": "ICD10CM"}, "code_system"),
        ({"code_system": "", "code_start": ""}, "policy"),
        ({"min_approval_rate": Decimal("100.5")}, "min_approval_rate"),
        ({"period_months": 0}, "period_months"),
        ({"min_requests": 0}, "min_requests"),
    ],
)
def test_a_programme_is_validated_with_field_paths(manager, values, path):
    with pytest.raises(ValidationFailed) as refused:
        factories.gold_card_programme(manager, **values)
    assert path in refused.value.errors


def test_a_programme_change_is_audited_with_old_and_new_values(manager):
    programme = factories.gold_card_programme(manager)

    gold_card_programme_update(
        user=manager,
        programme_id=programme.pk,
        name=programme.name,
        line_of_business="commercial",
        code_system="CPT",
        code_start="62330",
        min_approval_rate=Decimal("95"),
    )

    row = AuditEvent.objects.filter(object_type=AuditObject.GOLD_CARD_PROGRAMME, action="change").get()
    assert row.changes == {"min_approval_rate": {"old": "90.00", "new": "95"}}


def test_deactivating_a_programme_ends_its_cards(manager):
    programme = factories.gold_card_programme(manager)
    card = gold_card_grant(user=manager, programme_id=programme.pk, provider_npi=VALID_NPI, reason="Pilot.")

    gold_card_programme_deactivate(user=manager, programme_id=programme.pk, reason="Pilot over.")

    card.refresh_from_db()
    assert card.status == GoldCardStatus.ENDED
    assert "Pilot over." in card.ended_reason
    with pytest.raises(InvalidTransition):
        gold_card_programme_deactivate(user=manager, programme_id=programme.pk)


def test_programme_create_records_who_and_when(manager):
    programme = gold_card_programme_create(
        user=manager,
        name="Facet denervation",
        line_of_business="medicare_advantage",
        code_system="CPT",
        code_start="64633",
        code_end="64636",
    )

    assert (programme.created_by, programme.active, programme.min_requests) == (manager, True, 5)
    assert AuditEvent.objects.filter(object_type=AuditObject.GOLD_CARD_PROGRAMME, action="create").count() == 1


# --- grant and revoke -------------------------------------------------------------------------


def test_a_grant_records_the_current_figures_and_is_audited(manager, integration_client, nurse):
    programme = factories.gold_card_programme(manager)
    approved(integration_client, nurse, 2)

    card = gold_card_grant(user=manager, programme_id=programme.pk, provider_npi=VALID_NPI, reason="Known clinic.")

    assert (card.source, card.granted_by, card.reason) == (GoldCardSource.GRANTED, manager, "Known clinic.")
    assert (card.decided_count, card.approved_count, card.approval_rate) == (2, 2, Decimal("100.00"))
    row = AuditEvent.objects.get(object_type=AuditObject.GOLD_CARD_EXEMPTION, object_id=str(card.pk))
    assert row.changes["reason"]["new"] == "Known clinic."


def test_only_a_manager_grants(manager, nurse):
    programme = factories.gold_card_programme(manager)
    with pytest.raises(PermissionDeniedError):
        gold_card_grant(user=nurse, programme_id=programme.pk, provider_npi=VALID_NPI, reason="Because.")


def test_a_grant_needs_a_valid_npi_and_a_reason(manager):
    programme = factories.gold_card_programme(manager)
    with pytest.raises(ValidationFailed) as refused:
        gold_card_grant(user=manager, programme_id=programme.pk, provider_npi="1234567890", reason=" ")
    assert set(refused.value.errors) == {"provider_npi", "reason"}


def test_a_provider_holds_one_active_card_per_programme(manager):
    programme = factories.gold_card_programme(manager)
    gold_card_grant(user=manager, programme_id=programme.pk, provider_npi=VALID_NPI, reason="Pilot.")
    with pytest.raises(ValidationFailed) as refused:
        gold_card_grant(user=manager, programme_id=programme.pk, provider_npi=VALID_NPI, reason="Again.")
    assert "provider_npi" in refused.value.errors


def test_a_revocation_ends_the_card_with_who_and_why_and_is_audited(manager):
    programme = factories.gold_card_programme(manager)
    card = gold_card_grant(user=manager, programme_id=programme.pk, provider_npi=VALID_NPI, reason="Pilot.")

    gold_card_revoke(user=manager, exemption_id=card.pk, reason="Complaint upheld.")

    card.refresh_from_db()
    assert (card.status, card.ended_by, card.ended_reason) == (GoldCardStatus.REVOKED, manager, "Complaint upheld.")
    row = AuditEvent.objects.get(object_type=AuditObject.GOLD_CARD_EXEMPTION, action="change")
    assert row.changes["status"] == {"old": "active", "new": "revoked"}


def test_a_card_no_longer_active_cannot_be_revoked(manager):
    programme = factories.gold_card_programme(manager)
    card = gold_card_grant(user=manager, programme_id=programme.pk, provider_npi=VALID_NPI, reason="Pilot.")
    gold_card_revoke(user=manager, exemption_id=card.pk, reason="Complaint upheld.")

    with pytest.raises(InvalidTransition):
        gold_card_revoke(user=manager, exemption_id=card.pk, reason="Twice.")


def test_a_revocation_needs_a_reason_and_a_manager(manager, physician):
    programme = factories.gold_card_programme(manager)
    card = gold_card_grant(user=manager, programme_id=programme.pk, provider_npi=VALID_NPI, reason="Pilot.")

    with pytest.raises(ValidationFailed):
        gold_card_revoke(user=manager, exemption_id=card.pk, reason="")
    with pytest.raises(PermissionDeniedError):
        gold_card_revoke(user=physician, exemption_id=card.pk, reason="Not mine to do.")


# --- the selector -------------------------------------------------------------------------------


def exemption_for(code: str = "62330", lob: str = "commercial", policy_ids: tuple[int, ...] = ()) -> object:
    return gold_card_exemption_for(
        provider_npi=VALID_NPI, line_of_business=lob, code_system="CPT", code=code, policy_ids=policy_ids
    )


def test_the_selector_finds_the_active_card_covering_a_code_in_the_range(manager, django_assert_num_queries):
    programme = factories.gold_card_programme(manager, code_start="62320", code_end="62330")
    card = gold_card_grant(user=manager, programme_id=programme.pk, provider_npi=VALID_NPI, reason="Pilot.")

    with django_assert_num_queries(1):
        assert exemption_for("62325") == card
    assert exemption_for("62331") is None
    assert exemption_for("62325", lob="medicaid") is None


def test_the_selector_finds_a_card_by_the_policy_governing_the_line(manager, version):
    programme = factories.gold_card_programme(manager, code_system="", code_start="", policy_id=version.policy_id)
    card = gold_card_grant(user=manager, programme_id=programme.pk, provider_npi=VALID_NPI, reason="Pilot.")

    assert exemption_for("62330", policy_ids=(version.policy_id,)) == card
    assert exemption_for("62330") is None


def test_the_selector_ignores_revoked_cards_and_deactivated_programmes(manager):
    revoked = factories.gold_card_programme(manager)
    card = gold_card_grant(user=manager, programme_id=revoked.pk, provider_npi=VALID_NPI, reason="Pilot.")
    gold_card_revoke(user=manager, exemption_id=card.pk, reason="Ended.")
    stopped = factories.gold_card_programme(manager, name="Stopped")
    gold_card_grant(user=manager, programme_id=stopped.pk, provider_npi=VALID_NPI, reason="Pilot.")
    GoldCardProgramme.objects.filter(pk=stopped.pk).update(active=False)

    assert exemption_for() is None


def test_a_reopened_request_counts_as_its_decision_of_record(manager, integration_client, physician, version):
    from casemgmt.cases.services.decisions import DecisionLineInput, decision_record
    from casemgmt.cases.services.reopenings import case_reopen

    programme = factories.gold_card_programme(manager, min_requests=1, min_approval_rate=100)
    case = factories.decided_case(integration_client, physician, "denied", version=version)
    case_reopen(case_id=case.pk, user=physician, reason="Clerical error: the wrong line was denied.")
    decision_record(
        case_id=case.pk, user=physician, lines=[DecisionLineInput(service_line=1, outcome="approved")], citations=[]
    )

    gold_cards_evaluate(now=later())

    [card] = active_cards(programme)
    assert (card.decided_count, card.approved_count) == (1, 1)


def test_only_a_manager_runs_an_evaluation_by_hand(nurse):
    with pytest.raises(PermissionDeniedError):
        gold_cards_evaluate(user=nurse)
