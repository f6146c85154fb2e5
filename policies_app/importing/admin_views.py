"""The editors' import page: a payer's document read side by side with its sources, then a draft.

The page runs the same services as `manage.py import_policy`: `policy_document_extract` to show
what the document states (nothing written), then `policy_document_import_held` to write the draft.
The bytes read are held server-side (`policy_import_upload_hold`) and the "Create draft" form names
them by SHA-256, so the draft is made from exactly the bytes the editor saw, whatever their size up
to POLICY_IMPORT_MAX_BYTES. Right after, the same page (`?draft=<id>`) lists the fields read below
the confidence threshold to confirm one by one, and the documented-review criteria to map to
catalogue facts; all of it through the services.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from casemgmt.kernel.errors import DomainError, ValidationFailed
from policies_app.compare import diff_rows
from policies_app.importer import ImportRefused
from policies_app.importing.result import REVIEW_THRESHOLD, Criterion, Field, ImportResult
from policies_app.importing.services import (
    CORRECTABLE,
    REMOVABLE,
    REMOVED,
    criterion_fact_map,
    fact_definition_create,
    import_field_review_confirm,
    policy_document_extract,
    policy_document_import_held,
    policy_import_upload_hold,
)
from policies_app.importing.shown import choice_label, code_text, field_label, shown_value
from policies_app.models import (
    CoveragePosition,
    CriterionNodeType,
    CriterionOperator,
    FactDefinition,
    FactType,
    ImportFieldReview,
    ImportUpload,
    Policy,
    PolicyVersion,
    PolicyVersionStatus,
)
from policies_app.models import Criterion as CriterionNode
from policies_app.selectors import version_content
from policies_app.services import publish_problems

if TYPE_CHECKING:
    from django.contrib.admin import ModelAdmin

ACCEPTED_SUFFIXES = (".txt", ".text", ".html", ".htm", ".pdf")
# Pasted text travels in an ordinary form field, so it must fit Django's request body limit with
# room for the form's other fields; an uploaded file is held server-side and has its own limit.
FORM_ROOM = 64 * 1024


def max_document_bytes() -> int:
    return int(settings.POLICY_IMPORT_MAX_BYTES)


def max_pasted_bytes() -> int:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return max_document_bytes() if limit is None else min(max_document_bytes(), limit - FORM_ROOM)


PASTED_NAME = "pasted-text.txt"


class ImportForm(forms.Form):
    document = forms.FileField(
        required=False,
        label="Policy document",
        help_text="A text file, a web page saved as HTML, or a PDF with a text layer.",
        widget=forms.ClearableFileInput(attrs={"accept": ",".join(ACCEPTED_SUFFIXES)}),
    )
    text = forms.CharField(
        required=False,
        label="Or paste the policy's text",
        widget=forms.Textarea(attrs={"rows": 8, "cols": 80}),
        strip=False,
    )
    payer = forms.CharField(
        required=False,
        max_length=200,
        label="Payer",
        help_text="Used when the document does not name its payer; a document that names one keeps it.",
    )

    def clean_document(self) -> Any:
        upload = self.cleaned_data.get("document")
        if upload is None:
            return None
        if Path(upload.name).suffix.lower() not in ACCEPTED_SUFFIXES:
            raise forms.ValidationError(
                f"{upload.name}: choose a .txt, .html or .pdf file (a scanned image cannot be read)."
            )
        limit = max_document_bytes()
        if upload.size is None or upload.size > limit:
            raise forms.ValidationError(
                f"{upload.name}: the file is larger than {limit / 1024 / 1024:.1f} MB, the most this page reads."
            )
        return upload

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if not self.errors and cleaned.get("document") is None and not (cleaned.get("text") or "").strip():
            raise forms.ValidationError("Choose a file to upload, or paste the policy's text.")
        if cleaned.get("document") is not None and (cleaned.get("text") or "").strip():
            raise forms.ValidationError("Upload a file or paste text, not both.")
        limit = max_pasted_bytes()
        if len((cleaned.get("text") or "").encode("utf-8")) > limit:
            self.add_error(
                "text", f"The pasted text is larger than {limit / 1024 / 1024:.1f} MB, the most this page reads."
            )
        return cleaned

    def document_bytes(self) -> tuple[bytes, str]:
        upload = self.cleaned_data.get("document")
        if upload is not None:
            return upload.read(), Path(upload.name).name
        return self.cleaned_data["text"].encode("utf-8"), PASTED_NAME


class CreateDraftForm(forms.Form):
    sha256 = forms.RegexField(regex=r"^[0-9a-f]{64}$", widget=forms.HiddenInput)
    payer = forms.CharField(widget=forms.HiddenInput, required=False, max_length=200)


class ConfirmForm(forms.Form):
    review = forms.IntegerField(widget=forms.HiddenInput)
    corrected = forms.CharField(required=False, max_length=500, label="Corrected value", strip=True)
    # Set by the "Remove from the draft" button, for a code or a term the importer misread.
    remove = forms.BooleanField(required=False, widget=forms.HiddenInput)


class MapForm(forms.Form):
    criterion = forms.IntegerField(widget=forms.HiddenInput)
    fact = forms.ChoiceField(label="Fact", choices=[])
    operator = forms.ChoiceField(label="Comparison", choices=CriterionOperator.choices)
    value = forms.CharField(
        required=False, max_length=500, label="Value", help_text="Several values separated by commas."
    )

    def __init__(self, *args: Any, facts: list[FactDefinition], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices: list[tuple[str, str]] = [(f.key, f"{f.label} ({f.unit})" if f.unit else f.label) for f in facts]
        fact = self.fields["fact"]
        assert isinstance(fact, forms.ChoiceField)
        fact.choices = [("", "Choose a fact…"), *choices]


class FactForm(forms.Form):
    key = forms.SlugField(max_length=80, label="Key", help_text="Lower case and underscores, e.g. hba1c_percent.")
    label = forms.CharField(max_length=200, label="Name")
    value_type = forms.ChoiceField(choices=FactType.choices, label="Kind of value")
    unit = forms.CharField(max_length=40, required=False, label="Unit")


# The words a page shows for the field paths the services name in their refusals.
FIELD_PATHS = {
    "corrected": "Corrected value",
    "criterion": "Criterion",
    "fact": "Fact",
    "operator": "Comparison",
    "value": "Value",
    "key": "Key",
    "label": "Name",
    "value_type": "Kind of value",
}


def _refusal(exc: DomainError) -> str:
    if isinstance(exc, ValidationFailed):
        return " ".join(
            f"{FIELD_PATHS.get(field, field.replace('_', ' ').capitalize())}: {'; '.join(problems)}."
            for field, problems in exc.errors.items()
        )
    return str(exc.message)


@dataclass(frozen=True)
class FieldRow:
    ident: str
    label: str
    value: str
    confidence: float
    check: bool
    source_text: str
    has_source: bool


@dataclass(frozen=True)
class CriterionRow:
    ident: str
    depth: int
    kind: str
    label: str
    mapping: str
    confidence: float
    check: bool
    has_source: bool


@dataclass(frozen=True)
class Segment:
    text: str
    fields: str
    anchor: str


@dataclass(frozen=True)
class DiffLine:
    label: str
    published: str
    document: str
    changed: bool


@dataclass(frozen=True)
class CriteriaLine:
    published: str
    document: str
    changed: bool


@dataclass(frozen=True)
class Revision:
    policy: Policy
    published: PolicyVersion
    rows: list[DiffLine]
    proposed_end: date | None
    published_url: str
    criteria: list[CriteriaLine]

    @property
    def criteria_changed(self) -> bool:
        return any(line.changed for line in self.criteria)


def field_rows(result: ImportResult) -> list[FieldRow]:
    rows: list[FieldRow] = []
    for name, found in result.fields.items():
        items = found if isinstance(found, list) else [found]
        for i, item in enumerate(items):
            ident = f"f-{name}" if isinstance(found, Field) else f"f-{name}-{i}"
            rows.append(_field_row(ident, field_label(name), name, item))
    return rows


def _field_row(ident: str, label: str, name: str, item: Field) -> FieldRow:
    has_source = item.source.end > item.source.start
    return FieldRow(
        ident=ident,
        label=label,
        value=shown_value(name, item.value),
        confidence=round(item.confidence, 2),
        check=item.confidence < REVIEW_THRESHOLD,
        source_text=item.source.text,
        has_source=has_source,
    )


def criterion_rows(result: ImportResult) -> list[CriterionRow]:
    facts = {f.key: f for f in FactDefinition.objects.all()}
    rows: list[CriterionRow] = []

    def walk(node: Criterion, ident: str, depth: int) -> None:
        rows.append(_criterion_row(node, ident, depth, facts))
        for i, child in enumerate(node.children):
            walk(child, f"{ident}-{i}", depth + 1)

    for i, root in enumerate(result.criteria):
        walk(root, f"c-{i}", 0)
    return rows


def _criterion_row(node: Criterion, ident: str, depth: int, facts: dict[str, FactDefinition]) -> CriterionRow:
    if node.node_type == "at_least":
        kind = f"At least {node.min_met} of"
    elif node.node_type == CriterionNodeType.DOCUMENTED or (node.node_type == "leaf" and node.fact not in facts):
        kind = "Documented review"
    else:
        kind = choice_label(CriterionNodeType, node.node_type)
    mapping = ""
    fact = facts.get(node.fact) if node.fact else None
    if fact is not None:
        value = node.value
        shown = ", ".join(str(v) for v in value) if isinstance(value, list) else "" if value is None else str(value)
        unit = f" {fact.unit}" if fact.unit and shown else ""
        mapping = f"{fact.label} {choice_label(CriterionOperator, node.operator)} {shown}{unit}".strip()
    return CriterionRow(
        ident=ident,
        depth=depth,
        kind=kind,
        label=node.label,
        mapping=mapping,
        confidence=round(node.confidence, 2),
        check=node.confidence < REVIEW_THRESHOLD,
        has_source=node.source.end > node.source.start,
    )


def _spans(result: ImportResult) -> list[tuple[int, int, str]]:
    spans: list[tuple[int, int, str]] = []
    for name, found in result.fields.items():
        items = found if isinstance(found, list) else [found]
        for i, item in enumerate(items):
            ident = f"f-{name}" if isinstance(found, Field) else f"f-{name}-{i}"
            spans.append((item.source.start, item.source.end, ident))

    def walk(node: Criterion, ident: str) -> None:
        spans.append((node.source.start, node.source.end, ident))
        for i, child in enumerate(node.children):
            walk(child, f"{ident}-{i}")

    for i, root in enumerate(result.criteria):
        walk(root, f"c-{i}")
    size = len(result.text)
    return [(s, e, ident) for s, e, ident in spans if 0 <= s < e <= size]


def highlighted(result: ImportResult) -> list[Segment]:
    """The normalized text cut where any field's source starts or ends; each piece names the fields covering it.

    Sources overlap (a title inside a heading, a criterion inside its group), so a piece may belong to several
    fields; the first piece of each field carries its anchor, `src-<field>`.
    """
    spans = _spans(result)
    cuts = sorted({0, len(result.text), *(s for s, _, _ in spans), *(e for _, e, _ in spans)})
    anchored: set[str] = set()
    segments: list[Segment] = []
    for start, end in itertools.pairwise(cuts):
        covering = [ident for s, e, ident in spans if s <= start and end <= e]
        anchor = next((ident for s, _, ident in spans if s == start and ident not in anchored), "")
        if anchor:
            anchored.add(anchor)
        segments.append(Segment(result.text[start:end], " ".join(covering), anchor))
    return segments


def _published_for(result: ImportResult) -> tuple[Policy, PolicyVersion] | None:
    payer, number = result.value("payer", ""), result.value("number", "")
    if not payer or not number:
        return None
    policy = Policy.objects.filter(payer=str(payer)[:200], number=str(number)).first()
    if policy is None:
        return None
    published = (
        PolicyVersion.objects.filter(policy=policy, status=PolicyVersionStatus.PUBLISHED)
        .prefetch_related("codes", "terms")
        .order_by("-effective_start", "-pk")
        .first()
    )
    return (policy, published) if published is not None else None


def revision_of(result: ImportResult) -> Revision | None:
    """The published version of the same policy (payer and number) this document revises, field by field."""
    found = _published_for(result)
    if found is None:
        return None
    policy, published = found
    start = result.value("effective_start")
    positions = sorted({choice_label(CoveragePosition, f.value["position"]) for f in result.many("positions")})
    pairs = [
        ("Title", policy.title, str(result.value("title", ""))),
        ("Version label", published.version_label, str(result.value("version_label", ""))),
        ("Effective start", _day(published.effective_start), _day(start)),
        ("Effective end", _day(published.effective_end), _day(result.value("effective_end"))),
        ("Coverage position", published.get_coverage_position_display(), ", ".join(positions)),
        (
            "Codes",
            "; ".join(sorted(code_text(_code_value(c)) for c in published.codes.all())),
            "; ".join(sorted(code_text(f.value) for f in result.many("codes"))),
        ),
        (
            "Terms",
            ", ".join(sorted({t.term.lower() for t in published.terms.all()})),
            ", ".join(sorted({_term_name(f.value).lower() for f in result.many("terms")})),
        ),
    ]
    rows = [DiffLine(label, old, new, old != new) for label, old, new in pairs]
    proposed = start - timedelta(days=1) if isinstance(start, date) else None
    url = reverse("admin:policies_app_policyversion_change", args=[published.pk])
    return Revision(policy, published, rows, proposed, url, criteria_diff(published, result))


def draft_criteria(result: ImportResult, facts: set[str]) -> list[dict[str, Any]]:
    """The criteria tree the import service would write for this document, as `version_content` lists a version's.

    Several lists become alternatives under one "any of" group, and a condition on a fact the
    catalogue lacks becomes a documented review, as `policy_document_import` writes them.
    """
    roots = list(result.criteria)
    if len(roots) > 1:
        roots = [Criterion("any_of", "Any of the following indications", roots[0].source, 0.5, children=roots)]
    nodes: list[dict[str, Any]] = []

    def walk(node: Criterion, parent: int | None, position: int) -> None:
        leaf = node.node_type == CriterionNodeType.LEAF and node.fact in facts
        node_type = (
            CriterionNodeType.DOCUMENTED if node.node_type == CriterionNodeType.LEAF and not leaf else node.node_type
        )
        ident = len(nodes) + 1
        nodes.append(
            {
                "id": ident,
                "parent": parent,
                "position": position,
                "node_type": node_type,
                "label": (node.label or "(criterion)")[:500],
                "min_met": node.min_met,
                "fact": node.fact if leaf else None,
                "operator": node.operator if leaf else "",
                "value": _json_value(node.value) if leaf else None,
            }
        )
        for i, child in enumerate(node.children):
            walk(child, ident, i)

    for i, root in enumerate(roots):
        walk(root, None, i)
    return nodes


def _json_value(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    return value


def criteria_diff(published: PolicyVersion, result: ImportResult) -> list[CriteriaLine]:
    """The published criteria tree beside the document's, line by line, as the version comparison shows them."""
    facts = set(FactDefinition.objects.values_list("key", flat=True))
    left = {"criteria": version_content(published)["criteria"]}
    right = {"criteria": draft_criteria(result, facts)}
    return [
        CriteriaLine(row.left, row.right, row.changed)
        for row in diff_rows(left, right)
        if row.section == "Criteria" and (row.left or row.right)
    ]


