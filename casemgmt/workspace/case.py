"""The case page and what a reviewer does on it: decide, refer, pend, add a note, record a
peer-to-peer discussion, record an appeal received by phone or mail, reopen a decided case.

One screen: the request and its documentation on one side; on the other, per service line, its
flags, the governing policy version's criteria checklist (with a control to record a fact found in
the documentation, re-evaluated in place) and the line's decision controls. The page offers what
the case's status allows (casemgmt.cases.workflow) to the reviewer's role; the services refuse the
rest whatever is posted. Each action is a plain POST form that redirects back to the page with a
message; htmx swaps the fact control's answer and the library search in place.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import NON_FIELD_ERRORS
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from casemgmt.audit.models import AuditAction, AuditObject
from casemgmt.audit.recording import audited_view
from casemgmt.audit.selectors import case_access_history
from casemgmt.cases import selectors, workflow
from casemgmt.cases.models import (
    ADVERSE_OUTCOMES,
    APPEAL_OUTCOMES,
    INITIAL_OUTCOMES,
    AppealRequester,
    AuthorizationStatus,
    Case,
    CaseEvent,
    CaseEventKind,
    Citation,
    DecisionLine,
    Flag,
    FlagSeverity,
    LineOutcome,
    ServiceLine,
    Urgency,
)
from casemgmt.cases.services.appeals import appeal_open, decision_of_record
from casemgmt.cases.services.authorizations import origin_line_of
from casemgmt.cases.services.decisions import CitationInput, DecisionLineInput, decision_record
from casemgmt.cases.services.facts import case_fact_record
from casemgmt.cases.services.notes import PeerToPeerOutcome, case_note_add, case_peer_to_peer_record
from casemgmt.cases.services.pend import case_pend_for_information
from casemgmt.cases.services.reopenings import case_reopen
from casemgmt.cases.services.transitions import case_refer_to_physician
from casemgmt.cases.workflow import Action
from casemgmt.kernel.errors import ConflictError, DomainError
from casemgmt.kernel.http import AuthenticatedHttpRequest, refusal_text, role_required
from casemgmt.kernel.roles import REVIEWER_ROLES, Role, has_role, reviewer_role
from casemgmt.workspace.access import CASE_REFUSAL, QUEUE_REFUSAL, case_or_404
from policies_app.engine import DOCUMENTED_FACT_PREFIX
from policies_app.models import FactDefinition, FactType
from policies_app.views import published_versions_matching

CONFLICT_MESSAGE = (
    "The case changed since you opened it (someone else acted on it): nothing was saved and nothing "
    "was overwritten. Review the case as it is now and try again."
)
RESULT_TEXT = {"met": "Met", "not_met": "Not met", "unknown": "Unknown"}
DECISION_FORM_ID = "decision-form"


# --- forms ----------------------------------------------------------------------------------


class _AnyVersionField(forms.TypedMultipleChoiceField):
    """Policy version ids: the flagged ones are offered, but one found in the library search may be
    cited too. Whether an id is a citable (published) version is the service's question."""

    def valid_value(self, value: Any) -> bool:
        return True


