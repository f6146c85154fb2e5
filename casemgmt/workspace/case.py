"""The case page and what a reviewer does on it: decide, refer, pend, add a note, record a
peer-to-peer discussion, record an appeal received by phone or mail, reopen a decided case.

The page offers what the case's status allows (casemgmt.cases.workflow) to the reviewer's role;
the services refuse the rest whatever is posted. Each action is a plain POST form that redirects
back to the page with a message.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django import forms
from django.contrib import messages
from django.db.models import prefetch_related_objects
from django.http import HttpResponse
from django.shortcuts import redirect, render
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
    Authorization,
    AuthorizationStatus,
    Case,
    CaseEvent,
    CaseEventKind,
    DecisionLine,
    Flag,
    LineOutcome,
    ServiceLine,
    Urgency,
)
from casemgmt.cases.services.appeals import appeal_deciders_excluded, appeal_open, decision_of_record
from casemgmt.cases.services.authorizations import origin_line_of
from casemgmt.cases.services.decisions import CitationInput, DecisionLineInput, decision_record, standing_intake_answers
from casemgmt.cases.services.notes import PeerToPeerOutcome, case_note_add, case_peer_to_peer_record
from casemgmt.cases.services.pend import case_pend_for_information
from casemgmt.cases.services.reopenings import case_reopen
from casemgmt.cases.services.transitions import case_refer_to_physician
from casemgmt.cases.workflow import Action
from casemgmt.kernel.errors import ConflictError, DomainError
from casemgmt.kernel.http import AuthenticatedHttpRequest, refusal_text, role_required
from casemgmt.kernel.roles import REVIEWER_ROLES, Role, has_role, reviewer_role
from casemgmt.workspace.access import CASE_REFUSAL, QUEUE_REFUSAL, case_or_404
from policies_app.models import CriterionOperator, FactDefinition
from policies_app.views import published_versions_matching

CONFLICT_MESSAGE = (
    "The case changed since you opened it (someone else acted on it): nothing was saved and nothing "
    "was overwritten. Review the case as it is now and try again."
)
RESULT_TEXT = {"met": "Met", "not_met": "Not met", "unknown": "Unknown"}


# --- forms ----------------------------------------------------------------------------------


class _AnyVersionField(forms.TypedMultipleChoiceField):
    """Policy version ids: the flagged ones are offered, but one found in the library search may be
    cited too. Whether an id is a citable (published) version is the service's question."""

    def valid_value(self, value: Any) -> bool:
        return True