def _code_value(code: Any) -> dict[str, Any]:
    return {"system": code.system, "code": code.code, "code_end": code.code_end, "description": code.description}


def _term_name(value: dict[str, Any]) -> str:
    return str(value["short"] if value["kind"] == "device" else value["name"])


def _day(value: Any) -> str:
    return value.isoformat() if isinstance(value, date) else ""


def _acting_user(request: HttpRequest) -> User:
    user = request.user
    if not isinstance(user, User):
        raise PermissionDenied
    return user


def draft_review_url(version_id: int) -> str:
    return f"{reverse('admin:policies_app_policy_import')}?draft={version_id}"


def policy_import_view(model_admin: ModelAdmin[Any], request: HttpRequest) -> HttpResponse:
    """Upload or paste a document, see what it states beside its sources, create the draft, then review it."""
    # Only those who may add policies (the policy editors) import; the services check the role again.
    if not model_admin.has_add_permission(request):
        raise PermissionDenied
    context: dict[str, Any] = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": "Import a policy document",
        "threshold": REVIEW_THRESHOLD,
        "max_mb": f"{max_document_bytes() / 1024 / 1024:.0f}",
    }
    step = request.POST.get("step", "") if request.method == "POST" else ""
    if step in DRAFT_STEPS or (request.method == "GET" and "draft" in request.GET):
        return _draft_review(model_admin, request, context)
    user = _acting_user(request)
    form = ImportForm()
    if step == "create":
        create = CreateDraftForm(request.POST)
        if create.is_valid():
            sha, payer = create.cleaned_data["sha256"], create.cleaned_data["payer"]
            try:
                outcome = policy_document_import_held(sha256=sha, user=user, payer=payer)
            except ImportRefused as exc:
                context["refused"] = exc.reason
            except DomainError as exc:
                context["refused"] = str(exc)
            else:
                version, filename = outcome.version, outcome.result.file
                if outcome.created:
                    model_admin.message_user(
                        request,
                        f"Draft {version} created from {filename}; confirm the fields marked below.",
                        messages.SUCCESS,
                    )
                else:
                    model_admin.message_user(
                        request, f"{filename} was imported before, as {version}; nothing was changed.", messages.INFO
                    )
                return HttpResponseRedirect(draft_review_url(version.pk))
            held = held_document(user=user, sha256=sha)
            if held is not None:
                _preview(context, user=user, data=held[0], filename=held[1], payer=payer)
        else:
            context["refused"] = "the form did not name the document read; read it again."
        form = ImportForm(initial={"payer": create.data.get("payer", "")})
    elif request.method == "POST":
        form = ImportForm(request.POST, request.FILES)
        if form.is_valid():
            data, filename = form.document_bytes()
            try:
                _preview(context, user=user, data=data, filename=filename, payer=form.cleaned_data["payer"])
            except ImportRefused as exc:
                context["refused"] = exc.reason
    context["form"] = form
    return TemplateResponse(request, "admin/policies_app/importing/import.html", context)


