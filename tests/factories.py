"""Test data built through the same services the product uses."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, User
from django.utils import timezone

from casemgmt.cases.models import Case, GoldCardProgramme
from casemgmt.cases.services.decisions import CitationInput, DecisionLineInput, decision_record
from casemgmt.cases.services.gold_cards import gold_card_programme_create
from casemgmt.cases.services.intake import CaseInput, LineInput, MemberInput, ProviderInput, case_submit
from casemgmt.kernel.roles import Role
from policies_app.models import (
    Criterion,
    FactDefinition,
    Policy,
    PolicyCode,
    PolicyTerm,
    PolicyVersion,
    RequirementRule,
)
from policies_app.requirement_rules import RequirementRuleInput, requirement_rule_create, requirement_rule_publish
from policies_app.services import policy_version_publish, policy_version_submit_for_review

VALID_NPI = "1234567893"
OTHER_VALID_NPI = "1245319599"
PASSWORD = "pw-for-tests-only-9"


def user(username: str, *roles: Role, staff: bool = False) -> User:
    account = get_user_model().objects.create_user(username=username, password=PASSWORD, is_staff=staff)
    for role in roles:
        account.groups.add(Group.objects.get_or_create(name=role.value)[0])
    return account


def policy(**overrides: Any) -> Policy:
    values: dict[str, Any] = {
        "payer": "Test Health Plan",
        "number": "TP.01",
        "title": "Test procedure policy",
        "lines_of_business": ["commercial", "exchange"],
    }
    values.update(overrides)
    return Policy.objects.create(**values)


def draft_version(
    policy_obj: Policy | None = None,
    *,
    codes: list[tuple[str, str, str]] | None = None,
    terms: list[str] | None = None,
    **overrides: Any,
) -> PolicyVersion:
    values: dict[str, Any] = {
        "version_label": "2024-01",
        "coverage_position": "investigational",
        "effective_start": date(2024, 1, 1),
        "statement": "The test procedure is investigational.",
    }
    values.update(overrides)
    version = PolicyVersion.objects.create(policy=policy_obj or policy(), **values)
    for system, first, last in codes if codes is not None else [("CPT", "62330", "")]:
        PolicyCode.objects.create(version=version, system=system, code=first, code_end=last)
    for term in terms or []:
        PolicyTerm.objects.create(version=version, term=term)
    return version


SECOND_EDITOR = "sam.second-editor"


def second_editor() -> User:
    """A second policy editor, made once: the one who submits the versions `publish` publishes,
    since the editor who submits a version cannot publish it (POLICY_PUBLISH_NEEDS_SECOND_EDITOR)."""
    found = User.objects.filter(username=SECOND_EDITOR).first()
    return found or user(SECOND_EDITOR, Role.POLICY_EDITOR, staff=True)


def submit(version: PolicyVersion) -> PolicyVersion:
    """Submit a version for review as the second editor, so that any other editor may publish it."""
    return policy_version_submit_for_review(version_id=version.pk, user=second_editor())


def publish(version: PolicyVersion, editor: User) -> PolicyVersion:
    """Publish a version as `editor`, after the second editor has submitted it for review."""
    submit(version)
    return policy_version_publish(version_id=version.pk, user=editor)


def leaf(
    version: PolicyVersion, parent: Criterion | None, label: str, fact: str, operator: str, value: Any
) -> Criterion:
    return Criterion.objects.create(
        version=version,
        parent=parent,
        node_type="leaf",
        label=label,
        fact=FactDefinition.objects.get(key=fact),
        operator=operator,
        value=value,
    )


def case_input(**overrides: Any) -> CaseInput:
    dos = timezone.localdate() + timedelta(days=10)
    values: dict[str, Any] = {
        "external_id": "",
        "urgency": "standard",
        "line_of_business": "commercial",
        "member": MemberInput(member_id="M123", first_name="Ada", last_name="Case", birth_date=date(1960, 5, 1)),
        "requesting_provider": ProviderInput(npi=VALID_NPI, name="Spine Clinic"),
        "service_lines": (LineInput(code_system="CPT", code="62330", units=1, date_of_service=dos),),
        "diagnosis_codes": ("M48.062",),
    }
    values.update(overrides)
    return CaseInput(**values)


def case(client: User, **overrides: Any) -> Case:
    return case_submit(client=client, data=case_input(**overrides))


def api_case_body(**overrides: Any) -> dict[str, Any]:
    dos = (timezone.localdate() + timedelta(days=10)).isoformat()
    body: dict[str, Any] = {
        "external_id": "EHR-1",
        "urgency": "standard",
        "line_of_business": "commercial",
        "member": {"member_id": "M123", "first_name": "Ada", "last_name": "Case", "birth_date": "1960-05-01"},
        "requesting_provider": {"npi": VALID_NPI, "name": "Spine Clinic"},
        "diagnosis_codes": ["M48.062"],
        "service_lines": [{"code_system": "CPT", "code": "62330", "units": 1, "date_of_service": dos}],
        "clinical_notes": "Lumbar stenosis.",
    }
    body.update(overrides)
    return body


def two_policy_library(editor: User) -> None:
    """Two published policies: one investigational for CPT 62330, one with criteria for 62331
    (at least 12 weeks of conservative therapy)."""
    publish(draft_version(), editor)
    version = draft_version(
        policy(number="TP.02", title="Second procedure"),
        codes=[("CPT", "62331", "")],
        coverage_position="medically_necessary_with_criteria",
    )
    root = Criterion.objects.create(version=version, node_type="all_of", label="All of")
    leaf(version, root, "At least 12 weeks of conservative therapy", "conservative_therapy_weeks", "gte", 12)
    publish(version, editor)


def criteria_library(editor: User, *, auto_approve: bool, number: str = "TP.02", code: str = "62331") -> PolicyVersion:
    """A published version for `code` whose criteria read weeks of conservative therapy (at
    least 12), allowing approval when they are met or not."""
    version = draft_version(
        policy(number=number, title="Second procedure"),
        codes=[("CPT", code, "")],
        coverage_position="medically_necessary_with_criteria",
        auto_approve_when_met=auto_approve,
    )
    root = Criterion.objects.create(version=version, node_type="all_of", label="All of")
    leaf(version, root, "At least 12 weeks of conservative therapy", "conservative_therapy_weeks", "gte", 12)
    return publish(version, editor)


def requirement_rule(editor: User, *, publish: bool = True, **overrides: Any) -> RequirementRule:
    """A requirement rule drafted (and by default published) by `editor` through the services."""
    values: dict[str, Any] = {
        "requirement": "required",
        "effective_start": date(2024, 1, 1),
        "code_system": "CPT",
        "code_start": "62330",
    }
    values.update(overrides)
    values["diagnosis_codes"] = tuple(values.get("diagnosis_codes", ()))
    rule = requirement_rule_create(user=editor, data=RequirementRuleInput(**values))
    return requirement_rule_publish(user=editor, rule_id=rule.pk) if publish else rule


def gold_card_programme(manager: User, **overrides: Any) -> GoldCardProgramme:
    """A gold-card programme defined by `manager` (defaults: CPT 62330, commercial, 90%, 6 months, 5 requests)."""
    values: dict[str, Any] = {
        "name": "Lumbar injections",
        "line_of_business": "commercial",
        "code_system": "CPT",
        "code_start": "62330",
    }
    values.update(overrides)
    return gold_card_programme_create(user=manager, **values)


def decided_case(
    client: User,
    reviewer: User,
    *outcomes: str,
    version: PolicyVersion | None = None,
    npi: str = VALID_NPI,
    codes: tuple[str, ...] = ("62330",),
    **overrides: Any,
) -> Case:
    """A request from provider `npi` for `codes` (one line each), decided by `reviewer` through
    decision_record: line i gets outcomes[i] (default: every line approved). An adverse outcome
    needs a physician and a published `version` to cite."""
    dos = timezone.localdate() + timedelta(days=10)
    lines = tuple(LineInput(code_system="CPT", code=code, units=2, date_of_service=dos) for code in codes)
    submitted = case(
        client, service_lines=lines, requesting_provider=ProviderInput(npi=npi, name="Clinic"), **overrides
    )
    adverse = ("denied", "partially_approved", "modified")
    decided_lines = [
        DecisionLineInput(
            service_line=i + 1,
            outcome=outcome,
            reason="Criteria not met." if outcome in adverse else "",
            approved_units=1 if outcome in ("partially_approved", "modified") else None,
        )
        for i, outcome in enumerate(outcomes or ("approved",) * len(codes))
    ]
    citations = [CitationInput(policy_version_id=version.pk)] if version is not None else []
    decision_record(case_id=submitted.pk, user=reviewer, lines=decided_lines, citations=citations)
    submitted.refresh_from_db()
    return submitted