class DecisionForm(forms.Form):
    """One outcome per service line, plus citations and a rationale.

    Each cited version may carry its own criterion text (criterion_<version id>); `criterion`
    applies to a cited version that has none.
    """

    rationale = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    citation_versions = _AnyVersionField(coerce=int, required=False, label="Cite policy versions")
    criterion = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), required=False, label="Criterion or statement relied on"
    )
    row_version = forms.IntegerField(widget=forms.HiddenInput)

    def __init__(self, *args: Any, case: Case, adverse_allowed: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.case = case
        # Lines intake answered (no authorization required, approved automatically) are not
        # decided again: the decision restates them.
        self.answered = standing_intake_answers(case, decision_of_record(case))
        self.open_lines = [line for line in case.lines.all() if line.sequence not in self.answered]
        # An appealed line is overturned, partially overturned or upheld; a request's line approved,
        # denied and so on. The decision service refuses the other set whatever is posted.
        offered = APPEAL_OUTCOMES if case.is_appeal else INITIAL_OUTCOMES
        outcomes = [
            (outcome.value, outcome.label) for outcome in offered if adverse_allowed or outcome not in ADVERSE_OUTCOMES
        ]
        partial = "partially overturned" if case.is_appeal else "partially approved"
        for line in self.open_lines:
            self.fields[f"outcome_{line.sequence}"] = forms.ChoiceField(
                choices=outcomes, label=f"Line {line.sequence}: {line.code_system} {line.code}"
            )
            self.fields[f"units_{line.sequence}"] = forms.IntegerField(
                required=False,
                min_value=0,
                label="Approved units",
                help_text=f"of {line.units} requested; required when {partial}",
            )
            self.fields[f"reason_{line.sequence}"] = forms.CharField(
                required=False, label="Reason (plain language)", widget=forms.Textarea(attrs={"rows": 2})
            )
        versions: dict[int, str] = {}
        self.flag_citations: list[dict[str, Any]] = []
        for flag in getattr(case, "current_flags", []):
            if flag.citation and flag.citation["policy_version_id"] not in versions:
                label = (
                    f"{flag.citation['policy_number'] or flag.citation['policy_title']} "
                    f"version {flag.citation['version']} ({flag.citation['coverage_position']})"
                )
                versions[flag.citation["policy_version_id"]] = label
                self.flag_citations.append(
                    {
                        "id": flag.citation["policy_version_id"],
                        "label": f"Policy {label}",
                        "title": flag.citation["policy_title"],
                        "criterion": flag.citation.get("criterion", ""),
                    }
                )
        field = self.fields["citation_versions"]
        assert isinstance(field, _AnyVersionField)
        field.choices = sorted(versions.items())

    def line_fields(self) -> list[tuple[Any, Any, Any]]:
        return [
            (self[f"outcome_{line.sequence}"], self[f"units_{line.sequence}"], self[f"reason_{line.sequence}"])
            for line in self.open_lines
        ]

    def answered_lines(self) -> list[tuple[ServiceLine, DecisionLine]]:
        """The lines intake answered, with its answer, for the reviewer to see beside the form."""
        return [
            (line, self.answered[line.sequence]) for line in self.case.lines.all() if line.sequence in self.answered
        ]

    def to_inputs(self) -> tuple[list[DecisionLineInput], list[CitationInput]]:
        data = self.cleaned_data
        lines = [
            DecisionLineInput(
                service_line=line.sequence,
                outcome=data[f"outcome_{line.sequence}"],
                approved_units=data[f"units_{line.sequence}"],
                reason=data[f"reason_{line.sequence}"],
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
    return PeerToPeerForm(initial={"row_version": case.row_version, "held_at": now})


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


def adverse_lines_of(case: Case) -> list[tuple[int, str]]:
    """The lines of a case's decision of record that may be appealed, as (sequence, label)."""
    decision = decision_of_record(case)
    if decision is None:
        return []
    return [
        (
            line.service_line.sequence,
            f"Line {line.service_line.sequence}: {line.service_line.code_system} {line.service_line.code}, "
            f"{LineOutcome(line.outcome).label}",
        )
        for line in decision.lines.select_related("service_line").order_by("service_line__sequence")
        if line.outcome in ADVERSE_OUTCOMES
    ]


# --- checklist presentation -----------------------------------------------------------------


def _value_text(value: Any) -> str:
    if value is None:
        return "not provided"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "none"
    return str(value)


def checklists_attach(flags: Iterable[Flag]) -> None:
    """Give each flag `checklist_rows`: its criteria, met / not met / unknown, with the facts behind each."""
    flags = list(flags)
    keys = {leaf.get("fact", "") for flag in flags for leaf in (flag.details or {}).get("checklist", [])}
    facts = {f.key: f for f in FactDefinition.objects.filter(key__in=keys)} if keys else {}
    operators = dict(CriterionOperator.choices)
    for flag in flags:
        rows = []
        for leaf in (flag.details or {}).get("checklist", []):
            fact = facts.get(leaf.get("fact", ""))
            operator = leaf.get("operator", "")
            expected = leaf.get("expected")
            unit = f" {fact.unit}" if fact and fact.unit and expected is not None else ""
            rows.append(
                {
                    "label": leaf.get("label", ""),
                    "fact": fact.label if fact else leaf.get("fact", ""),
                    "fact_key": leaf.get("fact", ""),
                    "requirement": f"{operators.get(operator, operator)}"
                    + ("" if expected is None else f" {_value_text(expected)}{unit}"),
                    "actual": _value_text(leaf.get("actual")),
                    "result": leaf.get("result", "unknown"),
                    "result_text": RESULT_TEXT.get(leaf.get("result", ""), leaf.get("result", "")),
                    "note": leaf.get("note", ""),
                }
            )
        flag.checklist_rows = rows  # type: ignore[attr-defined]


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
    or on an appeal, reopening or extension of the same request."""
    lines: list[ServiceLine] = list(case.lines.select_related("origin__origin"))
    origins = {line.sequence: origin_line_of(line).pk for line in lines}
    issued = Authorization.objects.filter(origin_line__in=set(origins.values())).select_related("case")
    by_origin: dict[int, list[AuthorizationRow]] = {}
    for authorization in issued:
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


def _outcome_text(outcomes: dict[str, str]) -> str:
    return ", ".join(
        f"line {sequence} {LineOutcome(outcome).label if outcome in LineOutcome.values else outcome}"
        for sequence, outcome in outcomes.items()
    )


def event_text(event: CaseEvent) -> str:
    """What a timeline entry says after its kind, in words (never an internal code), or ""
    for the kinds the timeline's template words itself."""
    detail = event.detail or {}
    kind = event.kind
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
    """What the page shows and offers about appeals, reopening and authorizations."""
    appealable = not case.is_appeal and workflow.allowed(case.status, Action.APPEAL)
    adverse = adverse_lines_of(case) if appealable else []
    excluded = case.is_appeal and case.appeal_of_id is not None and user.pk in appeal_deciders_excluded(case)
    is_manager = has_role(user, Role.MANAGER)
    return {
        "appeals": list(case.appeals.order_by("received_at", "id")) if not case.is_appeal else [],
        "appeal_of": case.appeal_of if case.is_appeal else None,
        "appeal_form": (AppealForm(adverse_lines=adverse, initial={"urgency": case.urgency}) if adverse else None),
        "can_accept_late_filing": is_manager,
        "can_reopen": has_role(user, Role.PHYSICIAN, Role.MANAGER) and workflow.allowed(case.status, Action.REOPEN),
        "reopen_form": ReopenForm(initial={"row_version": case.row_version}),
        "excluded_from_appeal": excluded,
        "line_authorizations": line_authorizations(case),
        "ire": ire_forward(case),
    }


# --- the page -------------------------------------------------------------------------------


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


@require_GET
@never_cache
@audited_view(action=AuditAction.VIEW, object_type=AuditObject.CASE, object_kwarg="case_number")
@role_required(*REVIEWER_ROLES, refusal=QUEUE_REFUSAL)
def case_detail(request: AuthenticatedHttpRequest, case_number: str) -> HttpResponse:
    case = case_or_404(request.user, case_number, full=True)
    role = reviewer_role(request.user)
    form = DecisionForm(case=case, adverse_allowed=role == Role.PHYSICIAN, initial={"row_version": case.row_version})
    checklists_attach(getattr(case, "current_flags", []))
    # Each decision line's own citations; older citations (no line) stay on the decision.
    prefetch_related_objects(list(case.decisions.all()), "lines__citations")
    for event in case.events.all():
        event.text = event_text(event)  # type: ignore[attr-defined]
    # The library search for citations; htmx fills it in place, without JavaScript it is ?q=.
    cite_q = request.GET.get("q", "").strip()[:200]
    return render(
        request,
        "workspace/case_detail.html",
        {
            "case": case,
            "form": form,
            "attachments": selectors.case_attachments(request.user, case_number),
            **actions_offered(role, case.status),
            "is_physician": role == Role.PHYSICIAN,
            **appeal_context(case, request.user),
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
    form = DecisionForm(request.POST, case=case, adverse_allowed=True)
    if not form.is_valid():
        messages.error(request, "The decision could not be read: " + form.errors.as_text())
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
