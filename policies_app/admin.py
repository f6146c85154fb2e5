"""The policy editors' admin.

Editors maintain policies, draft versions with their codes, terms and criteria, move versions
through review and publication, compare versions side by side and try a version against a
sample request. Every status change goes through policies_app.services: the admin only
collects input and shows the domain's answer, so the rules live in one place.

Reviewers and managers get view permissions only (casemgmt.security.services.roles_sync_permissions),
so the same pages render read-only for them, without the action buttons.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import flatten_fieldsets
from django.contrib.auth.models import User
from django.core.exceptions import FieldDoesNotExist, PermissionDenied, ValidationError
from django.db.models import ForeignKey, Model, QuerySet
from django.forms.models import ModelChoiceField
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.text import capfirst

from casemgmt.audit.recording import AuditedAdminMixin
from casemgmt.kernel.errors import DomainError, ValidationFailed
from policies_app import services
from policies_app.codes import code_problem, normalize_code, range_problem
from policies_app.compare import diff_rows
from policies_app.engine import (
    FlagData,
    LineRequest,
    RequestData,
    documented_fact_key,
    evaluate_request,
    lines_of_business_text,
)
from policies_app.importing.admin_views import draft_review_url, policy_import_view
from policies_app.models import (
    CodeSystem,
    Criterion,
    CriterionNodeType,
    CriterionOperator,
    FactDefinition,
    FactType,
    LineOfBusiness,
    Policy,
    PolicyCode,
    PolicyTerm,
    PolicyVersion,
    PolicyVersionStatus,
    RequirementRule,
    RequirementRuleStatus,
)
from policies_app.requirement_rules import (
    RequirementRuleInput,
    requirement_rule_create,
    requirement_rule_new_version,
    requirement_rule_problems,
    requirement_rule_publish,
    requirement_rule_retire,
    requirement_rule_update,
)
from policies_app.selectors import index_with_draft, version_content

# --- domain errors as admin messages ------------------------------------------------------


def _field_label(field_path: str) -> str:
    """A readable name for a service's field path such as "statement" or "policy.number"."""
    model: type[Model] = PolicyVersion
    name = field_path
    prefix = ""
    if field_path.startswith("policy."):
        model, name, prefix = Policy, field_path.removeprefix("policy."), "policy "
    try:
        verbose = str(getattr(model._meta.get_field(name), "verbose_name", name.replace("_", " ")))
    except FieldDoesNotExist:
        verbose = name.replace("_", " ")
    return capfirst(prefix + verbose)


def domain_error_messages(exc: DomainError) -> list[str]:
    """One message per field the service complained about, naming the field and the problem."""
    if isinstance(exc, ValidationFailed):
        return [f"{_field_label(field)}: {'; '.join(problems)}." for field, problems in exc.errors.items()]
    if exc.field:
        return [f"{_field_label(exc.field)}: {exc.message}."]
    return [capfirst(exc.message) + "."]


def _name(version: PolicyVersion) -> str:
    """A version named without its status, which the message itself is about."""
    policy = version.policy
    return f"{policy.number or policy.title or f'policy #{policy.pk}'} v{version.version_label}"


def _acting_user(request: HttpRequest) -> User:
    # admin_view has already turned away anonymous users; services want a real account.
    user = request.user
    if not isinstance(user, User):
        raise PermissionDenied
    return user


def in_effect_on(version: PolicyVersion, day: date) -> bool:
    """Published and within its effective dates on `day` (an unknown start counts as always begun)."""
    return (
        version.status == PolicyVersionStatus.PUBLISHED
        and (version.effective_start is None or version.effective_start <= day)
        and (version.effective_end is None or day <= version.effective_end)
    )


# The timeline's geometry, in percent of its width and in pixels down: labels on the left,
# bars from BAR_LEFT to BAR_RIGHT.
BAR_LEFT, BAR_RIGHT = 30.0, 98.0
ROW_HEIGHT, BAR_HEIGHT, AXIS_HEIGHT = 28, 18, 22


@dataclass(frozen=True)
class TimelineBar:
    version_id: int
    label: str
    status: str
    status_label: str
    dates: str
    in_effect: bool
    x: str
    width: str
    y: int
    text_y: int
    open_ended: bool
    has_dates: bool


@dataclass(frozen=True)
class Timeline:
    bars: tuple[TimelineBar, ...]
    ticks: tuple[tuple[str, int], ...]
    today_x: str
    height: int
    axis_y: int


def versions_timeline(versions: list[PolicyVersion], today: date) -> Timeline | None:
    """A policy's versions laid along the calendar, for an SVG the change page draws."""
    if not versions:
        return None
    known = [d for v in versions for d in (v.effective_start, v.effective_end) if d is not None]
    lo = min([*known, today])
    hi = max([*known, today])
    lo, hi = date(lo.year, 1, 1), date(hi.year + 1, 1, 1)
    span = (hi - lo).days

    def x_of(day: date) -> float:
        return BAR_LEFT + (BAR_RIGHT - BAR_LEFT) * (day - lo).days / span

    bars = []
    ordered = sorted(versions, key=lambda v: (v.effective_start or date.min, v.version_label))
    for row, version in enumerate(ordered):
        start = version.effective_start or lo
        end = version.effective_end or hi
        has_dates = version.effective_start is not None or version.effective_end is not None
        from_text = version.effective_start.isoformat() if version.effective_start else "unknown start"
        to_text = version.effective_end.isoformat() if version.effective_end else "open"
        y = row * ROW_HEIGHT + 4
        bars.append(
            TimelineBar(
                version_id=version.pk,
                label=f"v{version.version_label}",
                status=version.status,
                status_label=version.get_status_display(),
                dates=f"{from_text} to {to_text}" if has_dates else "no dates yet",
                in_effect=in_effect_on(version, today),
                x=f"{x_of(start):.2f}",
                width=f"{max(x_of(end) - x_of(start), 0.4):.2f}",
                y=y,
                text_y=y + BAR_HEIGHT - 5,
                open_ended=version.effective_end is None,
                has_dates=has_dates,
            )
        )
    years = hi.year - lo.year
    step = 1 if years <= 12 else 2 if years <= 24 else 5
    ticks = tuple((f"{x_of(date(year, 1, 1)):.2f}", year) for year in range(lo.year, hi.year + 1, step))
    rows_height = len(bars) * ROW_HEIGHT + 8
    return Timeline(
        bars=tuple(bars),
        ticks=ticks,
        today_x=f"{x_of(today):.2f}",
        height=rows_height + AXIS_HEIGHT,
        axis_y=rows_height,
    )


