"""The prior-authorization case domain: requests, their service lines, flags and decisions."""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable

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
    # A reconsideration of an adverse decision on another case (`Case.appeal_of`).
    APPEAL = "appeal", "Appeal (reconsideration)"
    # More units or a later end for an authorization (`Case.extension_of`).
    EXTENSION = "extension", "Extension of an authorization"


# Initial requests: what the CMS-0057-F figures count as prior-authorization requests.
INITIAL_REVIEW_TYPES = (ReviewType.PROSPECTIVE, ReviewType.RETROSPECTIVE)


class AppealRequester(models.TextChoices):
    PROVIDER = "provider", "Provider"
    MEMBER = "member", "Member"


class CaseStatus(models.TextChoices):
    RECEIVED = "received", "Received"
    IN_REVIEW = "in_review", "In review"
    PENDED = "pended", "Pended for information"
    PHYSICIAN_REVIEW = "physician_review", "Physician review"
    DECIDED = "decided", "Decided"
    # A Medicare Advantage reconsideration that upheld a denial in whole or part goes to the
    # Independent Review Entity (42 CFR 422.592); the plan's part is over.
    FORWARDED_TO_IRE = "forwarded_to_ire", "Forwarded to the Independent Review Entity"
    CANCELLED = "cancelled", "Cancelled"
    CLOSED = "closed", "Closed"


class RequestOutcome(models.TextChoices):
    """A determination of a whole request, from its lines (the CMS-0057-F categories)."""

    APPROVED = "approved", "Approved"
    PARTIALLY_APPROVED = "partially_approved", "Partially approved or modified"
    MIXED = "mixed", "Mixed: some lines approved, some denied"
    DENIED = "denied", "Denied"


OPEN_STATUSES = (
    CaseStatus.RECEIVED,
    CaseStatus.IN_REVIEW,
    CaseStatus.PENDED,
    CaseStatus.PHYSICIAN_REVIEW,
)


