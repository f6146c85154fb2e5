"""Server-rendered pages for reviewers. Each action calls one service; rules live there."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from casemgmt import selectors, services, web_case
from casemgmt.audit.models import AuditAction, AuditObject
from casemgmt.audit.recording import audited_view
from casemgmt.audit.selectors import case_access_history
from casemgmt.errors import DomainError
from casemgmt.models import ADVERSE_OUTCOMES, Case, CaseStatus, LineOutcome
from casemgmt.roles import REVIEWER_ROLES, Role, has_role, reviewer_role, user_roles
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

    def to_inputs(self) -> tuple[list[services.DecisionLineInput], list[services.CitationInput]]:
        data = self.cleaned_data
        lines = [
            services.DecisionLineInput(
                service_line=line.sequence,
                outcome=data[f"outcome_{line.sequence}"],
                approved_units=data[f"units_{line.sequence}"],
                reason=data[f"reason_{line.sequence}"],
            )
            for line in self.case.lines.all()
        ]
        citations = [
            services.CitationInput(
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
    web_case.checklists_attach(getattr(case, "current_flags", []))
    # The library search for citations; htmx fills it in place, without JavaScript it is ?q=.
    cite_q = request.GET.get("q", "").strip()[:200]
    # What each role is offered; the services refuse the rest whatever is posted.
    return render(
        request,
        "casemgmt/case_detail.html",
        {
            "case": case,
            "form": form,
            "attachments": selectors.case_attachments(request.user, case_number),
            "can_note": role is not None,
            "can_pend": role is not None and case.status in services.PEND_ALLOWED_FROM,
            "can_decide": role is not None and case.is_open,
            "can_refer": role == Role.NURSE and case.status in REFERRABLE_STATUSES,
            "can_peer_to_peer": role == Role.PHYSICIAN and case.status not in CLOSED_STATUSES,
            "is_physician": role == Role.PHYSICIAN,
            "peer_to_peer_form": web_case.peer_to_peer_form(case),
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
        services.decision_record(
            case_id=case.pk,
            user=request.user,  # type: ignore[arg-type]
            lines=lines,
            citations=citations,
            rationale=form.cleaned_data["rationale"],
            expected_row_version=form.cleaned_data["row_version"],
        )
    except DomainError as exc:
        web_case.refusal_message(request, exc, "Not recorded")
        return redirect("case_detail", case_number=case_number)
    messages.success(request, f"Decision recorded on {case.case_number}.")
    return redirect("case_detail", case_number=case_number)


@login_required
@require_POST
def case_refer(request: HttpRequest, case_number: str) -> HttpResponse:
    _require_reviewer(request)
    case = _case_or_404(request, case_number)
    try:
        services.case_refer_to_physician(
            case_id=case.pk,
            user=request.user,  # type: ignore[arg-type]
            summary=request.POST.get("summary", ""),
            expected_row_version=web_case.posted_row_version(request),
        )
    except DomainError as exc:
        web_case.refusal_message(request, exc, "Not referred")
    else:
        messages.success(request, f"{case.case_number} referred to physician review.")
    return redirect("case_detail", case_number=case_number)


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    if has_role(request.user, Role.POLICY_EDITOR) and not (user_roles(request.user) & REVIEWER_ROLES):
        return redirect("admin:index")
    if has_role(request.user, Role.AUDITOR) and not (user_roles(request.user) & REVIEWER_ROLES):
        return redirect("audit_events")
    return redirect("queue")


@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness for load balancers: is the database answering, and the broker (when one is set)?"""
    from django.conf import settings

    checks: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {type(exc).__name__}"
    if settings.CELERY_BROKER_URL:
        from casemgmt.celery import app

        try:
            with app.connection_for_write() as conn:
                conn.ensure_connection(max_retries=1, timeout=2)
            checks["broker"] = "ok"
        except Exception as exc:
            checks["broker"] = f"error: {type(exc).__name__}"
    else:
        checks["broker"] = "in-process (no broker configured)"
    healthy = all(v == "ok" or v.startswith("in-process") for v in checks.values())
    return JsonResponse({"status": "ok" if healthy else "error", **checks}, status=200 if healthy else 503)


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """API clients get a JSON 404 in the API's error shape; people get the HTML page."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found."}, status=404)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception or Http404())
