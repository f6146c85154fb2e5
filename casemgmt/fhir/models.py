"""What the FHIR door keeps beside the cases: its registered backend clients, the client
assertions already used, and each PAS submission with the items it traced to service lines."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from casemgmt.cases.models import Case, CaseEvent, ServiceLine


def new_client_id() -> str:
    return str(uuid.uuid4())


class FhirClient(models.Model):
    """A SMART Backend Services client (an EHR, a portal, a clearinghouse). It signs its token
    requests with a key from its JWK set and acts as its integration-client user: it sees only
    the requests that user submitted."""

    client_id = models.CharField(max_length=64, unique=True, default=new_client_id, editable=False)
    name = models.CharField(max_length=200)
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="fhir_client")
    jwks = models.JSONField(
        default=dict, blank=True, help_text="The client's public JWK set, when registered by value."
    )
    jwks_url = models.URLField(max_length=500, blank=True, help_text="Where the client publishes its JWK set.")
    line_of_business = models.CharField(
        max_length=30,
        blank=True,
        help_text="The line of business of its requests when neither the Coverage nor the plan's "
        "eligibility file says which.",
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "FHIR backend client"
        constraints = [
            models.CheckConstraint(condition=~Q(jwks={}) | ~Q(jwks_url=""), name="fhirclient_has_keys"),
        ]

    def __str__(self) -> str:
        return self.name


class FhirAssertion(models.Model):
    """A client assertion's `jti`, kept until the assertion expires so it cannot be replayed."""

    client = models.ForeignKey(FhirClient, on_delete=models.CASCADE, related_name="+")
    jti = models.CharField(max_length=255)
    expires_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["client", "jti"], name="fhirassertion_unique_jti")]
        indexes = [models.Index(fields=["expires_at"], name="fhirassertion_expires_idx")]

    def __str__(self) -> str:
        return self.jti


class FhirSubmissionKind(models.TextChoices):
    REQUEST = "request", "New request"
    UPDATE = "update", "Update"
    CANCEL = "cancel", "Cancellation"


class FhirSubmission(models.Model):
    """One PAS Request Bundle accepted through `Claim/$submit`, as it arrived, and the case it
    opened or changed. A retry of the same bundle (its identifier) answers from here."""

    client = models.ForeignKey(FhirClient, on_delete=models.PROTECT, related_name="submissions")
    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="fhir_submissions")
    kind = models.CharField(max_length=10, choices=FhirSubmissionKind.choices)
    bundle_identifier = models.CharField(max_length=300, help_text="Bundle.identifier as system|value.")
    claim_identifier = models.CharField(max_length=300, help_text="The Claim's identifier (its TRN) as system|value.")
    bundle = models.JSONField(help_text="The request bundle as received.")
    warnings = models.JSONField(
        default=list, blank=True, help_text="What was ignored in the bundle and why, told in every answer."
    )
    received_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["client", "bundle_identifier"], name="fhirsubmission_unique_bundle"),
        ]
        indexes = [models.Index(fields=["client", "claim_identifier"], name="fhirsubmission_claim_idx")]

    def __str__(self) -> str:
        return f"{self.bundle_identifier} -> {self.case_id}"


class FhirItem(models.Model):
    """A Claim item as the EHR numbered it (sequence, trace number) and the service line it is."""

    submission = models.ForeignKey(FhirSubmission, on_delete=models.CASCADE, related_name="items")
    service_line = models.ForeignKey(ServiceLine, on_delete=models.PROTECT, related_name="fhir_items")
    sequence = models.PositiveIntegerField()
    trace_number = models.CharField(max_length=100, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["submission", "sequence"], name="fhiritem_unique_sequence"),
        ]
        indexes = [models.Index(fields=["trace_number"], name="fhiritem_trace_idx", condition=~Q(trace_number=""))]

    def __str__(self) -> str:
        return f"item {self.sequence}"