# --- policies ------------------------------------------------------------------------------


class PolicyForm(forms.ModelForm):
    lines_of_business = forms.MultipleChoiceField(
        choices=LineOfBusiness.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="Lines of business the policy applies to; requests of other lines are flagged as excluded.",
    )

    class Meta:
        model = Policy
        fields = ["payer", "number", "title", "lines_of_business", "retrospective_review", "original_effective_date"]


class PolicyVersionSummaryInline(admin.TabularInline):
    """The policy's versions, for navigation; versions are edited on their own page."""

    model = PolicyVersion
    fields = ("version_label", "status", "coverage_position", "effective_start", "effective_end", "published_at")
    readonly_fields = (
        "version_label",
        "status",
        "coverage_position",
        "effective_start",
        "effective_end",
        "published_at",
    )
    extra = 0
    show_change_link = True
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Policy)
class PolicyAdmin(AuditedAdminMixin, admin.ModelAdmin):
    form = PolicyForm
    list_display = ["number", "title", "payer", "current_version", "retrospective_review"]
    list_display_links = ["number", "title"]
    list_filter = ["payer", "retrospective_review"]
    search_fields = ["number", "title", "payer"]
    inlines = [PolicyVersionSummaryInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Policy]:
        return super().get_queryset(request).prefetch_related("versions")

    def get_urls(self) -> list[URLPattern]:
        def import_view(request: HttpRequest) -> HttpResponse:
            return policy_import_view(self, request)

        page = path("import/", self.admin_site.admin_view(import_view), name="policies_app_policy_import")
        return [page, *super().get_urls()]

    def get_readonly_fields(self, request: HttpRequest, obj: Policy | None = None) -> list[str]:
        # Published versions were judged, hashed and cited with these; changing them would
        # change what a frozen version says. A correction is a new policy or version.
        frozen = (
            obj is not None
            and obj.versions.filter(status__in=[PolicyVersionStatus.PUBLISHED, PolicyVersionStatus.RETIRED]).exists()
        )
        return ["payer", "number", "title", "lines_of_business", "lines_of_business_text"] if frozen else []

    def get_fields(self, request: HttpRequest, obj: Policy | None = None) -> Any:
        fields = super().get_fields(request, obj)
        # Frozen, the lines are shown by their labels, not as the list they are stored as.
        hidden = "lines_of_business" if "lines_of_business_text" in fields else "lines_of_business_text"
        return [f for f in fields if f != hidden]

    @admin.display(description="Lines of business")
    def lines_of_business_text(self, obj: Policy) -> str:
        return lines_of_business_text(obj.lines_of_business) or "None"

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Policy | None = None,
    ) -> HttpResponse:
        if obj is not None:
            context["versions_timeline"] = versions_timeline(list(obj.versions.all()), timezone.localdate())
        return super().render_change_form(request, context, add, change, form_url, obj)

    @admin.display(description="Version in effect today")
    def current_version(self, obj: Policy) -> str:
        today = timezone.localdate()
        current = [v for v in obj.versions.all() if in_effect_on(v, today)]
        if not current:
            upcoming = sorted(
                (v for v in obj.versions.all() if v.status == PolicyVersionStatus.PUBLISHED and v.effective_start),
                key=lambda v: v.effective_start or date.max,
            )
            later = [v for v in upcoming if v.effective_start and v.effective_start > today]
            if later:
                return f"None today; {later[0].version_label} from {later[0].effective_start}"
            return "None in effect today"
        version = current[0]
        start = version.effective_start.isoformat() if version.effective_start else "unknown start"
        return f"{version.version_label} (from {start})"


def allowed_value_of(value_type: str, raw: str) -> Any:
    """One allowed value as the fact's type stores it; ValueError names what was expected."""
    if value_type == FactType.INTEGER:
        try:
            return int(raw)
        except ValueError:
            raise ValueError("a whole number") from None
    if value_type == FactType.NUMBER:
        try:
            number = float(raw)
        except ValueError:
            raise ValueError("a number") from None
        return int(number) if number.is_integer() else number
    if value_type == FactType.BOOLEAN:
        if raw.lower() in ("true", "yes"):
            return True
        if raw.lower() in ("false", "no"):
            return False
        raise ValueError("yes or no")
    if value_type == FactType.DATE:
        try:
            return date.fromisoformat(raw).isoformat()
        except ValueError:
            raise ValueError("a date (YYYY-MM-DD)") from None
    return raw


def stored_list(value: Any) -> Any:
    """A JSON field's list as a form shows it again after a refused save: the list, decoded."""
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


class AllowedValuesField(forms.Field):
    """The allowed values edited as lines, "value | label" each; stored as [{"value", "label"}]."""

    widget = forms.Textarea(attrs={"rows": 5, "cols": 60})

    def prepare_value(self, value: Any) -> Any:
        value = stored_list(value)
        if isinstance(value, list):
            lines = []
            for item in value:
                if not isinstance(item, dict):
                    continue
                shown = item.get("value")
                shown = ("yes" if shown else "no") if isinstance(shown, bool) else shown
                label = item.get("label") or ""
                lines.append(f"{shown} | {label}" if label and label != str(shown) else str(shown))
            return "\n".join(lines)
        return value

    def to_python(self, value: Any) -> list[tuple[str, str, int]]:
        """(value as typed, label, line number): typed against the fact's type in the form's clean()."""
        rows = []
        for number, line in enumerate(str(value or "").splitlines(), start=1):
            if not line.strip():
                continue
            raw, _, label = (part.strip() for part in line.partition("|"))
            if not raw:
                raise ValidationError(f"line {number}: the value is missing (write value | label)")
            rows.append((raw, label, number))
        return rows


class FactDefinitionForm(forms.ModelForm):
    allowed_values = AllowedValuesField(
        required=False,
        help_text=(
            "One allowed value per line, optionally with the words people see: value | label, for example "
            "“L4-L5 | Fourth and fifth lumbar vertebrae”. Values are of the fact's type (numbers, yes/no, "
            "dates as YYYY-MM-DD). Leave empty when any value of its type is allowed."
        ),
    )

    class Meta:
        model = FactDefinition
        fields = ["key", "label", "value_type", "unit", "description", "derived", "allowed_values"]

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        rows = cleaned.get("allowed_values") or []
        value_type = cleaned.get("value_type") or self.instance.value_type
        values: list[dict[str, Any]] = []
        seen: set[str] = set()
        for raw, label, number in rows:
            try:
                value = allowed_value_of(value_type, raw)
            except ValueError as exc:
                self.add_error("allowed_values", f"line {number}: {raw!r} is not {exc}")
                continue
            key = allowed_value_key(value)
            if key in seen:
                self.add_error("allowed_values", f"line {number}: {raw!r} is listed twice")
                continue
            seen.add(key)
            values.append({"value": value, "label": label or str(raw)})
        cleaned["allowed_values"] = values
        return cleaned


