"""The case page and what a reviewer does on it: decide, refer, pend, add a note, record a
peer-to-peer discussion.

The page offers what the case's status allows (casemgmt.cases.workflow) to the reviewer's role;
the services refuse the rest whatever is posted. Each action is a plain POST form that redirects
back to the page with a message.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from casemgmt.audit.models import AuditAction, AuditObject
from casemgmt.audit.recording import audited_view
from casemgmt.audit.selectors import case_access_history
from casemgmt.cases import selectors, workflow
from casemgmt.cases.models import ADVERSE_OUTCOMES, Case, Flag, LineOutcome
from casemgmt.cases.services.decisions import CitationInput, DecisionLineInput, decision_record
from casemgmt.cases.services.notes import PeerToPeerOutcome, case_note_add, case_peer_to_peer_record
from casemgmt.cases.services.pend import case_pend_for_information
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
        outcomes = [
            (value, label) for value, label in LineOutcome.choices if adverse_allowed or value not in ADVERSE_OUTCOMES
        ]
        for line in case.lines.all():
            self.fields[f"outcome_{line.sequence}"] = forms.ChoiceField(
                choices=outcomes, label=f"Line {line.sequence}: {line.code_system} {line.code}"
            )
            self.fields[f"units_{line.sequence}"] = forms.IntegerField(
                required=False, min_value=0, label="Approved units", help_text=f"of {line.units} requested"
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
            for line in self.case.lines.all()
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
            for line in self.case.lines.all()
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
