"""Writes to the requirement rules: which services need prior authorization.

An editor drafts a rule (or the importer suggests one from a policy's PRIOR APPROVAL
statement), then publishes it; publishing is the editor's confirmation, and a published rule is
frozen. A change is a new version, a draft copy that supersedes the published rule: publishing
it ends the earlier one the day before the new one starts. Publishing and retiring bump the
library stamp, so every process's requirement index sees the change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from casemgmt.audit.models import AuditAction, AuditObject
from casemgmt.audit.services import audit_record
from casemgmt.kernel.errors import ConflictError, InvalidTransition, NotFoundError, ValidationFailed
from casemgmt.kernel.roles import Role, require_role
from policies_app.codes import code_problem, normalize_code, range_problem
from policies_app.models import (
    CodeSystem,
    LineOfBusiness,
    Policy,
    PolicyVersion,
    Requirement,
    RequirementRule,
    RequirementRuleStatus,
)
from policies_app.stamp import library_stamp_bump

RULE_CODE_SYSTEMS = (CodeSystem.CPT.value, CodeSystem.HCPCS.value)


@dataclass(frozen=True)
class RequirementRuleInput:
    """What an editor says about a rule. Blank `code_start` is the plan-wide default."""

    requirement: str
    effective_start: date | None
    code_system: str = ""
    code_start: str = ""
    code_end: str = ""
    diagnosis_codes: tuple[str, ...] = ()
    line_of_business: str = ""
    effective_end: date | None = None
    policy_id: int | None = None
    note: str = ""
    source_text: str = ""
    suggested_from_id: int | None = None


def _clean(data: RequirementRuleInput) -> dict[str, Any]:
    """The rule's columns from the input, normalized; ValidationFailed with field paths otherwise."""
    errors: dict[str, list[str]] = {}

    def add(path: str, message: str) -> None:
        errors.setdefault(path, []).append(message)

    system = data.code_system.strip().upper()
    first = normalize_code(system, data.code_start) if data.code_start.strip() else ""
    last = normalize_code(system, data.code_end) if data.code_end.strip() else ""
    if last == first:
        last = ""
    if not first:
        if last:
            add("code_start", "a range needs its first code")
        if system:
            add("code_start", "a rule for a code system needs a code; leave both blank for the plan-wide default")
        if data.diagnosis_codes:
            add("diagnosis_codes", "the plan-wide default applies to every service; a rule with diagnoses needs a code")
    elif system not in RULE_CODE_SYSTEMS:
        add("code_system", "choose CPT or HCPCS Level II for a rule with a code")
    else:
        problem = range_problem(system, first, last) if last else code_problem(system, first)
        if problem:
            add("code_end" if last and "range" in problem else "code_start", problem)
    diagnoses: list[str] = []
    for i, raw in enumerate(data.diagnosis_codes):
        code = normalize_code("ICD10CM", raw)
        problem = code_problem("ICD10CM", code)
        if problem:
            add(f"diagnosis_codes[{i}]", problem)
        elif code not in diagnoses:
            diagnoses.append(code)
    if data.line_of_business and data.line_of_business not in LineOfBusiness.values:
        add("line_of_business", f"unknown line of business {data.line_of_business!r}")
    if data.requirement not in Requirement.values:
        add("requirement", f"choose one of: {', '.join(str(label) for label in Requirement.labels)}")
    if data.effective_start is None:
        add("effective_start", "set the date the rule takes effect")
    elif data.effective_end is not None and data.effective_end < data.effective_start:
        add("effective_end", "the rule cannot end before it starts")
    policy = None
    if data.policy_id is not None:
        policy = Policy.objects.filter(pk=data.policy_id).first()
        if policy is None:
            add("policy", f"policy {data.policy_id} does not exist")
    suggested_from = None
    if data.suggested_from_id is not None:
        suggested_from = PolicyVersion.objects.filter(pk=data.suggested_from_id).first()
        if suggested_from is None:
            add("suggested_from", f"policy version {data.suggested_from_id} does not exist")
    if errors:
        raise ValidationFailed(errors)
    return {
        "code_system": system if first else "",
        "code_start": first,
        "code_end": last,
        "diagnosis_codes": sorted(diagnoses),
        "line_of_business": data.line_of_business,
        "requirement": data.requirement,
        "effective_start": data.effective_start,
        "effective_end": data.effective_end,
        "policy": policy,
        "note": data.note.strip(),
        "source_text": data.source_text.strip(),
        "suggested_from": suggested_from,
    }


