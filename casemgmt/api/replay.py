"""A POST run once per Idempotency-Key, and the answer a retry gets."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from drf_spectacular.utils import (
    OpenApiParameter,
)
from rest_framework.request import Request
from rest_framework.response import Response

from casemgmt.api.idempotency import idempotent
from casemgmt.audit.recording import ReplayAudit, audit_replay
from casemgmt.kernel.http import AuthenticatedRequest

IDEMPOTENCY_PARAMETER = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    description="A retry with the same key and body returns the first response and creates nothing; "
    "the same key with another body is 422; a retry while the first is running is 409.",
)


def idempotent_response(
    request: AuthenticatedRequest, operation: Callable[[], tuple[int, Any]], *, replay: ReplayAudit | None
) -> Response:
    """Run a POST once per Idempotency-Key. `replay` says what its answer shows, for the audit
    row of a replay (a read of the stored answer); None only for an answer with no member data."""
    code, body, replayed = idempotent(
        client=request.user,
        key=request.headers.get("Idempotency-Key"),
        method=request.method or "POST",
        path=request.path,
        body=request.data,
        operation=operation,
    )
    return replayable_response(request, code, body, replayed, replay)


def replayable_response(request: Request, code: int, body: Any, replayed: bool, replay: ReplayAudit | None) -> Response:
    response = Response(body, status=code)
    if replayed:
        response["Idempotent-Replayed"] = "true"
        if replay is not None:
            audit_replay(request, replay, code, body)
    return response
