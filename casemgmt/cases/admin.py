"""Managers' admin: deadline rules, authorization validity rules, appeal windows, duplicate
rules and review decision reason codes; the webhook deliveries and the authorizations (read-only).

Cases, flags and decisions are deliberately absent: they change only through the services
behind the reviewer pages and the API, where every change is audited.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest

from casemgmt.audit.models import AuditObject
from casemgmt.audit.recording import AuditedAdminMixin
from casemgmt.cases.models import (
    AppealWindow,
    Authorization,
    AuthorizationValidityRule,
    DeadlineRule,
    DecisionLine,
    DuplicateRule,
    GoldCardExemption,
    GoldCardProgramme,
    IntakeSettings,
    ReviewReasonCode,
    WebhookDelivery,
)
from casemgmt.cases.services.gold_cards import (
    gold_card_programme_create,
    gold_card_programme_deactivate,
    gold_card_programme_update,
    gold_card_programme_values,
    gold_cards_evaluate,
)
from casemgmt.cases.services.triage import intake_settings_update
from casemgmt.kernel.errors import DomainError, ValidationFailed
from policies_app.codes import code_problem, normalize_code, range_problem


@admin.register(DeadlineRule)
class DeadlineRuleAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["review_type", "urgency", "line_of_business", "hours", "pend_extension_hours", "source"]
    list_filter = ["review_type", "urgency", "line_of_business"]
    fields = ["review_type", "urgency", "line_of_business", "hours", "pend_extension_hours", "source"]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    """Which clients' notifications are pending, delivered or given up, and why: read-only.

    It shows the client, its URL, the kind of event and the outcome, never the payload (which
    names the case), so it shows no member data.
    """

    list_display = [
        "id",
        "client",
        "subscription",
        "event_kind",
        "status",
        "attempts",
        "last_error",
        "created_at",
        "next_attempt_at",
        "delivered_at",
    ]
    list_filter = ["status", ("subscription__client", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["subscription__client"]
    fields = (
        "client",
        "subscription",
        "event_kind",
        "status",
        "attempts",
        "last_error",
        "created_at",
        "last_attempt_at",
        "next_attempt_at",
        "enqueued_at",
        "delivered_at",
    )
    readonly_fields = fields
    ordering = ["-id"]
    show_full_result_count = False

    @admin.display(description="Client", ordering="subscription__client__username")
    def client(self, obj: WebhookDelivery) -> str:
        return obj.subscription.client.get_username()

    @admin.display(description="Event")
    def event_kind(self, obj: WebhookDelivery) -> str:
        return str(obj.payload.get("event", ""))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: WebhookDelivery | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: WebhookDelivery | None = None) -> bool:
        return False


class AuthorizationValidityRuleForm(forms.ModelForm):
    """A rule's codes are checked as a policy's are, so a mistyped code or range is a message on
    its field, not a rule that silently matches nothing."""

    class Meta:
        model = AuthorizationValidityRule
        fields = [
            "name",
            "line_of_business",
            "policy",
            "code_system",
            "code_start",
            "code_end",
            "days_before",
            "days_after",
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        system, start, end = data.get("code_system") or "", data.get("code_start") or "", data.get("code_end") or ""
        if start and system:
            start, end = normalize_code(system, start), normalize_code(system, end) if end else ""
            problem = range_problem(system, start, end) if end else code_problem(system, start)
            if problem:
                self.add_error("code_end" if end else "code_start", problem)
            else:
                data["code_start"], data["code_end"] = start, end
        return data


@admin.register(AuthorizationValidityRule)
class AuthorizationValidityRuleAdmin(AuditedAdminMixin, admin.ModelAdmin):
    """How long authorizations last. A rule is never deleted: authorizations name the rule that
    set their period."""

    form = AuthorizationValidityRuleForm
    list_display = [
        "name",
        "line_of_business",
        "policy",
        "code_system",
        "code_start",
        "code_end",
        "days_before",
        "days_after",
    ]
    list_filter = ["line_of_business", "code_system"]
    list_select_related = ["policy"]

    def has_delete_permission(self, request: HttpRequest, obj: AuthorizationValidityRule | None = None) -> bool:
        return False


@admin.register(AppealWindow)
class AppealWindowAdmin(AuditedAdminMixin, admin.ModelAdmin):
    """How long after a decision an appeal may be filed, by line of business. Never deleted: a
    line of business without a window accepts no appeal."""

    list_display = ["line_of_business", "days", "source"]
    fields = ["line_of_business", "days", "source"]

    def has_delete_permission(self, request: HttpRequest, obj: AppealWindow | None = None) -> bool:
        return False


@admin.register(ReviewReasonCode)
class ReviewReasonCodeAdmin(AuditedAdminMixin, admin.ModelAdmin):
    """The review decision reason codes (X12 list 886) reviewers may give on an adverse line.

    X12 licenses the list, so the plan enters the codes it uses. Once a decision gives a code, its
    code, system and wording are what that decision said: they are fixed, and the code is
    deactivated (and a new one added) rather than changed or deleted.
    """

    list_display = ["code", "display", "system", "active"]
    list_filter = ["active"]
    search_fields = ["code", "display"]
    fields = ["code", "display", "system", "description", "active"]

    def get_readonly_fields(self, request: HttpRequest, obj: ReviewReasonCode | None = None) -> list[str]:
        if obj is not None and DecisionLine.objects.filter(reason_code=obj).exists():
            return ["code", "display", "system"]
        return []

    def has_delete_permission(self, request: HttpRequest, obj: ReviewReasonCode | None = None) -> bool:
        return False


@admin.register(DuplicateRule)
class DuplicateRuleAdmin(AuditedAdminMixin, admin.ModelAdmin):
    """What intake does with a request repeating one still open or approved for the same member:
    the window between dates of service, and whether to flag it or refuse it. One rule per line
    of business, seeded by the migration: managers change them, nobody adds or deletes one."""

    list_display = ["line_of_business", "window_days", "action"]
    fields = ["line_of_business", "window_days", "action"]
    readonly_fields = ["line_of_business"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: DuplicateRule | None = None) -> bool:
        return False


@admin.register(Authorization)
class AuthorizationAdmin(AuditedAdminMixin, admin.ModelAdmin):
    """Authorizations, read-only: they are issued, superseded and voided by decisions, and never
    edited. Their pages show a member's services, so each list and view is recorded."""

    audit_member_data = True
    audit_object_type = AuditObject.AUTHORIZATION

    list_display = [
        "authorization_number",
        "status",
        "member_id",
        "code_system",
        "code",
        "approved_units",
        "valid_from",
        "valid_to",
        "case",
        "issued_at",
    ]
    list_filter = ["status", "line_of_business"]
    list_select_related = ["case"]
    search_fields = ["=authorization_number", "=member_id"]
    show_full_result_count = False
    fields = (
        "authorization_number",
        "status",
        "case",
        "decision",
        "service_line",
        "client",
        "member_id",
        "member_first_name",
        "member_last_name",
        "member_birth_date",
        "line_of_business",
        "plan_id",
        "requesting_provider_npi",
        "requesting_provider_name",
        "servicing_provider_npi",
        "servicing_provider_name",
        "code_system",
        "code",
        "modifiers",
        "approved_units",
        "valid_from",
        "valid_to",
        "validity_rule",
        "validity_basis",
        "issued_at",
        "supersedes",
        "ended_at",
        "ended_reason",
    )
    readonly_fields = fields

    def audit_listed_id(self, obj: Authorization) -> str:  # type: ignore[override]
        return obj.authorization_number

    def audit_case_number(self, object_id: str) -> str:
        number = Authorization.objects.filter(pk=object_id).values_list("case__case_number", flat=True).first()
        return number or ""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Authorization | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Authorization | None = None) -> bool:
        return False