class Case(models.Model):
    # Held by the `selectors.current_flags()` prefetch (to_attr), or by intake as it writes them.
    current_flags: list[Flag]
    # Set by intake on the case it returns: the lines its triage answered and the authorizations
    # that issued, by service line id (empty when every line waits for a reviewer).
    intake_determinations: dict[int, DecisionLine]
    intake_authorizations: dict[int, Authorization]

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
    # Not every standard request carries one (a PAS Patient's birthDate is optional).
    member_birth_date = models.DateField(null=True, blank=True)
    requesting_provider_npi = models.CharField(max_length=10)
    requesting_provider_name = models.CharField(max_length=200)
    servicing_provider_npi = models.CharField(max_length=10, blank=True)
    servicing_provider_name = models.CharField(max_length=200, blank=True)

    diagnosis_codes = models.JSONField(default=list)
    clinical_facts = models.JSONField(default=dict)
    clinical_notes = models.TextField(blank=True)

    # A Medicare Advantage contract number, a state for Medicaid: the CMS-0057-F report's unit.
    plan_id = models.CharField(max_length=50, blank=True)

    # An appeal names the case whose adverse decision it reconsiders.
    appeal_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="appeals", db_index=False
    )
    appeal_requested_by = models.CharField(max_length=20, choices=AppealRequester.choices, blank=True)
    appeal_reason = models.TextField(blank=True)
    # A filing after its window, accepted by a manager for good cause.
    late_filing_reason = models.TextField(blank=True)
    late_filing_accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    # An extension request names the authorization it would extend.
    extension_of = models.ForeignKey(
        "Authorization", null=True, blank=True, on_delete=models.PROTECT, related_name="extension_cases", db_index=False
    )

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
    # What the case's determinations came to, written by decision_record as it records them, so
    # the yearly report is one pass over the cases (bench/report).
    outcome = models.CharField(
        max_length=20,
        choices=RequestOutcome.choices,
        blank=True,
        db_default="",
        help_text="The outcome of the decision of record; blank until the case is determined.",
    )
    first_determined_at = models.DateTimeField(null=True, blank=True)
    # The deadline as it stood at the first determination (a reopening starts a new clock).
    first_determination_due_at = models.DateTimeField(null=True, blank=True)
    # A pend for information extended the clock before the first determination.
    first_determination_extended = models.BooleanField(default=False, db_default=False)
    # The decision of record was made by the system, not a reviewer (automatic approval).
    determined_automatically = models.BooleanField(default=False, db_default=False)
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
            models.CheckConstraint(
                condition=Q(
                    review_type="appeal", appeal_of__isnull=False, appeal_requested_by__in=["provider", "member"]
                )
                | (~Q(review_type="appeal") & Q(appeal_of__isnull=True, appeal_requested_by="")),
                name="case_appeal_has_original",
            ),
            models.CheckConstraint(
                condition=Q(review_type="extension", extension_of__isnull=False)
                | (~Q(review_type="extension") & Q(extension_of__isnull=True)),
                name="case_extension_has_authorization",
            ),
            models.CheckConstraint(
                condition=Q(late_filing_reason="", late_filing_accepted_by__isnull=True)
                | (~Q(late_filing_reason="") & Q(late_filing_accepted_by__isnull=False)),
                name="case_late_filing_has_reason_and_manager",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "due_at"], name="case_status_due_idx"),
            models.Index(fields=["submitted_by", "updated_at"], name="case_client_updated_idx"),
            # The work queue reads open cases by due time; a partial index keeps that a short
            # index scan however many decided cases pile up behind it. It carries the columns the
            # queue filters on, so a filter is checked in the index and a case that does not
            # match costs no read of its row: urgency and line of business set the due time, so
            # a filter on them skips long runs of other cases before its first match.
            models.Index(
                fields=["due_at", "id"],
                include=["status", "urgency", "line_of_business", "review_type", "assignee"],
                condition=Q(status__in=["received", "in_review", "pended", "physician_review"]),
                name="case_open_due_idx",
            ),
            # A filter on urgency reads its own cases in due order: expedited cases fill the
            # first weeks of the due order, so standard ones would come after every one of them.
            models.Index(
                fields=["urgency", "due_at", "id"],
                condition=Q(status__in=OPEN_STATUSES),
                name="case_open_urgency_due_idx",
            ),
            # A filter on status, urgency and line of business together (with a flag, say) can
            # match fewer cases than the queue's count stops at: it reads only its own cases, in
            # due order, instead of every case of its status.
            models.Index(
                fields=["status", "urgency", "line_of_business", "due_at", "id"],
                condition=Q(status__in=OPEN_STATUSES),
                name="case_open_filter_due_idx",
            ),
            # The work list's other sorts (received, member, provider, type), open cases only.
            models.Index(
                fields=["received_at", "id"], condition=Q(status__in=OPEN_STATUSES), name="case_open_received_idx"
            ),
            models.Index(
                fields=["member_last_name", "member_first_name", "id"],
                condition=Q(status__in=OPEN_STATUSES),
                name="case_open_member_idx",
            ),
            models.Index(
                fields=["requesting_provider_name", "id"],
                condition=Q(status__in=OPEN_STATUSES),
                name="case_open_provider_idx",
            ),
            models.Index(
                fields=["review_type", "due_at", "id"],
                condition=Q(status__in=OPEN_STATUSES),
                name="case_open_type_due_idx",
            ),
            models.Index(fields=["member_id"], name="case_member_idx"),
            models.Index(fields=["appeal_of"], condition=Q(appeal_of__isnull=False), name="case_appeal_of_idx"),
            models.Index(
                fields=["first_determined_at"],
                condition=Q(first_determined_at__isnull=False),
                name="case_first_determined_idx",
            ),
            models.Index(
                fields=["extension_of"], condition=Q(extension_of__isnull=False), name="case_extension_of_idx"
            ),
            # The dashboard's workload: each reviewer's open cases, counted from the index alone.
            models.Index(
                fields=["assignee"],
                condition=Q(status__in=OPEN_STATUSES, assignee__isnull=False),
                name="case_open_assignee_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.case_number

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def is_appeal(self) -> bool:
        return self.review_type == ReviewType.APPEAL


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
    # On an appeal or extension: the line of the original request this one reviews again. Its
    # authorizations and decisions form one history with the original's.
    origin = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="reviews", db_index=False
    )

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
    MEMBER_NOT_ELIGIBLE = "member_not_eligible", "Member not covered on the date of service"
    DUPLICATE_REQUEST = "duplicate_request", "Duplicate of an earlier request"
    # A requirement rule says the service is a benefit exclusion: a physician decides.
    NOT_COVERED = "not_covered", "Not a covered benefit (benefit exclusion)"


