"""Liveness for load balancers, with the task outbox's figures for monitoring."""

from __future__ import annotations

from typing import Any

from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from casemgmt.outbox.selectors import outbox_status


@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness for load balancers: is the database answering, and the broker (when one is set)?

    `outbox` reports how many tasks wait to be sent, how long the longest-overdue one has, and
    how long ago a relay last reported. It informs monitoring (`manage.py outbox_check` turns it
    into an exit status) but never fails this check: a stalled relay is no reason to take a web
    process out of the load balancer.
    """
    from django.conf import settings

    checks: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {type(exc).__name__}"
    if settings.CELERY_BROKER_URL:
        from casemgmt.celery import app

        try:
            with app.connection_for_write() as conn:
                conn.ensure_connection(max_retries=1, timeout=2)
            checks["broker"] = "ok"
        except Exception as exc:
            checks["broker"] = f"error: {type(exc).__name__}"
    else:
        checks["broker"] = "in-process (no broker configured)"
    healthy = all(v == "ok" or v.startswith("in-process") for v in checks.values())
    body: dict[str, Any] = {"status": "ok" if healthy else "error", **checks}
    if checks["database"] == "ok":
        try:
            body["outbox"] = outbox_status().as_dict()
        except DatabaseError as exc:
            body["outbox"] = f"error: {type(exc).__name__}"
    return JsonResponse(body, status=200 if healthy else 503)