# --- gold cards -------------------------------------------------------------------------------


class GoldCardProgrammeForm(forms.ModelForm):
    """A programme's terms; the service's own checks report on each field."""

    class Meta:
        model = GoldCardProgramme
        fields = [
            "name",
            "line_of_business",
            "policy",
            "code_system",
            "code_start",
            "code_end",
            "min_approval_rate",
            "period_months",
            "min_requests",
        ]

    def programme_values(self) -> dict[str, Any]:
        data = self.cleaned_data
        policy = data.get("policy")
        return {
            "name": data.get("name") or "",
            "line_of_business": data.get("line_of_business") or "",
            "policy_id": policy.pk if policy is not None else None,
            "code_system": data.get("code_system") or "",
            "code_start": data.get("code_start") or "",
            "code_end": data.get("code_end") or "",
            "min_approval_rate": data.get("min_approval_rate"),
            "period_months": data.get("period_months"),
            "min_requests": data.get("min_requests"),
        }

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        try:
            gold_card_programme_values(**self.programme_values())
        except ValidationFailed as exc:
            for path, problems in exc.errors.items():
                self.add_error(path if path in self.fields else None, " ".join(problems))
        return data

    def _post_clean(self) -> None:
        # The programme is written by the services, not from this form: skip the model's validation.
        return None


def _admin_user(request: HttpRequest) -> User:
    if not isinstance(request.user, User):
        raise PermissionDenied
    return request.user


