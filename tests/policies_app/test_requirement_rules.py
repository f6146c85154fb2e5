"""Requirement rules: drafting, publishing, versions, retiring, the frozen published rule, audit."""

from __future__ import annotations

import hashlib
import json
from datetime import date

import pytest
from django.db import DatabaseError, IntegrityError, transaction

from casemgmt.audit.models import AuditEvent, AuditObject
from casemgmt.kernel.errors import ConflictError, InvalidTransition, PermissionDeniedError, ValidationFailed
from policies_app.models import PolicyVersion, RequirementRule
from policies_app.requirement_rules import (
    RequirementRuleInput,
    requirement_from_statement,
    requirement_rule_create,
    requirement_rule_new_version,
    requirement_rule_publish,
    requirement_rule_retire,
    requirement_rule_update,
)
from policies_app.selectors import (
    content_sha256,
    engine_index,
    library_stamp,
    requirement_index,
    version_content,
)
from policies_app.services import policy_version_draft_from
from tests import factories


def rule_input(**overrides: object) -> RequirementRuleInput:
    values: dict[str, object] = {
        "requirement": "not_required",
        "effective_start": date(2026, 1, 1),
        "code_system": "CPT",
        "code_start": "99202",
        "code_end": "99215",
    }
    values.update(overrides)
    return RequirementRuleInput(**values)  # type: ignore[arg-type]


def test_editor_creates_a_draft_rule_for_a_range(editor):
    rule = requirement_rule_create(user=editor, data=rule_input())
    assert (rule.status, rule.version, rule.scope_label) == ("draft", 1, "CPT 99202\u201399215")


def test_a_nurse_cannot_create_a_rule(nurse):
    with pytest.raises(PermissionDeniedError):
        requirement_rule_create(user=nurse, data=rule_input())


def test_invalid_code_is_refused_with_its_field(editor):
    with pytest.raises(ValidationFailed) as caught:
        requirement_rule_create(user=editor, data=rule_input(code_start="9920", code_end=""))
    assert "code_start" in caught.value.errors


def test_reversed_range_is_refused(editor):
    with pytest.raises(ValidationFailed) as caught:
        requirement_rule_create(user=editor, data=rule_input(code_start="99215", code_end="99202"))
    assert "code_end" in caught.value.errors


def test_invalid_diagnosis_is_refused_with_its_index(editor):
    with pytest.raises(ValidationFailed) as caught:
        requirement_rule_create(user=editor, data=rule_input(diagnosis_codes=("M48.06", "ZZZ")))
    assert list(caught.value.errors) == ["diagnosis_codes[1]"]


def test_diagnosis_category_is_accepted_and_normalized(editor):
    rule = requirement_rule_create(user=editor, data=rule_input(diagnosis_codes=("m4806",)))
    assert rule.diagnosis_codes == ["M48.06"]


def test_plan_wide_default_is_a_rule_without_a_code(editor):
    rule = requirement_rule_create(
        user=editor, data=rule_input(code_system="", code_start="", code_end="", requirement="required")
    )
    assert (rule.code_system, rule.code_start, rule.scope_label) == ("", "", "Plan-wide default")


def test_plan_wide_default_with_diagnoses_is_refused(editor):
    with pytest.raises(ValidationFailed) as caught:
        requirement_rule_create(
            user=editor, data=rule_input(code_system="", code_start="", code_end="", diagnosis_codes=("M48.06",))
        )
    assert "diagnosis_codes" in caught.value.errors


def test_code_system_without_a_code_is_refused(editor):
    with pytest.raises(ValidationFailed) as caught:
        requirement_rule_create(user=editor, data=rule_input(code_start="", code_end=""))
    assert "code_start" in caught.value.errors


def test_end_before_start_is_refused(editor):
    with pytest.raises(ValidationFailed) as caught:
        requirement_rule_create(user=editor, data=rule_input(effective_end=date(2025, 12, 31)))
    assert "effective_end" in caught.value.errors


def test_unknown_requirement_is_refused(editor):
    with pytest.raises(ValidationFailed) as caught:
        requirement_rule_create(user=editor, data=rule_input(requirement="maybe"))
    assert "requirement" in caught.value.errors


