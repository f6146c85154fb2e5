"""Clients' webhooks: registration, the notification of each status change, delivery.

A delivery is a row, written with the change it reports and sent through the task outbox; its
schedule is kept in the row. The task claims a due delivery (moving `next_attempt_at` past the
POST's timeout), POSTs it and records the outcome: delivered, or the next attempt scheduled with
exponential backoff (a task in the outbox, due then), or given up after WEBHOOK_MAX_ATTEMPTS.
The claim makes a repeated message harmless: only the task holding it POSTs. The sweeper
(`webhook_deliveries_sweep`, beat: "webhooks: sweeper") queues again any due delivery whose
message was lost.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import socket
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.models import User
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from casemgmt.audit.models import AuditAction, AuditObject
from casemgmt.audit.services import MASKED, audit_record, changes_between
from casemgmt.cases.models import (
    Case,
    CaseEvent,
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookSubscription,
)
from casemgmt.kernel.errors import ValidationFailed
from casemgmt.kernel.roles import Role, require_role
from casemgmt.outbox.services import outbox_task_add, tasks_enqueue_on_commit

log = logging.getLogger(__name__)

WEBHOOK_TIMEOUT_SECONDS = 5
WEBHOOK_MAX_ATTEMPTS = 8
# After a POST, how long to keep trying to record its outcome through a database outage: a
# delivery made but not recorded would be made again.
WEBHOOK_RECORD_RETRY_SECONDS = 30
# How long a claim keeps other messages for the same delivery away: longer than a live attempt
# can hold it (the POST, then recording its outcome). A worker that dies holding one leaves the
# delivery to the sweeper once the claim has lapsed.
WEBHOOK_CLAIM_SECONDS = WEBHOOK_TIMEOUT_SECONDS + WEBHOOK_RECORD_RETRY_SECONDS + 15
# Deliveries the sweeper queues in one run; the next run takes the rest.
WEBHOOK_SWEEP_LIMIT = 5000
# The name casemgmt.cases.tasks registers the delivery task under.
WEBHOOK_DELIVER_TASK = "casemgmt.tasks.webhook_deliver_task"


def webhook_retry_delay(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failed attempt: 8 s, 16 s, 32 s ... at most an hour."""
    return timedelta(seconds=min(3600, 2 ** (attempts + 2)))


def webhooks_queue(case: Case, events: list[CaseEvent], status: str | None = None) -> None:
    """Queue a notification of each event to each of the submitting client's webhooks, sent after
    commit. `status` is the case's current status when the caller knows it; otherwise it is read."""
    subscriptions = list(WebhookSubscription.objects.filter(client_id=case.submitted_by_id, active=True))
    if not subscriptions:
        return
    if status is None:
        status = Case.objects.values_list("status", flat=True).get(pk=case.pk)
    now = timezone.now()
    deliveries = WebhookDelivery.objects.bulk_create(
        WebhookDelivery(
            subscription=sub,
            event=event,
            payload={
                "event": event.kind,
                "case_number": case.case_number,
                "external_id": case.external_id,
                "status": status,
                "at": event.at.isoformat(),
            },
            next_attempt_at=now,
            enqueued_at=now,
        )
        for event in events
        for sub in subscriptions
    )
    # In the outbox with the deliveries: a broker outage delays them, never loses them.
    tasks_enqueue_on_commit(WEBHOOK_DELIVER_TASK, [(delivery.pk,) for delivery in deliveries])


