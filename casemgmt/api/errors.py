"""One error shape for the whole API: {"detail": ..., "errors": {field.path: [problems]}}.

Every answer it builds is safe to encode: a NUL or an unpaired surrogate in a message (a field
name or value quoted back) is written as its escape (\\ud800), never as the character itself.
"""

from __future__ import annotations

import logging
from typing import Any

import kombu.exceptions
import redis.exceptions
from django import db
from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from drf_spectacular.utils import OpenApiResponse, extend_schema_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from casemgmt.kernel.errors import DomainError, ValidationFailed
from casemgmt.kernel.json_input import REFUSED_CHARACTERS, JsonRefused

logger = logging.getLogger(__name__)

INVALID = "The request is invalid; nothing was stored."
# The database, the cache (rate limits) or the broker did not answer: the request may succeed
# in a moment. Transient database errors (a deadlock, a serialization failure, a statement
# timeout) are OperationalErrors too, and a retry is the right answer to them as well.
UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (
    db.OperationalError,
    db.InterfaceError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    kombu.exceptions.OperationalError,
)
RETRY_AFTER_SECONDS = 5


def unavailable_body() -> dict[str, str]:
    return {
        "detail": f"The service is briefly unavailable; retry after {RETRY_AFTER_SECONDS} seconds. "
        "A POST is safe to retry with the same Idempotency-Key."
    }


def too_large_body() -> dict[str, str]:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return {"detail": f"The request body is larger than {limit} bytes, the most the API reads; nothing was stored."}


def safe_text(text: str) -> str:
    """`text` with each NUL or unpaired surrogate written as its escape, so it always encodes."""
    if not REFUSED_CHARACTERS.search(text):
        return text
    return REFUSED_CHARACTERS.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def safe_body(data: Any) -> Any:
    """An error body with every string in it (field paths too) made safe_text."""
    if isinstance(data, str):
        return safe_text(data)
    if isinstance(data, dict):
        return {safe_text(str(key)): safe_body(value) for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return [safe_body(item) for item in data]
    return data


def _flatten(data: Any, prefix: str = "") -> dict[str, list[str]]:
    """Turn DRF's nested error structure into field paths such as service_lines[0].code."""
    out: dict[str, list[str]] = {}
    if isinstance(data, dict):
        for key, value in data.items():
            name = "" if key == "non_field_errors" else str(key)
            if isinstance(key, int) or name.isdigit():
                # ListField reports item errors keyed by index; write them as list paths.
                path = f"{prefix}[{name}]"
            else:
                path = f"{prefix}.{name}" if prefix and name else (prefix or name)
            for k, v in _flatten(value, path).items():
                out.setdefault(k, []).extend(v)
    elif isinstance(data, list):
        if all(not isinstance(item, (dict, list)) for item in data):
            out.setdefault(prefix or "non_field_errors", []).extend(str(item) for item in data)
        else:
            for i, item in enumerate(data):
                if item:
                    for k, v in _flatten(item, f"{prefix}[{i}]").items():
                        out.setdefault(k, []).extend(v)
    else:
        out.setdefault(prefix or "non_field_errors", []).append(str(data))
    return out


def domain_error_body(exc: DomainError) -> dict[str, Any]:
    if isinstance(exc, ValidationFailed):
        return {"detail": INVALID, "errors": exc.errors}
    body: dict[str, Any] = {"detail": exc.message, **exc.extra}
    if exc.field:
        body["errors"] = {exc.field: [exc.message]}
    return body


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    response = _response_for(exc, context)
    if response is not None:
        response.data = safe_body(response.data)
    return response


def _response_for(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DomainError):
        return Response(domain_error_body(exc), status=exc.status_code)
    if isinstance(exc, exceptions.ValidationError):
        return Response({"detail": INVALID, "errors": _flatten(exc.detail)}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, JsonRefused):
        return Response({"detail": INVALID, "errors": exc.errors}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, SuspiciousOperation):
        # Logged as Django logs the ones it answers itself; the message names no member data.
        logging.getLogger(f"django.security.{type(exc).__name__}").error(str(exc))
        if isinstance(exc, RequestDataTooBig):
            return Response(too_large_body(), status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
        return Response({"detail": "The request is malformed; nothing was stored."}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, UNAVAILABLE_ERRORS):
        logger.error("API request failed: a service it needs is unavailable", exc_info=exc)
        set_rollback()
        return Response(
            unavailable_body(),
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    return drf_exception_handler(exc, context)


@extend_schema_serializer(component_name="Error")
class ErrorSerializer(serializers.Serializer):
    """The body of every 4xx answer, for the OpenAPI schema."""

    detail = serializers.CharField(help_text="What went wrong, in plain language.")
    # DRF takes declared fields off the class, so this does not shadow Serializer.errors at run time.
    errors = serializers.DictField(  # type: ignore[assignment]
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Problems by field path, e.g. service_lines[0].code; present when input was refused.",
    )
    case_number = serializers.CharField(required=False, help_text="On a duplicate external_id: the existing case.")
    current_status = serializers.CharField(required=False, help_text="On an illegal status change: the case's status.")


ERROR_DESCRIPTIONS = {
    400: "The request is invalid (each problem named by its field path); nothing was stored.",
    401: "No valid credentials: send `Authorization: Bearer <token>`.",
    403: "Authenticated, but your role may not do this; `detail` says why.",
    404: "No such case, or not one you may see (the two are not told apart).",
    409: "Conflict: an illegal status change (with `current_status`), a duplicate `external_id` "
    "(with the existing `case_number`), or a retry while the first request with this Idempotency-Key runs.",
    413: "The body (or the upload) is larger than the configured limit; nothing was stored.",
    415: "Unsupported content type: send application/json.",
    422: "This Idempotency-Key was used with a different request.",
    429: "Rate limit reached; retry after the number of seconds in the Retry-After header.",
    503: "The database or the cache is briefly unavailable; retry after the number of seconds in the "
    "Retry-After header (a POST with the same Idempotency-Key).",
}


def error_responses(*codes: int) -> dict[int, OpenApiResponse]:
    """OpenAPI responses for the given error status codes, all with the one error shape."""
    return {code: OpenApiResponse(ErrorSerializer, description=ERROR_DESCRIPTIONS[code]) for code in codes}
