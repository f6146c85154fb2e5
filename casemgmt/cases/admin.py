"""Managers' admin: deadline rules, and the webhook deliveries (read-only).

Cases, flags and decisions are deliberately absent: they change only through the services
behind the reviewer pages and the API, where every change is audited.
"""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from casemgmt.audit.recording import AuditedAdminMixin
from casemgmt.cases.models import DeadlineRule, WebhookDelivery


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
