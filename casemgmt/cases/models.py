"""The prior-authorization case domain: requests, their service lines, flags and decisions."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.db import models
from django.db.models import Q
from django.utils import timezone

from policies_app.models import CodeSystem, LineOfBusiness, PolicyVersion


class Urgency(models.TextChoices):
    STANDARD = "standard", "Standard"
    EXPEDITED = "expedited", "Expedited (urgent)"


class ReviewType(models.TextChoices):
    PROSPECTIVE = "prospective", "Prospective (pre-service)"
    RETROSPECTIVE = "retrospective", "Retrospective (post-service)"


class CaseStatus(models.TextChoices):
    RECEIVED = "received", "Received"
    IN_REVIEW = "in_review", "In review"
    PENDED = "pended", "Pended for information"
    PHYSICIAN_REVIEW = "physician_review", "Physician review"
    DECIDED = "decided", "Decided"
    CANCELLED = "cancelled", "Cancelled"
    CLOSED = "closed", "Closed"


OPEN_STATUSES = (
    CaseStatus.RECEIVED,
    CaseStatus.IN_REVIEW,
    CaseStatus.PENDED,
    CaseStatus.PHYSICIAN_REVIEW,
)


class Case(models.Model):
    # Held by the `selectors.current_flags()` prefetch (to_attr), or by intake as it writes them.
    current_flags: list[Flag]

    # Indexes are kept to those a read uses: each one is written on every intake (bench/intake).
    # Unique by a named constraint rather than unique=True, which would add a LIKE index too.
    case_number = models.CharField(max_length=20)
    # Its lookups lead case_client_updated_idx and the external_id constraint's index.
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    external_id = models.CharField(max_length=100, blank=True)
    urgency = models.CharField(max_length=20, choices=Urgency.choices)
    line_of_business = models.CharField(max_length=30, choices=LineOfBusiness.choices)
    review_type = models.CharField(max_length=20, choices=ReviewType.choices, default=ReviewType.PROSPECTIVE)
    status = models.CharField(max_length=20, choices=CaseStatus.choices, default=CaseStatus.RECEIVED)

    member_id = models.CharField(max_length=50)
    member_first_name = models.CharField(max_length=100)
    member_last_name = models.CharField(max_length=100)
    member_birth_date = models.DateField()
    requesting_provider_npi = models.CharField(max_length=10)
    requesting_provider_name = models.CharField(max_length=200)
    servicing_provider_npi = models.CharField(max_length=10, blank=True)
    servicing_provider_name = models.CharField(max_length=200, blank=True)

    diagnosis_codes = models.JSONField(default=list)
    clinical_facts = models.JSONField(default=dict)
    clinical_notes = models.TextField(blank=True)

    received_at = models.DateTimeField()
    due_at = models.DateTimeField()
    # No index: nothing reads cases by rule; deleting a rule (rare, PROTECT) may scan.
    deadline_rule = models.ForeignKey(
        "DeadlineRule", null=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Bumped by every guarded status change, so a page can tell that a case moved under it.
    row_version = models.PositiveIntegerField(default=1)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["due_at"]
        constraints = [
            models.UniqueConstraint(fields=["case_number"], name="case_unique_case_number"),
            models.UniqueConstraint(
                fields=["submitted_by", "external_id"],
                condition=~Q(external_id=""),
                name="case_unique_external_id_per_client",
            ),
            models.CheckConstraint(condition=Q(due_at__gt=models.F("received_at")), name="case_due_after_receipt"),
        ]
        indexes = [
            models.Index(fields=["status", "due_at"], name="case_status_due_idx"),
            models.Index(fields=["submitted_by", "updated_at"], name="case_client_updated_idx"),
            # The work queue reads open cases by due time; a partial index keeps that a short
            # index scan however many decided cases pile up behind it.
            models.Index(
                fields=["due_at", "id"],
                condition=Q(status__in=["received", "in_review", "pended", "physician_review"]),
                name="case_open_due_idx",
            ),
            models.Index(fields=["member_id"], name="case_member_idx"),
        ]

    def __str__(self) -> str:
        return self.case_number

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


class ServiceLine(models.Model):
    # Indexed by serviceline_unique_sequence (case, sequence).
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="lines", db_index=False)
    sequence = models.PositiveSmallIntegerField()
    code_system = models.CharField(max_length=10, choices=CodeSystem.choices)
    code = models.CharField(max_length=10)
    modifiers = models.JSONField(default=list, blank=True)
    units = models.PositiveIntegerField()
    date_of_service = models.DateField()
    description = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["case", "sequence"]
        constraints = [
            models.UniqueConstraint(fields=["case", "sequence"], name="serviceline_unique_sequence"),
            models.CheckConstraint(condition=Q(units__gt=0), name="serviceline_units_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.case_id}#{self.sequence} {self.code_system} {self.code}"


class FlagKind(models.TextChoices):
    INVESTIGATIONAL = "investigational", "Investigational / experimental"
    NOT_MEDICALLY_NECESSARY = "not_medically_necessary", "Not medically necessary"
    COSMETIC = "cosmetic", "Cosmetic"
    CRITERIA_MET = "criteria_met", "Criteria met"
    CRITERIA_NOT_MET = "criteria_not_met", "Criteria not met"
    CRITERIA_INCOMPLETE = "criteria_incomplete", "Criteria unknown: documentation needed"
    MEDICALLY_NECESSARY = "medically_necessary", "Medically necessary per policy"
    NO_VERSION_IN_EFFECT = "no_version_in_effect", "No policy version in effect"
    LINE_OF_BUSINESS_EXCLUDED = "line_of_business_excluded", "Line of business excluded"
    TERM_MATCH = "term_match", "Device or procedure named in text"
    POSITION_UNDETERMINED = "position_undetermined", "Policy position not determined"


class FlagSeverity(models.TextChoices):
    INFO = "info", "Information"
    WARNING = "warning", "Needs attention"
    CRITICAL = "critical", "Likely adverse"


class Flag(models.Model):
    """An engine suggestion on one service line. A flag suggests; a person decides."""

    # Indexed by flag_case_current_idx (case, superseded_at).
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="flags", db_index=False)
    service_line = models.ForeignKey(ServiceLine, on_delete=models.CASCADE, related_name="flags")
    kind = models.CharField(max_length=40, choices=FlagKind.choices)
    severity = models.CharField(max_length=20, choices=FlagSeverity.choices)
    message = models.TextField()
    policy_version = models.ForeignKey(PolicyVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    citation = models.JSONField(null=True, blank=True)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField()
    # Re-evaluation supersedes flags rather than deleting them, so the history stays readable.
    superseded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["service_line__sequence", "id"]
        indexes = [models.Index(fields=["case", "superseded_at"], name="flag_case_current_idx")]

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"


class ReviewerRole(models.TextChoices):
    NURSE = "nurse_reviewer", "Nurse reviewer"
    PHYSICIAN = "physician_reviewer", "Physician reviewer"


class Decision(models.Model):
    """A recorded determination. Never edited: a correction or appeal is a new decision."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="decisions")
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    decided_role = models.CharField(max_length=30, choices=ReviewerRole.choices)
    decided_at = models.DateTimeField()
    rationale = models.TextField(blank=True)
    supersedes = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="superseded_by"
    )

    class Meta:
        ordering = ["case", "decided_at", "id"]

    def __str__(self) -> str:
        return f"Decision {self.pk} on {self.case_id}"


