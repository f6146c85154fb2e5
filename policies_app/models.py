"""Medical policies as versioned data.

A Policy is the plan's document identity (payer + number); a PolicyVersion is one edition of
it with the dates it is in effect. Requests are judged by the version in effect on the date of
service, so published versions are frozen: the service refuses to change them and the
database refuses an UPDATE (see migrations/0002_triggers.py).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class LineOfBusiness(models.TextChoices):
    COMMERCIAL = "commercial", "Commercial"
    MEDICARE_ADVANTAGE = "medicare_advantage", "Medicare Advantage"
    MEDICAID = "medicaid", "Medicaid"
    CHIP = "chip", "CHIP"
    EXCHANGE = "exchange", "Exchange (ACA marketplace)"
    FEP = "fep", "Federal Employee Program (FEP)"


class CodeSystem(models.TextChoices):
    CPT = "CPT", "CPT"
    HCPCS = "HCPCS", "HCPCS Level II"
    ICD10CM = "ICD10CM", "ICD-10-CM"
    # A category of service (X12 1365: "3" consultation, "42" home health care) where a standard
    # request names no procedure, as a PAS referral may.
    SERVICE_TYPE = "X12_1365", "Service type (X12 1365)"


class CoveragePosition(models.TextChoices):
    MEDICALLY_NECESSARY = "medically_necessary", "Medically necessary"
    MEDICALLY_NECESSARY_WITH_CRITERIA = (
        "medically_necessary_with_criteria",
        "Medically necessary when criteria are met",
    )
    INVESTIGATIONAL = "investigational", "Investigational"
    EXPERIMENTAL_INVESTIGATIONAL = "experimental_investigational", "Experimental/investigational"
    NOT_MEDICALLY_NECESSARY = "not_medically_necessary", "Not medically necessary"
    COSMETIC = "cosmetic", "Cosmetic"
    UNDETERMINED = "undetermined", "Not yet determined (editor must set)"


class Policy(models.Model):
    payer = models.CharField(max_length=200)
    # Blank only while an imported draft waits for the editor to supply it.
    number = models.CharField(max_length=50, blank=True)
    title = models.CharField(max_length=300, blank=True)
    lines_of_business = models.JSONField(
        default=list,
        help_text="Lines of business the policy applies to; requests of other lines are flagged as excluded.",
    )
    retrospective_review = models.BooleanField(
        default=False, help_text="Services under this policy are subject to retrospective review."
    )
    original_effective_date = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "policies"
        ordering = ["payer", "number"]
        constraints = [
            models.UniqueConstraint(
                fields=["payer", "number"],
                condition=~Q(number=""),
                name="policy_unique_payer_number",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.number or '(no number)'} {self.title or '(no title)'}"


class PolicyVersionStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    IN_REVIEW = "in_review", "In review"
    PUBLISHED = "published", "Published"
    RETIRED = "retired", "Retired"


class PolicyVersion(models.Model):
    policy = models.ForeignKey(Policy, on_delete=models.PROTECT, related_name="versions")
    version_label = models.CharField(max_length=50)
    status = models.CharField(max_length=20, choices=PolicyVersionStatus.choices, default=PolicyVersionStatus.DRAFT)
    coverage_position = models.CharField(max_length=40, choices=CoveragePosition.choices)
    effective_start = models.DateField(null=True, blank=True, help_text="Blank when unknown.")
    effective_end = models.DateField(null=True, blank=True, help_text="Blank while open-ended.")
    revised_date = models.DateField(null=True, blank=True)
    review_date = models.DateField(null=True, blank=True)
    statement = models.TextField(blank=True)
    history = models.JSONField(default=list, blank=True)
    source_document = models.FileField(upload_to="policy_sources/", blank=True)
    source_sha256 = models.CharField(max_length=64, blank=True, db_index=True)
    missing_fields = models.JSONField(
        default=list, blank=True, help_text="What the editor must fill in before this can be published."
    )
    content_sha256 = models.CharField(max_length=64, blank=True)
    auto_approve_when_met = models.BooleanField(
        "approval when criteria are met",
        default=False,
        help_text=(
            "Let intake approve a request on its own when this version's criteria are met on the submitted "
            "facts and nothing else is flagged (only while the plan's automatic-approval switch is on). "
            "Denials are never automatic."
        ),
    )
    based_on = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    submitted_at = models.DateTimeField(null=True, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["policy", "-effective_start"]
        constraints = [
            models.UniqueConstraint(fields=["policy", "version_label"], name="policyversion_unique_label"),
            models.CheckConstraint(
                condition=Q(effective_end__isnull=True)
                | Q(effective_start__isnull=True)
                | Q(effective_end__gte=models.F("effective_start")),
                name="policyversion_end_not_before_start",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=["published", "retired"])
                | (Q(published_at__isnull=False) & ~Q(content_sha256="")),
                name="policyversion_published_has_stamp",
            ),
        ]
        indexes = [models.Index(fields=["status", "policy"], name="policyversion_status_idx")]

    def __str__(self) -> str:
        return f"{self.policy.number or '(no number)'} v{self.version_label} ({self.get_status_display()})"

    @property
    def is_frozen(self) -> bool:
        return self.status in (PolicyVersionStatus.PUBLISHED, PolicyVersionStatus.RETIRED)


class PolicyCode(models.Model):
    version = models.ForeignKey(PolicyVersion, on_delete=models.CASCADE, related_name="codes")
    system = models.CharField(max_length=10, choices=CodeSystem.choices)
    code = models.CharField(max_length=10, help_text="A single code, or the first code of a range.")
    code_end = models.CharField(max_length=10, blank=True, help_text="Last code of a range; blank for one code.")
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["system", "code"]
        constraints = [
            models.UniqueConstraint(fields=["version", "system", "code", "code_end"], name="policycode_unique"),
            # ICD-10-CM ranges run in the code set's tabular order, which is not text order (C7A
            # comes before C76, C84.ZA before C84.9); policies_app.codes.range_problem checks them.
            models.CheckConstraint(
                condition=Q(code_end="") | Q(system=CodeSystem.ICD10CM) | Q(code_end__gte=models.F("code")),
                name="policycode_range_ordered",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.system} {self.code}{'-' + self.code_end if self.code_end else ''}"


class TermKind(models.TextChoices):
    DEVICE = "device", "Device"
    PROCEDURE = "procedure", "Procedure"


class PolicyTerm(models.Model):
    version = models.ForeignKey(PolicyVersion, on_delete=models.CASCADE, related_name="terms")
    term = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=TermKind.choices, default=TermKind.DEVICE)

    class Meta:
        ordering = ["term"]
        constraints = [models.UniqueConstraint(fields=["version", "term"], name="policyterm_unique")]

    def __str__(self) -> str:
        return self.term


class FactType(models.TextChoices):
    NUMBER = "number", "Number"
    INTEGER = "integer", "Whole number"
    BOOLEAN = "boolean", "Yes / no"
    TEXT = "text", "Text"
    DATE = "date", "Date"
    CODE_LIST = "code_list", "List of codes"


class FactDefinition(models.Model):
    """A typed fact that criteria can test, such as member age or weeks of conservative therapy."""

    key = models.SlugField(max_length=80, unique=True)
    label = models.CharField(max_length=200)
    value_type = models.CharField(max_length=20, choices=FactType.choices)
    unit = models.CharField(max_length=40, blank=True)
    description = models.TextField(blank=True)
    derived = models.BooleanField(
        default=False, help_text="Computed from the request itself (age, diagnoses), not sent as a clinical fact."
    )
    allowed_values = models.JSONField(
        default=list,
        blank=True,
        help_text='The values a reviewer or a form may give, as [{"value": ..., "label": ...}]; empty when any value of its type is allowed.',
    )

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return f"{self.label} ({self.key})"


class CriterionNodeType(models.TextChoices):
    ALL_OF = "all_of", "All of"
    ANY_OF = "any_of", "Any of"
    AT_LEAST = "at_least", "At least N of"
    LEAF = "leaf", "Condition"
    # A condition no fact in the catalogue expresses: it reads unknown until a reviewer records, from
    # the documentation, whether it is met (the engine's documented_fact_key names where).
    DOCUMENTED = "documented", "Documented review"


class CriterionOperator(models.TextChoices):
    EQ = "eq", "equals"
    NE = "ne", "does not equal"
    GT = "gt", "greater than"
    GTE = "gte", "at least"
    LT = "lt", "less than"
    LTE = "lte", "at most"
    IN = "in", "is one of"
    NOT_IN = "not_in", "is none of"
    ANY_IN = "any_in", "includes any of"
    NONE_IN = "none_in", "includes none of"
    IS_TRUE = "is_true", "is yes"
    IS_FALSE = "is_false", "is no"


class Criterion(models.Model):
    """A node of a version's criteria tree: a group (all/any/at least N) or a leaf condition."""

    version = models.ForeignKey(PolicyVersion, on_delete=models.CASCADE, related_name="criteria")
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="children")
    position = models.PositiveIntegerField(default=0)
    node_type = models.CharField(max_length=20, choices=CriterionNodeType.choices)
    label = models.CharField(max_length=500, help_text="The criterion as the policy states it.")
    min_met = models.PositiveIntegerField(null=True, blank=True, help_text="For 'at least N of'.")
    fact = models.ForeignKey(FactDefinition, null=True, blank=True, on_delete=models.PROTECT)
    operator = models.CharField(max_length=20, choices=CriterionOperator.choices, blank=True)
    value = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["version", "parent_id", "position", "id"]
        verbose_name_plural = "criteria"
        constraints = [
            models.CheckConstraint(
                condition=~Q(node_type="leaf") | (Q(fact__isnull=False) & ~Q(operator="")),
                name="criterion_leaf_has_fact_and_operator",
            ),
            models.CheckConstraint(
                condition=~Q(node_type="at_least") | Q(min_met__gte=1),
                name="criterion_at_least_has_min",
            ),
            models.CheckConstraint(
                condition=~Q(node_type="documented") | (Q(fact__isnull=True) & ~Q(label="")),
                name="criterion_documented_has_text_and_no_fact",
            ),
        ]

    def __str__(self) -> str:
        return self.label


