"""Idempotency-Key handling for POSTs: a retry returns the first outcome and creates nothing.

The key is claimed in its own committed transaction, so a concurrent retry sees it at once
(409). The operation and the stored outcome then commit together, in a transaction that holds
the claim's row lock from its first statement, so a crash between them leaves neither behind.

A claim whose request died (the process killed, the database gone mid-request so the claim
could not be released) is recognised by its row lock being free: the live request holding a
claim always holds its lock, and a crash releases it. A retry then takes the claim over at
once instead of waiting for it to go stale. A request whose claim was taken over in the moment
before it locked it finds a new owner recorded on the row and answers as that retry would.
Where the database cannot refuse a lock without waiting (SQLite, whose writers take turns
anyway), a claim is taken over once it is STALE_AFTER old.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import User
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import QuerySet
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


IN_PROGRESS_MESSAGE = "a request with this Idempotency-Key is still being processed; retry shortly"


def _claim(client: User, key: str, method: str, path: str, fingerprint: str) -> IdempotencyRecord | datetime:
    """Claim the key: the claim's start when this request now owns it, or the completed record to
    replay. Raises on a clash."""
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
        return now
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
    if _owner_alive(record, now):
        raise ConflictError(IN_PROGRESS_MESSAGE)
    taken = IdempotencyRecord.objects.filter(
        pk=record.pk, status=IdempotencyStatus.IN_PROGRESS, started_at=record.started_at
    ).update(started_at=now)
    if taken:
        return now
    raise ConflictError(IN_PROGRESS_MESSAGE)


def _owner_alive(record: IdempotencyRecord, now: datetime) -> bool:
    """Whether a live request still works under this in-progress claim (module docstring)."""
    if not connection.features.has_select_for_update_nowait:
        return record.started_at >= now - STALE_AFTER
    try:
        with transaction.atomic():
            IdempotencyRecord.objects.select_for_update(nowait=True).filter(pk=record.pk).exists()
    except DatabaseError:
        return True  # locked: its owner is working
    return False


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
    claim = _claim(client, key, method, path, fingerprint)
    if isinstance(claim, IdempotencyRecord):
        return int(claim.response_status or 200), claim.response_body, True
    # Only this request's claim: once released, a retry may already have claimed the key anew.
    mine = IdempotencyRecord.objects.filter(client=client, key=key, started_at=claim)
    try:
        with transaction.atomic():
            if not mine.select_for_update().filter(status=IdempotencyStatus.IN_PROGRESS).exists():
                # Taken over by a retry in the moment before this request locked its claim.
                outcome = None
            else:
                outcome = operation()
                mine.update(
                    status=IdempotencyStatus.COMPLETED,
                    response_status=outcome[0],
                    response_body=outcome[1],
                    completed_at=timezone.now(),
                )
    except DomainError as exc:
        # A refusal is an outcome too (Stripe does the same): the retry gets the same answer,
        # unless it was a passing conflict, which a retry may well get past.
        if exc.status_code in (409, 503):
            mine.delete()
        else:
            _store_refusal(mine, exc)
        raise
    except Exception:
        mine.delete()
        raise
    if outcome is None:
        return _answer_of_new_owner(client, key)
    return outcome[0], outcome[1], False


def _answer_of_new_owner(client: User, key: str) -> tuple[int, Any, bool]:
    record = IdempotencyRecord.objects.filter(client=client, key=key).first()
    if record is None or record.status != IdempotencyStatus.COMPLETED:
        raise ConflictError(IN_PROGRESS_MESSAGE)
    return int(record.response_status or 200), record.response_body, True


def _store_refusal(mine: QuerySet[IdempotencyRecord], exc: DomainError) -> None:
    from casemgmt.api.errors import domain_error_body

    mine.update(
        status=IdempotencyStatus.COMPLETED,
        response_status=exc.status_code,
        response_body=domain_error_body(exc),
        completed_at=timezone.now(),
    )