# Found by intake's triage, not the policy engine: re-evaluating the engine's flags keeps them.
TRIAGE_FLAG_KINDS = (FlagKind.MEMBER_NOT_ELIGIBLE, FlagKind.DUPLICATE_REQUEST, FlagKind.NOT_COVERED)


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
        indexes = [
            models.Index(fields=["case", "superseded_at"], name="flag_case_current_idx"),
            # The work list's flag filter: current flags of one kind, then their cases.
            models.Index(
                fields=["kind", "case"], condition=Q(superseded_at__isnull=True), name="flag_current_kind_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"


class ReviewerRole(models.TextChoices):
    NURSE = "nurse_reviewer", "Nurse reviewer"
    PHYSICIAN = "physician_reviewer", "Physician reviewer"
    # Intake's triage: it may approve or answer "no authorization required", never deny or pend.
    AUTOMATED = "automated", "Automated review at intake"


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
        # The dashboard's workload: each reviewer's decisions in a period.
        indexes = [models.Index(fields=["decided_by", "decided_at"], name="decision_decider_at_idx")]

    def __str__(self) -> str:
        return f"Decision {self.pk} on {self.case_id}"


class LineOutcome(models.TextChoices):
    # People's words; each outcome's X12 306 review action (A1, A3 ...) is X12_REVIEW_ACTION's.
    APPROVED = "approved", "Approved"
    PARTIALLY_APPROVED = "partially_approved", "Partially approved"
    DENIED = "denied", "Denied"
    PENDED = "pended", "Pended"
    MODIFIED = "modified", "Modified"
    # A nurse asks a physician to decide this line; the case stays in review, it is not pended.
    REFERRED = "referred", "Referred to a physician"
    # The outcomes of an appeal, for each appealed line.
    OVERTURNED = "overturned", "Overturned on appeal"
    PARTIALLY_OVERTURNED = "partially_overturned", "Partially overturned on appeal"
    UPHELD = "upheld", "Upheld on appeal"
    # Answered at intake from the plan's requirement rules: no determination was needed.
    NOT_REQUIRED = "not_required", "No authorization required"
    NOTIFIED = "notified", "Notification recorded; no authorization required"


# An adverse line needs a physician, a plain-language reason and a citation.
ADVERSE_OUTCOMES = (
    LineOutcome.DENIED,
    LineOutcome.PARTIALLY_APPROVED,
    LineOutcome.MODIFIED,
    LineOutcome.PARTIALLY_OVERTURNED,
    LineOutcome.UPHELD,
)
# What a line of an initial request may get, and what an appealed line may get.
INITIAL_OUTCOMES = (
    LineOutcome.APPROVED,
    LineOutcome.PARTIALLY_APPROVED,
    LineOutcome.DENIED,
    LineOutcome.PENDED,
    LineOutcome.MODIFIED,
)
APPEAL_OUTCOMES = (
    LineOutcome.OVERTURNED,
    LineOutcome.PARTIALLY_OVERTURNED,
    LineOutcome.UPHELD,
    LineOutcome.PENDED,
)
# Lines answered at intake by a requirement rule: not a determination of medical necessity.
NO_REVIEW_OUTCOMES = (LineOutcome.NOT_REQUIRED, LineOutcome.NOTIFIED)
# Outcomes that approve some units: each yields an authorization.
AUTHORIZING_OUTCOMES = (
    LineOutcome.APPROVED,
    LineOutcome.PARTIALLY_APPROVED,
    LineOutcome.MODIFIED,
    LineOutcome.OVERTURNED,
    LineOutcome.PARTIALLY_OVERTURNED,
)
# Outcomes that approve fewer units than asked: between 1 and the requested units less one.
PARTIAL_OUTCOMES = (LineOutcome.PARTIALLY_APPROVED, LineOutcome.PARTIALLY_OVERTURNED)
X12_REVIEW_ACTION = {
    LineOutcome.APPROVED: "A1",
    LineOutcome.PARTIALLY_APPROVED: "A2",
    LineOutcome.DENIED: "A3",
    LineOutcome.PENDED: "A4",
    LineOutcome.REFERRED: "A4",
    LineOutcome.MODIFIED: "A6",
    LineOutcome.OVERTURNED: "A1",
    LineOutcome.PARTIALLY_OVERTURNED: "A2",
    LineOutcome.UPHELD: "A3",
    LineOutcome.NOT_REQUIRED: "NA",
    LineOutcome.NOTIFIED: "NA",
}
# X12 external code list 886, health care service review decision reasons (PAS binds a review
# action's reason code to it). X12 licenses the list: the plan keeps the codes it uses (ReviewReasonCode).
X12_REVIEW_DECISION_REASONS = "https://codesystem.x12.org/external/886"


# How an appealed line's outcome counts in the request's outcome.
_APPEAL_AS_INITIAL = {
    "overturned": "approved",
    "partially_overturned": "partially_approved",
    "upheld": "denied",
}


def request_outcome(line_outcomes: Iterable[str]) -> RequestOutcome:
    """The outcome of a determination from its lines' outcomes (none pended); lines answered
    "no authorization required" at intake do not count.

    Approved when every line is approved; denied when every line is denied; mixed when some line
    is denied and another approved in whole or part; otherwise partially approved or modified.
    An appeal's lines count as overturned = approved, partially overturned = partially
    approved, upheld = denied.
    """
    outcomes = {_APPEAL_AS_INITIAL.get(o, o) for o in line_outcomes if o not in NO_REVIEW_OUTCOMES}
    if outcomes == {"approved"}:
        return RequestOutcome.APPROVED
    if outcomes == {"denied"}:
        return RequestOutcome.DENIED
    if "denied" in outcomes:
        return RequestOutcome.MIXED
    return RequestOutcome.PARTIALLY_APPROVED


class ReviewReasonCode(models.Model):
    """A review decision reason code the plan uses (X12 list 886 unless another system is named),
    kept by managers. A decision line may give one; a code in use is deactivated, never deleted."""

    code = models.CharField(max_length=20)
    display = models.CharField(max_length=200, help_text="The code's meaning, as reviewers and providers read it.")
    system = models.CharField(max_length=200, default=X12_REVIEW_DECISION_REASONS)
    description = models.TextField(blank=True, help_text="When to use it.")
    active = models.BooleanField(default=True, help_text="Only active codes can be given in a decision.")

    class Meta:
        ordering = ["code"]
        constraints = [
            models.UniqueConstraint(fields=["code"], name="reviewreasoncode_unique_code"),
            models.CheckConstraint(
                condition=~Q(code="") & ~Q(display="") & ~Q(system=""), name="reviewreasoncode_filled"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.display}"


class DecisionLine(models.Model):
    decision = models.ForeignKey(Decision, on_delete=models.PROTECT, related_name="lines")
    service_line = models.ForeignKey(ServiceLine, on_delete=models.PROTECT, related_name="+")
    outcome = models.CharField(max_length=30, choices=LineOutcome.choices)
    approved_units = models.PositiveIntegerField(null=True, blank=True)
    reason = models.TextField(blank=True)
    # A line answered at intake (approved automatically, or no authorization required) is not
    # reviewed again: each later decision of the case restates it, pointing to where it was
    # decided, so the decision of record always holds every line.
    carried_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    # The plan's coded reason for an adverse line (X12 886), beside the plain-language one.
    reason_code = models.ForeignKey(ReviewReasonCode, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["decision", "service_line__sequence"]
        constraints = [
            models.UniqueConstraint(fields=["decision", "service_line"], name="decisionline_unique_line"),
            models.CheckConstraint(
                condition=~Q(outcome__in=["denied", "partially_approved", "modified", "partially_overturned", "upheld"])
                | ~Q(reason=""),
                name="decisionline_adverse_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"line {self.service_line_id}: {self.outcome}"


class Citation(models.Model):
    """What a decision line rested on, frozen as it was when the decision was made.

    Each citation belongs to one decision line; citations recorded before they were per line
    have none and apply to the whole decision.
    """

    decision = models.ForeignKey(Decision, on_delete=models.PROTECT, related_name="citations")
    decision_line = models.ForeignKey(
        DecisionLine, null=True, blank=True, on_delete=models.PROTECT, related_name="citations"
    )
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
    APPEALED = "appealed", "Appeal filed"
    REOPENED = "reopened", "Reopened"
    FORWARDED_TO_IRE = "forwarded_to_ire", "Forwarded to the Independent Review Entity"
    AUTHORIZATION_ISSUED = "authorization_issued", "Authorization issued"
    AUTHORIZATION_ENDED = "authorization_ended", "Authorization superseded or voided"
    EXTENSION_REQUESTED = "extension_requested", "Extension requested"
    # Some lines were answered at intake (no authorization required, approved automatically);
    # the rest wait for a reviewer.
    ANSWERED_AT_INTAKE = "answered_at_intake", "Lines answered at intake"
    # A reviewer recorded a clinical fact found in the documentation; the criteria read it at once.
    FACT_RECORDED = "fact_recorded", "Clinical fact recorded from the documentation"


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
    # Appeals of a pre-service request and of a payment (post-service) have different clocks.
    appealed_review_type = models.CharField(
        max_length=20,
        choices=[
            (ReviewType.PROSPECTIVE.value, ReviewType.PROSPECTIVE.label),
            (ReviewType.RETROSPECTIVE.value, ReviewType.RETROSPECTIVE.label),
        ],
        blank=True,
        help_text="Appeals only: the review type of the appealed request. Blank matches any.",
    )
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
                fields=["review_type", "urgency", "line_of_business", "appealed_review_type"],
                name="deadlinerule_unique_scope",
            ),
            models.CheckConstraint(condition=Q(hours__gt=0), name="deadlinerule_hours_positive"),
        ]

    def __str__(self) -> str:
        scope = " ".join(
            filter(None, [self.review_type, self.appealed_review_type, self.urgency, self.line_of_business])
        )
        return f"{scope}: {self.hours} h"


class MemberCoverage(models.Model):
    """A member's coverage, as the plan's enrollment system states it: under a line of business
    and plan or contract, from a start date to an end date (blank while open-ended)."""

    member_id = models.CharField(max_length=50)
    line_of_business = models.CharField(max_length=30, choices=LineOfBusiness.choices)
    plan_id = models.CharField(max_length=50, blank=True)
    coverage_start = models.DateField()
    coverage_end = models.DateField(null=True, blank=True, help_text="Blank while the coverage is open-ended.")
    loaded_at = models.DateTimeField()

    class Meta:
        ordering = ["member_id", "coverage_start"]
        constraints = [
            # Loading the same row again changes nothing (load_eligibility, POST /api/v1/eligibility).
            models.UniqueConstraint(
                fields=["member_id", "line_of_business", "plan_id", "coverage_start"],
                name="membercoverage_unique_period",
            ),
            models.CheckConstraint(
                condition=Q(coverage_end__isnull=True) | Q(coverage_end__gte=models.F("coverage_start")),
                name="membercoverage_end_not_before_start",
            ),
        ]
        indexes = [models.Index(fields=["member_id", "coverage_start"], name="membercoverage_member_idx")]

    def __str__(self) -> str:
        return f"{self.member_id} {self.line_of_business} from {self.coverage_start}"


class DuplicateAction(models.TextChoices):
    FLAG = "flag", "Flag the new request for the reviewer"
    REFUSE = "refuse", "Refuse the new request as a duplicate"


class DuplicateRule(models.Model):
    """What intake does with a request that repeats an earlier one, by line of business."""

    line_of_business = models.CharField(max_length=30, choices=LineOfBusiness.choices)
    window_days = models.PositiveIntegerField(
        default=30, help_text="Dates of service this many days apart or closer count as the same service."
    )
    action = models.CharField(max_length=10, choices=DuplicateAction.choices, default=DuplicateAction.FLAG)

    class Meta:
        ordering = ["line_of_business"]
        constraints = [
            models.UniqueConstraint(fields=["line_of_business"], name="duplicaterule_unique_line_of_business")
        ]

    def __str__(self) -> str:
        return f"{self.get_line_of_business_display()}: {self.get_action_display()} within {self.window_days} days"


class AppealWindow(models.Model):
    """How long after a decision a member or provider may file an appeal, by line of business."""

    line_of_business = models.CharField(max_length=30, choices=LineOfBusiness.choices)
    days = models.PositiveIntegerField(help_text="Days from the decision within which an appeal may be filed.")
    source = models.CharField(max_length=200, help_text="The regulation or standard behind the window.")

    class Meta:
        ordering = ["line_of_business"]
        constraints = [
            models.UniqueConstraint(fields=["line_of_business"], name="appealwindow_unique_line_of_business"),
            models.CheckConstraint(condition=Q(days__gt=0), name="appealwindow_days_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.get_line_of_business_display()}: {self.days} days"


class AuthorizationValidityRule(models.Model):
    """How long an authorization is valid, by line of business and optionally policy or code range.

    The most specific matching rule wins: a policy before a code range before a line of business
    alone. Where none matches, the plan default applies (the date of service through 90 days
    after it). The rule used is recorded on each authorization.
    """

    name = models.CharField(
        max_length=200, help_text="Shown on the authorizations it sets, e.g. 'Physical therapy: 60 days'."
    )
    line_of_business = models.CharField(
        max_length=30, choices=LineOfBusiness.choices, blank=True, help_text="Blank matches any line of business."
    )
    policy = models.ForeignKey(
        "policies_app.Policy",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Only lines governed by this policy. Blank matches any.",
    )
    code_system = models.CharField(max_length=10, choices=CodeSystem.choices, blank=True)
    code_start = models.CharField(
        max_length=10, blank=True, help_text="First code of the range; blank matches any code."
    )
    code_end = models.CharField(max_length=10, blank=True, help_text="Last code of the range; blank for one code.")
    days_before = models.PositiveIntegerField(
        default=0, help_text="The authorization starts this many days before the date of service."
    )
    days_after = models.PositiveIntegerField(
        default=90, help_text="The authorization ends this many days after the date of service."
    )

    class Meta:
        ordering = ["line_of_business", "code_system", "code_start"]
        constraints = [
            models.CheckConstraint(
                condition=Q(code_start="") | ~Q(code_system=""), name="authvalidityrule_code_has_system"
            ),
            # ICD-10-CM ranges run in the code set's tabular order, which is not text order (C7A
            # comes before C76), so the form checks their order against the code set instead.
            models.CheckConstraint(
                condition=Q(code_end="")
                | (~Q(code_start="") & (Q(code_system=CodeSystem.ICD10CM) | Q(code_end__gte=models.F("code_start")))),
                name="authvalidityrule_code_range_ordered",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class AuthorizationStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    EXPIRED = "expired", "Expired"
    VOIDED = "voided", "Voided"
    SUPERSEDED = "superseded", "Superseded"


class Authorization(models.Model):
    """What a claim is paid against: an approved service for a member, for a period.

    Issued for every line a decision approves in whole or part. Never edited: a later decision on
    the same line supersedes it (a new authorization) or voids it, and its end of validity makes
    it expired. Only `status`, `ended_at` and `ended_reason` change, once, from active (a
    database trigger refuses anything else).
    """

    authorization_number = models.CharField(max_length=20)
    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="authorizations", db_index=False)
    decision = models.ForeignKey(Decision, on_delete=models.PROTECT, related_name="authorizations", db_index=False)
    decision_line = models.OneToOneField(DecisionLine, on_delete=models.PROTECT, related_name="authorization")
    service_line = models.ForeignKey(
        ServiceLine, on_delete=models.PROTECT, related_name="authorizations", db_index=False
    )
    # The line of the initial request: every authorization of one service shares it.
    origin_line = models.ForeignKey(ServiceLine, on_delete=models.PROTECT, related_name="+", db_index=False)
    # The integration client that submitted the initial request: it sees this authorization.
    client = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", db_index=False)

    member_id = models.CharField(max_length=50)
    member_first_name = models.CharField(max_length=100)
    member_last_name = models.CharField(max_length=100)
    member_birth_date = models.DateField(null=True, blank=True)
    line_of_business = models.CharField(max_length=30, choices=LineOfBusiness.choices)
    plan_id = models.CharField(max_length=50, blank=True)
    requesting_provider_npi = models.CharField(max_length=10)
    requesting_provider_name = models.CharField(max_length=200)
    servicing_provider_npi = models.CharField(max_length=10, blank=True)
    servicing_provider_name = models.CharField(max_length=200, blank=True)
    code_system = models.CharField(max_length=10, choices=CodeSystem.choices)
    code = models.CharField(max_length=10)
    modifiers = models.JSONField(default=list, blank=True)
    approved_units = models.PositiveIntegerField()
    valid_from = models.DateField()
    valid_to = models.DateField()
    validity_rule = models.ForeignKey(
        AuthorizationValidityRule, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    # The rule as it read when applied ("plan default: ..." where no rule matched).
    validity_basis = models.CharField(max_length=300)

    status = models.CharField(max_length=20, choices=AuthorizationStatus.choices, default=AuthorizationStatus.ACTIVE)
    issued_at = models.DateTimeField()
    supersedes = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="superseded_by"
    )
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_reason = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-issued_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["authorization_number"], name="authorization_unique_number"),
            models.CheckConstraint(condition=Q(approved_units__gt=0), name="authorization_units_positive"),
            models.CheckConstraint(
                condition=Q(valid_to__gte=models.F("valid_from")), name="authorization_valid_period"
            ),
            models.CheckConstraint(
                condition=Q(status="active", ended_at__isnull=True) | (~Q(status="active") & Q(ended_at__isnull=False)),
                name="authorization_ended_iff_not_active",
            ),
            # One active authorization per service of a request: a new one supersedes the old.
            models.UniqueConstraint(
                fields=["origin_line"], condition=Q(status="active"), name="authorization_one_active_per_line"
            ),
        ]
        indexes = [
            # The claims question: this member, this code, this date of service.
            models.Index(fields=["member_id", "code", "valid_from"], name="authorization_lookup_idx"),
            models.Index(fields=["case"], name="authorization_case_idx"),
            models.Index(fields=["client", "-issued_at"], name="authorization_client_idx"),
            models.Index(fields=["valid_to"], condition=Q(status="active"), name="authorization_active_end_idx"),
        ]

    def __str__(self) -> str:
        return self.authorization_number

    @property
    def current_status(self) -> str:
        """The status as of today: an active authorization whose period has ended is expired,
        before the nightly expiry marks it so."""
        if self.status == AuthorizationStatus.ACTIVE and self.valid_to < timezone.localdate():
            return AuthorizationStatus.EXPIRED.value
        return self.status


class IntakeSettings(models.Model):
    """The plan's switches for what intake may answer on its own (one row, edited by managers)."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    automatic_approval = models.BooleanField(
        default=False,
        help_text="Approve at intake a line whose criteria are met (where its policy version allows it) "
        "or whose provider holds a gold card. Intake never denies, modifies or pends on its own.",
    )
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    changed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "intake settings"
        verbose_name_plural = "intake settings"
        constraints = [models.CheckConstraint(condition=Q(id=1), name="intakesettings_singleton")]

    def __str__(self) -> str:
        return "Intake settings"


class GoldCardProgramme(models.Model):
    """A gold-card programme: providers whose requests for these services were approved often
    enough are exempt from review of them (Texas HB 3459 sets 90% over 6 months, 5 requests)."""

    name = models.CharField(max_length=200)
    line_of_business = models.CharField(max_length=30, choices=LineOfBusiness.choices)
    policy = models.ForeignKey(
        "policies_app.Policy",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Services governed by this policy (any of its versions). Blank: use the code range.",
    )
    code_system = models.CharField(max_length=10, choices=CodeSystem.choices, blank=True)
    code_start = models.CharField(max_length=10, blank=True, help_text="First code of the range.")
    code_end = models.CharField(max_length=10, blank=True, help_text="Last code of the range; blank for one code.")
    min_approval_rate = models.DecimalField(
        max_digits=5, decimal_places=2, default=90, help_text="Approval rate in percent, at least."
    )
    period_months = models.PositiveSmallIntegerField(default=6, help_text="Months of decisions evaluated.")
    min_requests = models.PositiveIntegerField(default=5, help_text="Decided requests in the period, at least.")
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(policy__isnull=False) | (~Q(code_system="") & ~Q(code_start="")),
                name="goldcardprogramme_has_services",
            ),
            models.CheckConstraint(
                condition=Q(code_end="") | (~Q(code_start="") & Q(code_end__gte=models.F("code_start"))),
                name="goldcardprogramme_code_range_ordered",
            ),
            models.CheckConstraint(
                condition=Q(min_approval_rate__gte=0, min_approval_rate__lte=100),
                name="goldcardprogramme_rate_percent",
            ),
            models.CheckConstraint(condition=Q(period_months__gte=1), name="goldcardprogramme_period_positive"),
            models.CheckConstraint(condition=Q(min_requests__gte=1), name="goldcardprogramme_min_requests_positive"),
        ]

    def __str__(self) -> str:
        return self.name

    def covers(self, *, code_system: str, code: str, policy_ids: Collection[int]) -> bool:
        """Whether a service line of the programme's line of business is in the programme: its
        policy governs the line (`policy_ids`, the policies intake found for it), or its code is
        in the programme's code range (codes of one system have one length, so a range is the
        codes between its ends in text order)."""
        if self.policy_id is not None and self.policy_id in policy_ids:
            return True
        if not self.code_start or self.code_system != code_system:
            return False
        return self.code_start <= code <= (self.code_end or self.code_start)


class GoldCardSource(models.TextChoices):
    EVALUATED = "evaluated", "Earned by evaluation"
    GRANTED = "granted", "Granted by a manager"


class GoldCardStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    ENDED = "ended", "Ended (no longer meets the programme)"
    REVOKED = "revoked", "Revoked by a manager"


class GoldCardExemption(models.Model):
    """One provider's exemption under a programme, with the evidence it was granted on.

    Never edited but to end it: a later evaluation that no longer meets the programme ends it,
    a manager revokes it with a reason; a new exemption is a new row.
    """

    programme = models.ForeignKey(GoldCardProgramme, on_delete=models.PROTECT, related_name="exemptions")
    provider_npi = models.CharField(max_length=10)
    source = models.CharField(max_length=20, choices=GoldCardSource.choices)
    status = models.CharField(max_length=20, choices=GoldCardStatus.choices, default=GoldCardStatus.ACTIVE)
    # The evidence: the period evaluated and what was decided in it.
    period_start = models.DateField()
    period_end = models.DateField()
    decided_count = models.PositiveIntegerField()
    approved_count = models.PositiveIntegerField()
    approval_rate = models.DecimalField(max_digits=5, decimal_places=2)
    reason = models.TextField(blank=True, help_text="Why a manager granted it.")
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    granted_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    ended_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-granted_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["programme", "provider_npi"],
                condition=Q(status="active"),
                name="goldcardexemption_one_active_per_provider",
            ),
            models.CheckConstraint(
                condition=Q(approved_count__lte=models.F("decided_count")), name="goldcardexemption_counts_ordered"
            ),
            models.CheckConstraint(
                condition=Q(period_end__gte=models.F("period_start")), name="goldcardexemption_period_ordered"
            ),
            models.CheckConstraint(
                condition=Q(status="active", ended_at__isnull=True) | (~Q(status="active") & Q(ended_at__isnull=False)),
                name="goldcardexemption_ended_iff_not_active",
            ),
            models.CheckConstraint(
                condition=~Q(source="granted") | (~Q(reason="") & Q(granted_by__isnull=False)),
                name="goldcardexemption_grant_has_reason_and_manager",
            ),
            models.CheckConstraint(
                condition=~Q(status="revoked") | (~Q(ended_reason="") & Q(ended_by__isnull=False)),
                name="goldcardexemption_revocation_has_reason_and_manager",
            ),
        ]
        indexes = [models.Index(fields=["provider_npi"], condition=Q(status="active"), name="goldcard_active_npi_idx")]

    def __str__(self) -> str:
        return f"{self.provider_npi} under {self.programme}"


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


class SavedQueueFilter(models.Model):
    """A reviewer's named work-list filter: the queue's query string, kept per user."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_queue_filters")
    name = models.CharField(max_length=80)
    query = models.CharField(max_length=1000, blank=True, help_text="The queue's filter and sort, as a query string.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["user", "name"]
        constraints = [
            models.UniqueConstraint(fields=["user", "name"], name="savedqueuefilter_unique_name_per_user"),
            models.CheckConstraint(condition=~Q(name=""), name="savedqueuefilter_has_name"),
        ]

    def __str__(self) -> str:
        return self.name


class DashboardSnapshot(models.Model):
    """The manager dashboard's figures for one period, as computed at `computed_at`
    (casemgmt.cases.services.dashboard_snapshots): the page reads this row instead of
    aggregating every open case and the period's requests on each view."""

    period_start = models.DateField()
    period_end = models.DateField()  # not included
    figures = models.JSONField()  # casemgmt.cases.metrics.dashboard_metrics_as_json
    # What the figures were computed from: the latest case event and the policy library's change
    # counter. A different stamp now means some case or rule changed since.
    stamp = models.CharField(max_length=200)
    computed_at = models.DateTimeField()
    # When a page last asked for a refresh that has not run yet (it asks once, not on every view).
    refresh_requested_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["period_start", "period_end"], name="dashboardsnapshot_unique_period"),
            models.CheckConstraint(
                condition=Q(period_end__gt=models.F("period_start")), name="dashboardsnapshot_period_ends_after_start"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.period_start}/{self.period_end} as of {self.computed_at:%Y-%m-%d %H:%M}"