def webhook_target_problem(url: str) -> str | None:
    """Refuse URLs that would let a client make this server call into the plan's own network."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return "must be an http(s) URL with a host"
    if parts.scheme != "https" and not settings.WEBHOOK_ALLOW_HTTP:
        return "must use https"
    if settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS:
        return None
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, proto=socket.IPPROTO_TCP)
    except OSError:
        return f"host {parts.hostname!r} does not resolve"
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if address.is_private or address.is_loopback or address.is_link_local or address.is_reserved:
            return f"host {parts.hostname!r} is on a private network"
    return None


def webhook_subscribe(*, client: User, url: str) -> tuple[WebhookSubscription, str]:
    """Register a webhook; the signing secret is returned once."""
    require_role(client, Role.INTEGRATION_CLIENT, action="register webhooks")
    problem = webhook_target_problem(url)
    if problem:
        raise ValidationFailed({"url": [problem]})
    secret = secrets.token_hex(32)
    with transaction.atomic():
        subscription, created = WebhookSubscription.objects.get_or_create(
            client=client, url=url, defaults={"secret": secret}
        )
        if not created:
            WebhookSubscription.objects.filter(pk=subscription.pk).update(secret=secret, active=True)
        audit_record(
            action=AuditAction.CREATE if created else AuditAction.CHANGE,
            object_type=AuditObject.WEBHOOK,
            object_id=subscription.pk,
            user=client,
            changes={
                **(
                    {"url": (None, url)}
                    if created
                    else changes_between({"active": subscription.active}, {"active": True})
                ),
                "secret": (None if created else MASKED, MASKED),
            },
        )
    return subscription, secret


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def signed_post(*, url: str, body: bytes, secret: str, headers: dict[str, str], delivery_id: str) -> tuple[int, str]:
    """POST `body` to a checked URL, signed with `secret` (X-Casemgmt-Signature) and named by
    `delivery_id` (the same on every retry); the status (0 when nothing answered) and the error.
    Webhook deliveries and FHIR notifications go out this way."""
    timestamp = str(int(timezone.now().timestamp()))
    request = urllib.request.Request(  # noqa: S310 - callers check the URL's scheme and address first
        url,
        data=body,
        method="POST",
        headers={
            **headers,
            "X-Casemgmt-Delivery": delivery_id,
            "X-Casemgmt-Signature": f"t={timestamp},v1={webhook_signature(secret, timestamp, body)}",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_SECONDS) as response:  # noqa: S310
            return response.status, ""
    except urllib.error.HTTPError as exc:
        return exc.code, f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        return 0, f"{type(exc).__name__}: {exc}"[:500]


def webhook_deliver(*, delivery_id: int) -> str:
    """Make the delivery's next attempt if it is due. Returns delivered, retry or failed (gave
    up) for an attempt made, `done` for a delivery already delivered or given up, and `not due`
    for one whose next attempt is later or that another task is making now."""
    now = timezone.now()
    delivery = WebhookDelivery.objects.select_related("subscription").filter(pk=delivery_id).first()
    if delivery is None or delivery.status != WebhookDeliveryStatus.PENDING:
        return "done"
    claimed = WebhookDelivery.objects.filter(
        pk=delivery.pk, status=WebhookDeliveryStatus.PENDING, next_attempt_at__lte=now
    ).update(next_attempt_at=now + timedelta(seconds=WEBHOOK_CLAIM_SECONDS), last_attempt_at=now)
    if not claimed:
        return "not due"
    subscription = delivery.subscription
    attempts = delivery.attempts + 1
    problem = webhook_target_problem(subscription.url)
    if problem:
        _record(delivery, status=WebhookDeliveryStatus.FAILED, attempts=attempts, last_error=problem)
        return "failed"
    code, error = signed_post(
        url=subscription.url,
        body=json.dumps(delivery.payload, sort_keys=True).encode(),
        secret=subscription.secret,
        headers={"Content-Type": "application/json", "User-Agent": "casemgmt-webhooks/1"},
        delivery_id=str(delivery.pk),
    )
    if 200 <= code < 300:
        _record(
            delivery,
            status=WebhookDeliveryStatus.DELIVERED,
            attempts=attempts,
            delivered_at=timezone.now(),
            last_error="",
        )
        return "delivered"
    if attempts >= WEBHOOK_MAX_ATTEMPTS:
        _record(delivery, status=WebhookDeliveryStatus.FAILED, attempts=attempts, last_error=error)
        return "failed"
    due = timezone.now() + webhook_retry_delay(attempts)
    _record(delivery, attempts=attempts, last_error=error, next_attempt_at=due, enqueued_at=due, retry_at=due)
    return "retry"


def _record(delivery: WebhookDelivery, *, retry_at: datetime | None = None, **values: Any) -> None:
    """Write an attempt's outcome (and, for a retry, its task in the outbox, due at `retry_at`).

    The POST has happened: if the database is unreachable, keep trying for a while rather than
    let the delivery be made again once its claim lapses. Inside a caller's transaction (tests)
    there is nothing to retry on.
    """
    deadline = time.monotonic() + WEBHOOK_RECORD_RETRY_SECONDS
    while True:
        try:
            with transaction.atomic():
                WebhookDelivery.objects.filter(pk=delivery.pk, status=WebhookDeliveryStatus.PENDING).update(**values)
                if retry_at is not None:
                    outbox_task_add(name=WEBHOOK_DELIVER_TASK, args=[delivery.pk], due_at=retry_at)
            return
        except (OperationalError, InterfaceError) as exc:
            if connection.in_atomic_block or time.monotonic() > deadline:
                raise
            log.warning(
                "webhook delivery %s: could not record its outcome (%s); retrying", delivery.pk, type(exc).__name__
            )
            # A broken connection is only replaced once closed.
            connection.close()
            time.sleep(1)


def deliveries_requeue(pending: QuerySet[Any], *, task: str, now: datetime) -> list[int]:
    """Of `pending` rows that keep their own schedule (next_attempt_at, enqueued_at), queue again
    those due with no message on its way, through the outbox; their ids. Webhook deliveries and
    FHIR notifications share this rule."""
    stalled_before = now - timedelta(seconds=settings.WEBHOOK_STALL_SECONDS)
    with transaction.atomic():
        ids = list(
            pending.filter(next_attempt_at__lte=now)
            .filter(Q(enqueued_at__isnull=True) | Q(enqueued_at__lte=stalled_before))
            .order_by("next_attempt_at")
            .values_list("pk", flat=True)[:WEBHOOK_SWEEP_LIMIT]
        )
        if ids:
            pending.model.objects.filter(pk__in=ids).update(enqueued_at=now)
            tasks_enqueue_on_commit(task, [(pk,) for pk in ids])
    return ids


def webhook_deliveries_sweep(*, now: datetime | None = None) -> int:
    """Queue again, through the outbox, the pending deliveries that are due and have no message on
    its way: none queued since their last attempt, or one queued more than WEBHOOK_STALL_SECONDS
    ago (lost with a broker that kept nothing, or with a worker killed mid-delivery). Returns how
    many were queued."""
    now = now or timezone.now()
    ids = deliveries_requeue(
        WebhookDelivery.objects.filter(status=WebhookDeliveryStatus.PENDING), task=WEBHOOK_DELIVER_TASK, now=now
    )
    if ids:
        log.info("webhooks sweeper: %d delivery(ies) queued again", len(ids))
    return len(ids)
