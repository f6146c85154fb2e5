"""Decision letters: the page and the PDF."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from casemgmt.audit.models import AuditAction, AuditObject
from casemgmt.audit.recording import audit_annotate, audited_view
from casemgmt.cases import letters
from casemgmt.cases.services.letters import decision_letter_record
from casemgmt.kernel.errors import DomainError
from casemgmt.kernel.http import AuthenticatedHttpRequest, refusal_text, role_required
from casemgmt.kernel.roles import REVIEWER_ROLES
from casemgmt.workspace.access import CASE_REFUSAL


def _letter(request: AuthenticatedHttpRequest, case_number: str, decision_id: int) -> letters.Letter:
    """The letter, or Http404; a DomainError where the plan's settings cannot complete it."""
    recipient = request.GET.get("to", "member")
    audit_annotate(request, detail={"recipient": recipient[:20]})
    if recipient not in letters.RECIPIENTS:
        raise Http404("A letter goes to the member or the provider.")
    decision = letters.decision_for_letter(request.user, case_number, decision_id)
    if decision is None:
        raise Http404("No such decision.")
    return letters.letter_build(decision, recipient)


@require_GET
@never_cache
@audited_view(action=AuditAction.VIEW, object_type=AuditObject.LETTER, object_kwarg="decision_id")
@role_required(*REVIEWER_ROLES, refusal=CASE_REFUSAL)
def letter_page(request: AuthenticatedHttpRequest, case_number: str, decision_id: int) -> HttpResponse:
    try:
        letter = _letter(request, case_number, decision_id)
    except DomainError as exc:
        # A letter without its appeal rights must not go out: the case page says what is missing.
        messages.error(request, refusal_text(exc, "Letter not produced"))
        return redirect("case_detail", case_number=case_number)
    return render(
        request,
        "workspace/letter.html",
        {**letters.letter_context(letter), "recipients": letters.RECIPIENTS},
    )


@require_GET
@never_cache
@audited_view(action=AuditAction.DOWNLOAD, object_type=AuditObject.LETTER, object_kwarg="decision_id")
@role_required(*REVIEWER_ROLES, refusal=CASE_REFUSAL)
def letter_pdf(request: AuthenticatedHttpRequest, case_number: str, decision_id: int) -> HttpResponse:
    try:
        letter = _letter(request, case_number, decision_id)
        pdf = letters.letter_pdf(letter)
        decision_letter_record(decision_id=letter.decision_id, user=request.user, recipient=letter.recipient)
    except DomainError as exc:
        messages.error(request, refusal_text(exc, "Letter not produced"))
        return redirect("case_detail", case_number=case_number)
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = (
        f'inline; filename="{letter.case_number}-decision-{letter.decision_id}-{letter.recipient}.pdf"'
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response
