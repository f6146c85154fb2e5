"""The editors' import page: a payer's document read side by side with its sources, then a draft.

The page runs the same services as `manage.py import_policy`: `policy_document_extract` to show
what the document states (nothing written), `policy_document_import` to write the draft. The
document's bytes travel back with the "Create draft" form, so the draft is made from exactly the
bytes the editor saw read; the service reads them again and decides everything itself.
"""

from __future__ import annotations

import base64
import binascii
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
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from casemgmt.kernel.errors import DomainError
from policies_app.importer import ImportRefused
from policies_app.importing.result import REVIEW_THRESHOLD, Criterion, Field, ImportResult
from policies_app.importing.services import policy_document_extract, policy_document_import
from policies_app.models import (
    CodeSystem,
    CoveragePosition,
    CriterionNodeType,
    CriterionOperator,
    FactDefinition,
    LineOfBusiness,
    Policy,
    PolicyVersion,
    PolicyVersionStatus,
    Requirement,
)

if TYPE_CHECKING:
    from django.contrib.admin import ModelAdmin

ACCEPTED_SUFFIXES = (".txt", ".text", ".html", ".htm", ".pdf")
# The "Create draft" form carries the document back base64-encoded (4 bytes for 3) in an ordinary
# field, so a document must fit Django's request body limit with room for the form's other fields.
FORM_ROOM = 64 * 1024


def max_document_bytes() -> int:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return 50 * 1024 * 1024 if limit is None else (limit - FORM_ROOM) * 3 // 4


PASTED_NAME = "pasted-text.txt"