class FhirSubscriptionStatus(models.TextChoices):
    """Subscription.status (R4): requested until the handshake is delivered, error when it never is."""

    REQUESTED = "requested", "Requested"
    ACTIVE = "active", "Active"
    ERROR = "error", "Error"
    OFF = "off", "Off"


# The statuses in which a subscription is notified; at most one such per client.
LIVE_SUBSCRIPTION_STATUSES = (FhirSubscriptionStatus.REQUESTED, FhirSubscriptionStatus.ACTIVE)


class FhirPayloadContent(models.TextChoices):
    """What an event notification carries (the backport's payload content)."""

    FULL_RESOURCE = "full-resource", "The PAS Response Bundle"
    ID_ONLY = "id-only", "The ClaimResponse's reference only"


class FhirSubscription(models.Model):
    """A client's R4 backport Subscription to the PAS topic, with the rest-hook channel: where its
    notifications go, the headers it asked for, and how many events it has been sent."""

    client = models.ForeignKey(FhirClient, on_delete=models.PROTECT, related_name="subscriptions")
    status = models.CharField(
        max_length=10, choices=FhirSubscriptionStatus.choices, default=FhirSubscriptionStatus.REQUESTED
    )
    endpoint = models.URLField(max_length=500)
    headers = models.JSONField(default=list, blank=True, help_text="Subscription.channel.header, sent as given.")
    org_npi = models.CharField(
        max_length=10, blank=True, help_text="The orgIdentifier filter: only requests this NPI made or serves."
    )
    reason = models.CharField(max_length=500, blank=True)
    end = models.DateTimeField(null=True, blank=True)
    secret = models.CharField(
        max_length=64, help_text="HMAC-SHA256 key of the notifications; shown to the client once."
    )
    base_url = models.URLField(max_length=300, help_text="The FHIR base the client subscribed at.")
    events_since_start = models.PositiveIntegerField(default=0)
    content = models.CharField(
        max_length=20, choices=FhirPayloadContent.choices, default=FhirPayloadContent.FULL_RESOURCE
    )
    heartbeat_period = models.PositiveIntegerField(
        null=True, blank=True, help_text="Seconds without a notification after which a heartbeat is sent."
    )
    last_notified_at = models.DateTimeField(
        null=True, blank=True, help_text="When its last notification (handshake, event, heartbeat) was queued."
    )
    error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "FHIR subscription"
        constraints = [
            models.UniqueConstraint(
                fields=["client"],
                condition=Q(status__in=LIVE_SUBSCRIPTION_STATUSES),
                name="fhirsubscription_one_live_per_client",
            ),
        ]

    def __str__(self) -> str:
        return f"Subscription/{self.pk} ({self.status})"


class FhirNotificationKind(models.TextChoices):
    HANDSHAKE = "handshake", "Handshake"
    EVENT = "event-notification", "Event notification"
    HEARTBEAT = "heartbeat", "Heartbeat"


class FhirNotificationStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed (gave up)"


class FhirNotification(models.Model):
    """One notification to a subscription: the handshake, or a change of a PAS request's state
    (its body is built when sent, from the request as it stands then). Its retry schedule is
    here, as a webhook delivery's is."""

    subscription = models.ForeignKey(FhirSubscription, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=20, choices=FhirNotificationKind.choices)
    event_number = models.PositiveIntegerField(help_text="events-since-subscription-start; 0 for the handshake.")
    case = models.ForeignKey(Case, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    event = models.ForeignKey(CaseEvent, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(
        max_length=20, choices=FhirNotificationStatus.choices, default=FhirNotificationStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # Events are numbered once each; a handshake (0, again when the subscription is asked for
            # anew) and a heartbeat (the count so far) repeat a number.
            models.UniqueConstraint(
                fields=["subscription", "event_number"],
                condition=Q(kind="event-notification"),
                name="fhirnotification_unique_event_number",
            ),
        ]
        indexes = [
            models.Index(fields=["next_attempt_at"], condition=Q(status="pending"), name="fhirnotification_due_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.event_number} -> {self.subscription_id} ({self.status})"
