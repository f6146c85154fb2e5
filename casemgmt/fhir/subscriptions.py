"""PAS subscriptions: the R4 Subscriptions Backport with the rest-hook channel on the PAS topic,
and the notifications it sends.

One live subscription per client (the submitting organization): a second is refused with 409
naming the first, which the client deletes to replace it. On creation the subscription is
`requested` and its handshake is queued; once delivered it is `active` (never delivered:
`error`). Every change of state of a request a client submitted through `$submit` (pended,
information received, referred, decided, cancelled, closed, reopened, forwarded to the IRE, and
the decision of an appeal of it) writes one notification per live subscription of that client,
in the change's transaction, numbered per subscription, and queues its delivery through the
outbox. The delivery builds the body when it is sent: the backport's R4 notification Bundle, the
SubscriptionStatus Parameters first and then the PAS Response Bundle of the request as it stands,
as the PAS guide's example has it. It is POSTed, signed and retried like a webhook delivery
(casemgmt.cases.services.webhooks): the same signature, backoff and attempts, a claim before the
POST, the schedule in the row, and a sweeper for the notifications whose message was lost.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.parameters import Parameters
from fhir.resources.R4B.subscription import Subscription

from casemgmt.audit.models import AuditAction, AuditObject
from casemgmt.audit.services import MASKED, audit_record
from casemgmt.cases.models import Case, CaseEvent, CaseEventKind
from casemgmt.cases.services.webhooks import (
    WEBHOOK_CLAIM_SECONDS,
    WEBHOOK_MAX_ATTEMPTS,
    WEBHOOK_RECORD_RETRY_SECONDS,
    deliveries_requeue,
    signed_post,
    webhook_retry_delay,
    webhook_target_problem,
)
from casemgmt.fhir.codes import (
    CHANNEL_REST_HOOK,
    FHIR_JSON,
    HEARTBEAT_MIN_SECONDS,
    PAS_FILTER_ORG_IDENTIFIER,
    PAS_SUBSCRIPTION_TOPIC,
    PAYLOAD_CONTENTS,
    PAYLOAD_FULL_RESOURCE,
    Ext,
    Profile,
    System,
)
from casemgmt.fhir.models import (
    LIVE_SUBSCRIPTION_STATUSES,
    FhirClient,
    FhirNotification,
    FhirNotificationKind,
    FhirNotificationStatus,
    FhirPayloadContent,
    FhirSubmission,
    FhirSubscription,
    FhirSubscriptionStatus,
)
from casemgmt.fhir.parsing import FhirInvalid, FhirProblem, FhirRefused, resource_json, resource_parse
from casemgmt.fhir.pas_out import claim_response_id, response_bundle
from casemgmt.outbox.services import outbox_task_add, task_enqueue_on_commit, tasks_enqueue_on_commit

log = logging.getLogger(__name__)

# The names casemgmt.fhir.tasks registers the tasks under (beat's row names the sweeper's).
NOTIFICATION_DELIVER_TASK = "casemgmt.fhir.tasks.fhir_notification_deliver_task"
NOTIFICATION_SWEEP_TASK = "casemgmt.fhir.tasks.fhir_notification_sweep_task"
HEARTBEAT_TASK = "casemgmt.fhir.tasks.fhir_heartbeat_task"

# RFC 9110 field names; a value is anything on one line.
HEADER = re.compile(r"^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*([^\r\n]*)$")
# Headers the notification itself sets: a subscriber's header cannot replace them.
RESERVED_HEADERS = frozenset(
    {"content-type", "content-length", "host", "user-agent", "x-casemgmt-delivery", "x-casemgmt-signature"}
)
HEADERS_MAX = 10
ENDPOINT_MAX = 500  # FhirSubscription.endpoint
NPI = re.compile(r"^\d{10}$")
# What a read shows in place of a header's value; sent back in an update, it keeps the value held.
MASKED_HEADER_VALUE = "***"
# The statuses a client may ask for in an update (the server sets active and error).
CLIENT_STATUSES = (FhirSubscriptionStatus.REQUESTED, FhirSubscriptionStatus.OFF)


@dataclass(frozen=True)
class SubscriptionRequest:
    """What a client's Subscription asks for, checked."""

    endpoint: str
    headers: list[str]
    org_npi: str
    reason: str
    end: datetime | None
    content: str = PAYLOAD_FULL_RESOURCE
    heartbeat_period: int | None = None
    status: str = FhirSubscriptionStatus.REQUESTED


