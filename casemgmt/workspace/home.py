"""Where a signed-in person lands, and the not-found page."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_GET

from casemgmt.kernel.roles import REVIEWER_ROLES, Role, has_role, user_roles


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    if has_role(request.user, Role.POLICY_EDITOR) and not (user_roles(request.user) & REVIEWER_ROLES):
        return redirect("admin:index")
    if has_role(request.user, Role.AUDITOR) and not (user_roles(request.user) & REVIEWER_ROLES):
        return redirect("audit_events")
    return redirect("queue")


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """API clients get a JSON 404 in the API's error shape; people get the HTML page."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found."}, status=404)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception or Http404())
