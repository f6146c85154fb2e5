"""What every /api/v1/ answer gets, whatever produced it: JSON, and `Cache-Control: no-store`.

DRF's exception handler (casemgmt.api.errors) answers what goes wrong inside an API view. This
middleware answers the rest, in the same error shape:

- a body over DATA_UPLOAD_MAX_MEMORY_SIZE is refused with 413 before anything reads it
  (multipart uploads excepted: the attachment endpoint has its own, larger limit);
- a NUL in the path, a query parameter or a header (an Idempotency-Key) is refused with 400
  before it reaches SQL, which cannot hold one (no field takes one; JSON bodies are the
  parser's, casemgmt.kernel.json_input);
- an error outside the view (the session or an audit row written by another middleware)
  that Django turned into an HTML 500: a 503 with Retry-After when the database, the cache or
  the broker did not answer, a JSON 500 otherwise; and any other HTML error answer becomes JSON;
- no answer is kept by a browser or a proxy: most carry member data, and a rule with
  exceptions would one day be wrong.

Place it after SecurityMiddleware and CSPMiddleware (whose headers its answers then get too) and
before every middleware that touches the database.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.signals import got_request_exception
from django.http import HttpRequest, JsonResponse
from django.http.response import HttpResponseBase
from django.utils.cache import patch_cache_control
from rest_framework.response import Response

from casemgmt.api.errors import INVALID, RETRY_AFTER_SECONDS, UNAVAILABLE_ERRORS, too_large_body, unavailable_body

API_PREFIX = "/api/v1/"
_UNAVAILABLE = "_api_service_unavailable"


def note_unavailable(sender: Any, request: HttpRequest | None = None, **kwargs: Any) -> None:
    """Django sends got_request_exception while it handles the exception it turns into a 500:
    remember on the request whether a missing service caused it."""
    if request is not None and isinstance(sys.exc_info()[1], UNAVAILABLE_ERRORS):
        setattr(request, _UNAVAILABLE, True)


got_request_exception.connect(note_unavailable, dispatch_uid="casemgmt.api.middleware.note_unavailable")


def service_unavailable() -> JsonResponse:
    response = JsonResponse(unavailable_body(), status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def _too_large(request: HttpRequest) -> bool:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if limit is None or request.content_type == "multipart/form-data":
        return False
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0) > limit
    except ValueError:
        return False


def _nul_refusal(request: HttpRequest) -> JsonResponse | None:
    errors: dict[str, list[str]] = {}
    if "\x00" in request.path_info:
        errors["path"] = ["holds a NUL character"]
    for name, values in request.GET.lists():
        if "\x00" in name or any("\x00" in value for value in values):
            errors["query" if "\x00" in name else name] = ["holds a NUL character"]
    for key, value in request.META.items():
        if key.startswith("HTTP_") and isinstance(value, str) and "\x00" in value:
            errors[key[5:].replace("_", "-").title()] = ["holds a NUL character"]
    return JsonResponse({"detail": INVALID, "errors": errors}, status=400) if errors else None


class ApiResponseMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if not request.path_info.startswith(API_PREFIX):
            return self.get_response(request)
        refusal = _nul_refusal(request)
        if _too_large(request):
            response: HttpResponseBase = JsonResponse(too_large_body(), status=413)
        elif refusal is not None:
            response = refusal
        else:
            response = self.get_response(request)
            if response.status_code >= 500 and getattr(request, _UNAVAILABLE, False):
                response = service_unavailable()
            elif response.status_code >= 400 and not _is_json(response):
                response = JsonResponse({"detail": f"{response.reason_phrase}."}, status=response.status_code)
        patch_cache_control(response, no_store=True)
        return response


def _is_json(response: HttpResponseBase) -> bool:
    # DRF's own answers are left as content negotiation made them.
    return isinstance(response, Response) or response.get("Content-Type", "").startswith("application/json")
