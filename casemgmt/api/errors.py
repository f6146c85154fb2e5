"""One error shape for the whole API: {"detail": ..., "errors": {field.path: [problems]}}."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from casemgmt.kernel.errors import DomainError, ValidationFailed


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
        return {"detail": "The request is invalid; nothing was stored.", "errors": exc.errors}
    body: dict[str, Any] = {"detail": exc.message, **exc.extra}
    if exc.field:
        body["errors"] = {exc.field: [exc.message]}
    return body


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DomainError):
        return Response(domain_error_body(exc), status=exc.status_code)
    if isinstance(exc, exceptions.ValidationError):
        return Response(
            {"detail": "The request is invalid; nothing was stored.", "errors": _flatten(exc.detail)},
            status=status.HTTP_400_BAD_REQUEST,
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
    413: "The upload is larger than the configured limit.",
    415: "Unsupported content type: send application/json.",
    422: "This Idempotency-Key was used with a different request.",
    429: "Rate limit reached; retry after the number of seconds in the Retry-After header.",
}


def error_responses(*codes: int) -> dict[int, OpenApiResponse]:
    """OpenAPI responses for the given error status codes, all with the one error shape."""
    return {code: OpenApiResponse(ErrorSerializer, description=ERROR_DESCRIPTIONS[code]) for code in codes}