class DecisionForm(forms.Form):
    """One outcome per service line, each with its units, reason and the policy versions it cites,
    plus citations found in the library search and a rationale.

    A line cites the versions flagged on it (cite_<sequence>, with criterion_<sequence>_<version
    id>); a version found in the search (citation_versions, with criterion_<version id>) is cited
    for the decision; `criterion` applies to a cited version that has no criterion of its own.
    """

    rationale = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    citation_versions = _AnyVersionField(coerce=int, required=False, label="Cite policy versions")
    criterion = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), required=False, label="Criterion or statement relied on"
    )
    row_version = forms.IntegerField(widget=forms.HiddenInput)

    def __init__(
        self,
        *args: Any,
        case: Case,
        adverse_allowed: bool,
        referral_allowed: bool = False,
        prefill: dict[int, dict[str, Any]] | None = None,
        prefetched: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.case = case
        # Lines intake answered (no authorization required, approved automatically), and the
        # lines decided when the others were referred to a physician, are not decided again: the
        # decision restates them. `prefetched`: the case was read by selectors.case_page.
        record = (
            selectors.decision_of_record_of(case, decisions=selectors.page_decisions(case))
            if prefetched
            else decision_of_record(case)
        )
        self.answered, self.held = selectors.standing_lines(case, record, prefetched=prefetched)
        standing = set(self.answered) | set(self.held)
        self.open_lines = [line for line in case.lines.all() if line.sequence not in standing]
        # An appealed line is overturned, partially overturned or upheld; a request's line approved,
        # denied and so on. The decision service refuses the other set whatever is posted.
        offered: tuple[LineOutcome, ...] = APPEAL_OUTCOMES if case.is_appeal else INITIAL_OUTCOMES
        if referral_allowed and not case.is_appeal:
            # A nurse asks a physician to decide one line; the case is not pended for it.
            offered = (*offered, LineOutcome.REFERRED)
        outcomes = [
            (outcome.value, outcome.label) for outcome in offered if adverse_allowed or outcome not in ADVERSE_OUTCOMES
        ]
        partial = "partially overturned" if case.is_appeal else "partially approved"
        self.line_versions: dict[int, list[dict[str, Any]]] = {}
        for flag in getattr(case, "current_flags", []):
            if not flag.citation:
                continue
            cited = self.line_versions.setdefault(flag.service_line_id, [])
            if any(c["id"] == flag.citation["policy_version_id"] for c in cited):
                continue
            cited.append(
                {
                    "id": flag.citation["policy_version_id"],
                    "label": f"Policy {flag.citation['policy_number'] or flag.citation['policy_title']} "
                    f"version {flag.citation['version']}",
                    "title": flag.citation["policy_title"],
                    "position": flag.citation["coverage_position"],
                    "criterion": flag.citation.get("criterion", ""),
                }
            )
        self.prefill = prefill or {}
        for line in self.open_lines:
            seq = line.sequence
            before = self.prefill.get(line.pk, {})
            self.fields[f"outcome_{seq}"] = forms.ChoiceField(
                choices=[("", "Choose an outcome"), *outcomes],
                label="Outcome",
                initial=before.get("outcome") if before.get("outcome") in dict(outcomes) else "",
            )
            self.fields[f"units_{seq}"] = forms.IntegerField(
                required=False,
                min_value=0,
                label="Approved units",
                help_text=f"of {line.units} requested; required when {partial}",
                initial=before.get("approved_units"),
            )
            self.fields[f"reason_{seq}"] = forms.CharField(
                required=False,
                label="Reason (plain language)",
                help_text="on a referred line, your note to the physician",
                widget=forms.Textarea(attrs={"rows": 2}),
                initial=before.get("reason", ""),
            )
            versions = self.line_versions.get(line.pk, [])
            chosen = _prefilled_citations(before.get("citations"))
            for version in versions:
                if version["id"] in chosen and chosen[version["id"]]:
                    version["criterion"] = chosen[version["id"]]
            self.fields[f"cite_{seq}"] = _AnyVersionField(
                coerce=int,
                required=False,
                choices=[(v["id"], v["label"]) for v in versions],
                label="Cite for this line",
                initial=[v["id"] for v in versions if v["id"] in chosen],
            )

        # Each line's controls sit in its panel, outside the <form> element, and belong to it by id.
        for field in self.fields.values():
            field.widget.attrs["form"] = DECISION_FORM_ID

    def line_fields(self) -> dict[int, dict[str, Any]]:
        """Per service line id, its bound decision fields and the versions it may cite."""
        return {
            line.pk: {
                "outcome": self[f"outcome_{line.sequence}"],
                "units": self[f"units_{line.sequence}"],
                "reason": self[f"reason_{line.sequence}"],
                "cite": self[f"cite_{line.sequence}"],
                "cited": set(self[f"cite_{line.sequence}"].value() or []),
                "versions": self.line_versions.get(line.pk, []),
                "note": self.prefill.get(line.pk, {}).get("note", ""),
                "prefilled": self.prefill.get(line.pk),
            }
            for line in self.open_lines
        }

    def prefilled_from(self) -> dict[str, Any] | None:
        """Who made the decision the open lines are prefilled from, and when."""
        before = next((self.prefill[line.pk] for line in self.open_lines if line.pk in self.prefill), None)
        if before is None:
            return None
        return {k: before.get(k) for k in ("decided_by", "decided_role", "decided_at")}

    def standing_lines(self) -> dict[int, DecisionLine]:
        """Per service line id, the determination a line stands on (intake's answer, or the decision
        made with a referral), for the reviewer to see in its place."""
        standing = {**self.held, **self.answered}
        return {line.pk: standing[line.sequence] for line in self.case.lines.all() if line.sequence in standing}

    def to_inputs(self) -> tuple[list[DecisionLineInput], list[CitationInput]]:
        data = self.cleaned_data
        lines = [
            DecisionLineInput(
                service_line=line.sequence,
                outcome=data[f"outcome_{line.sequence}"],
                approved_units=data[f"units_{line.sequence}"],
                reason=data[f"reason_{line.sequence}"],
                citations=tuple(
                    CitationInput(
                        policy_version_id=vid,
                        criterion=str(self.data.get(f"criterion_{line.sequence}_{vid}", "")).strip()
                        or data["criterion"],
                    )
                    for vid in dict.fromkeys(data[f"cite_{line.sequence}"])
                ),
            )
            for line in self.open_lines
        ]
        citations = [
            CitationInput(
                policy_version_id=vid,
                criterion=str(self.data.get(f"criterion_{vid}", "")).strip() or data["criterion"],
            )
            for vid in dict.fromkeys(data["citation_versions"])
        ]
        return lines, citations


def _prefilled_citations(citations: Any) -> dict[int, str]:
    """A prefill's citations as {version id: criterion}; each is a version id or a mapping with one."""
    chosen: dict[int, str] = {}
    for citation in citations or []:
        if isinstance(citation, int):
            chosen[citation] = ""
        elif isinstance(citation, dict) and isinstance(citation.get("policy_version_id"), int):
            chosen[citation["policy_version_id"]] = str(citation.get("criterion") or "")
    return chosen


class PeerToPeerForm(forms.Form):
    requesting_physician = forms.CharField(max_length=200, label="Requesting physician")
    held_at = forms.DateTimeField(
        label="Held at", widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
    )
    outcome = forms.ChoiceField(choices=PeerToPeerOutcome.choices, label="Outcome")
    summary = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), label="What was discussed")
    row_version = forms.IntegerField(widget=forms.HiddenInput)