def test_database_refuses_a_code_without_a_system(editor):
    with pytest.raises(IntegrityError), transaction.atomic():
        RequirementRule.objects.create(code_start="99213", requirement="required", effective_start=date(2026, 1, 1))


def test_database_refuses_a_published_rule_without_publisher(editor):
    with pytest.raises(IntegrityError), transaction.atomic():
        RequirementRule.objects.create(
            code_system="CPT",
            code_start="99213",
            requirement="required",
            effective_start=date(2026, 1, 1),
            status="published",
        )


def test_draft_can_be_updated(editor):
    rule = requirement_rule_create(user=editor, data=rule_input())
    updated = requirement_rule_update(user=editor, rule_id=rule.pk, data=rule_input(requirement="notification_only"))
    assert updated.requirement == "notification_only"


def test_update_is_audited_with_the_changed_field(editor):
    rule = requirement_rule_create(user=editor, data=rule_input())
    requirement_rule_update(user=editor, rule_id=rule.pk, data=rule_input(requirement="notification_only"))
    row = AuditEvent.objects.filter(object_type=AuditObject.REQUIREMENT_RULE, object_id=str(rule.pk)).last()
    assert row is not None
    assert "requirement" in str(row.changes)


def test_published_rule_cannot_be_updated(editor):
    rule = factories.requirement_rule(editor)
    with pytest.raises(InvalidTransition):
        requirement_rule_update(user=editor, rule_id=rule.pk, data=rule_input())


def test_database_refuses_a_change_to_a_published_rule(editor):
    rule = factories.requirement_rule(editor, requirement="required")
    with pytest.raises(DatabaseError), transaction.atomic():
        RequirementRule.objects.filter(pk=rule.pk).update(requirement="not_required")
    rule.refresh_from_db()
    assert rule.requirement == "required"


def test_publish_records_who_and_bumps_the_library_stamp(editor):
    before = library_stamp()
    rule = factories.requirement_rule(editor)
    assert (rule.status, rule.published_by, rule.published_at is not None) == ("published", editor, True)
    assert library_stamp() != before


def test_publishing_twice_is_refused(editor):
    rule = factories.requirement_rule(editor)
    with pytest.raises(InvalidTransition):
        requirement_rule_publish(user=editor, rule_id=rule.pk)


def test_publish_is_audited(editor):
    rule = factories.requirement_rule(editor)
    actions = list(
        AuditEvent.objects.filter(object_type=AuditObject.REQUIREMENT_RULE, object_id=str(rule.pk))
        .order_by("pk")
        .values_list("action", flat=True)
    )
    assert actions == ["create", "change"]


def test_second_rule_of_equal_scope_and_overlapping_dates_is_refused(editor):
    factories.requirement_rule(editor)
    draft = factories.requirement_rule(editor, publish=False, effective_start=date(2025, 1, 1))
    with pytest.raises(ConflictError):
        requirement_rule_publish(user=editor, rule_id=draft.pk)


def test_rule_of_equal_code_for_another_line_of_business_may_overlap(editor):
    factories.requirement_rule(editor)
    other = factories.requirement_rule(editor, line_of_business="medicaid")
    assert other.status == "published"


def test_new_version_is_a_draft_copy_that_supersedes(editor):
    rule = factories.requirement_rule(editor)
    draft = requirement_rule_new_version(user=editor, rule_id=rule.pk, effective_start=date(2026, 7, 1))
    assert (draft.status, draft.version, draft.supersedes_id, draft.code_start) == ("draft", 2, rule.pk, "62330")


def test_publishing_a_new_version_ends_the_earlier_the_day_before(editor):
    rule = factories.requirement_rule(editor)
    draft = requirement_rule_new_version(user=editor, rule_id=rule.pk, effective_start=date(2026, 7, 1))
    requirement_rule_update(
        user=editor,
        rule_id=draft.pk,
        data=RequirementRuleInput(
            requirement="not_required", effective_start=date(2026, 7, 1), code_system="CPT", code_start="62330"
        ),
    )
    requirement_rule_publish(user=editor, rule_id=draft.pk)
    rule.refresh_from_db()
    assert rule.effective_end == date(2026, 6, 30)
    index = requirement_index()
    before = index.lookup(code_system="CPT", code="62330", date_of_service=date(2026, 6, 30), line_of_business="chip")
    after = index.lookup(code_system="CPT", code="62330", date_of_service=date(2026, 7, 1), line_of_business="chip")
    assert (before.requirement, after.requirement) == ("required", "not_required")