class LineOutcome(models.TextChoices):
    APPROVED = "approved", "Approved (A1 certified in total)"
    PARTIALLY_APPROVED = "partially_approved", "Partially approved (A2)"
    DENIED = "denied", "Denied (A3 not certified)"
    PENDED = "pended", "Pended (A4)"
    MODIFIED = "modified", "Modified (A6)"


ADVERSE_OUTCOMES = (LineOutcome.DENIED, LineOutcome.PARTIALLY_APPROVED, LineOutcome.MODIFIED)
X12_REVIEW_ACTION = {
    LineOutcome.APPROVED: "A1",
    LineOutcome.PARTIALLY_APPROVED: "A2",
    LineOutcome.DENIED: "A3",
    LineOutcome.PENDED: "A4",
    LineOutcome.MODIFIED: "A6",
}


class DecisionLine(models.Model):
    decision = models.ForeignKey(Decision, on_delete=models.PROTECT, related_name="lines")
    service_line = models.ForeignKey(ServiceLine, on_delete=models.PROTECT, related_name="+")
    outcome = models.CharField(max_length=30, choices=LineOutcome.choices)
    approved_units = models.PositiveIntegerField(null=True, blank=True)
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["decision", "service_line__sequence"]
        constraints = [
            models.UniqueConstraint(fields=["decision", "service_line"], name="decisionline_unique_line"),
            models.CheckConstraint(
                condition=~Q(outcome__in=["denied", "partially_approved", "modified"]) | ~Q(reason=""),
                name="decisionline_adverse_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"line {self.service_line_id}: {self.outcome}"


class Citation(models.Model):
    """What a decision rested on, frozen as it was when the decision was made."""

    decision = models.ForeignKey(Decision, on_delete=models.PROTECT, related_name="citations")
    policy_version = models.ForeignKey(PolicyVersion, on_delete=models.PROTECT, related_name="+")
    policy_number = models.CharField(max_length=50)
    policy_title = models.CharField(max_length=300)
    payer = models.CharField(max_length=200)
    version_label = models.CharField(max_length=50)
    effective_start = models.DateField(null=True, blank=True)
    effective_end = models.DateField(null=True, blank=True)
    coverage_position = models.CharField(max_length=40)
    criterion = models.TextField(help_text="The criterion or statement relied on, as worded then.")
    content_sha256 = models.CharField(max_length=64)

    class Meta:
        ordering = ["decision", "id"]

    def __str__(self) -> str:
        return f"{self.policy_number} v{self.version_label}"


class CaseEventKind(models.TextChoices):
    RECEIVED = "received", "Received"
    FLAGGED = "flagged", "Flagged"
    REFLAGGED = "reflagged", "Flags re-evaluated"
    CLAIMED = "claimed", "Claimed"
    PENDED = "pended", "Pended for information"
    INFORMATION_RECEIVED = "information_received", "Information received"
    REFERRED = "referred", "Referred to physician"
    DECIDED = "decided", "Decided"
    CANCELLED = "cancelled", "Cancelled"
    NOTE = "note", "Note added"
    ATTACHMENT_ADDED = "attachment_added", "Attachment added"
    PEER_TO_PEER = "peer_to_peer", "Peer-to-peer discussion"
    LETTER_GENERATED = "letter_generated", "Decision letter generated"
    CLOSED = "closed", "Closed"


class CaseEvent(models.Model):
    """The case's timeline: every event with who and when."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=30, choices=CaseEventKind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    at = models.DateTimeField()
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["case", "at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} at {self.at:%Y-%m-%d %H:%M}"


class DeadlineRule(models.Model):
    """How long the plan has to decide, by review type, urgency and line of business.

    Kept as data so a manager can change it when regulations change; the most specific
    matching rule wins (blank urgency or line of business matches any).
    """

    review_type = models.CharField(max_length=20, choices=ReviewType.choices)
    urgency = models.CharField(max_length=20, choices=Urgency.choices, blank=True)
    line_of_business = models.CharField(max_length=30, choices=LineOfBusiness.choices, blank=True)
    hours = models.PositiveIntegerField(help_text="Time from receipt to decision due, in hours.")
    source = models.CharField(max_length=200, help_text="The regulation or standard behind the rule.")
    # 0 means a pend never moves the deadline: without a rule that allows it, the plan
    # cannot claim the time (29 CFR 2560.503-1(f)(2)(iii) tolls; 42 CFR 422.568(b)(1) extends).
    pend_extension_hours = models.PositiveIntegerField(
        default=0,
        help_text="At most this many hours, summed over all pends of a case, that time spent pended "
        "for information adds to the decision deadline.",
    )

    class Meta:
        ordering = ["review_type", "urgency", "line_of_business"]
        constraints = [
            models.UniqueConstraint(
                fields=["review_type", "urgency", "line_of_business"], name="deadlinerule_unique_scope"
            ),
            models.CheckConstraint(condition=Q(hours__gt=0), name="deadlinerule_hours_positive"),
        ]

    def __str__(self) -> str:
        scope = " ".join(filter(None, [self.review_type, self.urgency, self.line_of_business]))
        return f"{scope}: {self.hours} h"


class ApiToken(models.Model):
    """A bearer token for an integration client. Only its SHA-256 is stored."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    label = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=12, help_text="First characters, to tell tokens apart.")
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"

    @staticmethod
    def hash_of(raw: str) -> str:
        """What `key_hash` holds for a raw token."""
        return hashlib.sha256(raw.encode()).hexdigest()


class IdempotencyStatus(models.TextChoices):
    IN_PROGRESS = "in_progress", "In progress"
    COMPLETED = "completed", "Completed"


class IdempotencyRecord(models.Model):
    """The outcome of a POST made with an Idempotency-Key, replayed on a retry."""

    client = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    request_sha256 = models.CharField(max_length=64)
    status = models.CharField(max_length=20, choices=IdempotencyStatus.choices)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    started_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["client", "key"], name="idempotency_unique_client_key")]

    def __str__(self) -> str:
        return f"{self.key} ({self.status})"


