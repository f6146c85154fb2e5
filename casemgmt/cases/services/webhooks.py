"""Clients' webhooks: registration, the notification of each status change, delivery."""

from __future__ import annotations

import hashlib
import secrets
from functools import partial

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
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
from casemgmt.kernel.errors import (
    ValidationFailed,
)
from casemgmt.kernel.roles import Role, require_role


def _webhooks_queue(case: Case, events: list[CaseEvent], status: str | None = None) -> None:
    """Queue a notification of each event to each of the submitting client's webhooks, sent after
    commit. `status` is the case's current status when the caller knows it; otherwise it is read."""
    from casemgmt.cases.tasks import webhook_deliver_task

    subscriptions = list(WebhookSubscription.objects.filter(client_id=case.submitted_by_id, active=True))
    if not subscriptions:
        return
    if status is None:
        status = Case.objects.values_list("status", flat=True).get(pk=case.pk)
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
        )
        for event in events
        for sub in subscriptions
    )
    for delivery in deliveries:
        # robust: the delivery row stays pending if the broker is down; it is not lost.
        transaction.on_commit(partial(webhook_deliver_task.delay, delivery.pk), robust=True)


# --- webhooks -------------------------------------------------------------------------------

WEBHOOK_TIMEOUT_SECONDS = 5
WEBHOOK_MAX_ATTEMPTS = 8


def _webhook_target_problem(url: str) -> str | None:
    """Refuse URLs that would let a client make this server call into the plan's own network."""
    import ipaddress
    import socket
    from urllib.parse import urlsplit

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
    problem = _webhook_target_problem(url)
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
    import hmac

    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def webhook_deliver(*, delivery_id: int) -> str:
    """POST one notification. Returns delivered, retry or failed; idempotent once delivered."""
    import json
    import urllib.error
    import urllib.request

    delivery = WebhookDelivery.objects.select_related("subscription").filter(pk=delivery_id).first()
    if delivery is None or delivery.status != WebhookDeliveryStatus.PENDING:
        return "done"
    subscription = delivery.subscription
    attempts = delivery.attempts + 1
    problem = _webhook_target_problem(subscription.url)
    if problem:
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=WebhookDeliveryStatus.FAILED, attempts=attempts, last_error=problem
        )
        return "failed"
    body = json.dumps(delivery.payload, sort_keys=True).encode()
    timestamp = str(int(timezone.now().timestamp()))
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
        subscription.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "casemgmt-webhooks/1",
            "X-Casemgmt-Delivery": str(delivery.pk),
            "X-Casemgmt-Signature": f"t={timestamp},v1={webhook_signature(subscription.secret, timestamp, body)}",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_SECONDS) as response:  # noqa: S310
            code = response.status
    except urllib.error.HTTPError as exc:
        code, error = exc.code, f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        code, error = 0, f"{type(exc).__name__}: {exc}"[:500]
    if 200 <= code < 300:
        WebhookDelivery.objects.filter(pk=delivery.pk, status=WebhookDeliveryStatus.PENDING).update(
            status=WebhookDeliveryStatus.DELIVERED, attempts=attempts, delivered_at=timezone.now(), last_error=""
        )
        return "delivered"
    gave_up = attempts >= WEBHOOK_MAX_ATTEMPTS
    WebhookDelivery.objects.filter(pk=delivery.pk, status=WebhookDeliveryStatus.PENDING).update(
        status=WebhookDeliveryStatus.FAILED if gave_up else WebhookDeliveryStatus.PENDING,
        attempts=attempts,
        last_error=error,
    )
    return "failed" if gave_up else "retry"