def peer_to_peer_form(case: Case) -> PeerToPeerForm:
    now = timezone.localtime().replace(second=0, microsecond=0)
    return PeerToPeerForm(initial={"row_version": case.row_version, "held_at": now}, auto_id="p2p_%s")


class AppealForm(forms.Form):
    """An appeal received by phone or mail: which adverse lines, why, how urgent, from whom.

    The lines offered are the adverse ones of the decision of record; the service checks again.
    """

    lines = forms.TypedMultipleChoiceField(
        coerce=int, widget=forms.CheckboxSelectMultiple, label="Lines appealed", choices=()
    )
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), label="Why the requester disagrees")
    urgency = forms.ChoiceField(choices=Urgency.choices, initial=Urgency.STANDARD, label="Urgency")
    requested_by = forms.ChoiceField(choices=AppealRequester.choices, label="Requested by")
    late_filing_reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
        label="Accept a late filing for good cause: the reason",
        help_text="Managers only, for an appeal filed after its window.",
    )

    def __init__(self, *args: Any, adverse_lines: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["lines"]
        assert isinstance(field, forms.TypedMultipleChoiceField)
        field.choices = adverse_lines


class ReopenForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        label="Why the case is reopened",
        help_text="A clerical error, or new and material information.",
    )
    good_cause = forms.BooleanField(
        required=False, label="Good cause (new and material evidence): allows up to four years from the decision"
    )
    row_version = forms.IntegerField(widget=forms.HiddenInput)


def adverse_lines_of(case: Case, *, prefetched: bool = False) -> list[tuple[int, str]]:
    """The lines of a case's decision of record that may be appealed, as (sequence, label);
    `prefetched`: the case was read by selectors.case_page (its decisions and their lines)."""
    if prefetched:
        decision = selectors.decision_of_record_of(case, decisions=selectors.page_decisions(case))
        lines = selectors.page_lines(decision) if decision else []
    else:
        decision = decision_of_record(case)
        lines = (
            list(decision.lines.select_related("service_line").order_by("service_line__sequence")) if decision else []
        )
    return [
        (
            line.service_line.sequence,
            f"Line {line.service_line.sequence}: {line.service_line.code_system} {line.service_line.code}, "
            f"{LineOutcome(line.outcome).label}",
        )
        for line in lines
        if line.outcome in ADVERSE_OUTCOMES
    ]


# --- the line panels: flags, criteria checklists, fact controls ------------------------------


def form_value(value: Any) -> str:
    """How a fact's value is written in a form field (the fact service reads it back)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)


def value_text(value: Any, allowed: list[dict[str, Any]] | None = None) -> str:
    """A fact's value in words: its allowed value's label, yes / no, or the value itself."""
    if value is None:
        return "not provided"
    for option in allowed or []:
        if form_value(option.get("value")) == form_value(value):
            return str(option.get("label") or option.get("value"))
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "none"
    if isinstance(value, float) and value.is_integer():
        # A whole number read from a decimal field reads as one: 44 points, not 44.0.
        return str(int(value))
    return str(value)


def _in_words(requirement: str, allowed: list[dict[str, Any]]) -> str:
    """A criterion's requirement with each allowed value it names said by its label."""
    for option in allowed:
        raw, label = form_value(option.get("value")), str(option.get("label") or "")
        if raw and label and raw != label:
            requirement = re.sub(rf"(?<![\w-]){re.escape(raw)}(?![\w-])", label, requirement)
    return requirement


def _leaf_view(leaf: dict[str, Any]) -> dict[str, Any]:
    allowed = list(leaf.get("allowed_values") or [])
    value = leaf.get("value")
    result = str(leaf.get("result") or "unknown")
    return {
        "label": leaf.get("label", ""),
        "result": result,
        "result_text": RESULT_TEXT.get(result, "Unknown"),
        "fact_key": leaf.get("fact_key") or leaf.get("fact") or "",
        "fact_label": leaf.get("fact_label") or "",
        "unit": leaf.get("unit") or "",
        "value_type": leaf.get("value_type") or FactType.TEXT,
        "allowed_values": [
            {"value": form_value(o.get("value")), "label": o.get("label") or o.get("value")} for o in allowed
        ],
        "allowed_raw": allowed,
        "value": value,
        "value_form": form_value(value),
        "value_text": value_text(value, allowed),
        "requirement": _in_words(str(leaf.get("requirement") or ""), allowed),
        # "not provided" says it already.
        "note": "" if value is None and "not provided" in str(leaf.get("note") or "") else leaf.get("note") or "",
        "documented": bool(leaf.get("documented")),
        "recordable": bool(leaf.get("recordable")),
    }