class WebhookSubscription(models.Model):
    """Where an integration client wants status changes of its cases POSTed."""

    client = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhooks")
    url = models.URLField(max_length=500)
    secret = models.CharField(max_length=64, help_text="HMAC-SHA256 key; shown to the client once.")
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["client", "url"], name="webhook_unique_client_url")]

    def __str__(self) -> str:
        return self.url


class WebhookDeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed (gave up)"


class WebhookDelivery(models.Model):
    """One status-change notification. The payload names the case, never the member.

    Pending until delivered or given up (failed). Its schedule is here, not in the broker: the
    next attempt is due at `next_attempt_at`; `enqueued_at` is when a message for it was last
    queued (through the outbox), so the sweeper can tell a lost message from one on its way.
    """

    subscription = models.ForeignKey(WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(CaseEvent, on_delete=models.CASCADE, related_name="+")
    payload = models.JSONField()
    status = models.CharField(
        max_length=20, choices=WebhookDeliveryStatus.choices, default=WebhookDeliveryStatus.PENDING
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
            models.UniqueConstraint(fields=["subscription", "event"], name="webhookdelivery_unique_event"),
        ]
        indexes = [
            # The sweeper's question: which pending deliveries are due?
            models.Index(fields=["next_attempt_at"], condition=Q(status="pending"), name="webhookdelivery_due_idx"),
            # A client's given-up deliveries, newest first (GET /api/v1/webhooks).
            models.Index(
                fields=["subscription", "-id"], condition=Q(status="failed"), name="webhookdelivery_failed_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} -> {self.subscription_id} ({self.status})"


# Attachments hold member health information: readable by the application's account only.
_ATTACHMENT_STORAGE = FileSystemStorage(file_permissions_mode=0o600, directory_permissions_mode=0o700)


def attachment_storage() -> FileSystemStorage:
    """Files under MEDIA_ROOT, which is outside the web root; they are only ever streamed by a view."""
    return _ATTACHMENT_STORAGE


class Attachment(models.Model):
    """A clinical document sent with a request. Its type is what its content is, not what it is called."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="attachments")
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # The client's name for the file, sanitized; shown and offered on download, never used on disk.
    original_name = models.CharField(max_length=255)
    content_type = models.CharField(max_length=50, help_text="Detected from the file's content.")
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    file = models.FileField(storage=attachment_storage, max_length=200)
    description = models.CharField(max_length=1000, blank=True)
    uploaded_at = models.DateTimeField()

    class Meta:
        ordering = ["case", "uploaded_at", "id"]
        constraints = [models.CheckConstraint(condition=Q(size__gt=0), name="attachment_size_positive")]

    def __str__(self) -> str:
        return f"{self.original_name} ({self.content_type}, {self.size} bytes)"