class LibraryStamp(models.Model):
    """One row whose counter moves on every publish or retire.

    Each process compares it with the stamp of its in-memory engine index and rebuilds the
    index when they differ, so a publish is seen everywhere without a restart.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    value = models.PositiveBigIntegerField(default=0)
    # A counter alone can repeat: a bump inside a transaction that rolls back, then another
    # bump, gives the same number for different content. A random token per bump cannot.
    token = models.CharField(max_length=32, default="initial")
    changed_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(id=1), name="librarystamp_singleton")]

    def __str__(self) -> str:
        return f"library stamp {self.value}"


class Requirement(models.TextChoices):
    """Whether a service needs prior authorization: the plan's list (CMS-0057-F makes plans publish it)."""

    REQUIRED = "required", "Prior authorization required"
    NOTIFICATION_ONLY = "notification_only", "Notification only"
    NOT_REQUIRED = "not_required", "No prior authorization required"
    NOT_COVERED = "not_covered", "Not covered: benefit exclusion"


class RequirementRuleStatus(models.TextChoices):
    """A rule is drafted and published by an editor (no separate review: publishing is confirming)."""

    DRAFT = "draft", "Draft"
    PUBLISHED = "published", "Published"
    RETIRED = "retired", "Retired"


class RequirementRule(models.Model):
    """Whether a code (or range), for a line of business and dates, needs prior authorization.

    A rule without a code is the plan-wide default. `diagnosis_codes` narrows a rule to requests
    carrying one of those ICD-10-CM codes; a category or subcategory also matches the codes under
    it (M48.06 matches M48.062), as policies name diagnoses at that level. Published rules are
    frozen (migrations/0003 installs the trigger); a change is a new version that `supersedes`
    the rule it replaces.
    """

    code_system = models.CharField(
        max_length=10,
        choices=[(CodeSystem.CPT.value, CodeSystem.CPT.label), (CodeSystem.HCPCS.value, CodeSystem.HCPCS.label)],
        blank=True,
        help_text="Blank for the plan-wide default.",
    )
    code_start = models.CharField(
        "code",
        max_length=10,
        blank=True,
        help_text="A code, or the first code of a range; blank for the plan-wide default.",
    )
    code_end = models.CharField(
        "last code of the range", max_length=10, blank=True, help_text="Blank for a single code."
    )
    diagnosis_codes = models.JSONField(
        default=list,
        blank=True,
        help_text="ICD-10-CM codes; the rule applies only to requests carrying one of them (a category includes its codes).",
    )
    line_of_business = models.CharField(
        max_length=30, choices=LineOfBusiness.choices, blank=True, help_text="Blank for every line of business."
    )
    requirement = models.CharField(max_length=20, choices=Requirement.choices)
    effective_start = models.DateField()
    effective_end = models.DateField(null=True, blank=True, help_text="Blank while open-ended.")
    status = models.CharField(max_length=20, choices=RequirementRuleStatus.choices, default=RequirementRuleStatus.DRAFT)
    version = models.PositiveIntegerField(default=1)
    supersedes = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="superseded_by",
        help_text="The rule this version replaces.",
    )
    policy = models.ForeignKey(
        Policy,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="requirement_rules",
        help_text="The policy this rule comes from, if any.",
    )
    source_text = models.TextField(
        blank=True,
        help_text="The policy's own words the rule was suggested from, e.g. 'PRIOR APPROVAL: Not applicable'.",
    )
    suggested_from = models.ForeignKey(
        PolicyVersion,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="suggested_requirement_rules",
        help_text="The policy version whose statement suggested this rule.",
    )
    note = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["code_system", "code_start", "line_of_business", "-effective_start"]
        constraints = [
            models.CheckConstraint(
                condition=Q(code_end="") | Q(code_end__gte=models.F("code_start")),
                name="requirementrule_range_ordered",
            ),
            models.CheckConstraint(
                condition=(Q(code_start="") & Q(code_end="") & Q(code_system=""))
                | (~Q(code_start="") & ~Q(code_system="")),
                name="requirementrule_code_needs_system",
            ),
            models.CheckConstraint(
                condition=Q(effective_end__isnull=True) | Q(effective_end__gte=models.F("effective_start")),
                name="requirementrule_end_not_before_start",
            ),
            models.CheckConstraint(
                condition=~Q(status="published") | (Q(published_at__isnull=False) & Q(published_by__isnull=False)),
                name="requirementrule_published_has_stamp",
            ),
            models.CheckConstraint(condition=Q(version__gte=1), name="requirementrule_version_positive"),
            models.CheckConstraint(
                condition=Q(supersedes__isnull=True) | Q(version__gt=1),
                name="requirementrule_successor_has_later_version",
            ),
            models.UniqueConstraint(
                fields=["supersedes"],
                condition=Q(supersedes__isnull=False) & ~Q(status="retired"),
                name="requirementrule_one_live_successor",
            ),
        ]
        indexes = [models.Index(fields=["status", "code_system", "code_start"], name="requirementrule_status_idx")]

    def __str__(self) -> str:
        return f"{self.scope_label} v{self.version} ({self.get_status_display()})"

    @property
    def scope_label(self) -> str:
        """The code or range the rule covers, in people's words."""
        if not self.code_start:
            return "Plan-wide default"
        dash = "\u2013"
        return f"{self.code_system} {self.code_start}{dash + self.code_end if self.code_end else ''}"

    @property
    def is_frozen(self) -> bool:
        return self.status != RequirementRuleStatus.DRAFT