def checklist_views(raw: list[dict[str, Any]], sequence: int = 0) -> list[dict[str, Any]]:
    """A line's checklists (one per governing version) as the template shows them; each criterion's
    fact control gets an id unique on the page (`fact-<line>-<checklist>-<criterion>`)."""
    views = []
    for i, checklist in enumerate(raw, start=1):
        views.append(
            {
                "version": checklist.get("version") or {},
                "result": checklist.get("result", ""),
                "result_text": RESULT_TEXT.get(str(checklist.get("result", "")), ""),
                "leaves": [
                    {**_leaf_view(leaf), "input_id": f"fact-{sequence}-{i}-{j}"}
                    for j, leaf in enumerate(checklist.get("leaves", []), start=1)
                ],
            }
        )
    return views


@dataclass
class LinePanel:
    """What the right side shows for one service line."""

    line: ServiceLine
    flags: list[Flag]
    checklists: list[dict[str, Any]]
    authorizations: list[AuthorizationRow]
    decision: dict[str, Any] | None  # its bound decision fields, when the reviewer may decide
    standing: DecisionLine | None  # the determination it stands on, when it is not decided again


def line_panels(
    case: Case,
    form: DecisionForm | None,
    authorizations: dict[int, list[AuthorizationRow]],
    catalogue: dict[str, FactDefinition],
) -> list[LinePanel]:
    """Per service line, in order: its flags, its criteria checklists and its decision fields;
    `case` as selectors.case_page reads it, `catalogue` as selectors.page_fact_catalogue."""
    checklists = selectors.line_checklists(case, prefetched=True, catalogue=catalogue)
    fields = form.line_fields() if form is not None else {}
    standing = form.standing_lines() if form is not None else {}
    flags: dict[int, list[Flag]] = {}
    for flag in getattr(case, "current_flags", []):
        flags.setdefault(flag.service_line_id, []).append(flag)
    panels = []
    for line in case.lines.all():
        views = checklist_views(checklists.get(line.pk, []), line.sequence)
        panels.append(
            LinePanel(
                line=line,
                flags=flags.get(line.pk, []),
                checklists=views,
                authorizations=authorizations.get(line.sequence, []),
                decision=fields.get(line.pk),
                standing=standing.get(line.pk),
            )
        )
    return panels


def fact_labels(case: Case, panels: Iterable[LinePanel], catalogue: dict[str, FactDefinition]) -> list[tuple[str, str]]:
    """The request's clinical facts as (label, value in words), never by their keys; `catalogue`
    as selectors.page_fact_catalogue reads it."""
    facts = case.clinical_facts or {}
    if not facts:
        return []
    known = {leaf["fact_key"]: leaf for p in panels for c in p.checklists for leaf in c["leaves"] if leaf["fact_label"]}
    rows = []
    for key, value in facts.items():
        leaf = known.get(key)
        definition = catalogue.get(key)
        label = (
            (definition.label if definition else "")
            or (leaf["fact_label"] if leaf else "")
            # A reviewer's finding on a criterion of a version that no longer governs a line.
            or ("A documented-review criterion" if key.startswith(DOCUMENTED_FACT_PREFIX) else key.replace("_", " "))
        )
        unit = definition.unit if definition else (leaf["unit"] if leaf else "")
        allowed = definition.allowed_values if definition else (leaf["allowed_raw"] if leaf else [])
        text = value_text(value, allowed)
        rows.append((label, f"{text} {unit}".strip() if unit and value is not None else text))
    return rows


# --- after the decision: authorizations, appeals, the IRE ------------------------------------


@dataclass(frozen=True)
class AuthorizationRow:
    number: str
    units: int
    valid_from: str
    valid_to: str
    status: str
    case_number: str


def line_authorizations(case: Case) -> dict[int, list[AuthorizationRow]]:
    """Each line's authorizations, newest first: every one issued for its service, on this case
    or on an appeal, reopening or extension of the same request; `case` as selectors.case_page
    reads it (its lines with their origins, and the request's authorizations)."""
    origins = {line.sequence: origin_line_of(line).pk for line in case.lines.all()}
    by_origin: dict[int, list[AuthorizationRow]] = {}
    for authorization in selectors.page_authorizations(case):
        by_origin.setdefault(authorization.origin_line_id, []).append(
            AuthorizationRow(
                number=authorization.authorization_number,
                units=authorization.approved_units,
                valid_from=authorization.valid_from.isoformat(),
                valid_to=authorization.valid_to.isoformat(),
                status=AuthorizationStatus(authorization.current_status).label,
                case_number=authorization.case.case_number,
            )
        )
    return {sequence: by_origin.get(origin, []) for sequence, origin in origins.items()}


