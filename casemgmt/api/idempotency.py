"""Idempotency-Key handling for POSTs: a retry returns the first outcome and creates nothing.

The key is claimed in its own committed transaction, so a concurrent retry sees it at once
(409). The operation and the stored outcome then commit together, so a crash between them
leaves neither behind; a claim left by a crashed process is taken over once it is stale.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from casemgmt.cases.models import IdempotencyRecord, IdempotencyStatus
from casemgmt.kernel.errors import ConflictError, DomainError

STALE_AFTER = timedelta(minutes=5)
MAX_KEY_LENGTH = 255


class IdempotencyMismatch(DomainError):
    status_code = 422


def request_fingerprint(method: str, path: str, body: Any) -> str:
    payload = json.dumps([method, path, body], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def _claim(client: User, key: str, method: str, path: str, fingerprint: str) -> IdempotencyRecord | None:
    """Claim the key, or return the completed record to replay. Raises on a clash."""
    now = timezone.now()
    try:
        with transaction.atomic():
            IdempotencyRecord.objects.create(
                client=client,
                key=key,
                method=method,
                path=path,
                request_sha256=fingerprint,
                status=IdempotencyStatus.IN_PROGRESS,
                started_at=now,
            )
        return None
    except IntegrityError:
        pass
    record = IdempotencyRecord.objects.get(client=client, key=key)
    if record.request_sha256 != fingerprint:
        raise IdempotencyMismatch(
            "this Idempotency-Key was used with a different request; use a new key for a new request",
            field="Idempotency-Key",
        )
    if record.status == IdempotencyStatus.COMPLETED:
        return record
    taken = IdempotencyRecord.objects.filter(
        pk=record.pk, status=IdempotencyStatus.IN_PROGRESS, started_at__lt=now - STALE_AFTER
    ).update(started_at=now)
    if taken:
        return None
    raise ConflictError("a request with this Idempotency-Key is still being processed; retry shortly")


def idempotent(
    *,
    client: User,
    key: str | None,
    method: str,
    path: str,
    body: Any,
    operation: Callable[[], tuple[int, Any]],
) -> tuple[int, Any, bool]:
    """Run operation once per key. Returns (status, body, replayed)."""
    if not key:
        status, payload = operation()
        return status, payload, False
    if len(key) > MAX_KEY_LENGTH:
        raise DomainError(f"Idempotency-Key is longer than {MAX_KEY_LENGTH} characters", field="Idempotency-Key")
    fingerprint = request_fingerprint(method, path, body)
    done = _claim(client, key, method, path, fingerprint)
    if done is not None:
        return int(done.response_status or 200), done.response_body, True
    try:
        with transaction.atomic():
            status, payload = operation()
            IdempotencyRecord.objects.filter(client=client, key=key).update(
                status=IdempotencyStatus.COMPLETED,
                response_status=status,
                response_body=payload,
                completed_at=timezone.now(),
            )
    except DomainError as exc:
        # A refusal is an outcome too (Stripe does the same): the retry gets the same answer,
        # unless it was a passing conflict, which a retry may well get past.
        if exc.status_code in (409, 503):
            IdempotencyRecord.objects.filter(client=client, key=key).delete()
        else:
            _store_refusal(client, key, exc)
        raise
    except Exception:
        IdempotencyRecord.objects.filter(client=client, key=key).delete()
        raise
    return status, payload, False


def _store_refusal(client: User, key: str, exc: DomainError) -> None:
    from casemgmt.api.errors import domain_error_body

    IdempotencyRecord.objects.filter(client=client, key=key).update(
        status=IdempotencyStatus.COMPLETED,
        response_status=exc.status_code,
        response_body=domain_error_body(exc),
        completed_at=timezone.now(),
    )
