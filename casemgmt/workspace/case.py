"""The case page: what a reviewer sees of a case, deciding and referring."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from casemgmt.audit.models import AuditAction, AuditObject
from casemgmt.audit.recording import audited_view
from casemgmt.audit.selectors import case_access_history
from casemgmt.cases import selectors
from casemgmt.cases.models import ADVERSE_OUTCOMES, Case, CaseStatus, LineOutcome
from casemgmt.cases.services.decisions import CitationInput, DecisionLineInput, decision_record
from casemgmt.cases.services.pend import PEND_ALLOWED_FROM
from casemgmt.cases.services.transitions import case_refer_to_physician
from casemgmt.kernel.errors import DomainError
from casemgmt.kernel.roles import REVIEWER_ROLES, Role, has_role, reviewer_role, user_roles
from casemgmt.workspace.case_actions import checklists_attach, peer_to_peer_form, posted_row_version, refusal_message
from policies_app.views import published_versions_matching

REFERRABLE_STATUSES = (CaseStatus.RECEIVED, CaseStatus.IN_REVIEW, CaseStatus.PENDED)
CLOSED_STATUSES = (CaseStatus.CANCELLED, CaseStatus.CLOSED)


def _require_reviewer(request: HttpRequest) -> None:
    if not (user_roles(request.user) & REVIEWER_ROLES):
        raise PermissionDenied("Only reviewers and managers may use the work queue.")


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
        self.fields["citation_versions"].choices = sorted(versions.items())  # type: ignore[attr-defined]

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


def _case_or_404(request: HttpRequest, case_number: str) -> Case:
    case = selectors.case_detail(request.user, case_number)
    if case is None:
        raise Http404("No such case.")
    return case


@login_required
@require_GET
@never_cache
@audited_view(action=AuditAction.VIEW, object_type=AuditObject.CASE, object_kwarg="case_number")
def case_detail(request: HttpRequest, case_number: str) -> HttpResponse:
    _require_reviewer(request)
    case = _case_or_404(request, case_number)
    role = reviewer_role(request.user)
    form = DecisionForm(case=case, adverse_allowed=role == Role.PHYSICIAN, initial={"row_version": case.row_version})
    checklists_attach(getattr(case, "current_flags", []))
    # The library search for citations; htmx fills it in place, without JavaScript it is ?q=.
    cite_q = request.GET.get("q", "").strip()[:200]
    # What each role is offered; the services refuse the rest whatever is posted.
    return render(
        request,
        "workspace/case_detail.html",
        {
            "case": case,
            "form": form,
            "attachments": selectors.case_attachments(request.user, case_number),
            "can_note": role is not None,
            "can_pend": role is not None and case.status in PEND_ALLOWED_FROM,
            "can_decide": role is not None and case.is_open,
            "can_refer": role == Role.NURSE and case.status in REFERRABLE_STATUSES,
            "can_peer_to_peer": role == Role.PHYSICIAN and case.status not in CLOSED_STATUSES,
            "is_physician": role == Role.PHYSICIAN,
            "peer_to_peer_form": peer_to_peer_form(case),
            "cite_q": cite_q,
            "cite_results": published_versions_matching(cite_q),
            # Managers see who viewed or changed the case (the audit log's rows for it).
            "access_history": case_access_history(case.case_number) if has_role(request.user, Role.MANAGER) else None,
        },
    )


@login_required
@require_POST
def case_decide(request: HttpRequest, case_number: str) -> HttpResponse:
    _require_reviewer(request)
    case = _case_or_404(request, case_number)
    # The form is built with every outcome; the service, not the form, decides who may deny.
    form = DecisionForm(request.POST, case=case, adverse_allowed=True)
    if not form.is_valid():
        messages.error(request, "The decision could not be read: " + form.errors.as_text())
        return redirect("case_detail", case_number=case_number)
    lines, citations = form.to_inputs()
    try:
        decision_record(
            case_id=case.pk,
            user=request.user,  # type: ignore[arg-type]
            lines=lines,
            citations=citations,
            rationale=form.cleaned_data["rationale"],
            expected_row_version=form.cleaned_data["row_version"],
        )
    except DomainError as exc:
        refusal_message(request, exc, "Not recorded")
        return redirect("case_detail", case_number=case_number)
    messages.success(request, f"Decision recorded on {case.case_number}.")
    return redirect("case_detail", case_number=case_number)


@login_required
@require_POST
def case_refer(request: HttpRequest, case_number: str) -> HttpResponse:
    _require_reviewer(request)
    case = _case_or_404(request, case_number)
    try:
        case_refer_to_physician(
            case_id=case.pk,
            user=request.user,  # type: ignore[arg-type]
            summary=request.POST.get("summary", ""),
            expected_row_version=posted_row_version(request),
        )
    except DomainError as exc:
        refusal_message(request, exc, "Not referred")
    else:
        messages.success(request, f"{case.case_number} referred to physician review.")
    return redirect("case_detail", case_number=case_number)