def org_filter_npi(value: str | None, path: str) -> tuple[str, list[FhirProblem]]:
    """The NPI of an `orgIdentifier=[system|]value` filter (the PAS topic's one filter)."""
    text = (value or "").split("?", 1)[-1]
    name, _, identifier = text.partition("=")
    system, _, npi = identifier.rpartition("|")
    if name.strip() != PAS_FILTER_ORG_IDENTIFIER:
        message = f"the PAS topic filters by {PAS_FILTER_ORG_IDENTIFIER} only, as {PAS_FILTER_ORG_IDENTIFIER}={System.NPI}|<NPI>"
        return "", [FhirProblem(path=path, message=message, code="not-supported")]
    if system not in ("", System.NPI) or not NPI.match(npi):
        message = f"{PAS_FILTER_ORG_IDENTIFIER} must be an NPI: {System.NPI}|<10 digits>"
        return "", [FhirProblem(path=path, message=message, code="not-supported")]
    return npi, []


def header_pair(header: str) -> tuple[str, str]:
    """A checked `Name: value` channel header as (name, value)."""
    name, _, value = header.partition(":")
    return name, value.strip()


def subscription_read(document: Any, *, now: datetime) -> SubscriptionRequest:
    """A PAS Subscription, or FhirInvalid naming each element that is wrong."""
    resource = resource_parse(document, Subscription)
    problems: list[FhirProblem] = []
    # A canonical may name the topic's version (`|2.1.0`): any version of the PAS topic is this one.
    if str(resource.criteria or "").split("|", 1)[0] != PAS_SUBSCRIPTION_TOPIC:
        problems.append(
            FhirProblem(path="Subscription.criteria", message=f"must be the PAS topic {PAS_SUBSCRIPTION_TOPIC}")
        )
    org_npi = ""
    filters = [
        (i, ext)
        for i, ext in enumerate(resource.criteria__ext.extension or [] if resource.criteria__ext else [])
        if ext.url == Ext.BACKPORT_FILTER_CRITERIA
    ]
    for position, (i, ext) in enumerate(filters):
        path = f"Subscription.criteria.extension[{i}].valueString"
        if position:
            problems.append(FhirProblem(path=path, message="one filter only", code="not-supported"))
            continue
        org_npi, wrong = org_filter_npi(ext.valueString, path)
        problems += wrong
    channel = resource.channel
    if channel.type != CHANNEL_REST_HOOK:
        problems.append(
            FhirProblem(
                path="Subscription.channel.type",
                message=f"only {CHANNEL_REST_HOOK} is supported, not {channel.type!r}",
                code="not-supported",
            )
        )
    endpoint = str(channel.endpoint or "")
    problem = webhook_target_problem(endpoint) if endpoint else "is required for a rest-hook channel"
    if problem:
        problems.append(FhirProblem(path="Subscription.channel.endpoint", message=problem))
    elif len(endpoint) > ENDPOINT_MAX:
        problems.append(FhirProblem(path="Subscription.channel.endpoint", message=f"at most {ENDPOINT_MAX} characters"))
    if channel.payload != FHIR_JSON:
        problems.append(
            FhirProblem(
                path="Subscription.channel.payload",
                message=f"must be {FHIR_JSON}: notifications are FHIR Bundles",
                code="not-supported",
            )
        )
    content = PAYLOAD_FULL_RESOURCE
    for i, ext in enumerate(channel.payload__ext.extension or [] if channel.payload__ext else []):
        if ext.url != Ext.BACKPORT_PAYLOAD_CONTENT:
            continue
        if ext.valueCode in PAYLOAD_CONTENTS:
            content = str(ext.valueCode)
        else:
            problems.append(
                FhirProblem(
                    path=f"Subscription.channel.payload.extension[{i}].valueCode",
                    message=f"must be {' or '.join(PAYLOAD_CONTENTS)}, not {ext.valueCode!r}",
                    code="not-supported",
                )
            )
    heartbeat: int | None = None
    for i, ext in enumerate(channel.extension or []):
        if ext.url != Ext.BACKPORT_HEARTBEAT_PERIOD:
            continue
        path = f"Subscription.channel.extension[{i}].valueUnsignedInt"
        if ext.valueUnsignedInt is None:
            problems.append(FhirProblem(path=path, message="is required: the heartbeat period in seconds"))
        elif ext.valueUnsignedInt < HEARTBEAT_MIN_SECONDS:
            problems.append(FhirProblem(path=path, message=f"must be at least {HEARTBEAT_MIN_SECONDS} seconds"))
        else:
            heartbeat = int(ext.valueUnsignedInt)
    headers = [str(header) for header in channel.header or []]
    if len(headers) > HEADERS_MAX:
        problems.append(FhirProblem(path="Subscription.channel.header", message=f"at most {HEADERS_MAX} headers"))
    for i, header in enumerate(headers):
        found = HEADER.match(header)
        if found is None:
            problems.append(
                FhirProblem(path=f"Subscription.channel.header[{i}]", message="must be one line: 'Name: value'")
            )
        elif found.group(1).lower() in RESERVED_HEADERS:
            problems.append(
                FhirProblem(
                    path=f"Subscription.channel.header[{i}]",
                    message=f"{found.group(1)} is set by the notification itself",
                )
            )
    end = resource.end
    if end is not None and end <= now:
        problems.append(FhirProblem(path="Subscription.end", message="must be in the future"))
    if problems:
        raise FhirInvalid(problems)
    return SubscriptionRequest(
        endpoint=endpoint,
        headers=headers,
        org_npi=org_npi,
        reason=str(resource.reason or "")[:500],
        end=end,
        content=content,
        heartbeat_period=heartbeat,
        status=str(resource.status),
    )


