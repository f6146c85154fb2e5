"""Pages of retrospective review: the reviewers' queue of review items, one item with its
actions, and the run progress fragments the dashboard and the admin poll.

Views parse, call one service or selector and render; the services check roles and states again.
Every page works without JavaScript; htmx only refreshes progress bars.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from casemgmt.audit.models import AuditAction, AuditObject
from casemgmt.audit.recording import audit_annotate, audited_view
from casemgmt.cases.models import INITIAL_OUTCOMES, LineOutcome
from casemgmt.cases.services import decisions as decisions_services
from casemgmt.kernel.errors import DomainError
from casemgmt.kernel.http import AuthenticatedHttpRequest, refusal_text, role_required
from casemgmt.kernel.roles import REVIEWER_ROLES, Role, has_role
from casemgmt.retro import selectors, services
from casemgmt.retro.discrepancy import rule_label
from casemgmt.retro.models import RetroItemStatus, RetroReviewItem

PAGE_SIZE = 50
CORRECTION_OUTCOMES = [
    (v, label) for v, label in LineOutcome.choices if v in INITIAL_OUTCOMES and v != LineOutcome.PENDED
]
REVIEWERS_ONLY = "Only reviewers and managers may see the retrospective review queue."
MANAGERS_ONLY = "Only managers may follow retrospective review runs."


class ItemFilterForm(forms.Form):
    status = forms.ChoiceField(
        choices=[("", "Any open")] + [(s.value, s.label) for s in RetroItemStatus if s != RetroItemStatus.CLOSED],
        required=False,
    )
    assigned = forms.ChoiceField(
        choices=[("", "Anyone"), ("mine", "Mine"), ("unassigned", "Unassigned")], required=False, label="Assignee"
    )

    def filters(self) -> dict[str, str]:
        self.is_valid()
        return {name: self.cleaned_data.get(name) or "" for name in self.fields}


@require_GET
@never_cache
@audited_view(action=AuditAction.LIST, object_type=AuditObject.RETRO_REVIEW, case_kwarg=None)
@role_required(*REVIEWER_ROLES, refusal=REVIEWERS_ONLY)
def queue(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = ItemFilterForm(request.GET)
    items = selectors.open_items(request.user, **form.filters())
    page = Paginator(items, PAGE_SIZE).get_page(request.GET.get("page"))
    # The audit row lists the cases shown (the items carry their case, selected with them).
    audit_annotate(request, object_ids=[item.case.case_number for item in page])
    return render(
        request,
        "retro/queue.html",
        {"form": form, "page": page, "can_claim": has_role(request.user, Role.NURSE, Role.PHYSICIAN)},
    )


def _item_or_404(request: AuthenticatedHttpRequest, item_id: int) -> RetroReviewItem:
    item = selectors.item_detail(request.user, item_id)
    if item is None:
        raise Http404("No such review item.")
    return item


class CorrectionForm(forms.Form):
    rationale = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), label="Why the decision is corrected")
    citation_versions = forms.TypedMultipleChoiceField(coerce=int, required=False, label="Cite policy versions")
    criterion = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), required=False, label="Criterion or statement relied on"
    )

    def __init__(self, *args: Any, item: RetroReviewItem, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.item = item
        for line in item.lines:
            seq = line["sequence"]
            self.fields[f"outcome_{seq}"] = forms.ChoiceField(
                choices=CORRECTION_OUTCOMES,
                initial=line["outcome"],
                label=f"Line {seq}: {line['code_system']} {line['code']}",
            )
            self.fields[f"units_{seq}"] = forms.IntegerField(required=False, min_value=0, label="Approved units")
            self.fields[f"reason_{seq}"] = forms.CharField(
                required=False, label="Reason (plain language)", widget=forms.Textarea(attrs={"rows": 2})
            )
        choices = [
            (c["policy_version_id"], f"{c['policy_number']} version {c['version']} ({c['coverage_position']})")
            for c in [*item.new_citations, *item.original_citations]
        ]
        field = self.fields["citation_versions"]
        assert isinstance(field, forms.TypedMultipleChoiceField)
        field.choices = list(dict(choices).items())
        field.initial = [c["policy_version_id"] for c in item.new_citations]

    def line_fields(self) -> list[tuple[Any, Any, Any]]:
        return [
            (self[f"outcome_{n}"], self[f"units_{n}"], self[f"reason_{n}"])
            for n in (line["sequence"] for line in self.item.lines)
        ]

    def inputs(self) -> tuple[list[decisions_services.DecisionLineInput], list[decisions_services.CitationInput]]:
        data = self.cleaned_data
        lines = [
            decisions_services.DecisionLineInput(
                service_line=line["sequence"],
                outcome=data[f"outcome_{line['sequence']}"],
                approved_units=data[f"units_{line['sequence']}"],
                reason=data[f"reason_{line['sequence']}"],
            )
            for line in self.item.lines
        ]
        citations = [
            decisions_services.CitationInput(policy_version_id=vid, criterion=data["criterion"])
            for vid in dict.fromkeys(data["citation_versions"])
        ]
        return lines, citations


def _item_context(request: AuthenticatedHttpRequest, item: RetroReviewItem, **extra: Any) -> dict[str, Any]:
    user = request.user
    is_physician = has_role(user, Role.PHYSICIAN)
    mine_or_free = item.assignee_id in (None, user.pk)
    reviewer = has_role(user, Role.NURSE, Role.PHYSICIAN)
    return {
        "item": item,
        "rules": [(code, rule_label(code)) for code in item.rules],
        "decision_lines": list(item.decision.lines.all()),
        "decision_citations": list(item.decision.citations.all()),
        "can_claim": reviewer
        and item.assignee_id != user.pk
        and (
            (item.status == RetroItemStatus.OPEN and item.assignee_id is None)
            or (item.status == RetroItemStatus.REFERRED and is_physician)
        ),
        "can_resolve": reviewer
        and item.is_open
        and mine_or_free
        and (item.status != RetroItemStatus.REFERRED or is_physician),
        "can_refer": reviewer and item.status in (RetroItemStatus.OPEN, RetroItemStatus.IN_REVIEW) and mine_or_free,
        "can_correct": is_physician and item.status == RetroItemStatus.REFERRED and mine_or_free,
        "correction_form": extra.pop("correction_form", None) or CorrectionForm(item=item),
        **extra,
    }


@require_GET
@never_cache
@audited_view(action=AuditAction.VIEW, object_type=AuditObject.RETRO_REVIEW, object_kwarg="item_id", case_kwarg=None)
@role_required(*REVIEWER_ROLES, refusal=REVIEWERS_ONLY)
def item_detail(request: AuthenticatedHttpRequest, item_id: int) -> HttpResponse:
    item = _item_or_404(request, item_id)
    audit_annotate(request, case_number=item.case.case_number)
    return render(request, "retro/item.html", _item_context(request, item))


def _act(
    request: AuthenticatedHttpRequest, item_id: int, done: str, action: Callable[[RetroReviewItem], object]
) -> HttpResponse:
    item = _item_or_404(request, item_id)
    try:
        action(item)
    except DomainError as exc:
        messages.error(request, refusal_text(exc, f"Not {done}"))
    else:
        messages.success(request, f"Review item {item.pk} {done}.")
    return redirect("retro_item", item_id=item.pk)


@require_POST
@role_required(*REVIEWER_ROLES, refusal=REVIEWERS_ONLY)
def item_claim(request: AuthenticatedHttpRequest, item_id: int) -> HttpResponse:
    return _act(request, item_id, "claimed", lambda item: services.retro_item_claim(item_id=item.pk, user=request.user))


@require_POST
@role_required(*REVIEWER_ROLES, refusal=REVIEWERS_ONLY)
def item_resolve(request: AuthenticatedHttpRequest, item_id: int) -> HttpResponse:
    note = request.POST.get("note", "")
    return _act(
        request,
        item_id,
        "closed: decision stands",
        lambda item: services.retro_item_resolve(item_id=item.pk, user=request.user, note=note),
    )


@require_POST
@role_required(*REVIEWER_ROLES, refusal=REVIEWERS_ONLY)
def item_refer(request: AuthenticatedHttpRequest, item_id: int) -> HttpResponse:
    note = request.POST.get("note", "")
    return _act(
        request,
        item_id,
        "referred for a corrected decision",
        lambda item: services.retro_item_refer(item_id=item.pk, user=request.user, note=note),
    )


# Said before the item is looked up or the form read: a correction is a physician's (the service
# checks again).
@require_POST
@role_required(*REVIEWER_ROLES, refusal=REVIEWERS_ONLY)
@role_required(Role.PHYSICIAN, refusal="Only a physician reviewer may record a corrected decision.")
def item_correct(request: AuthenticatedHttpRequest, item_id: int) -> HttpResponse:
    item = _item_or_404(request, item_id)
    form = CorrectionForm(request.POST, item=item)
    if not form.is_valid():
        return render(request, "retro/item.html", _item_context(request, item, correction_form=form), status=400)
    lines, citations = form.inputs()
    return _act(
        request,
        item_id,
        "corrected by a new decision",
        lambda it: services.retro_item_correct(
            item_id=it.pk,
            user=request.user,
            lines=lines,
            citations=citations,
            rationale=form.cleaned_data["rationale"],
        ),
    )


# --- run progress (managers: the dashboard and the admin poll these) ------------------------


@require_GET
@never_cache
@role_required(Role.MANAGER, refusal=MANAGERS_ONLY)
def run_progress(request: AuthenticatedHttpRequest, run_id: int) -> HttpResponse:
    run = selectors.runs_visible_to(request.user).filter(pk=run_id).first()
    if run is None:
        raise Http404("No such run.")
    return render(request, "retro/_run_progress.html", {"run": run})


@require_GET
@never_cache
@role_required(Role.MANAGER, refusal=MANAGERS_ONLY)
def runs_panel(request: AuthenticatedHttpRequest) -> HttpResponse:
    return render(request, "retro/_runs_panel.html", runs_panel_context(request.user))


def runs_panel_context(user: Any) -> dict[str, Any]:
    runs = list(selectors.runs_visible_to(user)[:5])
    return {"runs": runs, "active": any(not run.is_finished for run in runs)}