def held_document(*, user: User, sha256: str) -> tuple[bytes, str] | None:
    held = ImportUpload.objects.filter(uploaded_by=user, sha256=sha256).values_list("data", "filename").first()
    return (bytes(held[0]), held[1]) if held is not None else None


def _preview(context: dict[str, Any], *, user: User, data: bytes, filename: str, payer: str) -> None:
    held = policy_import_upload_hold(data=data, filename=filename, user=user)
    result = policy_document_extract(data=data, filename=held.filename, payer=payer)
    readable = result.layout != "unreadable" and bool(result.fields)
    # The position row that says criteria exist, which the warning's link highlights in the document.
    unread = result.criteria_unread()
    context.update(
        result=result,
        filename=held.filename,
        readable=readable,
        segments=highlighted(result) if readable else [],
        field_rows=field_rows(result),
        criterion_rows=criterion_rows(result),
        criteria_unread=unread,
        criteria_unread_ident=f"f-positions-{result.many('positions').index(unread)}" if unread else "",
        revision=revision_of(result) if readable else None,
        create_form=CreateDraftForm(initial={"sha256": held.sha256, "payer": payer}),
    )


# -- right after the draft is made: confirm the unsure fields, map documented criteria to facts

DRAFT_STEPS = ("confirm", "map", "fact")