def subscription_create(*, client: FhirClient, document: Any, base_url: str) -> tuple[FhirSubscription, str]:
    """Register the client's subscription and queue its handshake; the signing secret is
    returned once. 409 when the client has a live subscription already."""
    now = timezone.now()
    wanted = subscription_read(document, now=now)
    secret = secrets.token_hex(32)
    try:
        with transaction.atomic():
            subscription = FhirSubscription.objects.create(
                client=client,
                endpoint=wanted.endpoint,
                headers=wanted.headers,
                org_npi=wanted.org_npi,
                reason=wanted.reason,
                end=wanted.end,
                content=wanted.content,
                heartbeat_period=wanted.heartbeat_period,
                last_notified_at=now,
                secret=secret,
                base_url=base_url,
            )
            handshake = FhirNotification.objects.create(
                subscription=subscription,
                kind=FhirNotificationKind.HANDSHAKE,
                event_number=0,
                next_attempt_at=now,
                enqueued_at=now,
            )
            audit_record(
                action=AuditAction.CREATE,
                object_type=AuditObject.WEBHOOK,
                object_id=f"Subscription/{subscription.pk}",
                user=client.user,
                changes={
                    "endpoint": (None, wanted.endpoint),
                    "org_npi": (None, wanted.org_npi),
                    "content": (None, wanted.content),
                    "heartbeat_period": (None, wanted.heartbeat_period),
                    # The subscriber's headers may hold its credentials.
                    "headers": (None, MASKED if wanted.headers else []),
                    "secret": (None, MASKED),
                },
                detail={"fhir_client": client.client_id},
            )
            task_enqueue_on_commit(NOTIFICATION_DELIVER_TASK, handshake.pk)
    except IntegrityError:
        live = FhirSubscription.objects.filter(client=client, status__in=LIVE_SUBSCRIPTION_STATUSES).first()
        if live is None:
            raise
        raise FhirRefused(
            f"this client already has Subscription/{live.pk} ({live.status}): one subscription per "
            "organization; DELETE it to subscribe again",
            status_code=409,
            code="duplicate",
            path="Subscription",
        ) from None
    return subscription, secret


def subscription_of_client(*, client: FhirClient, subscription_id: int) -> FhirSubscription:
    """The client's subscription; 404 for any other (another client's is not told apart)."""
    found = FhirSubscription.objects.filter(client=client, pk=subscription_id).first()
    if found is None:
        raise FhirRefused(f"Subscription/{subscription_id} is not known", status_code=404, code="not-found")
    return found