@admin.register(FactDefinition)
class FactDefinitionAdmin(AuditedAdminMixin, admin.ModelAdmin):
    form = FactDefinitionForm
    list_display = ["key", "label", "value_type", "unit", "allowed", "derived"]
    list_filter = ["value_type", "derived"]
    search_fields = ["key", "label"]

    @admin.display(description="Allowed values")
    def allowed(self, obj: FactDefinition) -> str:
        labels = [str(item.get("label") or item.get("value")) for item in obj.allowed_values if isinstance(item, dict)]
        return ", ".join(labels) if labels else "Any"


# --- the parts of a version ----------------------------------------------------------------


def _is_draft(version: PolicyVersion | None) -> bool:
    return version is None or version.status == PolicyVersionStatus.DRAFT


class VersionPartInline(admin.TabularInline):
    """Codes, terms and criteria: editable while the version is a draft, read-only after."""

    extra = 0

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # They are part of the version: whoever may read the version may read them.
        return super().has_view_permission(request, obj) or request.user.has_perm("policies_app.view_policyversion")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _is_draft(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _is_draft(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _is_draft(obj) and super().has_delete_permission(request, obj)


class PolicyCodeForm(forms.ModelForm):
    class Meta:
        model = PolicyCode
        fields = ["system", "code", "code_end", "description"]
        widgets = {"description": forms.TextInput(attrs={"size": 50})}

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        system, code, code_end = cleaned.get("system"), cleaned.get("code"), cleaned.get("code_end") or ""
        if not system or not code:
            return cleaned
        # Store codes the way the services and the engine compare them (upper case, ICD-10 dotted).
        code = cleaned["code"] = normalize_code(system, code)
        code_end = cleaned["code_end"] = normalize_code(system, code_end) if code_end else ""
        problem = range_problem(system, code, code_end) if code_end else code_problem(system, code)
        if problem:
            self.add_error("code_end" if code_end and not code_problem(system, code) else "code", problem)
        return cleaned


class PolicyCodeInline(VersionPartInline):
    model = PolicyCode
    form = PolicyCodeForm


class PolicyTermInline(VersionPartInline):
    model = PolicyTerm
    fields = ["term", "kind"]


class CriterionForm(forms.ModelForm):
    class Meta:
        model = Criterion
        fields = ["parent", "position", "node_type", "label", "min_met", "fact", "operator", "value"]
        widgets = {
            "label": forms.TextInput(attrs={"size": 40}),
            "value": forms.TextInput(attrs={"size": 24, "placeholder": 'JSON: 6, true, ["M48.06"]'}),
            # A class, not style="": the Content Security Policy refuses inline styles (admin-extra.css).
            "position": forms.NumberInput(attrs={"class": "narrow-number"}),
            "min_met": forms.NumberInput(attrs={"class": "narrow-number"}),
        }
        help_texts = {"value": "As JSON: a number, true/false, a quoted string or a list."}

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        parent: Criterion | None = cleaned.get("parent")
        if parent is None:
            return cleaned
        if parent.node_type in (CriterionNodeType.LEAF, CriterionNodeType.DOCUMENTED):
            self.add_error("parent", f"{parent.label!r} is a condition; only a group can contain criteria")
            return cleaned
        # Walking up from the chosen parent must not come back to this node, or the tree has a cycle.
        seen: set[int] = set()
        node: Criterion | None = parent
        while node is not None and node.pk not in seen:
            if self.instance.pk is not None and node.pk == self.instance.pk:
                self.add_error("parent", "a criterion cannot sit inside itself")
                break
            seen.add(node.pk)
            node = node.parent
        return cleaned


class CriterionInline(VersionPartInline):
    model = Criterion
    form = CriterionForm
    verbose_name_plural = "criteria"
    # Shown only where criteria can be edited: a read-only version has nothing to place.
    draft_verbose_name_plural = "criteria (a new group must be saved before criteria can be placed in it)"

    def formfield_for_foreignkey(
        self, db_field: ForeignKey[Any, Any], request: HttpRequest, **kwargs: Any
    ) -> ModelChoiceField | None:
        if db_field.name == "parent":
            # Only groups of this same version can be a parent.
            match = request.resolver_match
            version_id = match.kwargs.get("object_id") if match else None
            groups = Criterion.objects.exclude(node_type__in=[CriterionNodeType.LEAF, CriterionNodeType.DOCUMENTED])
            kwargs["queryset"] = groups.filter(version_id=version_id) if version_id else groups.none()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


# --- versions --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Transition:
    label: str
    service: Callable[..., PolicyVersion]
    done: str
    from_status: PolicyVersionStatus


TRANSITIONS: dict[str, Transition] = {
    "submit": Transition(
        "Submit for review",
        services.policy_version_submit_for_review,
        "submitted for review",
        PolicyVersionStatus.DRAFT,
    ),
    "return": Transition(
        "Return to draft", services.policy_version_return_to_draft, "returned to draft", PolicyVersionStatus.IN_REVIEW
    ),
    "publish": Transition("Publish", services.policy_version_publish, "published", PolicyVersionStatus.IN_REVIEW),
    "retire": Transition("Retire", services.policy_version_retire, "retired", PolicyVersionStatus.PUBLISHED),
}

HISTORY_HELP = (
    "One entry per line: date | what happened | detail, for example "
    "“2025-01-01 | Revised | Added the imaging criterion”."
)


class HistoryField(forms.Field):
    """A version's history ([{"date", "action", "detail"}]) edited as lines, one entry each."""

    widget = forms.Textarea(attrs={"rows": 4, "cols": 80})

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, str):
            try:
                value = json.loads(value) if value.strip().startswith("[") else value
            except json.JSONDecodeError:
                return value
        if isinstance(value, list):
            return "\n".join(
                " | ".join(str(entry.get(k, "")) for k in ("date", "action", "detail")).rstrip(" |")
                for entry in value
                if isinstance(entry, dict)
            )
        return value

    def to_python(self, value: Any) -> list[dict[str, str]]:
        entries: list[dict[str, str]] = []
        for number, line in enumerate(str(value or "").splitlines(), start=1):
            if not line.strip():
                continue
            cells = [cell.strip() for cell in line.split("|")]
            if len(cells) > 3 or not cells[0] or len(cells) < 2 or not cells[1]:
                raise ValidationError(f"line {number}: write date | what happened | detail")
            entries.append({"date": cells[0], "action": cells[1], "detail": cells[2] if len(cells) > 2 else ""})
        return entries


class NotesField(forms.Field):
    """A list of notes (the importer's missing fields) edited as lines, one note each."""

    widget = forms.Textarea(attrs={"rows": 3, "cols": 80})

    def prepare_value(self, value: Any) -> Any:
        value = stored_list(value)
        return "\n".join(str(item) for item in value) if isinstance(value, list) else value

    def to_python(self, value: Any) -> list[str]:
        return [line.strip() for line in str(value or "").splitlines() if line.strip()]


class PolicyVersionForm(forms.ModelForm):
    history = HistoryField(required=False, help_text=HISTORY_HELP)
    missing_fields = NotesField(
        required=False,
        label="Missing fields",
        help_text="What the editor must fill in before this can be published, one per line; clear each when done.",
    )

    class Meta:
        model = PolicyVersion
        fields = [
            "policy",
            "version_label",
            "coverage_position",
            "auto_approve_when_met",
            "effective_start",
            "effective_end",
            "revised_date",
            "review_date",
            "statement",
            "history",
            "missing_fields",
            "source_document",
        ]


# What a read-only version page shows in place of a field stored as JSON.
# Their help texts say how to fill the field in, which a read-only page must not.
READ_ONLY_DISPLAY = {
    "history": "history_table",
    "missing_fields": "missing_fields_list",
    "effective_start": "effective_start_text",
    "effective_end": "effective_end_text",
    "auto_approve_when_met": "auto_approve_text",
}

ALWAYS_READONLY = [
    "status",
    "source_sha256",
    "content_sha256",
    "based_on",
    "created_by",
    "created_at",
    "submitted_by",
    "submitted_at",
    "published_by",
    "published_at",
    "imported_fields_list",
]


class DraftFromForm(forms.Form):
    version_label = forms.CharField(max_length=50, help_text="The label of the new draft, for example 2026-01.")


FACT_FIELD_PREFIX = "fact-"
DOCUMENTED_FIELD_PREFIX = "documented-"
UNKNOWN = ""
YES_NO_UNKNOWN = [(UNKNOWN, "Unknown"), ("yes", "Yes"), ("no", "No")]


def allowed_value_key(value: Any) -> str:
    """An allowed value as a form choice's key; json keeps 6 and "6" apart."""
    return json.dumps(value, sort_keys=True)


def _fact_label(fact: FactDefinition) -> str:
    return f"{fact.label} ({fact.unit})" if fact.unit else fact.label


def fact_form_field(fact: FactDefinition) -> forms.Field:
    """A typed input for one fact of the catalogue; blank means "not documented" (unknown)."""
    common: dict[str, Any] = {"required": False, "label": _fact_label(fact), "help_text": fact.description}
    choices = [
        (allowed_value_key(v.get("value")), str(v.get("label") or v.get("value")))
        for v in fact.allowed_values
        if isinstance(v, dict)
    ]
    if choices and fact.value_type == FactType.CODE_LIST:
        return forms.MultipleChoiceField(choices=choices, widget=forms.CheckboxSelectMultiple, **common)
    if choices:
        return forms.ChoiceField(choices=[(UNKNOWN, "Unknown"), *choices], **common)
    if fact.value_type == FactType.BOOLEAN:
        return forms.ChoiceField(choices=YES_NO_UNKNOWN, widget=forms.RadioSelect, initial=UNKNOWN, **common)
    if fact.value_type == FactType.INTEGER:
        return forms.IntegerField(widget=forms.NumberInput(attrs={"class": "narrow-number"}), **common)
    if fact.value_type == FactType.NUMBER:
        return forms.DecimalField(widget=forms.NumberInput(attrs={"class": "narrow-number", "step": "any"}), **common)
    if fact.value_type == FactType.DATE:
        return forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), **common)
    if fact.value_type == FactType.CODE_LIST:
        common["help_text"] = " ".join(filter(None, [fact.description, "Codes separated by commas."]))
        return forms.CharField(**common)
    return forms.CharField(**common)