def requirement_rule_problems(data: RequirementRuleInput) -> dict[str, list[str]]:
    """What the services would refuse in `data`, by field path (for forms that show it before saving)."""
    try:
        _clean(data)
    except ValidationFailed as exc:
        return exc.errors
    return {}


def _audited(rule: RequirementRule) -> dict[str, Any]:
    return {
        "code_system": rule.code_system,
        "code_start": rule.code_start,
        "code_end": rule.code_end,
        "diagnosis_codes": list(rule.diagnosis_codes),
        "line_of_business": rule.line_of_business,
        "requirement": rule.requirement,
        "effective_start": rule.effective_start,
        "effective_end": rule.effective_end,
        "policy": rule.policy_id,
        "note": rule.note,
    }


def _audit(rule: RequirementRule, user: User, action: str, **changes: Any) -> None:
    audit_record(
        action=action,
        object_type=AuditObject.REQUIREMENT_RULE,
        object_id=rule.pk,
        user=user,
        changes=changes,
        detail={"rule": rule.scope_label, "version": rule.version},
    )


def _locked(rule_id: int) -> RequirementRule:
    try:
        return RequirementRule.objects.select_for_update().get(pk=rule_id)
    except RequirementRule.DoesNotExist as exc:
        raise NotFoundError(f"requirement rule {rule_id} does not exist") from exc


def _require_draft(rule: RequirementRule, what: str) -> None:
    if rule.status != RequirementRuleStatus.DRAFT:
        raise InvalidTransition(
            f"rule {rule.pk} is {rule.get_status_display().lower()}; only a draft can be {what}",
            current_status=rule.status,
        )


@transaction.atomic
def requirement_rule_create(*, user: User, data: RequirementRuleInput) -> RequirementRule:
    """A draft rule. A suggested rule (from a policy's statement) carries its source text and version."""
    require_role(user, Role.POLICY_EDITOR, action="create a requirement rule")
    rule = RequirementRule.objects.create(**_clean(data), created_by=user)
    _audit(
        rule, user, AuditAction.CREATE, status=(None, rule.status), **{k: (None, v) for k, v in _audited(rule).items()}
    )
    return rule


@transaction.atomic
def requirement_rule_update(*, user: User, rule_id: int, data: RequirementRuleInput) -> RequirementRule:
    """Change a draft. The suggestion's provenance and the version chain are kept as they were."""
    require_role(user, Role.POLICY_EDITOR, action="change a requirement rule")
    rule = _locked(rule_id)
    _require_draft(rule, "changed")
    before = _audited(rule)
    values = _clean(data)
    for key in ("source_text", "suggested_from"):
        values.pop(key)
    for key, value in values.items():
        setattr(rule, key, value)
    rule.save(update_fields=[*values.keys()])
    after = _audited(rule)
    changes = {k: (before[k], after[k]) for k in after if before[k] != after[k]}
    _audit(rule, user, AuditAction.CHANGE, **changes)
    return rule


def _same_scope(rule: RequirementRule) -> Q:
    return Q(
        code_system=rule.code_system,
        code_start=rule.code_start,
        code_end=rule.code_end,
        line_of_business=rule.line_of_business,
    )


def _window(rule: RequirementRule) -> str:
    return f"{rule.effective_start.isoformat()} to {rule.effective_end.isoformat() if rule.effective_end else 'open'}"


