"""Retrospective review: re-checking decided cases against the policy library after the fact.

A run selects decided cases (nightly, on the publish of a policy version, or on demand), splits
them into chunks of case ids and re-evaluates each case with the intake engine against the
version in effect on each date of service. Each case gets one result per run; a disagreement
with the decision of record opens a review item in the nurses' retrospective queue.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce

from casemgmt.cases.models import Case, Decision
from policies_app.models import LineOfBusiness, Policy, PolicyVersion

REVIEW_DUE_DAYS = 30  # post-service (retrospective) review: 29 CFR 2560.503-1, NCQA UM 5


class RetroTrigger(models.TextChoices):
    SCHEDULED = "scheduled", "Nightly schedule"
    PUBLISH = "publish", "Policy version published"
    ON_DEMAND = "on_demand", "On demand"


class RetroOrigin(models.TextChoices):
    """Where a run was asked for: the trigger says why, this says through which door."""

    SCHEDULE = "schedule", "The nightly schedule"
    PUBLISH = "publish", "Publishing a policy version"
    ADMIN = "admin", "An action in the admin"
    API = "api", "The API"
    COMMAND = "command", "The command line"


class RetroRunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"
    FAILED = "failed", "Failed"


FINISHED_RUN_STATUSES = (RetroRunStatus.COMPLETED, RetroRunStatus.CANCELLED, RetroRunStatus.FAILED)


class RetroRun(models.Model):
    trigger = models.CharField(max_length=20, choices=RetroTrigger.choices)
    requested_via = models.CharField(max_length=20, choices=RetroOrigin.choices)
    status = models.CharField(max_length=20, choices=RetroRunStatus.choices, default=RetroRunStatus.QUEUED)

    # What the run covers. Blank bounds are open: a version with an unknown start, or open-ended.
    policy = models.ForeignKey(Policy, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    policy_version = models.ForeignKey(PolicyVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    date_from = models.DateField(null=True, blank=True, help_text="First date of service covered.")
    date_to = models.DateField(null=True, blank=True, help_text="Last date of service covered.")
    line_of_business = models.CharField(max_length=30, choices=LineOfBusiness.choices, blank=True)
    sample_percent = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="Share of the eligible cases sampled (scheduled runs: of the cases not under a "
        "retrospective-review policy). Blank: every eligible case.",
    )
    seed = models.BigIntegerField(help_text="Seed of the sample: the same seed selects the same cases again.")
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    selected = models.PositiveIntegerField(default=0)
    evaluated = models.PositiveIntegerField(default=0)
    discrepancies = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    chunk_count = models.PositiveIntegerField(default=0)
    chunks_done = models.PositiveIntegerField(default=0)

    created_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    error = models.TextField(blank=True, help_text="Why a failed run failed.")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["policy_version"], condition=Q(trigger="publish"), name="retrorun_one_per_published_version"
            ),
            models.UniqueConstraint(
                fields=["date_to"], condition=Q(trigger="scheduled"), name="retrorun_one_scheduled_per_night"
            ),
            models.CheckConstraint(
                condition=~Q(trigger="publish") | Q(policy_version__isnull=False), name="retrorun_publish_has_version"
            ),
            models.CheckConstraint(
                condition=Q(sample_percent__isnull=True) | Q(sample_percent__gte=0, sample_percent__lte=100),
                name="retrorun_sample_percent_range",
            ),
            models.CheckConstraint(
                condition=Q(date_from__isnull=True) | Q(date_to__isnull=True) | Q(date_to__gte=F("date_from")),
                name="retrorun_dates_ordered",
            ),
            models.CheckConstraint(
                condition=Q(evaluated__lte=F("selected") - F("failed"))
                & Q(discrepancies__lte=F("evaluated"))
                & Q(chunks_done__lte=F("chunk_count")),
                name="retrorun_counts_consistent",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=["completed", "cancelled", "failed"]) | Q(finished_at__isnull=False),
                name="retrorun_finished_has_time",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=["running", "completed"]) | Q(started_at__isnull=False),
                name="retrorun_running_has_start",
            ),
            models.CheckConstraint(
                condition=~Q(status="completed") | Q(chunks_done=F("chunk_count")),
                name="retrorun_completed_all_chunks",
            ),
        ]
        indexes = [models.Index(fields=["status", "created_at"], name="retrorun_status_idx")]

    def __str__(self) -> str:
        return f"Retrospective run {self.pk} ({self.get_trigger_display().lower()}, {self.status})"

    @property
    def processed(self) -> int:
        return self.evaluated + self.failed

    @property
    def percent_done(self) -> int:
        if self.status == RetroRunStatus.COMPLETED:
            return 100
        return int(100 * self.processed / self.selected) if self.selected else 0

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_RUN_STATUSES


class RetroChunkStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    DONE = "done", "Done"
    SKIPPED = "skipped", "Skipped (run cancelled)"
    FAILED = "failed", "Failed (gave up)"


class RetroChunk(models.Model):
    """A few thousand case ids of one run, processed in one transaction by one task."""

    run = models.ForeignKey(RetroRun, on_delete=models.CASCADE, related_name="chunks")
    sequence = models.PositiveIntegerField()
    # A JSON list of ids works the same on SQLite and PostgreSQL and is read in one row.
    case_ids = models.JSONField()
    size = models.PositiveIntegerField()
    status = models.CharField(max_length=20, choices=RetroChunkStatus.choices, default=RetroChunkStatus.QUEUED)
    enqueued_at = models.DateTimeField(null=True, blank=True, help_text="When its task was last sent.")
    leased_at = models.DateTimeField(null=True, blank=True, help_text="When a worker last started it.")
    attempts = models.PositiveIntegerField(default=0)
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "sequence"]
        constraints = [
            models.UniqueConstraint(fields=["run", "sequence"], name="retrochunk_unique_sequence"),
            models.CheckConstraint(condition=Q(size__gt=0), name="retrochunk_not_empty"),
            models.CheckConstraint(
                condition=Q(status="queued") | Q(done_at__isnull=False), name="retrochunk_finished_has_time"
            ),
        ]
        indexes = [
            models.Index(fields=["run", "status"], name="retrochunk_run_status_idx"),
            models.Index(fields=["enqueued_at"], condition=Q(status="queued"), name="retrochunk_queued_idx"),
        ]

    def __str__(self) -> str:
        return f"run {self.run_id} chunk {self.sequence} ({self.status})"


class RetroOutcome(models.TextChoices):
    AGREES = "agrees", "Agrees with the decision"
    DISCREPANCY = "discrepancy", "Discrepancy"
    FAILED = "failed", "Could not be evaluated"


class RetroResult(models.Model):
    """What one run found for one case. Written once; a redelivered chunk adds nothing."""

    run = models.ForeignKey(RetroRun, on_delete=models.PROTECT, related_name="results")
    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="+")
    decision = models.ForeignKey(Decision, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    outcome = models.CharField(max_length=20, choices=RetroOutcome.choices)
    rules = models.JSONField(default=list, blank=True, help_text="Discrepancy rules that fired.")
    detail = models.JSONField(default=dict, blank=True)
    evaluated_at = models.DateTimeField()

    class Meta:
        ordering = ["run", "case"]
        constraints = [
            models.UniqueConstraint(fields=["run", "case"], name="retroresult_unique_run_case"),
            models.CheckConstraint(
                condition=Q(outcome="failed") | Q(decision__isnull=False), name="retroresult_evaluated_has_decision"
            ),
        ]
        indexes = [models.Index(fields=["run", "outcome"], name="retroresult_run_outcome_idx")]

    def __str__(self) -> str:
        return f"run {self.run_id} case {self.case_id}: {self.outcome}"


class RetroItemStatus(models.TextChoices):
    OPEN = "open", "Open"
    IN_REVIEW = "in_review", "In review"
    REFERRED = "referred", "Referred for a corrected decision"
    CLOSED = "closed", "Closed"


OPEN_ITEM_STATUSES = (RetroItemStatus.OPEN, RetroItemStatus.IN_REVIEW, RetroItemStatus.REFERRED)


class RetroResolution(models.TextChoices):
    DECISION_STANDS = "decision_stands", "Decision stands"
    CORRECTED = "corrected", "Corrected by a new decision"
    # Closed when the duplicate open items of one case and policy were folded into one.
    MERGED = "merged", "Merged into another open item of the same case and policy"


class RetroReviewItem(models.Model):
    """A discrepancy for a reviewer: the decision and its citations beside the new evaluation."""

    run = models.ForeignKey(RetroRun, on_delete=models.PROTECT, related_name="items")
    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="retro_items")
    result = models.OneToOneField(RetroResult, on_delete=models.PROTECT, related_name="item")
    decision = models.ForeignKey(Decision, on_delete=models.PROTECT, related_name="+")
    # The policy the finding is about: the run's, or for a nightly run the first the finding
    # names. A case has at most one open item per policy; later runs add their findings to it.
    policy = models.ForeignKey(Policy, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=20, choices=RetroItemStatus.choices, default=RetroItemStatus.OPEN)
    rules = models.JSONField(default=list)
    # Every run's finding while the item was open: [{"run", "result", "rules", "evaluated_at"}],
    # oldest first. `rules` is their union; `lines` and the citations are the latest evaluation.
    findings = models.JSONField(default=list, blank=True)
    # Frozen at evaluation: what each line was decided, what the engine says now, and why they differ.
    lines = models.JSONField(default=list)
    original_citations = models.JSONField(default=list)
    new_citations = models.JSONField(default=list)
    opened_at = models.DateTimeField()
    due_at = models.DateTimeField()

    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    referred_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    referred_at = models.DateTimeField(null=True, blank=True)
    referral_note = models.TextField(blank=True)
    resolution = models.CharField(max_length=20, choices=RetroResolution.choices, blank=True)
    resolution_note = models.TextField(blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    corrected_decision = models.ForeignKey(
        Decision, null=True, blank=True, on_delete=models.PROTECT, related_name="retro_corrections"
    )
    row_version = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["due_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["run", "case"], name="retroitem_unique_run_case"),
            # No policy (a nightly finding that names none) counts as one more policy, 0.
            models.UniqueConstraint(
                F("case"),
                Coalesce(F("policy"), Value(0)),
                condition=Q(status__in=["open", "in_review", "referred"]),
                name="retroitem_one_open_per_case_policy",
            ),
            models.CheckConstraint(condition=Q(due_at__gt=F("opened_at")), name="retroitem_due_after_open"),
            models.CheckConstraint(
                condition=(~Q(status="closed") & Q(resolution=""))
                | (Q(status="closed") & ~Q(resolution="") & Q(resolved_at__isnull=False)),
                name="retroitem_closed_iff_resolved",
            ),
            models.CheckConstraint(
                condition=~Q(resolution="corrected") | Q(corrected_decision__isnull=False),
                name="retroitem_corrected_has_decision",
            ),
            models.CheckConstraint(
                condition=~Q(resolution="decision_stands") | ~Q(resolution_note=""),
                name="retroitem_stands_has_note",
            ),
            models.CheckConstraint(
                condition=~Q(status="in_review") | Q(assignee__isnull=False), name="retroitem_in_review_assigned"
            ),
        ]
        indexes = [
            models.Index(
                fields=["due_at", "id"],
                condition=Q(status__in=["open", "in_review", "referred"]),
                name="retroitem_open_due_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"Retrospective review {self.pk} of case {self.case_id} ({self.status})"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_ITEM_STATUSES


class RetroSchedule(models.Model):
    """The nightly run's settings, one row, edited by managers in the admin.

    When the run fires is the django-celery-beat periodic task "retro: nightly review" (also in
    the admin); what it selects is here.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    enabled = models.BooleanField(default=True, help_text="Off: the nightly task selects nothing.")
    sample_percent = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        default=Decimal("5.00"),
        validators=[MinValueValidator(Decimal(0)), MaxValueValidator(Decimal(100))],
        help_text="Percent (0-100) of the decided cases not under a retrospective-review policy that "
        "each night's run samples at random.",
    )
    first_run_days = models.PositiveIntegerField(
        default=7,
        validators=[MinValueValidator(1), MaxValueValidator(366)],
        help_text="How many days back the first nightly run looks, and the longest catch-up after "
        "nights without a run.",
    )
    updated_at = models.DateTimeField(null=True, blank=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        verbose_name = "nightly retrospective review settings"
        verbose_name_plural = "nightly retrospective review settings"
        constraints = [
            models.CheckConstraint(condition=Q(id=1), name="retroschedule_singleton"),
            models.CheckConstraint(
                condition=Q(sample_percent__gte=0, sample_percent__lte=100), name="retroschedule_sample_percent_range"
            ),
            models.CheckConstraint(
                condition=Q(first_run_days__gte=1, first_run_days__lte=366), name="retroschedule_first_run_days_range"
            ),
        ]

    def __str__(self) -> str:
        return f"nightly sample {self.sample_percent}%"