def fact_value(fact: FactDefinition, raw: Any) -> Any:
    """A cleaned form value as the engine reads a submitted clinical fact; None when not given."""
    if raw in (None, "", [], ()):
        return None
    if fact.allowed_values:
        return [json.loads(v) for v in raw] if isinstance(raw, list) else json.loads(raw)
    if fact.value_type == FactType.BOOLEAN:
        return raw == "yes"
    if fact.value_type == FactType.NUMBER:
        number = float(raw)
        return int(number) if number.is_integer() else number
    if fact.value_type == FactType.DATE:
        return raw.isoformat()
    if fact.value_type == FactType.CODE_LIST:
        return [code.strip().upper() for code in str(raw).replace(";", ",").split(",") if code.strip()]
    return raw


@dataclass(frozen=True)
class DocumentedCriterion:
    key: str
    label: str


def documented_criteria(version: PolicyVersion) -> list[DocumentedCriterion]:
    """The version's documented-review criteria, each once, in the order the policy states them."""
    nodes = version.criteria.filter(node_type=CriterionNodeType.DOCUMENTED).order_by("parent_id", "position", "id")
    found = {documented_fact_key(node.label): node.label for node in nodes}
    return [DocumentedCriterion(key, label) for key, label in found.items()]


def try_it_initial(version: PolicyVersion) -> dict[str, Any]:
    """A request the version governs: its first code, its policy's first line of business, its start."""
    initial: dict[str, Any] = {"date_of_service": version.effective_start or timezone.localdate()}
    code = version.codes.order_by("system", "code").first()
    if code is not None:
        initial |= {"code_system": code.system, "code": code.code}
    lines = [lob for lob in version.policy.lines_of_business if lob in LineOfBusiness.values]
    if lines:
        initial["line_of_business"] = lines[0]
    return initial