def subscription_off(*, client: FhirClient, subscription_id: int) -> FhirSubscription:
    """Turn the client's subscription off: nothing more is sent on it, pending notifications included."""
    with transaction.atomic():
        subscription = subscription_of_client(client=client, subscription_id=subscription_id)
        if subscription.status != FhirSubscriptionStatus.OFF:
            FhirSubscription.objects.filter(pk=subscription.pk).update(status=FhirSubscriptionStatus.OFF)
            audit_record(
                action=AuditAction.CHANGE,
                object_type=AuditObject.WEBHOOK,
                object_id=f"Subscription/{subscription.pk}",
                user=client.user,
                changes={"status": (subscription.status, FhirSubscriptionStatus.OFF.value)},
                detail={"fhir_client": client.client_id},
            )
            subscription.status = FhirSubscriptionStatus.OFF
    return subscription


def _headers_kept(wanted: list[str], held: list[str]) -> tuple[list[str], list[FhirProblem]]:
    """The headers an update asks for, a masked value (as a read shows it) standing for the value
    held under that name."""
    values = {name.lower(): header for name, header in ((header_pair(h)[0], h) for h in held)}
    kept, problems = [], []
    for i, header in enumerate(wanted):
        name, value = header_pair(header)
        if value != MASKED_HEADER_VALUE:
            kept.append(header)
        elif name.lower() in values:
            kept.append(values[name.lower()])
        else:
            problems.append(
                FhirProblem(
                    path=f"Subscription.channel.header[{i}]",
                    message=f"{MASKED_HEADER_VALUE} keeps the value held for {name}, and no {name} header is held",
                )
            )
    return kept, problems


def subscription_update(*, client: FhirClient, subscription_id: int, document: Any) -> FhirSubscription:
    """`PUT Subscription/<id>`: change the client's subscription (endpoint, headers, filter,
    reason, end, payload content, heartbeat) or its status: `off` stops it; `requested` asks for
    it again (an ended or failed one, or one whose endpoint changes), with a new handshake. Its
    secret and event numbers stay. 409 when asking again while another is live."""
    now = timezone.now()
    wanted = subscription_read(document, now=now)
    problems: list[FhirProblem] = []
    sent_id = document.get("id") if isinstance(document, dict) else None
    if sent_id is not None and str(sent_id) != str(subscription_id):
        problems.append(FhirProblem(path="Subscription.id", message=f"must be {subscription_id}, the id updated"))
    with transaction.atomic():
        subscription = FhirSubscription.objects.select_for_update().filter(client=client, pk=subscription_id).first()
        if subscription is None:
            raise FhirRefused(f"Subscription/{subscription_id} is not known", status_code=404, code="not-found")
        if wanted.status not in (*CLIENT_STATUSES, subscription.status):
            problems.append(
                FhirProblem(
                    path="Subscription.status",
                    message=f"must be {' or '.join(CLIENT_STATUSES)} (the server sets active and error)",
                )
            )
        headers, wrong = _headers_kept(wanted.headers, subscription.headers)
        if problems or wrong:
            raise FhirInvalid(problems + wrong)
        values: dict[str, Any] = {
            "endpoint": wanted.endpoint,
            "headers": headers,
            "org_npi": wanted.org_npi,
            "reason": wanted.reason,
            "end": wanted.end,
            "content": wanted.content,
            "heartbeat_period": wanted.heartbeat_period,
        }
        if wanted.status == FhirSubscriptionStatus.OFF:
            values["status"] = FhirSubscriptionStatus.OFF
        elif subscription.status not in LIVE_SUBSCRIPTION_STATUSES or wanted.endpoint != subscription.endpoint:
            values["status"] = FhirSubscriptionStatus.REQUESTED
            values["error"] = ""
        changes = {
            name: (getattr(subscription, name), value)
            for name, value in values.items()
            if getattr(subscription, name) != value
        }
        if "headers" in changes:
            changes["headers"] = (MASKED, MASKED)  # they may hold the subscriber's credentials
        handshake = values.get("status") == FhirSubscriptionStatus.REQUESTED and not (
            FhirNotification.objects.filter(
                subscription=subscription, kind=FhirNotificationKind.HANDSHAKE, status=FhirNotificationStatus.PENDING
            ).exists()
        )
        if handshake:
            values["last_notified_at"] = now
        try:
            with transaction.atomic():
                FhirSubscription.objects.filter(pk=subscription.pk).update(**values)
        except IntegrityError:
            live = (
                FhirSubscription.objects.filter(client=client, status__in=LIVE_SUBSCRIPTION_STATUSES)
                .exclude(pk=subscription.pk)
                .first()
            )
            if live is None:
                raise
            raise FhirRefused(
                f"this client already has Subscription/{live.pk} ({live.status}): one subscription per "
                "organization; turn it off to ask for this one again",
                status_code=409,
                code="duplicate",
                path="Subscription.status",
            ) from None
        if changes:
            audit_record(
                action=AuditAction.CHANGE,
                object_type=AuditObject.WEBHOOK,
                object_id=f"Subscription/{subscription.pk}",
                user=client.user,
                changes=changes,
                detail={"fhir_client": client.client_id},
            )
        if handshake:
            notification = FhirNotification.objects.create(
                subscription=subscription,
                kind=FhirNotificationKind.HANDSHAKE,
                event_number=0,
                next_attempt_at=now,
                enqueued_at=now,
            )
            task_enqueue_on_commit(NOTIFICATION_DELIVER_TASK, notification.pk)
    subscription.refresh_from_db()
    return subscription