@transaction.atomic
def requirement_rule_publish(*, user: User, rule_id: int) -> RequirementRule:
    """Publish (for a suggested rule: confirm) a draft. It never changes again.

    A rule that supersedes a published one ends it the day before it starts. Another published
    rule of the same code, line of business and diagnoses whose dates overlap is refused: two
    rules of equal precedence would make the answer depend on which was published last.
    """
    require_role(user, Role.POLICY_EDITOR, action="publish a requirement rule")
    rule = _locked(rule_id)
    _require_draft(rule, "published")
    if rule.supersedes_id is not None:
        earlier = RequirementRule.objects.select_for_update().get(pk=rule.supersedes_id)
        if earlier.status == RequirementRuleStatus.PUBLISHED:
            if earlier.effective_start >= rule.effective_start:
                raise ConflictError(
                    f"rule {earlier.pk} (version {earlier.version}) starts on {earlier.effective_start.isoformat()}; "
                    "the new version must start after it",
                    field="effective_start",
                )
            if earlier.effective_end is None or earlier.effective_end >= rule.effective_start:
                if earlier.effective_end is not None:
                    raise ConflictError(
                        f"rule {earlier.pk} (version {earlier.version}) already ends on "
                        f"{earlier.effective_end.isoformat()}; start the new version after that",
                        field="effective_start",
                    )
                earlier.effective_end = rule.effective_start - timedelta(days=1)
                earlier.save(update_fields=["effective_end"])
                _audit(earlier, user, AuditAction.CHANGE, effective_end=(None, earlier.effective_end))
    overlapping = (
        RequirementRule.objects.filter(_same_scope(rule), status=RequirementRuleStatus.PUBLISHED)
        .exclude(pk=rule.pk)
        .filter(Q(effective_end__isnull=True) | Q(effective_end__gte=rule.effective_start))
    )
    if rule.effective_end is not None:
        overlapping = overlapping.filter(effective_start__lte=rule.effective_end)
    clash = next((r for r in overlapping if sorted(r.diagnosis_codes) == sorted(rule.diagnosis_codes)), None)
    if clash is not None:
        raise ConflictError(
            f"{clash.scope_label} already has published rule {clash.pk} ({_window(clash)}) for the same "
            "line of business and diagnoses; make this rule a new version of it, change the dates, or retire it",
            field="effective_start",
        )
    rule.status = RequirementRuleStatus.PUBLISHED
    rule.published_by = user
    rule.published_at = timezone.now()
    rule.save(update_fields=["status", "published_by", "published_at"])
    _audit(rule, user, AuditAction.CHANGE, status=(RequirementRuleStatus.DRAFT, rule.status))
    library_stamp_bump()
    return rule


@transaction.atomic
def requirement_rule_retire(*, user: User, rule_id: int) -> RequirementRule:
    """Withdraw a published rule, or set aside a draft (a suggestion the editor does not confirm)."""
    require_role(user, Role.POLICY_EDITOR, action="retire a requirement rule")
    rule = _locked(rule_id)
    if rule.status == RequirementRuleStatus.RETIRED:
        raise InvalidTransition(f"rule {rule.pk} is already retired", current_status=rule.status)
    was = rule.status
    rule.status = RequirementRuleStatus.RETIRED
    rule.save(update_fields=["status"])
    _audit(rule, user, AuditAction.CHANGE, status=(was, rule.status))
    if was == RequirementRuleStatus.PUBLISHED:
        library_stamp_bump()
    return rule