@dataclass(frozen=True)
class ReviewRow:
    review: ImportFieldReview
    form: ConfirmForm
    correctable: bool
    removable: bool


@dataclass(frozen=True)
class DocumentedRow:
    node: CriterionNode
    form: MapForm


def _draft_version(request: HttpRequest) -> PolicyVersion:
    raw = request.POST.get("draft") if request.method == "POST" else request.GET.get("draft")
    version = (
        PolicyVersion.objects.select_related("policy").filter(pk=int(raw)).first()
        if raw and raw.isascii() and raw.isdigit() and len(raw) < 12
        else None
    )
    if version is None:
        raise Http404("no such policy version")
    return version


def _draft_review(model_admin: ModelAdmin[Any], request: HttpRequest, context: dict[str, Any]) -> HttpResponse:
    version = _draft_version(request)
    if request.method == "POST":
        _draft_step(model_admin, request, version)
        return HttpResponseRedirect(draft_review_url(version.pk))
    facts = list(FactDefinition.objects.order_by("label"))
    editable = version.status == PolicyVersionStatus.DRAFT
    reviews = [
        ReviewRow(
            review,
            ConfirmForm(initial={"review": review.pk, "corrected": review.shown}, auto_id=f"id_review{review.pk}_%s"),
            review.field in CORRECTABLE,
            review.field in REMOVABLE,
        )
        for review in version.field_reviews.select_related("confirmed_by").order_by("pk")
    ]
    documented = [
        DocumentedRow(node, MapForm(initial={"criterion": node.pk}, facts=facts, auto_id=f"id_map{node.pk}_%s"))
        for node in version.criteria.filter(node_type=CriterionNodeType.DOCUMENTED).order_by("pk")
    ]
    problems = [message for found in publish_problems(version).values() for message in found]
    context.update(
        title=f"Review the imported draft {version}",
        version=version,
        editable=editable,
        reviews=reviews,
        unconfirmed=sum(1 for row in reviews if row.review.confirmed_at is None),
        documented=documented,
        fact_form=FactForm(auto_id="id_fact_%s"),
        problems=problems,
        change_url=reverse("admin:policies_app_policyversion_change", args=[version.pk]),
    )
    return TemplateResponse(request, "admin/policies_app/importing/draft_review.html", context)