SEVERITY_RANK: dict[str, int] = {FlagSeverity.CRITICAL: 3, FlagSeverity.WARNING: 2, FlagSeverity.INFO: 1}


def worst_flag(case: Case) -> Flag | None:
    """The case's most severe current flag (the first of them), as the queue shows it."""
    flags: list[Flag] = getattr(case, "current_flags", [])
    return max(flags, key=lambda flag: (SEVERITY_RANK.get(flag.severity, 0), -flag.pk), default=None)


def _outcome_text(outcomes: dict[str, str]) -> str:
    return ", ".join(
        f"line {sequence} {LineOutcome(outcome).label if outcome in LineOutcome.values else outcome}"
        for sequence, outcome in outcomes.items()
    )


def event_text(event: CaseEvent, catalogue: dict[str, FactDefinition] | None = None) -> str:
    """What a timeline entry says after its kind, in words (never an internal code), or ""
    for the kinds the timeline's template words itself; `catalogue` words a recorded fact's value."""
    detail = event.detail or {}
    kind = event.kind
    if kind == CaseEventKind.FACT_RECORDED:
        definition = (catalogue or {}).get(str(detail.get("key", "")))
        allowed = definition.allowed_values if definition else []
        unit = f" {definition.unit}" if definition and definition.unit else ""
        text = f"{detail.get('label') or 'a fact'}: {value_text(detail.get('value'), allowed)}{unit}"
        if detail.get("previous") is not None:
            text += f" (was {value_text(detail.get('previous'), allowed)}{unit})"
        return text + (f", found in {detail['source']}" if detail.get("source") else "")
    if kind == CaseEventKind.APPEALED:
        text = f"appeal {detail.get('appeal', '')} of line(s) {', '.join(map(str, detail.get('lines', [])))}"
        if detail.get("requested_by") in AppealRequester.values:
            text += f", requested by the {AppealRequester(detail['requested_by']).label.lower()}"
        if detail.get("late_filing_reason"):
            text += f"; late filing accepted: {detail['late_filing_reason']}"
        return text
    if kind == CaseEventKind.REOPENED:
        basis = "for good cause" if detail.get("good_cause") else "for any reason"
        return f"{basis}: {detail.get('reason', '')}"
    if kind == CaseEventKind.FORWARDED_TO_IRE:
        return f"due at the IRE by {str(detail.get('forward_due_by', ''))[:16].replace('T', ' ')}"
    if kind == CaseEventKind.AUTHORIZATION_ISSUED:
        text = (
            f"{detail.get('authorization', '')} for line {detail.get('line', '')}, "
            f"{detail.get('approved_units', '')} units, valid {detail.get('valid_from', '')} to {detail.get('valid_to', '')}"
        )
        return text + (f", superseding {detail['supersedes']}" if detail.get("supersedes") else "")
    if kind == CaseEventKind.AUTHORIZATION_ENDED:
        return " ".join(str(detail.get(key, "")) for key in ("authorization", "reason") if detail.get(key))
    if isinstance(detail.get("outcomes"), dict):
        return _outcome_text(detail["outcomes"])
    return ""


def ire_forward(case: Case) -> dict[str, Any] | None:
    """When and with what file a case went to the Independent Review Entity, if it did."""
    event = next((e for e in case.events.all() if e.kind == CaseEventKind.FORWARDED_TO_IRE), None)
    if event is None:
        return None
    due = str(event.detail.get("forward_due_by", ""))
    return {
        "at": event.at,
        "due_by": datetime.fromisoformat(due) if due else None,
        "source": event.detail.get("source", ""),
        "case_file": event.detail.get("case_file", []),
    }


def appeal_context(case: Case, user: Any) -> dict[str, Any]:
    """What the page shows and offers about appeals, reopening and authorizations; `case` as
    selectors.case_page reads it."""
    appealable = not case.is_appeal and workflow.allowed(case.status, Action.APPEAL)
    adverse = adverse_lines_of(case, prefetched=True) if appealable else []
    # selectors.case_page asks whether the user took part in the decision an appeal reconsiders.
    excluded = (
        case.is_appeal
        and case.appeal_of_id is not None
        and bool(getattr(case, "took_part_in_appealed", False) or getattr(case, "discussed_appealed", False))
    )
    is_manager = has_role(user, Role.MANAGER)
    return {
        "appeals": [] if case.is_appeal else selectors.page_appeals(case),
        "appeal_of": case.appeal_of if case.is_appeal else None,
        "appeal_form": (
            AppealForm(adverse_lines=adverse, initial={"urgency": case.urgency}, auto_id="appeal_%s")
            if adverse
            else None
        ),
        "can_accept_late_filing": is_manager,
        "can_reopen": has_role(user, Role.PHYSICIAN, Role.MANAGER) and workflow.allowed(case.status, Action.REOPEN),
        "reopen_form": ReopenForm(initial={"row_version": case.row_version}, auto_id="reopen_%s"),
        "excluded_from_appeal": excluded,
        "line_authorizations": line_authorizations(case),
        "ire": ire_forward(case),
    }


