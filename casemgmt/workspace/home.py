"""Where a signed-in person lands, and the not-found page."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_GET
from django.views.defaults import page_not_found, permission_denied

from casemgmt.kernel.roles import REVIEWER_ROLES, Role, has_role, user_roles


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    if has_role(request.user, Role.POLICY_EDITOR) and not (user_roles(request.user) & REVIEWER_ROLES):
        return redirect("admin:index")
    if has_role(request.user, Role.AUDITOR) and not (user_roles(request.user) & REVIEWER_ROLES):
        return redirect("audit_events")
    return redirect("queue")


# Machine clients get their door's error shape, never a page: the v1 API its JSON, the FHIR door
# (and CDS Hooks under it) an OperationOutcome.
API_PREFIX = "/api/"
FHIR_PREFIXES = ("/fhir/", "/cds-services")


def _machine_refusal(request: HttpRequest, status: int, fhir_code: str, said: str) -> HttpResponse | None:
    if request.path.startswith(API_PREFIX):
        return JsonResponse({"detail": said}, status=status)
    if request.path.startswith(FHIR_PREFIXES):
        outcome = {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": fhir_code, "diagnostics": said}],
        }
        return JsonResponse(outcome, status=status, content_type="application/fhir+json")
    return None


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """API and FHIR clients get a JSON 404 in their door's error shape; people get the page."""
    machine = _machine_refusal(request, 404, "not-found", "Not found.")
    if machine is not None:
        return machine
    return page_not_found(request, exception or Http404())


def forbidden(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """A refusal (`PermissionDenied`, `role_required`): people get templates/403.html in the
    layout, with the refusal's reason and a way back; API and FHIR clients get JSON."""
    machine = _machine_refusal(request, 403, "forbidden", "You do not have permission to perform this action.")
    if machine is not None:
        return machine
    return permission_denied(request, exception or PermissionDenied())
