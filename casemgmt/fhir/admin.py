"""Managers' admin: the SMART backend clients, read-only but for deactivation. Clients are
registered by `manage.py fhir_client_register`; used assertions (FhirAssertion) are not shown."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest

from casemgmt.audit.models import AuditObject
from casemgmt.audit.recording import AuditedAdminMixin
from casemgmt.fhir.clients import fhir_client_deactivate
from casemgmt.fhir.models import FhirClient
from casemgmt.kernel.errors import DomainError


@admin.register(FhirClient)
class FhirClientAdmin(AuditedAdminMixin, admin.ModelAdmin):
    audit_saved_by_services = True
    audit_object_type = AuditObject.FHIR_CLIENT
    list_display = ["name", "client_id", "user", "line_of_business", "keys", "active", "created_at"]
    list_filter = ["active", "line_of_business"]
    search_fields = ["name", "client_id", "user__username"]
    list_select_related = ["user"]
    fields = ("name", "client_id", "user", "line_of_business", "jwks", "jwks_url", "active", "created_at")
    readonly_fields = fields
    actions = ["deactivate"]

    @admin.display(description="Keys")
    def keys(self, obj: FhirClient) -> str:
        if obj.jwks_url:
            return obj.jwks_url
        return ", ".join(str(key.get("kid", "?")) for key in obj.jwks.get("keys", []))

    def has_add_permission(self, request: HttpRequest) -> bool:
        # A client is registered by `manage.py fhir_client_register`, which checks its keys.
        return False

    def has_delete_permission(self, request: HttpRequest, obj: FhirClient | None = None) -> bool:
        # Its submissions name it: deactivate instead.
        return False

    def save_model(self, request: HttpRequest, obj: FhirClient, form: ModelForm, change: bool) -> None:
        # Every field is read-only; the only change is deactivation, through the service.
        return None

    @admin.action(description="Deactivate selected clients (their tokens stop working at once)", permissions=["change"])
    def deactivate(self, request: HttpRequest, queryset: QuerySet[FhirClient]) -> None:
        for client in queryset:
            try:
                fhir_client_deactivate(client_id=client.client_id)
            except DomainError as exc:
                self.message_user(request, f"{client.name}: {exc.message}", messages.ERROR)
            else:
                self.message_user(request, f"{client.name} deactivated.", messages.SUCCESS)