def subscription_url(subscription: FhirSubscription) -> str:
    return f"{subscription.base_url}/Subscription/{subscription.pk}"


def subscription_resource(subscription: FhirSubscription, *, secret: str | None = None) -> Subscription:
    """The subscription as the backport's R4 Subscription. Header values are not shown again
    (they may be the subscriber's credentials); the signing secret only when given (on creation)."""
    channel: dict[str, Any] = {
        "type": CHANNEL_REST_HOOK,
        "endpoint": subscription.endpoint,
        "payload": FHIR_JSON,
        "_payload": {"extension": [{"url": Ext.BACKPORT_PAYLOAD_CONTENT, "valueCode": subscription.content}]},
        "header": [f"{header_pair(header)[0]}: {MASKED_HEADER_VALUE}" for header in subscription.headers] or None,
    }
    extensions = []
    if subscription.heartbeat_period:
        extensions.append({"url": Ext.BACKPORT_HEARTBEAT_PERIOD, "valueUnsignedInt": subscription.heartbeat_period})
    if secret is not None:
        extensions.append({"url": Ext.SIGNING_SECRET, "valueString": secret})
    if extensions:
        channel["extension"] = extensions
    data: dict[str, Any] = {
        "resourceType": "Subscription",
        "id": str(subscription.pk),
        "meta": {"profile": [Profile.SUBSCRIPTION, Profile.PAS_SUBSCRIPTION]},
        "status": subscription.status,
        "reason": subscription.reason or "PAS notifications for this organization's requests",
        "criteria": PAS_SUBSCRIPTION_TOPIC,
        "channel": channel,
        "end": subscription.end.isoformat() if subscription.end else None,
        "error": subscription.error or None,
    }
    if subscription.org_npi:
        data["_criteria"] = {
            "extension": [
                {
                    "url": Ext.BACKPORT_FILTER_CRITERIA,
                    "valueString": f"{PAS_FILTER_ORG_IDENTIFIER}={System.NPI}|{subscription.org_npi}",
                }
            ]
        }
    return Subscription.model_validate({k: v for k, v in data.items() if v is not None})


def subscription_status(
    subscription: FhirSubscription,
    *,
    kind: str,
    events_since_start: int,
    event: tuple[int, datetime, str] | None = None,
) -> Parameters:
    """The backport's R4 SubscriptionStatus (Parameters); `event` is one notification-event:
    its number, time and focus."""
    parameters: list[dict[str, Any]] = [
        {"name": "subscription", "valueReference": {"reference": subscription_url(subscription)}},
        {"name": "topic", "valueCanonical": PAS_SUBSCRIPTION_TOPIC},
        {"name": "status", "valueCode": subscription.status},
        {"name": "type", "valueCode": kind},
        {"name": "events-since-subscription-start", "valueString": str(events_since_start)},
    ]
    if event is not None:
        number, at, focus = event
        parameters.append(
            {
                "name": "notification-event",
                "part": [
                    {"name": "event-number", "valueString": str(number)},
                    {"name": "timestamp", "valueInstant": at.isoformat()},
                    {"name": "focus", "valueReference": {"reference": focus}},
                ],
            }
        )
    if subscription.error:
        parameters.append({"name": "error", "valueCodeableConcept": {"text": subscription.error}})
    return Parameters.model_validate(
        {
            "resourceType": "Parameters",
            "id": str(uuid.uuid4()),
            "meta": {"profile": [Profile.SUBSCRIPTION_STATUS_R4]},
            "parameter": parameters,
        }
    )