@admin.register(GoldCardProgramme)
class GoldCardProgrammeAdmin(AuditedAdminMixin, admin.ModelAdmin):
    """Managers define gold-card programmes; the services validate and record each change.
    Exemptions are on the reviewers' page /gold-cards/ (and read-only below)."""

    audit_saved_by_services = True
    audit_object_type = AuditObject.GOLD_CARD_PROGRAMME
    form = GoldCardProgrammeForm
    list_display = [
        "name",
        "line_of_business",
        "policy",
        "code_range",
        "min_approval_rate",
        "period_months",
        "min_requests",
        "active",
    ]
    list_filter = ["active", "line_of_business"]
    readonly_fields = ["active", "created_by", "created_at"]
    actions = ["evaluate_now", "deactivate_programmes"]

    @admin.display(description="Code range")
    def code_range(self, obj: GoldCardProgramme) -> str:
        if not obj.code_start:
            return "-"
        return f"{obj.code_system} {obj.code_start}" + (f"-{obj.code_end}" if obj.code_end else "")

    def get_fields(self, request: HttpRequest, obj: GoldCardProgramme | None = None) -> Any:
        fields = list(GoldCardProgrammeForm.Meta.fields)
        return fields if obj is None else [*fields, *self.readonly_fields]

    def has_change_permission(self, request: HttpRequest, obj: GoldCardProgramme | None = None) -> bool:
        # A deactivated programme is a record of what was evaluated: read-only.
        if obj is not None and not obj.active:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: GoldCardProgramme | None = None) -> bool:
        return False  # exemptions name it; deactivate instead

    def save_model(self, request: HttpRequest, obj: GoldCardProgramme, form: Any, change: bool) -> None:
        values = form.programme_values()
        if change:
            saved = gold_card_programme_update(user=_admin_user(request), programme_id=obj.pk, **values)
        else:
            saved = gold_card_programme_create(user=_admin_user(request), **values)
        obj.pk = saved.pk
        obj.refresh_from_db()

    @admin.action(description="Evaluate every active programme now (as the nightly task does)", permissions=["change"])
    def evaluate_now(self, request: HttpRequest, queryset: QuerySet[GoldCardProgramme]) -> None:
        summary = gold_cards_evaluate(user=_admin_user(request))
        self.message_user(
            request,
            f"{len(summary.programmes)} programme(s) evaluated: {summary.granted} gold card(s) earned, "
            f"{summary.ended} ended.",
            messages.SUCCESS,
        )

    @admin.action(description="Deactivate selected programmes (their gold cards end)", permissions=["change"])
    def deactivate_programmes(self, request: HttpRequest, queryset: QuerySet[GoldCardProgramme]) -> None:
        for programme in queryset:
            try:
                gold_card_programme_deactivate(user=_admin_user(request), programme_id=programme.pk)
            except DomainError as exc:
                self.message_user(request, f"{programme.name}: {exc.message}", messages.ERROR)
            else:
                self.message_user(request, f"{programme.name} deactivated.", messages.SUCCESS)


@admin.register(GoldCardExemption)
class GoldCardExemptionAdmin(AuditedAdminMixin, admin.ModelAdmin):
    """Read-only: exemptions are earned by evaluation, granted and revoked on /gold-cards/."""

    list_display = [
        "provider_npi",
        "programme",
        "source",
        "status",
        "approval_rate",
        "decided_count",
        "granted_at",
        "ended_at",
    ]
    list_filter = ["status", "source", "programme"]
    search_fields = ["provider_npi"]
    fields = (
        "programme",
        "provider_npi",
        "source",
        "status",
        "period_start",
        "period_end",
        "decided_count",
        "approved_count",
        "approval_rate",
        "reason",
        "granted_by",
        "granted_at",
        "ended_at",
        "ended_by",
        "ended_reason",
    )
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: GoldCardExemption | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: GoldCardExemption | None = None) -> bool:
        return False


@admin.register(IntakeSettings)
class IntakeSettingsAdmin(admin.ModelAdmin):
    """The plan's switch for automatic approval at intake: one row (the migration makes it), changed
    by managers through
        `intake_settings_update`, which audits the change and tells every process (the library stamp)."""

    fields = ["automatic_approval", "changed_by", "changed_at"]
    readonly_fields = ["changed_by", "changed_at"]

    list_display = ["__str__", "automatic_approval", "changed_by", "changed_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: IntakeSettings | None = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: IntakeSettings, form: Any, change: bool) -> None:
        assert isinstance(request.user, User)
        try:
            intake_settings_update(user=request.user, automatic_approval=obj.automatic_approval)
        except DomainError as exc:
            raise PermissionDenied(str(exc)) from exc
