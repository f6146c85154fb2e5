"""Managers' admin: deadline rules, authorization validity rules, appeal windows and duplicate
rules; the webhook deliveries and the authorizations (read-only).

Cases, flags and decisions are deliberately absent: they change only through the services
behind the reviewer pages and the API, where every change is audited.
"""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from casemgmt.audit.models import AuditObject
from casemgmt.audit.recording import AuditedAdminMixin
from casemgmt.cases.models import (
    AppealWindow,
    Authorization,
    AuthorizationValidityRule,
    DeadlineRule,
    DuplicateRule,
    WebhookDelivery,
)


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


@admin.register(AuthorizationValidityRule)
class AuthorizationValidityRuleAdmin(AuditedAdminMixin, admin.ModelAdmin):
    """How long authorizations last. A rule is never deleted: authorizations name the rule that
    set their period."""

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