def subscription_status_bundle(subscription: FhirSubscription) -> Bundle:
    """`Subscription/<id>/$status`: a searchset Bundle holding the SubscriptionStatus."""
    status = subscription_status(subscription, kind="query-status", events_since_start=subscription.events_since_start)
    return Bundle.model_validate(
        {
            "resourceType": "Bundle",
            "id": str(uuid.uuid4()),
            "type": "searchset",
            "total": 1,
            "timestamp": timezone.now().isoformat(),
            "entry": [{"fullUrl": f"urn:uuid:{status.id}", "resource": status, "search": {"mode": "match"}}],
        }
    )


def fhir_notifications_queue(*, case: Case, events: list[CaseEvent]) -> list[FhirNotification]:
    """Write, in the caller's transaction, a notification of `events` to each live subscription of
    the client whose PAS request the case is (or the case appeals), and queue their delivery.

    Events recorded with the case's receipt are its creation, which `$submit` answers itself
    (intake's own answers included): they notify nothing and cost no query. Otherwise, for a case
    no PAS request opened, one indexed query."""
    if not events or any(event.kind == CaseEventKind.RECEIVED for event in events):
        return []
    pas_case_id = case.appeal_of_id or case.pk
    now = timezone.now()
    subscriptions = list(
        FhirSubscription.objects.filter(
            status__in=LIVE_SUBSCRIPTION_STATUSES,
            client__in=FhirSubmission.objects.filter(case_id=pas_case_id).values("client_id"),
        ).filter(Q(end__isnull=True) | Q(end__gt=now))
    )
    if not subscriptions:
        return []
    if any(subscription.org_npi for subscription in subscriptions):
        npis = set(
            Case.objects.filter(pk=pas_case_id).values_list("requesting_provider_npi", "servicing_provider_npi").get()
        )
        subscriptions = [s for s in subscriptions if not s.org_npi or s.org_npi in npis]
    notifications = []
    for subscription in subscriptions:
        # The row stays locked until the commit, so the numbers of a subscription never repeat.
        FhirSubscription.objects.filter(pk=subscription.pk).update(
            events_since_start=F("events_since_start") + 1, last_notified_at=now
        )
        number = FhirSubscription.objects.values_list("events_since_start", flat=True).get(pk=subscription.pk)
        notifications.append(
            FhirNotification(
                subscription=subscription,
                kind=FhirNotificationKind.EVENT,
                event_number=number,
                case_id=pas_case_id,
                event=events[-1],
                next_attempt_at=now,
                enqueued_at=now,
            )
        )
    created = FhirNotification.objects.bulk_create(notifications)
    tasks_enqueue_on_commit(NOTIFICATION_DELIVER_TASK, [(notification.pk,) for notification in created])
    return created


def notification_bundle(notification: FhirNotification) -> Bundle:
    """The notification's body, as the request stands now: the backport's R4 notification Bundle
    (history), the SubscriptionStatus first, then, for an event, the PAS Response Bundle it focuses
    on, or with `id-only` content the reference of its ClaimResponse alone (the client asks
    `$inquire` for the rest). A heartbeat is the status alone."""
    subscription = notification.subscription
    entries: list[dict[str, Any]] = []
    event = None
    if notification.kind == FhirNotificationKind.EVENT:
        submission = (
            FhirSubmission.objects.filter(case=notification.case, client_id=subscription.client_id)
            .select_related("case")
            .order_by("-received_at", "-pk")
            .first()
        )
        if submission is None:
            raise LookupError(f"notification {notification.pk}: its case has no PAS submission of this client")
        at = notification.event.at if notification.event is not None else notification.created_at
        entry: dict[str, Any] = {"request": {"method": "POST", "url": "Claim/$submit"}, "response": {"status": "200"}}
        if subscription.content == FhirPayloadContent.ID_ONLY:
            entry["fullUrl"] = f"{subscription.base_url}/ClaimResponse/{claim_response_id(submission)}"
        else:
            pas = response_bundle(submission)
            entry.update(fullUrl=f"urn:uuid:{pas.id}", resource=pas)
        event = (notification.event_number, at, entry["fullUrl"])
        entries.append(entry)
    status = subscription_status(
        subscription, kind=notification.kind, events_since_start=notification.event_number, event=event
    )
    return Bundle.model_validate(
        {
            "resourceType": "Bundle",
            "id": str(uuid.uuid4()),
            "meta": {"profile": [Profile.SUBSCRIPTION_NOTIFICATION_R4]},
            "type": "history",
            "timestamp": timezone.now().isoformat(),
            "entry": [
                {
                    "fullUrl": f"urn:uuid:{status.id}",
                    "resource": status,
                    "request": {"method": "GET", "url": f"{subscription_url(subscription)}/$status"},
                    "response": {"status": "200"},
                },
                *entries,
            ],
        }
    )