class ImportFieldReview(models.Model):
    """A field the importer read below its confidence threshold: publishing waits until an editor confirms it."""

    version = models.ForeignKey(PolicyVersion, on_delete=models.CASCADE, related_name="field_reviews")
    field = models.CharField(max_length=40, help_text="The importer's name of the field, e.g. effective_start.")
    position = models.PositiveIntegerField(default=0, help_text="Which item, for a field the document lists.")
    label = models.CharField(max_length=100)
    value = models.JSONField(null=True, blank=True, help_text="The value as the importer read it.")
    shown = models.CharField(max_length=500, help_text="The value in the words the editor confirmed.")
    source_text = models.TextField(blank=True)
    confidence = models.FloatField()
    corrected_from = models.CharField(
        max_length=500, blank=True, help_text="The value as read, when the editor corrected it before confirming."
    )
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    confirmed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["version", "id"]
        constraints = [
            models.UniqueConstraint(fields=["version", "field", "position"], name="importfieldreview_unique_item"),
            models.CheckConstraint(
                condition=Q(confirmed_at__isnull=True, confirmed_by__isnull=True)
                | Q(confirmed_at__isnull=False, confirmed_by__isnull=False),
                name="importfieldreview_confirmed_by_someone",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.label}: {self.shown}"


class ImportUpload(models.Model):
    """A document read on the import page, held until its editor creates the draft from exactly these bytes."""

    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    sha256 = models.CharField(max_length=64)
    filename = models.CharField(max_length=255)
    size = models.PositiveIntegerField()
    data = models.BinaryField()
    held_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["uploaded_by", "sha256"], name="importupload_unique_per_editor"),
        ]

    def __str__(self) -> str:
        return f"{self.filename} ({self.sha256[:12]})"
