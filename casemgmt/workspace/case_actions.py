"""The case page's actions beyond deciding and referring, and its attachments."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from csp.constants import SELF
from csp.decorators import csp_replace
from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_GET, require_POST

from casemgmt.audit.models import AuditAction, AuditObject
from casemgmt.audit.recording import audited_view
from casemgmt.cases import selectors
from casemgmt.cases.models import Case, Flag
from casemgmt.cases.services.notes import PeerToPeerOutcome, case_note_add, case_peer_to_peer_record
from casemgmt.cases.services.pend import case_pend_for_information
from casemgmt.kernel.errors import ConflictError, DomainError, ValidationFailed
from casemgmt.kernel.roles import REVIEWER_ROLES, user_roles
from policies_app.models import CriterionOperator, FactDefinition

CONFLICT_MESSAGE = (
    "The case changed since you opened it (someone else acted on it): nothing was saved and nothing "
    "was overwritten. Review the case as it is now and try again."
)
RESULT_TEXT = {"met": "Met", "not_met": "Not met", "unknown": "Unknown"}
INLINE_TYPES = frozenset({"application/pdf", "image/png", "image/jpeg"})


def require_reviewer(request: HttpRequest) -> None:
    if not (user_roles(request.user) & REVIEWER_ROLES):
        raise PermissionDenied("Only reviewers and managers may open cases.")


def refusal_message(request: HttpRequest, exc: DomainError, what: str) -> None:
    """Tell the user why the service refused; a 403 stays a 403."""
    if exc.status_code == 403:
        raise PermissionDenied(exc.message) from exc
    if isinstance(exc, ConflictError):
        messages.error(request, CONFLICT_MESSAGE)
    elif isinstance(exc, ValidationFailed):
        messages.error(request, f"{what}: " + "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.errors.items()))
    else:
        messages.error(request, f"{what}: {exc.message}")


def _case(request: HttpRequest, case_number: str) -> Case:
    require_reviewer(request)
    case = selectors.case_get_for(request.user, case_number)
    if case is None:
        raise Http404("No such case.")
    return case


def posted_row_version(request: HttpRequest) -> int | None:
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
    request: HttpRequest, case_number: str, *, done: str, refused: str, action: Callable[[Case, User], Any]
) -> HttpResponse:
    case = _case(request, case_number)
    try:
        action(case, request.user)  # type: ignore[arg-type]
    except DomainError as exc:
        refusal_message(request, exc, refused)
    else:
        messages.success(request, done)
    return redirect("case_detail", case_number=case_number)


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


# --- actions --------------------------------------------------------------------------------


@login_required
@require_POST
def case_note(request: HttpRequest, case_number: str) -> HttpResponse:
    return _act(
        request,
        case_number,
        done="Note added.",
        refused="Note not added",
        action=lambda case, user: case_note_add(
            case_id=case.pk,
            user=user,
            text=request.POST.get("text", ""),
            expected_row_version=posted_row_version(request),
        ),
    )


@login_required
@require_POST
def case_pend(request: HttpRequest, case_number: str) -> HttpResponse:
    return _act(
        request,
        case_number,
        done=f"{case_number} pended for information.",
        refused="Not pended",
        action=lambda case, user: case_pend_for_information(
            case_id=case.pk,
            user=user,
            needed=request.POST.get("needed", ""),
            expected_row_version=posted_row_version(request),
        ),
    )


class PeerToPeerForm(forms.Form):
    requesting_physician = forms.CharField(max_length=200, label="Requesting physician")
    held_at = forms.DateTimeField(
        label="Held at", widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
    )
    outcome = forms.ChoiceField(choices=PeerToPeerOutcome.choices, label="Outcome")
    summary = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), label="What was discussed")
    row_version = forms.IntegerField(widget=forms.HiddenInput)


@login_required
@require_POST
def case_peer_to_peer(request: HttpRequest, case_number: str) -> HttpResponse:
    case = _case(request, case_number)
    form = PeerToPeerForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Peer-to-peer not recorded: " + form.errors.as_text())
        return redirect("case_detail", case_number=case_number)
    data = form.cleaned_data
    held_at: datetime = data["held_at"]
    try:
        case_peer_to_peer_record(
            case_id=case.pk,
            user=request.user,  # type: ignore[arg-type]
            requesting_physician=data["requesting_physician"],
            held_at=held_at,
            summary=data["summary"],
            outcome=data["outcome"],
            expected_row_version=data["row_version"],
        )
    except DomainError as exc:
        refusal_message(request, exc, "Peer-to-peer not recorded")
    else:
        messages.success(request, "Peer-to-peer discussion recorded.")
    return redirect("case_detail", case_number=case_number)


def peer_to_peer_form(case: Case) -> PeerToPeerForm:
    now = timezone.localtime().replace(second=0, microsecond=0)
    return PeerToPeerForm(initial={"row_version": case.row_version, "held_at": now})


# --- attachments ----------------------------------------------------------------------------


@login_required
@require_GET
@never_cache
# A PDF shows in an iframe on the case page, and nowhere else (old browsers read X-Frame-Options).
@xframe_options_sameorigin
@csp_replace({"frame-ancestors": [SELF]})
@audited_view(action=AuditAction.DOWNLOAD, object_type=AuditObject.ATTACHMENT, object_kwarg="attachment_id")
def attachment_view(request: HttpRequest, case_number: str, attachment_id: int) -> FileResponse:
    """Stream an attachment to a reviewer: images and PDFs inline, anything else as a download."""
    require_reviewer(request)
    attachment = selectors.attachment_get_for(request.user, case_number, attachment_id)
    if attachment is None:
        raise Http404("No such attachment.")
    try:
        handle = attachment.file.open("rb")
    except FileNotFoundError as exc:
        raise Http404("The attachment's file is missing.") from exc
    response = FileResponse(
        handle,
        content_type=attachment.content_type,
        as_attachment=attachment.content_type not in INLINE_TYPES,
        filename=attachment.original_name,
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    if attachment.content_type != "application/pdf":
        # The browser's PDF viewer does not run in a sandbox; every other type can.
        response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