def _draft_step(model_admin: ModelAdmin[Any], request: HttpRequest, version: PolicyVersion) -> None:
    step, user = request.POST["step"], _acting_user(request)
    try:
        done = _run_step(step, request, version, user)
    except ImportRefused as exc:
        model_admin.message_user(request, f"Nothing was changed: {exc.reason}", messages.ERROR)
    except DomainError as exc:
        model_admin.message_user(request, f"Nothing was changed: {_refusal(exc)}", messages.ERROR)
    else:
        model_admin.message_user(request, done, messages.SUCCESS)


def _run_step(step: str, request: HttpRequest, version: PolicyVersion, user: User) -> str:
    if step == "confirm":
        confirm = ConfirmForm(request.POST)
        if not confirm.is_valid():
            raise ValidationFailed({k: [str(e) for e in v] for k, v in confirm.errors.items()})
        if not version.field_reviews.filter(pk=confirm.cleaned_data["review"]).exists():
            raise Http404("no such imported field on this draft")
        review = import_field_review_confirm(
            review_id=confirm.cleaned_data["review"],
            user=user,
            corrected=confirm.cleaned_data["corrected"],
            remove=confirm.cleaned_data["remove"],
        )
        if review.shown == REMOVED:
            return f"{review.label} {review.corrected_from!r} removed from the draft."
        if review.corrected_from:
            return f"{review.label} corrected from {review.corrected_from!r} to {review.shown!r} and confirmed."
        return f"{review.label} {review.shown!r} confirmed."
    if step == "map":
        mapping = MapForm(request.POST, facts=list(FactDefinition.objects.all()))
        if not mapping.is_valid():
            raise ValidationFailed({k: [str(e) for e in v] for k, v in mapping.errors.items()})
        if not version.criteria.filter(pk=mapping.cleaned_data["criterion"]).exists():
            raise Http404("no such criterion on this draft")
        node = criterion_fact_map(
            criterion_id=mapping.cleaned_data["criterion"],
            user=user,
            fact_key=mapping.cleaned_data["fact"],
            operator=mapping.cleaned_data["operator"],
            value=mapping.cleaned_data["value"],
        )
        return f"{node.label!r} is now tested on {node.fact}."
    fact_form = FactForm(request.POST)
    if not fact_form.is_valid():
        raise ValidationFailed({k: [str(e) for e in v] for k, v in fact_form.errors.items()})
    fact = fact_definition_create(user=user, **fact_form.cleaned_data)
    return f"{fact.label} added to the fact catalogue; map criteria to it below."