def fhir_notification_deliver(*, notification_id: int) -> str:
    """Make the notification's next attempt if it is due. Returns delivered, retry or failed for
    an attempt made, `done` for one already delivered or given up, `not due` for one whose next
    attempt is later or that another task is making now."""
    now = timezone.now()
    notification = (
        FhirNotification.objects.select_related("subscription__client__user", "event", "case")
        .filter(pk=notification_id)
        .first()
    )
    if notification is None or notification.status != FhirNotificationStatus.PENDING:
        return "done"
    claimed = FhirNotification.objects.filter(
        pk=notification.pk, status=FhirNotificationStatus.PENDING, next_attempt_at__lte=now
    ).update(next_attempt_at=now + timedelta(seconds=WEBHOOK_CLAIM_SECONDS), last_attempt_at=now)
    if not claimed:
        return "not due"
    subscription = notification.subscription
    attempts = notification.attempts + 1
    handshake = notification.kind == FhirNotificationKind.HANDSHAKE
    if subscription.status not in LIVE_SUBSCRIPTION_STATUSES:
        _record(
            notification,
            status=FhirNotificationStatus.FAILED,
            last_error=f"the subscription is {subscription.status}",
        )
        return "failed"
    problem = webhook_target_problem(subscription.endpoint)
    if problem:
        _record(
            notification,
            status=FhirNotificationStatus.FAILED,
            attempts=attempts,
            last_error=problem,
            subscription_error=problem if handshake else None,
        )
        return "failed"
    code, error = signed_post(
        url=subscription.endpoint,
        body=json.dumps(resource_json(notification_bundle(notification))).encode(),
        secret=subscription.secret,
        headers={
            **dict(header_pair(header) for header in subscription.headers),
            "Content-Type": FHIR_JSON,
            "User-Agent": "casemgmt-fhir-subscriptions/1",
        },
        delivery_id=f"fhir-{notification.pk}",
    )
    if 200 <= code < 300:
        _record(
            notification,
            status=FhirNotificationStatus.DELIVERED,
            attempts=attempts,
            delivered_at=timezone.now(),
            last_error="",
            subscription_active=handshake,
            disclosed=notification.case if shows_request(notification) else None,
        )
        return "delivered"
    if attempts >= WEBHOOK_MAX_ATTEMPTS:
        _record(
            notification,
            status=FhirNotificationStatus.FAILED,
            attempts=attempts,
            last_error=error,
            subscription_error=f"the handshake was not delivered: {error}" if handshake else None,
        )
        return "failed"
    due = timezone.now() + webhook_retry_delay(attempts)
    _record(notification, attempts=attempts, last_error=error, next_attempt_at=due, enqueued_at=due, retry_at=due)
    return "retry"


def shows_request(notification: FhirNotification) -> bool:
    """Whether the notification shows the client its request (an event with the full bundle)."""
    return (
        notification.kind == FhirNotificationKind.EVENT
        and notification.subscription.content == FhirPayloadContent.FULL_RESOURCE
    )