# --- the page -------------------------------------------------------------------------------


def page_case_or_404(user: Any, case_number: str) -> Case:
    """The case as its page reads it (selectors.case_page), if `user` may see it."""
    case = selectors.case_page(user, case_number)
    if case is None:
        raise Http404("No such case.")
    return case


def actions_offered(role: Role | None, status: str) -> dict[str, bool]:
    """The actions the page offers a reviewer acting in `role` on a case in `status`."""
    return {
        "can_note": role is not None and workflow.allowed(status, Action.NOTE),
        "can_pend": role is not None and workflow.allowed(status, Action.PEND),
        "can_decide": role is not None and workflow.allowed(status, Action.DECIDE),
        # A physician decides what a nurse would refer to one.
        "can_refer": role == Role.NURSE and workflow.allowed(status, Action.REFER),
        "can_peer_to_peer": role == Role.PHYSICIAN and workflow.allowed(status, Action.PEER_TO_PEER),
    }


def decision_form_for(case: Case, role: Role | None, **kwargs: Any) -> DecisionForm:
    """The decision form as `role` is offered it: a physician may make adverse determinations, a
    nurse may refer a line to a physician where the workflow allows a referral."""
    return DecisionForm(
        case=case,
        adverse_allowed=role == Role.PHYSICIAN,
        referral_allowed=role == Role.NURSE and workflow.allowed(case.status, Action.DECIDE_REFERRED),
        **kwargs,
    )


@require_GET
@never_cache
@audited_view(action=AuditAction.VIEW, object_type=AuditObject.CASE, object_kwarg="case_number")
@role_required(*REVIEWER_ROLES, refusal=QUEUE_REFUSAL)
def case_detail(request: AuthenticatedHttpRequest, case_number: str) -> HttpResponse:
    case = page_case_or_404(request.user, case_number)
    role = reviewer_role(request.user)
    offered = actions_offered(role, case.status)
    form = None
    if offered["can_decide"]:
        form = decision_form_for(
            case,
            role,
            prefill=selectors.decision_prefill(case, prefetched=True),
            prefetched=True,
            initial={"row_version": case.row_version},
        )
    appeal = appeal_context(case, request.user)
    catalogue = selectors.page_fact_catalogue(case)
    panels = line_panels(case, form, appeal["line_authorizations"], catalogue)
    # Each decision line's own citations; older citations (no line) stay on the decision.
    decisions = []
    for decision in selectors.page_decisions(case):
        cited: dict[int, list[Citation]] = {}
        for citation in selectors.page_citations(decision):
            cited.setdefault(citation.decision_line_id or 0, []).append(citation)
        for decision_line in selectors.page_lines(decision):
            decision_line.line_citations = cited.get(decision_line.pk, [])  # type: ignore[attr-defined]
        decisions.append({"decision": decision, "lines": selectors.page_lines(decision), "citations": cited.get(0, [])})
    for event in case.events.all():
        event.text = event_text(event, catalogue)  # type: ignore[attr-defined]
    # The library search for citations; htmx fills it in place, without JavaScript it is ?q=.
    cite_q = request.GET.get("q", "").strip()[:200]
    return render(
        request,
        "workspace/case_detail.html",
        {
            "case": case,
            "form": form,
            "panels": panels,
            "decisions": decisions,
            "worst_flag": worst_flag(case),
            "facts": fact_labels(case, panels, catalogue),
            "referral_note": selectors.referral_note(case, prefetched=True),
            "attachments": list(case.attachments.all()),
            **offered,
            "can_record_facts": role is not None and workflow.allowed(case.status, Action.RECORD_FACT),
            "is_physician": role == Role.PHYSICIAN,
            "referred_label": LineOutcome.REFERRED.label,
            **appeal,
            "peer_to_peer_form": peer_to_peer_form(case),
            "cite_q": cite_q,
            "cite_results": published_versions_matching(cite_q),
            # Managers see who viewed or changed the case (the audit log's rows for it).
            "access_history": case_access_history(case.case_number) if has_role(request.user, Role.MANAGER) else None,
        },
    )


# --- actions --------------------------------------------------------------------------------


def posted_row_version(request: AuthenticatedHttpRequest) -> int | None:
    """The row_version the page was rendered with; every form on the case page carries it.

    A POST without one (a script, not the page) is not checked; an unreadable one never matches.
    """
    raw = request.POST.get("row_version")
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        return -1


