"""A reviewer records a clinical fact found in the documentation; the criteria read it at once
(issue 19, "a control for the reviewer to record a fact found in the documentation")."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from casemgmt.audit.models import AuditEvent, AuditObject
from casemgmt.cases import selectors
from casemgmt.cases.models import Case, CaseEvent, CaseEventKind, CaseStatus, Flag
from casemgmt.cases.services.facts import case_fact_record
from casemgmt.cases.services.intake import LineInput
from casemgmt.kernel.errors import ConflictError, InvalidTransition, PermissionDeniedError, ValidationFailed
from policies_app.engine import documented_fact_key
from policies_app.models import Criterion, FactDefinition, PolicyVersion
from tests import factories

pytestmark = pytest.mark.django_db

WEEKS = "conservative_therapy_weeks"
INSTABILITY = "Imaging shows no instability at the treated level"


@pytest.fixture
def version(editor: User) -> PolicyVersion:
    """TP.07 for CPT 62331: at least 12 weeks of conservative therapy, and a documented-review
    criterion on the imaging."""
    draft = factories.draft_version(
        factories.policy(number="TP.07", title="Lumbar decompression"),
        codes=[("CPT", "62331", "")],
        coverage_position="medically_necessary_with_criteria",
    )
    root = Criterion.objects.create(version=draft, node_type="all_of", label="All of")
    factories.leaf(draft, root, "At least 12 weeks of conservative therapy", WEEKS, "gte", 12)
    Criterion.objects.create(version=draft, parent=root, position=1, node_type="documented", label=INSTABILITY)
    return factories.publish(draft, editor)


@pytest.fixture
def case(integration_client: User, version: PolicyVersion) -> Case:
    dos = timezone.localdate() + timedelta(days=10)
    return factories.case(
        integration_client,
        service_lines=(LineInput(code_system="CPT", code="62331", units=1, date_of_service=dos),),
    )


def leaf_of(case: Case, key: str) -> dict[str, Any]:
    line = case.lines.get()
    return next(
        leaf for c in selectors.line_checklists(case)[line.pk] for leaf in c["leaves"] if leaf["fact_key"] == key
    )


def test_recording_a_fact_flips_its_criterion_from_unknown_to_met(case, nurse):
    assert leaf_of(case, WEEKS)["result"] == "unknown"
    case_fact_record(case_id=case.pk, user=nurse, key=WEEKS, value=14, source="PT notes, page 3")
    assert leaf_of(case, WEEKS)["result"] == "met"
    assert leaf_of(case, WEEKS)["value"] == 14


def test_recording_every_criterion_re_evaluates_the_flags_to_criteria_met(case, nurse):
    case_fact_record(case_id=case.pk, user=nurse, key=WEEKS, value=14)
    case_fact_record(case_id=case.pk, user=nurse, key=documented_fact_key(INSTABILITY), value=True)
    kinds = set(Flag.objects.filter(case=case, superseded_at__isnull=True).values_list("kind", flat=True))
    assert kinds == {"criteria_met"}


def test_a_value_from_a_form_is_read_as_the_fact_type(case, nurse):
    updated = case_fact_record(case_id=case.pk, user=nurse, key=WEEKS, value="14")
    assert updated.clinical_facts[WEEKS] == 14


def test_a_value_of_the_wrong_type_is_refused_naming_the_value(case, nurse):
    with pytest.raises(ValidationFailed) as refused:
        case_fact_record(case_id=case.pk, user=nurse, key=WEEKS, value="fourteen")
    assert refused.value.errors["value"] == ["Weeks of failed conservative therapy: must be a number"]
    case.refresh_from_db()
    assert WEEKS not in case.clinical_facts


def test_a_fraction_is_refused_for_a_whole_number_fact(case, nurse):
    with pytest.raises(ValidationFailed) as refused:
        case_fact_record(case_id=case.pk, user=nurse, key=WEEKS, value=12.5)
    assert "whole number" in refused.value.errors["value"][0]


def test_a_value_outside_the_allowed_values_is_refused(case, nurse):
    FactDefinition.objects.filter(key="bmi").update(
        allowed_values=[{"value": 20, "label": "20"}, {"value": 30, "label": "30"}]
    )
    with pytest.raises(ValidationFailed) as refused:
        case_fact_record(case_id=case.pk, user=nurse, key="bmi", value=25)
    assert refused.value.errors["value"] == ["Body mass index: must be one of 20, 30"]


def test_an_allowed_value_is_accepted(case, nurse):
    FactDefinition.objects.filter(key="bmi").update(allowed_values=[{"value": 20, "label": "20"}])
    updated = case_fact_record(case_id=case.pk, user=nurse, key="bmi", value="20")
    assert updated.clinical_facts["bmi"] == 20


def test_an_unknown_fact_is_refused_naming_the_key(case, nurse):
    with pytest.raises(ValidationFailed) as refused:
        case_fact_record(case_id=case.pk, user=nurse, key="shoe_size", value=9)
    assert "not a clinical fact" in refused.value.errors["key"][0]


def test_a_derived_fact_is_refused(case, nurse):
    with pytest.raises(ValidationFailed) as refused:
        case_fact_record(case_id=case.pk, user=nurse, key="member_age", value=70)
    assert "worked out from the request" in refused.value.errors["key"][0]


def test_a_documented_review_key_of_a_governing_criterion_is_accepted(case, physician):
    key = documented_fact_key(INSTABILITY)
    updated = case_fact_record(case_id=case.pk, user=physician, key=key, value="yes")
    assert updated.clinical_facts[key] is True
    assert leaf_of(updated, key)["result"] == "met"


def test_a_documented_review_key_of_no_governing_criterion_is_refused(case, nurse):
    with pytest.raises(ValidationFailed) as refused:
        case_fact_record(case_id=case.pk, user=nurse, key=documented_fact_key("Some other finding"), value=True)
    assert "documented-review criterion" in refused.value.errors["key"][0]


def test_an_empty_value_clears_the_fact(case, nurse):
    case_fact_record(case_id=case.pk, user=nurse, key=WEEKS, value=14)
    updated = case_fact_record(case_id=case.pk, user=nurse, key=WEEKS, value="")
    assert WEEKS not in updated.clinical_facts
    assert leaf_of(updated, WEEKS)["result"] == "unknown"


def test_recording_a_fact_writes_an_audit_row_with_the_old_and_new_value(case, nurse):
    case_fact_record(case_id=case.pk, user=nurse, key=WEEKS, value=8)
    case_fact_record(case_id=case.pk, user=nurse, key=WEEKS, value=14)
    row = AuditEvent.objects.filter(object_type=AuditObject.CASE, changes__has_key=f"clinical_facts.{WEEKS}").first()
    assert row is not None
    assert row.changes[f"clinical_facts.{WEEKS}"] == {"old": 8, "new": 14}
    assert row.actor_username == nurse.username


def test_recording_a_fact_is_an_event_on_the_timeline_with_its_source(case, nurse):
    case_fact_record(case_id=case.pk, user=nurse, key=WEEKS, value=14, source="PT notes, page 3")
    event = CaseEvent.objects.get(case=case, kind=CaseEventKind.FACT_RECORDED)
    assert event.actor == nurse
    assert (event.detail["key"], event.detail["value"], event.detail["source"]) == (WEEKS, 14, "PT notes, page 3")


def test_recording_the_same_value_again_changes_nothing(case, nurse):
    recorded = case_fact_record(case_id=case.pk, user=nurse, key=WEEKS, value=14)
    again = case_fact_record(case_id=case.pk, user=nurse, key=WEEKS, value="14")
    assert again.row_version == recorded.row_version
    assert CaseEvent.objects.filter(case=case, kind=CaseEventKind.FACT_RECORDED).count() == 1


def test_recording_a_fact_keeps_the_status_and_moves_the_row_version(case, nurse):
    updated = case_fact_record(case_id=case.pk, user=nurse, key=WEEKS, value=14)
    assert updated.status == CaseStatus.RECEIVED
    assert updated.row_version == case.row_version + 1


def test_a_fact_recorded_against_a_stale_page_is_a_conflict(case, nurse):
    case_fact_record(case_id=case.pk, user=nurse, key=WEEKS, value=14, expected_row_version=case.row_version)
    with pytest.raises(ConflictError):
        case_fact_record(case_id=case.pk, user=nurse, key=WEEKS, value=10, expected_row_version=case.row_version)


def test_a_fact_cannot_be_recorded_on_a_decided_case(case, nurse):
    Case.objects.filter(pk=case.pk).update(status=CaseStatus.DECIDED)
    with pytest.raises(InvalidTransition):
        case_fact_record(case_id=case.pk, user=nurse, key=WEEKS, value=14)


def test_an_outsider_may_not_record_a_fact(case, outsider):
    with pytest.raises(PermissionDeniedError):
        case_fact_record(case_id=case.pk, user=outsider, key=WEEKS, value=14)


def test_the_integration_client_may_not_record_a_fact(case, integration_client):
    with pytest.raises(PermissionDeniedError):
        case_fact_record(case_id=case.pk, user=integration_client, key=WEEKS, value=14)


def test_a_manager_may_record_a_fact(case, manager):
    updated = case_fact_record(case_id=case.pk, user=manager, key=WEEKS, value=14)
    assert updated.clinical_facts[WEEKS] == 14


# --- the checklists ---------------------------------------------------------------------------


def test_the_checklist_names_the_governing_version_and_each_criterion(case, version):
    (checklist,) = selectors.line_checklists(case)[case.lines.get().pk]
    assert checklist["version"] == {
        "id": version.pk,
        "label": "2024-01",
        "number": "TP.07",
        "title": "Lumbar decompression",
        "policy_id": version.policy_id,
        "coverage_position": "medically_necessary_with_criteria",
    }
    weeks, documented = checklist["leaves"]
    assert (weeks["fact_label"], weeks["unit"], weeks["value_type"]) == (
        "Weeks of failed conservative therapy",
        "weeks",
        "integer",
    )
    assert weeks["requirement"] == "at least 12 weeks"
    assert (documented["label"], documented["value_type"], documented["documented"]) == (INSTABILITY, "boolean", True)


def test_the_checklists_cost_the_same_queries_however_many_lines(integration_client, version, nurse):
    dos = timezone.localdate() + timedelta(days=10)
    one = factories.case(
        integration_client, service_lines=(LineInput(code_system="CPT", code="62331", units=1, date_of_service=dos),)
    )
    many = factories.case(
        integration_client,
        service_lines=tuple(
            LineInput(code_system="CPT", code="62331", units=1, date_of_service=dos + timedelta(days=i))
            for i in range(6)
        ),
    )
    with CaptureQueriesContext(connection) as few:
        selectors.line_checklists(one)
    with CaptureQueriesContext(connection) as more:
        assert len(selectors.line_checklists(many)) == 6
    assert len(few) == len(more) == 2