def _record(
    notification: FhirNotification,
    *,
    retry_at: datetime | None = None,
    subscription_active: bool = False,
    subscription_error: str | None = None,
    disclosed: Case | None = None,
    **values: Any,
) -> None:
    """Write an attempt's outcome (a delivered handshake makes the subscription active, one given
    up on puts it in error; a retry is a task in the outbox, due at `retry_at`). A delivered event
    showed the client its request as it stands (`disclosed`): recorded as the client's view of it,
    as a `$submit` answer is. The POST has happened: through a database outage, keep trying for a
    while rather than let it be made again."""
    deadline = time.monotonic() + WEBHOOK_RECORD_RETRY_SECONDS
    requested = FhirSubscription.objects.filter(
        pk=notification.subscription_id, status=FhirSubscriptionStatus.REQUESTED
    )
    while True:
        try:
            with transaction.atomic():
                FhirNotification.objects.filter(pk=notification.pk, status=FhirNotificationStatus.PENDING).update(
                    **values
                )
                if subscription_active:
                    requested.update(status=FhirSubscriptionStatus.ACTIVE, error="")
                if subscription_error is not None:
                    requested.update(status=FhirSubscriptionStatus.ERROR, error=subscription_error[:500])
                if disclosed is not None:
                    audit_record(
                        action=AuditAction.VIEW,
                        object_type=AuditObject.CASE,
                        object_id=disclosed.case_number,
                        case_number=disclosed.case_number,
                        user=notification.subscription.client.user,
                        detail={"fhir_notification": notification.pk, "subscription": notification.subscription_id},
                    )
                if retry_at is not None:
                    outbox_task_add(name=NOTIFICATION_DELIVER_TASK, args=[notification.pk], due_at=retry_at)
            return
        except (OperationalError, InterfaceError) as exc:
            if connection.in_atomic_block or time.monotonic() > deadline:
                raise
            log.warning(
                "FHIR notification %s: could not record its outcome (%s); retrying", notification.pk, type(exc).__name__
            )
            connection.close()
            time.sleep(1)


def fhir_notifications_sweep(*, now: datetime | None = None) -> int:
    """Queue again, through the outbox, the pending notifications that are due and have no message
    on its way (as webhook_deliveries_sweep does for webhooks). Returns how many were queued."""
    now = now or timezone.now()
    ids = deliveries_requeue(
        FhirNotification.objects.filter(status=FhirNotificationStatus.PENDING), task=NOTIFICATION_DELIVER_TASK, now=now
    )
    if ids:
        log.info("FHIR notifications sweeper: %d notification(s) queued again", len(ids))
    return len(ids)


def heartbeat_due(subscription: FhirSubscription, now: datetime) -> bool:
    """Whether the subscription has been sent nothing for its heartbeat period."""
    if not subscription.heartbeat_period:
        return False
    last = subscription.last_notified_at or subscription.created_at
    return last + timedelta(seconds=subscription.heartbeat_period) <= now


def fhir_heartbeats_queue(*, now: datetime | None = None) -> int:
    """Write a heartbeat notification to each active subscription with a heartbeat period that has
    been sent nothing for that long (and has no heartbeat still on its way), and queue its delivery
    through the outbox. Returns how many were queued."""
    now = now or timezone.now()
    candidates = FhirSubscription.objects.filter(
        status=FhirSubscriptionStatus.ACTIVE, heartbeat_period__isnull=False
    ).filter(Q(end__isnull=True) | Q(end__gt=now))
    queued = 0
    for candidate in candidates:
        if not heartbeat_due(candidate, now):
            continue
        with transaction.atomic():
            # Locked and read again: two sweeps at once send one heartbeat.
            subscription = (
                FhirSubscription.objects.select_for_update()
                .filter(pk=candidate.pk, status=FhirSubscriptionStatus.ACTIVE)
                .first()
            )
            if subscription is None or not heartbeat_due(subscription, now):
                continue
            if FhirNotification.objects.filter(
                subscription=subscription, kind=FhirNotificationKind.HEARTBEAT, status=FhirNotificationStatus.PENDING
            ).exists():
                continue
            heartbeat = FhirNotification.objects.create(
                subscription=subscription,
                kind=FhirNotificationKind.HEARTBEAT,
                event_number=subscription.events_since_start,
                next_attempt_at=now,
                enqueued_at=now,
            )
            FhirSubscription.objects.filter(pk=subscription.pk).update(last_notified_at=now)
            task_enqueue_on_commit(NOTIFICATION_DELIVER_TASK, heartbeat.pk)
            queued += 1
    return queued