def form_problems(form: forms.Form) -> str:
    """A form's errors in words: each with the label of its field (and line), never its name."""
    problems = []
    for name, errors in form.errors.items():
        if name == NON_FIELD_ERRORS:
            problems.append(" ".join(str(e) for e in errors))
            continue
        label = str(form.fields[name].label or name) if name in form.fields else name
        line = re.fullmatch(r"(?:outcome|units|reason|cite)_(\d+)", name)
        if line:
            label = f"line {line.group(1)}, {label[0].lower()}{label[1:]}"
        problems.append(f"{label}: {' '.join(str(e) for e in errors)}")
    return "; ".join(problems)


def _act(
    request: AuthenticatedHttpRequest, case_number: str, *, done: str, refused: str, action: Callable[[], object]
) -> HttpResponse:
    """Run a service for the page and say how it went: `done`, or why it was `refused`."""
    try:
        action()
    except DomainError as exc:
        messages.error(request, CONFLICT_MESSAGE if isinstance(exc, ConflictError) else refusal_text(exc, refused))
    else:
        messages.success(request, done)
    return redirect("case_detail", case_number=case_number)


@require_POST
@role_required(*REVIEWER_ROLES, refusal=QUEUE_REFUSAL)
def case_decide(request: AuthenticatedHttpRequest, case_number: str) -> HttpResponse:
    case = case_or_404(request.user, case_number)
    # The form is built with every outcome; the service, not the form, decides who may deny.
    form = DecisionForm(request.POST, case=case, adverse_allowed=True, referral_allowed=True)
    if not form.is_valid():
        messages.error(request, "The decision could not be read: " + form_problems(form))
        return redirect("case_detail", case_number=case_number)
    lines, citations = form.to_inputs()
    return _act(
        request,
        case_number,
        done=f"Decision recorded on {case.case_number}.",
        refused="Not recorded",
        action=lambda: decision_record(
            case_id=case.pk,
            user=request.user,
            lines=lines,
            citations=citations,
            rationale=form.cleaned_data["rationale"],
            expected_row_version=form.cleaned_data["row_version"],
        ),
    )


@require_POST
@role_required(*REVIEWER_ROLES, refusal=QUEUE_REFUSAL)
def case_refer(request: AuthenticatedHttpRequest, case_number: str) -> HttpResponse:
    case = case_or_404(request.user, case_number)
    return _act(
        request,
        case_number,
        done=f"{case.case_number} referred to physician review.",
        refused="Not referred",
        action=lambda: case_refer_to_physician(
            case_id=case.pk,
            user=request.user,
            summary=request.POST.get("summary", ""),
            expected_row_version=posted_row_version(request),
        ),
    )


@require_POST
@role_required(*REVIEWER_ROLES, refusal=CASE_REFUSAL)
def case_pend(request: AuthenticatedHttpRequest, case_number: str) -> HttpResponse:
    case = case_or_404(request.user, case_number)
    return _act(
        request,
        case_number,
        done=f"{case_number} pended for information.",
        refused="Not pended",
        action=lambda: case_pend_for_information(
            case_id=case.pk,
            user=request.user,
            needed=request.POST.get("needed", ""),
            expected_row_version=posted_row_version(request),
        ),
    )


@require_POST
@role_required(*REVIEWER_ROLES, refusal=CASE_REFUSAL)
def case_note(request: AuthenticatedHttpRequest, case_number: str) -> HttpResponse:
    case = case_or_404(request.user, case_number)
    return _act(
        request,
        case_number,
        done="Note added.",
        refused="Note not added",
        action=lambda: case_note_add(
            case_id=case.pk,
            user=request.user,
            text=request.POST.get("text", ""),
            expected_row_version=posted_row_version(request),
        ),
    )


@require_POST
@role_required(*REVIEWER_ROLES, refusal=CASE_REFUSAL)
def case_peer_to_peer(request: AuthenticatedHttpRequest, case_number: str) -> HttpResponse:
    case = case_or_404(request.user, case_number)
    form = PeerToPeerForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Peer-to-peer not recorded: " + form.errors.as_text())
        return redirect("case_detail", case_number=case_number)
    data = form.cleaned_data
    held_at: datetime = data["held_at"]
    return _act(
        request,
        case_number,
        done="Peer-to-peer discussion recorded.",
        refused="Peer-to-peer not recorded",
        action=lambda: case_peer_to_peer_record(
            case_id=case.pk,
            user=request.user,
            requesting_physician=data["requesting_physician"],
            held_at=held_at,
            summary=data["summary"],
            outcome=data["outcome"],
            expected_row_version=data["row_version"],
        ),
    )