class TryItForm(forms.Form):
    """A sample request: the line, the member, and each clinical fact as an input of its type.

    The facts are those of the catalogue a request may send (derived ones, such as age, come from
    the request itself); the ones the version's criteria read come first. A documented-review
    criterion is asked as yes / no / unknown, as a reviewer records it on a case.
    """

    line_of_business = forms.ChoiceField(choices=LineOfBusiness.choices, initial=LineOfBusiness.COMMERCIAL)
    code_system = forms.ChoiceField(choices=CodeSystem.choices, initial=CodeSystem.CPT)
    code = forms.CharField(max_length=10)
    date_of_service = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    member_birth_date = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Needed by criteria on member age.",
    )
    diagnosis_codes = forms.CharField(required=False, help_text="ICD-10-CM codes, separated by commas.")
    notes = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Clinical notes; device and procedure terms are matched here.",
    )

    REQUEST_FIELDS = ("line_of_business", "code_system", "code", "date_of_service", "member_birth_date")

    def __init__(self, *args: Any, version: PolicyVersion, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        read = set(version.criteria.exclude(fact__isnull=True).values_list("fact__key", flat=True).distinct())
        facts = sorted(FactDefinition.objects.filter(derived=False), key=lambda f: (f.key not in read, f.label.lower()))
        self.facts = {f"{FACT_FIELD_PREFIX}{fact.key}": fact for fact in facts}
        self.facts_read = [name for name, fact in self.facts.items() if fact.key in read]
        self.facts_other = [name for name, fact in self.facts.items() if fact.key not in read]
        for name, fact in self.facts.items():
            self.fields[name] = fact_form_field(fact)
        self.documented = {f"{DOCUMENTED_FIELD_PREFIX}{d.key}": d for d in documented_criteria(version)}
        for name, criterion in self.documented.items():
            self.fields[name] = forms.ChoiceField(
                label=criterion.label,
                choices=YES_NO_UNKNOWN,
                widget=forms.RadioSelect,
                required=False,
                initial=UNKNOWN,
            )

    def field_groups(self) -> list[tuple[str, str, list[forms.BoundField]]]:
        """The form's sections as the page shows them: (heading, note, fields)."""
        groups = [
            ("The request", "", [self[name] for name in (*self.REQUEST_FIELDS, "diagnosis_codes", "notes")]),
            (
                "Facts this version's criteria read",
                "Leave a fact blank when the documentation does not give it: the criterion then reads unknown.",
                [self[name] for name in self.facts_read],
            ),
            (
                "Documented review",
                "Criteria a reviewer judges from the documentation; the engine reads them unknown until recorded.",
                [self[name] for name in self.documented],
            ),
            ("Other facts in the catalogue", "", [self[name] for name in self.facts_other]),
        ]
        return [group for group in groups if group[2]]

    def clean_diagnosis_codes(self) -> tuple[str, ...]:
        raw: str = self.cleaned_data.get("diagnosis_codes") or ""
        return tuple(normalize_code(CodeSystem.ICD10CM, c) for c in raw.replace(";", ",").split(",") if c.strip())

    def clinical_facts(self) -> dict[str, Any]:
        facts: dict[str, Any] = {}
        for name, fact in self.facts.items():
            value = fact_value(fact, self.cleaned_data.get(name))
            if value is not None:
                facts[fact.key] = value
        for name, criterion in self.documented.items():
            answer = self.cleaned_data.get(name)
            if answer in ("yes", "no"):
                facts[criterion.key] = answer == "yes"
        return facts

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        if cleaned.get("code_system") and cleaned.get("code"):
            cleaned["code"] = normalize_code(cleaned["code_system"], cleaned["code"])
        return cleaned

    def request_data(self) -> RequestData:
        data = self.cleaned_data
        line = LineRequest(
            sequence=1, code_system=data["code_system"], code=data["code"], date_of_service=data["date_of_service"]
        )
        return RequestData(
            line_of_business=data["line_of_business"],
            lines=(line,),
            diagnosis_codes=data["diagnosis_codes"],
            facts=self.clinical_facts(),
            member_birth_date=data["member_birth_date"],
            notes=data["notes"],
        )


@admin.register(PolicyVersion)
class PolicyVersionAdmin(AuditedAdminMixin, admin.ModelAdmin):
    form = PolicyVersionForm
    list_display = [
        "policy_number",
        "policy_title",
        "version_label",
        "status",
        "coverage_position",
        "effective_start",
        "effective_end",
        "in_effect_today",
        "published_at",
    ]
    list_display_links = ["policy_number", "version_label"]
    list_filter = ["status", "coverage_position", "policy__payer"]
    search_fields = ["policy__number", "policy__title", "policy__payer", "version_label", "statement"]
    list_select_related = ["policy"]
    autocomplete_fields = ["policy"]
    inlines = [PolicyCodeInline, PolicyTermInline, CriterionInline]
    actions = ["submit_for_review", "return_to_draft", "publish", "retire", "new_draft_from"]
    fieldsets = [
        (None, {"fields": ["policy", "version_label", "status", "coverage_position", "auto_approve_when_met"]}),
        ("Dates", {"fields": ["effective_start", "effective_end", "revised_date", "review_date"]}),
        ("Content", {"fields": ["statement", "history", "missing_fields", "imported_fields_list"]}),
        ("Source", {"fields": ["source_document", "source_sha256"]}),
        (
            "Record",
            {
                "classes": ["collapse"],
                "fields": [
                    "based_on",
                    "content_sha256",
                    "created_by",
                    "created_at",
                    "submitted_by",
                    "submitted_at",
                    "published_by",
                    "published_at",
                ],
            },
        ),
    ]

    # -- display

    @admin.display(description="Policy", ordering="policy__number")
    def policy_number(self, obj: PolicyVersion) -> str:
        return obj.policy.number or "(no number)"

    @admin.display(description="Title", ordering="policy__title")
    def policy_title(self, obj: PolicyVersion) -> str:
        return obj.policy.title or "(no title)"

    @admin.display(description="In effect today", boolean=True)
    def in_effect_today(self, obj: PolicyVersion) -> bool:
        return in_effect_on(obj, timezone.localdate())

    @admin.display(description="History")
    def history_table(self, obj: PolicyVersion) -> str:
        entries = [entry for entry in obj.history if isinstance(entry, dict)]
        if not entries:
            return "No history recorded."
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((e.get("date", ""), e.get("action", ""), e.get("detail", "")) for e in entries),
        )
        return format_html(
            '<table class="version-history"><thead><tr><th scope="col">Date</th><th scope="col">What happened</th>'
            '<th scope="col">Detail</th></tr></thead><tbody>{}</tbody></table>',
            rows,
        )

    @admin.display(description="Effective start")
    def effective_start_text(self, obj: PolicyVersion) -> str:
        return obj.effective_start.isoformat() if obj.effective_start else "Unknown"

    @admin.display(description="Effective end")
    def effective_end_text(self, obj: PolicyVersion) -> str:
        return obj.effective_end.isoformat() if obj.effective_end else "Open: in effect until replaced"

    @admin.display(description="Approval when criteria are met")
    def auto_approve_text(self, obj: PolicyVersion) -> str:
        if obj.auto_approve_when_met:
            return "Yes: intake may approve on its own when the criteria are met and nothing else is flagged"
        return "No: a reviewer decides every request"

    @admin.display(description="Missing fields")
    def missing_fields_list(self, obj: PolicyVersion) -> str:
        if not obj.missing_fields:
            return "None."
        return format_html("<ul>{}</ul>", format_html_join("", "<li>{}</li>", ((m,) for m in obj.missing_fields)))

    @admin.display(description="Imported fields to confirm")
    def imported_fields_list(self, obj: PolicyVersion) -> str:
        reviews = list(obj.field_reviews.order_by("pk")) if obj.pk else []
        if not reviews:
            return "None."
        url = draft_review_url(obj.pk)
        waiting = [r for r in reviews if r.confirmed_at is None]
        if not waiting:
            return format_html(
                '<p>All {} confirmed.</p><a href="{}">See them on the import page</a>', len(reviews), url
            )
        items = format_html_join("", "<li>{}: {}</li>", ((r.label, r.shown) for r in waiting))
        return format_html('<ul>{}</ul><a href="{}">Confirm them on the import page</a>', items, url)

    # -- permissions: only a draft is edited here; later states move only through the services

    def can_transition(self, request: HttpRequest) -> bool:
        """Model-level change permission: who may press the workflow buttons at all."""
        return super().has_change_permission(request, None)

    def has_change_permission(self, request: HttpRequest, obj: PolicyVersion | None = None) -> bool:
        return _is_draft(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: PolicyVersion | None = None) -> bool:
        return _is_draft(obj) and super().has_delete_permission(request, obj)

    def get_inline_instances(self, request: HttpRequest, obj: PolicyVersion | None = None) -> list[Any]:
        # Fresh instances on every request, so naming them per version is safe.
        inlines = super().get_inline_instances(request, obj)
        editable = self.has_change_permission(request, obj)
        for inline in inlines:
            if isinstance(inline, CriterionInline) and editable:
                inline.verbose_name_plural = inline.draft_verbose_name_plural
        return inlines

    def get_fieldsets(self, request: HttpRequest, obj: PolicyVersion | None = None) -> Any:
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None or self.has_change_permission(request, obj):
            return fieldsets
        # Read-only: lists are shown as a table and a list, never as the JSON they are stored as.
        return [
            (name, {**options, "fields": [READ_ONLY_DISPLAY.get(str(f), f) for f in options["fields"]]})
            for name, options in fieldsets
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: PolicyVersion | None = None) -> list[str]:
        if obj is not None and not _is_draft(obj):
            return flatten_fieldsets(self.get_fieldsets(request, obj))
        # The policy a version belongs to is chosen once: labels are unique per policy.
        return [*ALWAYS_READONLY, "policy"] if obj is not None else list(ALWAYS_READONLY)

    def get_queryset(self, request: HttpRequest) -> QuerySet[PolicyVersion]:
        return super().get_queryset(request).select_related("policy")

    def save_model(self, request: HttpRequest, obj: PolicyVersion, form: forms.ModelForm, change: bool) -> None:
        if not change:
            obj.created_by = _acting_user(request)
        super().save_model(request, obj, form, change)

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: PolicyVersion | None = None,
    ) -> HttpResponse:
        if obj is not None:
            can = self.can_transition(request)
            context["version_tools"] = {
                "can_transition": can,
                "in_effect_today": in_effect_on(obj, timezone.localdate()),
                "transitions": [
                    (key, t.label) for key, t in TRANSITIONS.items() if can and obj.status == t.from_status
                ],
                "draft_from_url": reverse("admin:policies_app_policyversion_draft_from", args=[obj.pk]),
                "compare_url": reverse("admin:policies_app_policyversion_compare", args=[obj.pk]),
                "try_url": reverse("admin:policies_app_policyversion_try", args=[obj.pk]),
            }
        return super().render_change_form(request, context, add, change, form_url, obj)

    # -- URLs

    def get_urls(self) -> list[URLPattern]:
        def view(func: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
            return self.admin_site.admin_view(func)

        custom = [
            path(
                "<int:object_id>/transition/<str:action>/",
                view(self.transition_view),
                name="policies_app_policyversion_transition",
            ),
            path(
                "<int:object_id>/draft-from/", view(self.draft_from_view), name="policies_app_policyversion_draft_from"
            ),
            path("<int:object_id>/compare/", view(self.compare_view), name="policies_app_policyversion_compare"),
            path("<int:object_id>/diff/<int:other_id>/", view(self.diff_view), name="policies_app_policyversion_diff"),
            path("<int:object_id>/try/", view(self.try_view), name="policies_app_policyversion_try"),
        ]
        return [*custom, *super().get_urls()]

    def _change_url(self, version_id: int) -> str:
        return reverse("admin:policies_app_policyversion_change", args=[version_id])

    def _readable_version(self, request: HttpRequest, object_id: int) -> PolicyVersion:
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        version = self.get_object(request, str(object_id))
        if version is None:
            raise Http404(f"policy version {object_id} does not exist")
        if not self.has_view_or_change_permission(request, version):
            raise PermissionDenied
        return version

    def _context(self, request: HttpRequest, version: PolicyVersion, title: str, **extra: Any) -> dict[str, Any]:
        return {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": title,
            "version": version,
            "original": version,
            "change_url": self._change_url(version.pk),
            "has_view_permission": self.has_view_permission(request, version),
            **extra,
        }

    # -- workflow

    def _run(self, request: HttpRequest, version: PolicyVersion, key: str) -> bool:
        transition = TRANSITIONS[key]
        try:
            transition.service(version_id=version.pk, user=_acting_user(request))
        except DomainError as exc:
            for message in domain_error_messages(exc):
                self.message_user(
                    request, f"Could not {transition.label.lower()} {_name(version)}: {message}", messages.ERROR
                )
            return False
        self.message_user(request, f"{_name(version)} {transition.done}.", messages.SUCCESS)
        return True

    def transition_view(self, request: HttpRequest, object_id: int, action: str) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if action not in TRANSITIONS:
            raise Http404(f"no such action: {action}")
        version = self._readable_version(request, object_id)
        if not self.can_transition(request):
            raise PermissionDenied
        self._run(request, version, action)
        return HttpResponseRedirect(self._change_url(version.pk))

    def _bulk(self, request: HttpRequest, queryset: QuerySet[PolicyVersion], key: str) -> None:
        for version in queryset.select_related("policy"):
            self._run(request, version, key)

    @admin.action(description="Submit selected drafts for review", permissions=["change"])
    def submit_for_review(self, request: HttpRequest, queryset: QuerySet[PolicyVersion]) -> None:
        self._bulk(request, queryset, "submit")

    @admin.action(description="Return selected versions to draft", permissions=["change"])
    def return_to_draft(self, request: HttpRequest, queryset: QuerySet[PolicyVersion]) -> None:
        self._bulk(request, queryset, "return")

    @admin.action(description="Publish selected versions", permissions=["change"])
    def publish(self, request: HttpRequest, queryset: QuerySet[PolicyVersion]) -> None:
        self._bulk(request, queryset, "publish")

    @admin.action(description="Retire selected versions", permissions=["change"])
    def retire(self, request: HttpRequest, queryset: QuerySet[PolicyVersion]) -> None:
        self._bulk(request, queryset, "retire")

    @admin.action(description="New draft from the selected version", permissions=["change"])
    def new_draft_from(self, request: HttpRequest, queryset: QuerySet[PolicyVersion]) -> HttpResponse | None:
        ids = list(queryset.values_list("pk", flat=True)[:2])
        if len(ids) != 1:
            self.message_user(request, "Select exactly one version to draft from.", messages.WARNING)
            return None
        return HttpResponseRedirect(reverse("admin:policies_app_policyversion_draft_from", args=[ids[0]]))

    def draft_from_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        source = self._readable_version(request, object_id)
        if not self.can_transition(request):
            raise PermissionDenied
        form = DraftFromForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                draft = services.policy_version_draft_from(
                    version_id=source.pk, user=_acting_user(request), version_label=form.cleaned_data["version_label"]
                )
            except ValidationFailed as exc:
                for field, problems in exc.errors.items():
                    form.add_error(field if field in form.fields else None, "; ".join(problems))
            except DomainError as exc:
                for message in domain_error_messages(exc):
                    self.message_user(request, message, messages.ERROR)
            else:
                self.message_user(request, f"New draft {_name(draft)} created from {_name(source)}.", messages.SUCCESS)
                return HttpResponseRedirect(self._change_url(draft.pk))
        context = self._context(request, source, f"New draft from {source}", form=form)
        return TemplateResponse(request, "admin/policies_app/policyversion/draft_from.html", context)

    # -- comparing

    def compare_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        version = self._readable_version(request, object_id)
        others = PolicyVersion.objects.filter(policy_id=version.policy_id).exclude(pk=version.pk)
        context = self._context(
            request, version, f"Compare {version} with…", others=others.order_by("-effective_start")
        )
        return TemplateResponse(request, "admin/policies_app/policyversion/compare.html", context)

    def diff_view(self, request: HttpRequest, object_id: int, other_id: int) -> HttpResponse:
        version = self._readable_version(request, object_id)
        other = self._readable_version(request, other_id)
        if other.policy_id != version.policy_id:
            self.message_user(request, "Only two versions of the same policy can be compared.", messages.ERROR)
            return HttpResponseRedirect(reverse("admin:policies_app_policyversion_compare", args=[version.pk]))
        rows = diff_rows(version_content(version), version_content(other))
        context = self._context(
            request,
            version,
            f"Compare {version} with {other}",
            other=other,
            rows=rows,
            changed_sections=sorted({r.section for r in rows if r.changed}),
            other_change_url=self._change_url(other.pk),
            swap_url=reverse("admin:policies_app_policyversion_diff", args=[other.pk, version.pk]),
        )
        return TemplateResponse(request, "admin/policies_app/policyversion/diff.html", context)

    # -- trying a version against a sample request

    def try_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        version = self._readable_version(request, object_id)
        flags: list[FlagData] | None = None
        if request.method == "POST":
            form = TryItForm(request.POST, version=version)
            if form.is_valid():
                flags = evaluate_request(index_with_draft(version), form.request_data())
        else:
            form = TryItForm(initial=try_it_initial(version), version=version)
        names = fact_names(form)
        context = self._context(
            request,
            version,
            f"Try {version} against a sample request",
            form=form,
            flags=None if flags is None else [_flag_view(flag, names) for flag in flags],
        )
        return TemplateResponse(request, "admin/policies_app/policyversion/try_it.html", context)


RESULT_WORDS = {"met": "met", "not_met": "not met", "unknown": "unknown"}


def fact_names(form: TryItForm) -> dict[str, str]:
    """Fact keys, documented-review keys included, by the words an editor knows them by."""
    names = {fact.key: _fact_label(fact) for fact in FactDefinition.objects.all()}
    names.update({d.key: d.label for d in form.documented.values()})
    return names


def _shown(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(_shown(v) for v in value)
    return str(value)


def _flag_view(flag: FlagData, names: dict[str, str]) -> dict[str, Any]:
    """What the template shows of a flag: words, never stored keys or JSON."""
    details = dict(flag.details)
    checklist = [
        {
            **leaf,
            "fact": names.get(leaf.get("fact") or "", leaf.get("fact") or ""),
            "expected": "" if leaf.get("operator") in ("is_true", "is_false") else _shown(leaf.get("expected")),
            "operator": (
                CriterionOperator(leaf["operator"]).label
                if leaf.get("operator") in CriterionOperator.values
                else leaf.get("operator", "")
            ),
            "actual": _shown(leaf.get("actual")),
            "result_words": RESULT_WORDS.get(leaf.get("result", ""), leaf.get("result", "")),
        }
        for leaf in details.get("checklist", [])
    ]
    result = details.get("result", "")
    return {
        "kind": flag.kind,
        "severity": flag.severity,
        "message": flag.message,
        "citation": flag.citation,
        "result": RESULT_WORDS.get(result, result),
        "unknown_facts": [names.get(key, key) for key in details.get("unknown_facts", [])],
        "checklist": checklist,
    }


# --- requirement rules -----------------------------------------------------------------------


class RequirementRuleForm(forms.ModelForm):
    diagnosis_codes = forms.CharField(
        required=False,
        help_text=(
            "ICD-10-CM codes, separated by commas; the rule applies only to requests carrying one of them. "
            "A category (M48.06) includes the codes under it. Blank: every diagnosis."
        ),
    )

    class Meta:
        model = RequirementRule
        fields = [
            "code_system",
            "code_start",
            "code_end",
            "diagnosis_codes",
            "line_of_business",
            "requirement",
            "effective_start",
            "effective_end",
            "policy",
            "note",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            self.initial["diagnosis_codes"] = ", ".join(self.instance.diagnosis_codes)

    def rule_input(self) -> RequirementRuleInput:
        data = self.cleaned_data
        policy = data.get("policy")
        return RequirementRuleInput(
            requirement=data.get("requirement") or "",
            effective_start=data.get("effective_start"),
            code_system=data.get("code_system") or "",
            code_start=data.get("code_start") or "",
            code_end=data.get("code_end") or "",
            diagnosis_codes=tuple(c.strip() for c in (data.get("diagnosis_codes") or "").split(",") if c.strip()),
            line_of_business=data.get("line_of_business") or "",
            effective_end=data.get("effective_end"),
            policy_id=policy.pk if policy is not None else None,
            note=data.get("note") or "",
        )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        # The services decide what is valid; the form shows their answer beside the fields.
        for field_path, problems in requirement_rule_problems(self.rule_input()).items():
            field = field_path.split("[")[0]
            self.add_error(field if field in self.fields else None, "; ".join(problems))
        return cleaned


class SuggestedFilter(admin.SimpleListFilter):
    title = "origin"
    parameter_name = "origin"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("suggested", "Suggested by a policy"), ("editor", "Written by an editor")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "suggested":
            return queryset.filter(suggested_from__isnull=False)
        if self.value() == "editor":
            return queryset.filter(suggested_from__isnull=True)
        return queryset


RULE_READONLY = [
    "status",
    "version",
    "supersedes",
    "source_text",
    "suggested_from",
    "created_by",
    "created_at",
    "published_by",
    "published_at",
]


@admin.register(RequirementRule)
class RequirementRuleAdmin(AuditedAdminMixin, admin.ModelAdmin):
    """Which services need prior authorization. Drafts are edited here; every save and move is a service."""

    form = RequirementRuleForm
    audit_saved_by_services = True
    list_display = [
        "scope",
        "requirement_label",
        "line_of_business_label",
        "diagnoses",
        "effective_start",
        "effective_end",
        "status",
        "version",
        "suggested",
        "policy",
    ]
    list_display_links = ["scope"]
    list_filter = ["requirement", "line_of_business", "status", SuggestedFilter]
    search_fields = ["code_start", "code_end", "policy__number", "source_text"]
    list_select_related = ["policy", "suggested_from__policy"]
    actions = ["publish_rules", "retire_rules", "new_version"]
    fieldsets = [
        (
            None,
            {"fields": ["code_system", "code_start", "code_end", "diagnosis_codes", "line_of_business", "requirement"]},
        ),
        ("Dates", {"fields": ["effective_start", "effective_end"]}),
        ("Source", {"fields": ["policy", "suggested_from", "source_text", "note"]}),
        (
            "Record",
            {"fields": ["status", "version", "supersedes", "created_by", "created_at", "published_by", "published_at"]},
        ),
    ]

    # -- display

    @admin.display(description="Code or range", ordering="code_start")
    def scope(self, obj: RequirementRule) -> str:
        return obj.scope_label

    @admin.display(description="Requirement", ordering="requirement")
    def requirement_label(self, obj: RequirementRule) -> str:
        return obj.get_requirement_display()

    @admin.display(description="Line of business", ordering="line_of_business")
    def line_of_business_label(self, obj: RequirementRule) -> str:
        return obj.get_line_of_business_display() if obj.line_of_business else "All lines of business"

    @admin.display(description="Diagnoses")
    def diagnoses(self, obj: RequirementRule) -> str:
        return ", ".join(obj.diagnosis_codes) or "Any"

    @admin.display(description="Suggested by")
    def suggested(self, obj: RequirementRule) -> str:
        version = obj.suggested_from
        if version is None:
            return ""
        return f"{_name(version)}: {obj.source_text}"

    # -- permissions: drafts are edited; the rest moves only through the actions

    def has_change_permission(self, request: HttpRequest, obj: RequirementRule | None = None) -> bool:
        return (obj is None or obj.status == RequirementRuleStatus.DRAFT) and super().has_change_permission(
            request, obj
        )

    def has_delete_permission(self, request: HttpRequest, obj: RequirementRule | None = None) -> bool:
        return False

    def get_readonly_fields(self, request: HttpRequest, obj: RequirementRule | None = None) -> list[str]:
        if obj is not None and obj.status != RequirementRuleStatus.DRAFT:
            return [*flatten_fieldsets(self.fieldsets)]
        return list(RULE_READONLY)

    def save_model(self, request: HttpRequest, obj: RequirementRule, form: forms.ModelForm, change: bool) -> None:
        assert isinstance(form, RequirementRuleForm)
        user = _acting_user(request)
        if change:
            saved = requirement_rule_update(user=user, rule_id=obj.pk, data=form.rule_input())
        else:
            saved = requirement_rule_create(user=user, data=form.rule_input())
        obj.pk = saved.pk
        obj.refresh_from_db()

    def save_related(self, request: HttpRequest, form: forms.ModelForm, formsets: Any, change: bool) -> None:
        # No many-to-many fields or inlines: the service wrote everything.
        pass

    # -- actions

    def _each(
        self, request: HttpRequest, queryset: QuerySet[RequirementRule], service: Callable[..., Any], done: str
    ) -> None:
        user = _acting_user(request)
        for rule in queryset.order_by("pk"):
            try:
                service(user=user, rule_id=rule.pk)
            except DomainError as exc:
                for message in domain_error_messages(exc):
                    self.message_user(request, f"{rule.scope_label} (rule {rule.pk}): {message}", messages.ERROR)
                continue
            self.message_user(request, f"{rule.scope_label} (rule {rule.pk}) {done}.", messages.SUCCESS)

    @admin.action(description="Publish (confirm) the selected draft rules", permissions=["change"])
    def publish_rules(self, request: HttpRequest, queryset: QuerySet[RequirementRule]) -> None:
        self._each(request, queryset, requirement_rule_publish, "published")

    @admin.action(description="Retire the selected rules", permissions=["change"])
    def retire_rules(self, request: HttpRequest, queryset: QuerySet[RequirementRule]) -> None:
        self._each(request, queryset, requirement_rule_retire, "retired")

    @admin.action(description="New version (a draft copy) of the selected published rules", permissions=["change"])
    def new_version(self, request: HttpRequest, queryset: QuerySet[RequirementRule]) -> None:
        self._each(request, queryset, requirement_rule_new_version, "has a new draft version")
