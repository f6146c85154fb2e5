"""People's words for stored values: every status, kind, role, outcome, line of business and
position a page shows, and the descriptions of diagnosis and procedure codes.

Load with `{% load labels %}` (registered in settings.TEMPLATES). Pages hold model instances
(`get_FOO_display()` works there) but also values from JSON snapshots, audit rows, aggregates
and selectors' tuples: these filters label those. A value no choice set knows is shown in
words ("some_value" -> "Some value"), never as a code.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from functools import cache
from pathlib import Path

import simple_icd_10_cm as icd
from django import template
from django.db.models import TextChoices

from casemgmt.audit.models import AuditAction, AuditChannel, AuditObject
from casemgmt.cases.models import (
    AppealRequester,
    AuthorizationStatus,
    CaseEventKind,
    CaseStatus,
    FlagKind,
    FlagSeverity,
    GoldCardSource,
    GoldCardStatus,
    LineOutcome,
    RequestOutcome,
    ReviewerRole,
    ReviewType,
    Urgency,
)
from casemgmt.kernel.roles import Role
from casemgmt.retro.discrepancy import RULE_LABELS
from casemgmt.retro.models import (
    RetroItemStatus,
    RetroOutcome,
    RetroResolution,
    RetroRunStatus,
    RetroTrigger,
)
from policies_app.codes import normalize_code
from policies_app.models import (
    CodeSystem,
    CoveragePosition,
    CriterionNodeType,
    LineOfBusiness,
    PolicyVersionStatus,
    Requirement,
)

register = template.Library()

# The choice sets a page may name by key: `{{ value|label:"case_status" }}`.
CHOICES: dict[str, type[TextChoices]] = {
    "appeal_requester": AppealRequester,
    "audit_action": AuditAction,
    "audit_channel": AuditChannel,
    "audit_object": AuditObject,
    "authorization_status": AuthorizationStatus,
    "case_event": CaseEventKind,
    "case_status": CaseStatus,
    "code_system": CodeSystem,
    "coverage_position": CoveragePosition,
    "criterion_type": CriterionNodeType,
    "flag_kind": FlagKind,
    "flag_severity": FlagSeverity,
    "gold_card_source": GoldCardSource,
    "gold_card_status": GoldCardStatus,
    "line_of_business": LineOfBusiness,
    "line_outcome": LineOutcome,
    "policy_version_status": PolicyVersionStatus,
    "request_outcome": RequestOutcome,
    "requirement": Requirement,
    "retro_item_status": RetroItemStatus,
    "retro_outcome": RetroOutcome,
    "retro_resolution": RetroResolution,
    "retro_run_status": RetroRunStatus,
    "retro_trigger": RetroTrigger,
    "review_type": ReviewType,
    "urgency": Urgency,
}

# Procedure codes the policy library does not describe (casemgmt/workspace/data/procedure_codes.csv:
# system, code, short description). CPT descriptors are the AMA's; the file holds plain-language
# descriptions written for this product, not the AMA's text.
PROCEDURE_CODES_FILE = Path(__file__).resolve().parent.parent / "data" / "procedure_codes.csv"


def in_words(value: object) -> str:
    """A value no choice set knows, as words: 'some_value' -> 'Some value'."""
    text = str(value).replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def choice_label(choices: type[TextChoices], value: object) -> str:
    if value in (None, ""):
        return ""
    if value in choices.values:
        return str(choices(value).label)
    return in_words(value)


@register.filter
def label(value: object, choice_set: str) -> str:
    """`{{ flag.kind|label:"flag_kind" }}` -> "Investigational / experimental"."""
    return choice_label(CHOICES[choice_set], value)


@register.filter
def case_status_label(value: object) -> str:
    return choice_label(CaseStatus, value)


@register.filter
def flag_kind_label(value: object) -> str:
    return choice_label(FlagKind, value)


@register.filter
def line_outcome_label(value: object) -> str:
    return choice_label(LineOutcome, value)


@register.filter
def request_outcome_label(value: object) -> str:
    return choice_label(RequestOutcome, value)


@register.filter
def review_type_label(value: object) -> str:
    return choice_label(ReviewType, value)


@register.filter
def role_label(value: object) -> str:
    """A role or a decision's reviewer role: 'nurse_reviewer' -> "Nurse reviewer"; 'automated'
    -> "Automated review at intake"."""
    if value in Role.values:
        return str(Role(value).label)
    return choice_label(ReviewerRole, value)


@register.filter
def roles_label(values: Iterable[str] | str | None) -> str:
    """A list of roles (an audit row keeps the actor's roles) as one line of labels."""
    return ", ".join(role_label(v) for v in _values(values))


@register.filter
def coverage_position_label(value: object) -> str:
    return choice_label(CoveragePosition, value)


@register.filter
def lines_of_business_label(values: Iterable[str] | str | None) -> str:
    """['commercial', 'exchange'] or 'commercial, exchange' -> "Commercial, Exchange (ACA
    marketplace)"; none -> "All lines of business"."""
    labels = [choice_label(LineOfBusiness, v) for v in _values(values)]
    return ", ".join(labels) if labels else "All lines of business"


@register.filter
def line_of_business_label(value: object) -> str:
    return choice_label(LineOfBusiness, value)


@cache
def _any_labels() -> dict[str, str]:
    """Every value of every choice set -> its label (the first set that has it wins: the sets
    that share a value, "in_review" or "approved", say the same of it)."""
    out: dict[str, str] = {}
    for choices in CHOICES.values():
        for value, said in choices.choices:
            out.setdefault(str(value), str(said))
    for value, said in Role.choices:
        out.setdefault(str(value), str(said))
    return out


@register.filter
def value_label(value: object) -> object:
    """A stored value of unknown kind (an audit row's old and new values): its label when it is
    a choice value, else the value unchanged."""
    if isinstance(value, str):
        return _any_labels().get(value, value)
    return value


@register.filter
def field_label(name: object) -> str:
    """A field or key name as words: 'decision_of_record' -> "Decision of record"."""
    return in_words(name)


@register.filter
def retro_rule_label(value: object) -> str:
    return RULE_LABELS.get(str(value), in_words(value))


@register.filter
def outcome_text(case: object) -> str:
    """What a case's status says, with the outcome of its determination once it has one:
    "Decided: Mixed: some lines approved, some denied"."""
    status = getattr(case, "status", "")
    outcome = getattr(case, "outcome", "")
    said = choice_label(CaseStatus, status)
    if outcome and status in (CaseStatus.DECIDED, CaseStatus.CLOSED, CaseStatus.FORWARDED_TO_IRE):
        return f"{said}: {choice_label(RequestOutcome, outcome)}"
    return said


@register.filter
def diagnosis_description(code: object) -> str:
    """An ICD-10-CM code's description from the code set ('M54.16' -> "Radiculopathy, lumbar
    region"); "" for a code the set does not hold."""
    return _icd_description(normalize_code("ICD10CM", str(code)))


@register.filter
def diagnosis_text(code: object) -> str:
    """'M54.16' -> "M54.16 Radiculopathy, lumbar region"."""
    described = diagnosis_description(code)
    return f"{code} {described}" if described else str(code)


@register.filter
def procedure_description(code: object, system: str = "") -> str:
    """A CPT or HCPCS code's short description: the policy library's own (PolicyCode.description,
    passed by the page when it has it) comes first; this is the product's list."""
    described = _procedure_codes().get((system, str(code))) if system else None
    if described is None:
        described = _procedure_codes().get(("", str(code)), "")
    return described


@cache
def _icd_description(code: str) -> str:
    return str(icd.get_description(code)) if icd.is_valid_item(code) else ""


@cache
def _procedure_codes() -> dict[tuple[str, str], str]:
    """(system, code) and ("", code) -> description."""
    out: dict[tuple[str, str], str] = {}
    with PROCEDURE_CODES_FILE.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            out[(row["system"], row["code"])] = row["description"]
            out.setdefault(("", row["code"]), row["description"])
    return out


def _values(values: Iterable[str] | str | None) -> list[str]:
    if not values:
        return []
    if isinstance(values, str):
        # A list as stored in a text column: "commercial, exchange", or an audit row's roles,
        # space-separated.
        return [v for v in values.replace(",", " ").split() if v]
    return [str(v) for v in values]