@require_POST
@role_required(*REVIEWER_ROLES, refusal=CASE_REFUSAL)
def case_appeal(request: AuthenticatedHttpRequest, case_number: str) -> HttpResponse:
    """An appeal received by phone or mail, recorded by a reviewer (a late one by a manager)."""
    case = case_or_404(request.user, case_number)
    form = AppealForm(request.POST, adverse_lines=adverse_lines_of(case))
    if not form.is_valid():
        messages.error(request, "The appeal could not be read: " + form.errors.as_text())
        return redirect("case_detail", case_number=case_number)
    data = form.cleaned_data
    try:
        appeal = appeal_open(
            case_id=case.pk,
            user=request.user,
            lines=data["lines"],
            reason=data["reason"],
            urgency=data["urgency"],
            requested_by=data["requested_by"],
            late_filing_reason=data["late_filing_reason"],
        )
    except DomainError as exc:
        # A late filing's refusal says the window and the dates: the message is the answer.
        messages.error(request, refusal_text(exc, "Appeal not recorded"))
        return redirect("case_detail", case_number=case_number)
    due = timezone.localtime(appeal.due_at)
    messages.success(request, f"Appeal {appeal.case_number} opened; its decision is due {due:%Y-%m-%d %H:%M}.")
    return redirect("case_detail", case_number=appeal.case_number)


@require_POST
@role_required(Role.PHYSICIAN, Role.MANAGER, refusal="Only a physician reviewer or a manager may reopen a case.")
def case_reopen_view(request: AuthenticatedHttpRequest, case_number: str) -> HttpResponse:
    case = case_or_404(request.user, case_number)
    form = ReopenForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Not reopened: " + form.errors.as_text())
        return redirect("case_detail", case_number=case_number)
    data = form.cleaned_data
    try:
        case_reopen(
            case_id=case.pk,
            user=request.user,
            reason=data["reason"],
            good_cause=data["good_cause"],
            expected_row_version=data["row_version"],
        )
    except DomainError as exc:
        # A stale page's refusal names the status it found; a refusal past the limits, the dates.
        stale = isinstance(exc, ConflictError) and "current_status" in exc.extra
        messages.error(request, CONFLICT_MESSAGE if stale else refusal_text(exc, "Not reopened"))
    else:
        messages.success(request, f"{case_number} reopened: it is back in review.")
    return redirect("case_detail", case_number=case_number)


@require_POST
@role_required(*REVIEWER_ROLES, refusal=CASE_REFUSAL)
def case_fact(request: AuthenticatedHttpRequest, case_number: str, sequence: int) -> HttpResponse:
    """Record a fact a reviewer found in the documentation for a criterion of one line.

    htmx swaps the answer, the line's flags and checklist evaluated again, in place (a refusal
    with its reason, 400 or 409), and out of band what else the fact changed: the other lines
    whose criteria read it, the case's worst flag, its clinical facts and its timeline. Without
    JavaScript the page is shown again with a message.
    """
    case = case_or_404(request.user, case_number)
    line = next((line for line in case.lines.all() if line.sequence == sequence), None)
    if line is None:
        raise Http404("No such service line.")
    expected = posted_row_version(request)
    problem, status = "", 200
    try:
        # The form's text as typed: the service reads it as the fact's type and checks it.
        case_fact_record(
            case_id=case.pk,
            user=request.user,
            key=request.POST.get("key", ""),
            value=request.POST.get("value", ""),
            source=request.POST.get("source", ""),
            expected_row_version=expected,
        )
    except DomainError as exc:
        conflict = isinstance(exc, ConflictError)
        problem = CONFLICT_MESSAGE if conflict else refusal_text(exc, "Not recorded", field_names=False)
        status = exc.status_code
    if not request.headers.get("HX-Request"):
        if problem:
            messages.error(request, problem)
        else:
            messages.success(request, f"Recorded for line {sequence}; its criteria were evaluated again.")
        return redirect(reverse("case_detail", args=[case_number]) + f"#line-{sequence}")
    case = page_case_or_404(request.user, case_number)
    role = reviewer_role(request.user)
    catalogue = selectors.page_fact_catalogue(case)
    panels = line_panels(case, None, {}, catalogue)
    panel = next(p for p in panels if p.line.sequence == sequence)
    # The page's forms carry the row_version they were rendered with: after this reviewer's own
    # change they may follow it, but not past a change someone else made meanwhile.
    fresh = expected is not None and case.row_version in (expected, expected + 1)
    key = request.POST.get("key", "")
    for event in case.events.all():
        event.text = event_text(event, catalogue)  # type: ignore[attr-defined]
    return render(
        request,
        "workspace/case/_fact_recorded.html",
        {
            "case": case,
            "panel": panel,
            # The other lines whose criteria read the same fact were evaluated again too.
            "other_panels": [
                p
                for p in panels
                if p is not panel and any(leaf["fact_key"] == key for c in p.checklists for leaf in c["leaves"])
            ],
            "worst_flag": worst_flag(case),
            "facts": fact_labels(case, panels, catalogue),
            "can_record_facts": role is not None and workflow.allowed(case.status, Action.RECORD_FACT),
            "problem": problem,
            "recorded": not problem,
            "fresh_row_version": case.row_version if fresh and not problem else None,
        },
        status=status,
    )