@transaction.atomic
def requirement_rule_new_version(*, user: User, rule_id: int, effective_start: date | None = None) -> RequirementRule:
    """A draft copy of a published rule that supersedes it once published."""
    require_role(user, Role.POLICY_EDITOR, action="create a new version of a requirement rule")
    source = _locked(rule_id)
    if source.status != RequirementRuleStatus.PUBLISHED:
        raise InvalidTransition(
            f"rule {source.pk} is {source.get_status_display().lower()}; only a published rule gets a new version",
            current_status=source.status,
        )
    pending = source.superseded_by.exclude(status=RequirementRuleStatus.RETIRED).first()
    if pending is not None:
        raise ConflictError(
            f"rule {source.pk} already has version {pending.version} (rule {pending.pk}, "
            f"{pending.get_status_display().lower()}); change that one"
        )
    start = effective_start or max(timezone.localdate(), source.effective_start + timedelta(days=1))
    draft = RequirementRule.objects.create(
        code_system=source.code_system,
        code_start=source.code_start,
        code_end=source.code_end,
        diagnosis_codes=list(source.diagnosis_codes),
        line_of_business=source.line_of_business,
        requirement=source.requirement,
        effective_start=start,
        effective_end=None,
        version=source.version + 1,
        supersedes=source,
        policy=source.policy,
        note=source.note,
        created_by=user,
    )
    _audit(draft, user, AuditAction.CREATE, status=(None, draft.status), supersedes=(None, source.pk))
    return draft


# --- suggested by a policy's statement -----------------------------------------------------


def requirement_from_statement(text: str) -> str | None:
    """The requirement a PRIOR APPROVAL statement states, or None when it says nothing clear."""
    lowered = " ".join(text.lower().split())
    if not lowered:
        return None
    if "notification" in lowered or "notify" in lowered:
        return Requirement.NOTIFICATION_ONLY
    if any(
        phrase in lowered
        for phrase in ("not applicable", "not required", "no prior approval", "no prior authorization", "n/a")
    ):
        return Requirement.NOT_REQUIRED
    if "not covered" in lowered or "excluded" in lowered or "exclusion" in lowered:
        return Requirement.NOT_COVERED
    if "required" in lowered or "requires" in lowered:
        return Requirement.REQUIRED
    return None


def requirement_rules_suggest(*, user: User, version: PolicyVersion, statement: str) -> list[RequirementRule]:
    """Draft rules for a version's CPT and HCPCS codes from its prior-approval statement.

    Called inside the import's transaction. A rule starts when the version does (or today when
    its start is unknown) and waits for an editor to publish it. Where a published rule for
    every line already names the code, the suggestion is its next version, so confirming it
    ends the rule it replaces instead of clashing with it.
    """
    requirement = requirement_from_statement(statement)
    if requirement is None:
        return []
    source_text = f"PRIOR APPROVAL: {' '.join(statement.split())}"
    start = version.effective_start or timezone.localdate()
    policy = version.policy
    note = f"Suggested by policy {policy.number or policy.title} version {version.version_label}; publish to confirm."
    suggested: list[RequirementRule] = []
    for code in version.codes.filter(system__in=RULE_CODE_SYSTEMS).order_by("system", "code"):
        current = (
            RequirementRule.objects.filter(
                status=RequirementRuleStatus.PUBLISHED,
                code_system=code.system,
                code_start=code.code,
                code_end=code.code_end,
                line_of_business="",
                diagnosis_codes=[],
                effective_end__isnull=True,
            )
            .exclude(superseded_by__status__in=[RequirementRuleStatus.DRAFT, RequirementRuleStatus.PUBLISHED])
            .first()
        )
        if current is not None and current.requirement == requirement:
            continue
        rule = requirement_rule_create(
            user=user,
            data=RequirementRuleInput(
                requirement=requirement,
                effective_start=max(start, current.effective_start + timedelta(days=1)) if current else start,
                code_system=code.system,
                code_start=code.code,
                code_end=code.code_end,
                policy_id=version.policy_id,
                source_text=source_text,
                suggested_from_id=version.pk,
                note=note,
            ),
        )
        if current is not None:
            rule.supersedes = current
            rule.version = current.version + 1
            rule.save(update_fields=["supersedes", "version"])
        suggested.append(rule)
    return suggested