def test_new_version_starting_before_the_earlier_is_refused(editor):
    rule = factories.requirement_rule(editor)
    draft = requirement_rule_new_version(user=editor, rule_id=rule.pk, effective_start=date(2023, 1, 1))
    with pytest.raises(ConflictError):
        requirement_rule_publish(user=editor, rule_id=draft.pk)


def test_a_second_pending_new_version_is_refused(editor):
    rule = factories.requirement_rule(editor)
    requirement_rule_new_version(user=editor, rule_id=rule.pk)
    with pytest.raises(ConflictError):
        requirement_rule_new_version(user=editor, rule_id=rule.pk)


def test_new_version_of_a_draft_is_refused(editor):
    draft = factories.requirement_rule(editor, publish=False)
    with pytest.raises(InvalidTransition):
        requirement_rule_new_version(user=editor, rule_id=draft.pk)


def test_retiring_a_published_rule_removes_it_from_lookups(editor):
    rule = factories.requirement_rule(editor, requirement="not_required")
    requirement_rule_retire(user=editor, rule_id=rule.pk)
    answer = requirement_index().lookup(
        code_system="CPT", code="62330", date_of_service=date(2026, 1, 1), line_of_business="commercial"
    )
    assert answer.rule_id is None


def test_retiring_a_draft_sets_it_aside_without_moving_the_stamp(editor):
    draft = factories.requirement_rule(editor, publish=False)
    before = library_stamp()
    requirement_rule_retire(user=editor, rule_id=draft.pk)
    assert library_stamp() == before


def test_retired_rule_cannot_be_retired_again(editor):
    rule = factories.requirement_rule(editor)
    requirement_rule_retire(user=editor, rule_id=rule.pk)
    with pytest.raises(InvalidTransition):
        requirement_rule_retire(user=editor, rule_id=rule.pk)


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        ("Not applicable.", "not_required"),
        ("Prior approval is not required.", "not_required"),
        ("Prior approval is required.", "required"),
        ("Notification is required within 2 business days.", "notification_only"),
        ("See the member's contract.", None),
    ],
)
def test_requirement_from_a_prior_approval_statement(statement, expected):
    assert requirement_from_statement(statement) == expected


# --- approval when criteria are met, on the policy version ----------------------------------------


def test_approval_when_criteria_are_met_is_part_of_the_content_hash(editor):
    draft = factories.draft_version()
    off = content_sha256(draft)
    draft.auto_approve_when_met = True
    assert content_sha256(draft) != off


def test_content_hash_without_approval_is_the_hash_from_before_the_setting(editor):
    draft = factories.draft_version()
    content = version_content(draft)
    content.pop("effective_end")
    content.pop("auto_approve_when_met")
    payload = json.dumps(content, sort_keys=True, separators=(",", ":"))
    assert content_sha256(draft) == hashlib.sha256(payload.encode()).hexdigest()


def test_engine_version_data_carries_approval_when_criteria_are_met(editor):
    version = factories.publish(factories.draft_version(auto_approve_when_met=True), editor)
    assert engine_index().versions[version.pk].auto_approve is True


def test_database_refuses_turning_on_approval_for_a_published_version(editor):
    version = factories.publish(factories.draft_version(), editor)
    with pytest.raises(DatabaseError), transaction.atomic():
        PolicyVersion.objects.filter(pk=version.pk).update(auto_approve_when_met=True)


def test_a_new_draft_keeps_the_approval_setting_for_the_editor_to_review(editor):
    version = factories.publish(factories.draft_version(auto_approve_when_met=True), editor)
    draft = policy_version_draft_from(version_id=version.pk, user=editor, version_label="2025-01")
    assert draft.auto_approve_when_met is True
