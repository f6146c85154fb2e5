"""The gold-card page: every provider exemption with its evidence; managers grant and revoke.

Nurse and physician reviewers see it read-only: a request approved at intake names the gold card
it was approved under, and the reviewer may want to see what the card rests on. Managers also
grant (programme, NPI, reason) and revoke (reason) in place. Auditors, editors, integration
clients and the claims system get 403: the audit log records every grant and revocation for the
auditor, and a provider's standing is no business of a client's.

The page names providers (NPI) and programmes, never a member, so viewing it is not recorded;
each grant and revocation is, by its service.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Case, IntegerField, QuerySet, Value, When
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from casemgmt.cases.models import GoldCardExemption, GoldCardProgramme, GoldCardStatus
from casemgmt.cases.services.gold_cards import gold_card_grant, gold_card_revoke
from casemgmt.kernel.errors import DomainError
from casemgmt.kernel.http import AuthenticatedHttpRequest, refusal_text, role_required
from casemgmt.kernel.roles import Role, has_role

PAGE_SIZE = 50
READERS = (Role.NURSE, Role.PHYSICIAN, Role.MANAGER)
READ_REFUSAL = "Only reviewers and managers may see gold cards."
MANAGE_REFUSAL = "Only managers may grant or revoke gold cards."
FIELD_LABELS = {"programme": "Programme", "provider_npi": "Provider NPI", "reason": "Reason"}


class ExemptionFilterForm(forms.Form):
    """The list's filters; unknown values are dropped rather than failing the page."""

    programme = forms.ModelChoiceField(
        queryset=GoldCardProgramme.objects.order_by("name"), required=False, empty_label="Any"
    )
    status = forms.ChoiceField(choices=[("", "Any"), *GoldCardStatus.choices], required=False)
    npi = forms.CharField(required=False, max_length=10, label="Provider NPI")

    def filtered(self, exemptions: QuerySet[GoldCardExemption]) -> QuerySet[GoldCardExemption]:
        if not self.is_valid():
            return exemptions
        data = self.cleaned_data
        if data.get("programme") is not None:
            exemptions = exemptions.filter(programme=data["programme"])
        if data.get("status"):
            exemptions = exemptions.filter(status=data["status"])
        if data.get("npi"):
            exemptions = exemptions.filter(provider_npi=data["npi"].strip())
        return exemptions


class GrantForm(forms.Form):
    programme = forms.ModelChoiceField(
        queryset=GoldCardProgramme.objects.filter(active=True).order_by("name"), label="Programme"
    )
    provider_npi = forms.CharField(max_length=10, label="Provider NPI")
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=2000, label="Reason")


def _listed(request: AuthenticatedHttpRequest) -> tuple[ExemptionFilterForm, Any]:
    form = ExemptionFilterForm(request.GET or None)
    exemptions = form.filtered(
        GoldCardExemption.objects.select_related("programme", "programme__policy", "granted_by", "ended_by")
    ).order_by(
        # Active first, then the latest.
        Case(When(status=GoldCardStatus.ACTIVE, then=Value(0)), default=Value(1), output_field=IntegerField()),
        "-granted_at",
        "-pk",
    )
    page = Paginator(exemptions, PAGE_SIZE).get_page(request.GET.get("page"))
    return form, page


def _person(user: Any) -> str:
    if user is None:
        return ""
    return str(user.get_full_name() or user.get_username())


@require_GET
@never_cache
@role_required(*READERS, refusal=READ_REFUSAL)
def gold_cards(request: AuthenticatedHttpRequest) -> HttpResponse:
    form, page = _listed(request)
    rows = [
        {
            "exemption": exemption,
            "granted_by": _person(exemption.granted_by) or "the evaluation",
            "ended_by": _person(exemption.ended_by) or ("the evaluation" if exemption.ended_at else ""),
        }
        for exemption in page.object_list
    ]
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "workspace/gold_cards.html",
        {
            "filter_form": form,
            "page": page,
            "rows": rows,
            "filter_query": query.urlencode(),
            "can_manage": has_role(request.user, Role.MANAGER),
            "grant_form": GrantForm(),
            "programmes": GoldCardProgramme.objects.filter(active=True).select_related("policy").order_by("name"),
        },
    )


@require_POST
@role_required(Role.MANAGER, refusal=MANAGE_REFUSAL)
def gold_card_grant_view(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = GrantForm(request.POST)
    if not form.is_valid():
        problems = "; ".join(
            f"{FIELD_LABELS.get(name, name)}: {' '.join(str(error) for error in errors)}"
            for name, errors in form.errors.items()
        )
        messages.error(request, f"Not granted: {problems}")
        return redirect(reverse("gold_cards"))
    try:
        exemption = gold_card_grant(
            user=request.user,
            programme_id=form.cleaned_data["programme"].pk,
            provider_npi=form.cleaned_data["provider_npi"],
            reason=form.cleaned_data["reason"],
        )
    except DomainError as exc:
        messages.error(request, _refusal(exc, "Not granted"))
    else:
        messages.success(
            request, f"Gold card granted to NPI {exemption.provider_npi} under \u201c{exemption.programme.name}\u201d."
        )
    return redirect(reverse("gold_cards"))


@require_POST
@role_required(Role.MANAGER, refusal=MANAGE_REFUSAL)
def gold_card_revoke_view(request: AuthenticatedHttpRequest, exemption_id: int) -> HttpResponse:
    try:
        exemption = gold_card_revoke(
            user=request.user, exemption_id=exemption_id, reason=request.POST.get("reason", "")
        )
    except DomainError as exc:
        messages.error(request, _refusal(exc, "Not revoked"))
    else:
        messages.success(request, f"Gold card of NPI {exemption.provider_npi} revoked.")
    return redirect(reverse("gold_cards"))


def _refusal(exc: DomainError, what: str) -> str:
    """The service's refusal in people's words: field paths become the form's labels."""
    text = refusal_text(exc, what)
    for name, label in FIELD_LABELS.items():
        text = text.replace(f"{name}: ", f"{label}: ")
    return text
