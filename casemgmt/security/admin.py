"""Managers' admin: integration clients' API tokens (revoked here, issued by `manage.py create_api_token`)."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import admin, messages
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import URLPattern, path, reverse

from casemgmt.audit.recording import AuditedAdminMixin
from casemgmt.cases.models import ApiToken
from casemgmt.kernel.errors import DomainError
from casemgmt.security.services import api_token_revoke


@admin.register(ApiToken)
class ApiTokenAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["prefix", "label", "user", "created_at", "last_used_at", "revoked_at", "active"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["prefix", "label", "user__username"]
    list_select_related = ["user"]
    # The hash is useless to a person and the raw token is never stored; show what tells tokens apart.
    fields = ("prefix", "label", "user", "created_at", "last_used_at", "revoked_at")
    readonly_fields = ("prefix", "label", "user", "created_at", "last_used_at", "revoked_at")
    actions = ["revoke"]

    @admin.display(boolean=True, description="Active")
    def active(self, obj: ApiToken) -> bool:
        return obj.revoked_at is None

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Tokens are issued by `manage.py create_api_token`, which shows the raw token once.
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ApiToken | None = None) -> bool:
        # A revoked token stays on record: which client could call the API, and until when.
        return False

    def _revoke(self, request: HttpRequest, token: ApiToken) -> None:
        user = request.user
        if not isinstance(user, User):
            raise PermissionDenied
        try:
            api_token_revoke(token_id=token.pk, user=user)
        except DomainError as exc:
            self.message_user(request, f"Could not revoke token {token}: {exc.message}", messages.ERROR)
        else:
            self.message_user(request, f"Token {token} revoked.", messages.SUCCESS)

    @admin.action(description="Revoke selected tokens", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        for token in queryset.select_related("user"):
            self._revoke(request, token)

    def get_urls(self) -> list[URLPattern]:
        view: Callable[..., HttpResponse] = self.admin_site.admin_view(self.revoke_view)
        return [path("<int:object_id>/revoke/", view, name="casemgmt_apitoken_revoke"), *super().get_urls()]

    def revoke_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_change_permission(request):
            raise PermissionDenied
        token = self.get_object(request, str(object_id))
        if token is None:
            raise Http404(f"API token {object_id} does not exist")
        self._revoke(request, token)
        return HttpResponseRedirect(reverse("admin:casemgmt_apitoken_change", args=[token.pk]))