FIELD_LABELS = {
    "payer": "Payer",
    "number": "Policy number",
    "title": "Title",
    "version_label": "Version label",
    "effective_start": "Effective start",
    "effective_end": "Effective end",
    "replaced_on": "Replaced on",
    "original_effective": "Original effective date",
    "last_review": "Last reviewed",
    "next_review": "Next review",
    "revised": "Revised",
    "history": "History",
    "positions": "Coverage position",
    "lines_of_business_excluded": "Does not apply to",
    "lines_of_business_only": "Applies only to",
    "codes": "Codes",
    "terms": "Devices and procedure terms",
    "prior_authorization": "Prior authorization",
}


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
        limit = max_document_bytes()
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
    content = forms.CharField(widget=forms.HiddenInput)
    filename = forms.CharField(widget=forms.HiddenInput, max_length=255)
    payer = forms.CharField(widget=forms.HiddenInput, required=False, max_length=200)

    def clean_content(self) -> bytes:
        try:
            return base64.b64decode(self.cleaned_data["content"], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise forms.ValidationError("The document did not come back intact; upload it again.") from exc


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
class Revision:
    policy: Policy
    published: PolicyVersion
    rows: list[DiffLine]
    proposed_end: date | None
    published_url: str


def _label(choices: Any, value: Any) -> str:
    return str(choices(value).label) if value in choices.values else str(value)


def _code_text(value: dict[str, Any]) -> str:
    code = f"{_label(CodeSystem, value['system'])} {value['code']}"
    if value.get("code_end"):
        code += f"–{value['code_end']}"
    return f"{code} — {value['description']}" if value.get("description") else code


def shown_value(name: str, value: Any) -> str:
    """A field's value in words an editor reads, never the stored code."""
    if isinstance(value, date):
        return value.isoformat()
    if name == "codes":
        return _code_text(value)
    if name == "positions":
        position = _label(CoveragePosition, value["position"])
        return f"{position}: {value['indication']}" if value.get("indication") else position
    if name in ("lines_of_business_excluded", "lines_of_business_only"):
        return "FEP (Federal Employee Program)" if value == "fep" else _label(LineOfBusiness, value)
    if name == "terms":
        kind = "device" if value["kind"] == "device" else "procedure"
        short = f" (in notes: {value['short']})" if value.get("short") and value["short"] != value["name"] else ""
        return f"{value['name']}{short}, {kind}"
    if name == "history":
        return " ".join(
            str(part) for part in (shown_value("", value["date"]), value["action"], value["detail"]) if part
        )
    if name == "prior_authorization":
        return f"{_label(Requirement, value['requirement'])}: {value['statement']}"
    return str(value)


def field_rows(result: ImportResult) -> list[FieldRow]:
    rows: list[FieldRow] = []
    for name, found in result.fields.items():
        items = found if isinstance(found, list) else [found]
        for i, item in enumerate(items):
            ident = f"f-{name}" if isinstance(found, Field) else f"f-{name}-{i}"
            rows.append(_field_row(ident, FIELD_LABELS.get(name, name.replace("_", " ").capitalize()), name, item))
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
        kind = _label(CriterionNodeType, node.node_type)
    mapping = ""
    fact = facts.get(node.fact) if node.fact else None
    if fact is not None:
        value = node.value
        shown = ", ".join(str(v) for v in value) if isinstance(value, list) else "" if value is None else str(value)
        unit = f" {fact.unit}" if fact.unit and shown else ""
        mapping = f"{fact.label} {_label(CriterionOperator, node.operator)} {shown}{unit}".strip()
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
    positions = sorted({_label(CoveragePosition, f.value["position"]) for f in result.many("positions")})
    pairs = [
        ("Title", policy.title, str(result.value("title", ""))),
        ("Version label", published.version_label, str(result.value("version_label", ""))),
        ("Effective start", _day(published.effective_start), _day(start)),
        ("Effective end", _day(published.effective_end), _day(result.value("effective_end"))),
        ("Coverage position", published.get_coverage_position_display(), ", ".join(positions)),
        (
            "Codes",
            "; ".join(sorted(_code_text(_code_value(c)) for c in published.codes.all())),
            "; ".join(sorted(_code_text(f.value) for f in result.many("codes"))),
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
    return Revision(policy, published, rows, proposed, url)


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


def policy_import_view(model_admin: ModelAdmin[Any], request: HttpRequest) -> HttpResponse:
    """Upload or paste a document, see what it states beside its sources, then create the draft."""
    # Only those who may add policies (the policy editors) import; the service checks the role again.
    if not model_admin.has_add_permission(request):
        raise PermissionDenied
    context: dict[str, Any] = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": "Import a policy document",
        "threshold": REVIEW_THRESHOLD,
    }
    form = ImportForm()
    if request.method == "POST" and request.POST.get("step") == "create":
        create = CreateDraftForm(request.POST)
        if create.is_valid():
            data, filename = create.cleaned_data["content"], create.cleaned_data["filename"]
            payer = create.cleaned_data["payer"]
            try:
                outcome = policy_document_import(data=data, filename=filename, user=_acting_user(request), payer=payer)
            except ImportRefused as exc:
                context["refused"] = exc.reason
            except DomainError as exc:
                context["refused"] = str(exc)
            else:
                version = outcome.version
                url = reverse("admin:policies_app_policyversion_change", args=[version.pk])
                if outcome.created:
                    model_admin.message_user(
                        request, f"Draft {version} created from {filename}; confirm its notes below.", messages.SUCCESS
                    )
                else:
                    model_admin.message_user(
                        request, f"{filename} was imported before, as {version}; nothing was changed.", messages.INFO
                    )
                return HttpResponseRedirect(url)
            _preview(context, data=data, filename=filename, payer=payer)
        else:
            context["refused"] = "the document did not come back with the form intact; read it again."
        form = ImportForm(initial={"payer": create.data.get("payer", "")})
    elif request.method == "POST":
        form = ImportForm(request.POST, request.FILES)
        if form.is_valid():
            data, filename = form.document_bytes()
            _preview(context, data=data, filename=filename, payer=form.cleaned_data["payer"])
    context["form"] = form
    return TemplateResponse(request, "admin/policies_app/importing/import.html", context)


def _preview(context: dict[str, Any], *, data: bytes, filename: str, payer: str) -> None:
    result = policy_document_extract(data=data, filename=filename, payer=payer)
    readable = result.layout != "unreadable" and bool(result.fields)
    context.update(
        result=result,
        filename=filename,
        readable=readable,
        segments=highlighted(result) if readable else [],
        field_rows=field_rows(result),
        criterion_rows=criterion_rows(result),
        revision=revision_of(result) if readable else None,
        create_form=CreateDraftForm(
            initial={"content": base64.b64encode(data).decode("ascii"), "filename": filename, "payer": payer}
        ),
    )
