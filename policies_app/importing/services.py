"""An extracted document becomes a draft policy version, through the library's services.

The seed layouts (Wellmark, Blue Cross and Blue Shield of Minnesota) still go through
`policies_app.services.policy_import`, so what they produce is unchanged; any other document
is written from its `ImportResult`. Either way the draft carries the criteria the document
states, and every field the importer read below REVIEW_THRESHOLD is an ImportFieldReview, which
blocks publishing until an editor confirms it (correcting it first when it is wrong).

The admin import page holds the bytes it read server-side (ImportUpload), so the draft is made
from exactly the document the editor saw, whatever its size up to POLICY_IMPORT_MAX_BYTES.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import SuspiciousFileOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.files.base import ContentFile
from django.core.validators import validate_slug
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.text import get_valid_filename

from casemgmt.audit.models import AuditAction, AuditObject
from casemgmt.audit.services import audit_record
from casemgmt.kernel.errors import InvalidTransition, NotFoundError, ValidationFailed
from casemgmt.kernel.roles import Role, require_role
from policies_app.codes import normalize_code
from policies_app.fact_values import typed_value
from policies_app.importer import MAX_NUMBER, MAX_TERM, MAX_TITLE, WELLMARK, ImportRefused, parse_policy
from policies_app.importing.extract import extract_document
from policies_app.importing.facts import FactSpec
from policies_app.importing.result import REVIEW_THRESHOLD, Criterion, Field, ImportResult, plain
from policies_app.importing.shown import code_text, field_label, shown_value
from policies_app.models import (
    CodeSystem,
    CoveragePosition,
    CriterionNodeType,
    CriterionOperator,
    FactDefinition,
    FactType,
    ImportFieldReview,
    ImportUpload,
    LineOfBusiness,
    Policy,
    PolicyCode,
    PolicyTerm,
    PolicyVersion,
    PolicyVersionStatus,
)
from policies_app.models import Criterion as CriterionRow
from policies_app.requirement_rules import requirement_rules_suggest
from policies_app.services import policy_code_add, policy_import


@dataclass(frozen=True)
class ImportOutcome:
    result: ImportResult
    version: PolicyVersion
    created: bool


def fact_catalogue() -> list[FactSpec]:
    return [
        FactSpec(key, label, value_type, unit)
        for key, label, value_type, unit in FactDefinition.objects.order_by("key").values_list(
            "key", "label", "value_type", "unit"
        )
    ]


def policy_document_extract(*, data: bytes, filename: str, payer: str = "") -> ImportResult:
    """The document's fields, read against the current fact catalogue; writes nothing."""
    return extract_document(data, file=filename, payer=payer, catalogue=fact_catalogue())


def policy_document_import(*, data: bytes, filename: str, user: User, payer: str = "") -> ImportOutcome:
    """Import a payer's policy document as a draft version; ImportRefused (nothing written) when it cannot be.

    The same bytes imported again return the earlier version untouched (created is False).
    """
    require_role(user, Role.POLICY_EDITOR, action="import a policy document")
    result = policy_document_extract(data=data, filename=filename, payer=payer)
    if result.layout == "text" and is_seed_layout(data):
        version, created = policy_import(path_or_bytes=data, filename=filename, user=user)
        if created:
            with transaction.atomic():
                _criteria_create(version=version, roots=result.criteria)
                _field_reviews_create(version=version, result=result)
        return ImportOutcome(result, version, created)
    if result.errors and not result.fields.get("positions") and not result.fields.get("codes"):
        raise ImportRefused(result.errors[0])
    if result.errors and result.layout == "unreadable":
        raise ImportRefused(result.errors[0])
    sha = hashlib.sha256(data).hexdigest()
    earlier = PolicyVersion.objects.filter(source_sha256=sha).order_by("pk").first()
    if earlier is not None:
        return ImportOutcome(result, earlier, False)
    version = _write(result=result, data=data, sha=sha, filename=filename, user=user)
    return ImportOutcome(result, version, True)


def is_seed_layout(data: bytes) -> bool:
    """A document the seed importer reads, of the payer it names (its banner alone does not say whose)."""
    try:
        parsed = parse_policy(data)
    except ImportRefused:
        return False
    return parsed.payer.lower() in data.decode("utf-8", "replace").lower() or parsed.payer == WELLMARK


def _text(result: ImportResult, name: str, limit: int) -> str:
    value = result.value(name, "")
    return str(value)[:limit] if value else ""


def _write(*, result: ImportResult, data: bytes, sha: str, filename: str, user: User) -> PolicyVersion:
    payer = _text(result, "payer", 200)
    if not payer:
        raise ImportRefused(
            "the document does not name its payer; give the payer (--payer NAME, or the form's payer field)"
        )
    number = _text(result, "number", MAX_NUMBER + 1)
    title = _text(result, "title", MAX_TITLE)
    if len(number) > MAX_NUMBER:
        raise ImportRefused(f"the policy number is longer than {MAX_NUMBER} characters: {number[:60]!r}")
    missing = _missing(result, number=number, title=title)
    position, statement = _position(result, missing)
    lines_of_business = _lines_of_business(result)
    start, end = result.value("effective_start"), result.value("effective_end")
    if start is not None and end is not None and end < start:
        missing.append(
            f"effective dates: the document's effective date {start.isoformat()} is after its end "
            f"{end.isoformat()}; correct them"
        )
        end = None
    stored_name = ""
    version: PolicyVersion | None = None
    try:
        with transaction.atomic():
            defaults = {
                "title": title,
                "lines_of_business": lines_of_business,
                "original_effective_date": result.value("original_effective"),
            }
            if number:
                policy, _ = Policy.objects.get_or_create(payer=payer, number=number, defaults=defaults)
                Policy.objects.select_for_update().filter(pk=policy.pk).first()
            else:
                policy = Policy.objects.create(payer=payer, number="", **defaults)
            label = _text(result, "version_label", 50) or f"import-{sha[:12]}"
            clash = PolicyVersion.objects.filter(policy=policy, version_label=label).first()
            if clash is not None:
                raise ImportRefused(
                    f"policy {policy.number or '(no number)'} already has a version {label} "
                    f"({clash.get_status_display().lower()}) from a different document; "
                    "edit that version or retire it instead of importing a second one"
                )
            current = _current_published(policy, start)
            if current is not None:
                missing.append(_revision_note(current, start))
            version = PolicyVersion.objects.create(
                policy=policy,
                version_label=label,
                status=PolicyVersionStatus.DRAFT,
                coverage_position=position,
                effective_start=start,
                effective_end=end,
                revised_date=result.value("revised"),
                review_date=result.value("last_review"),
                statement=statement,
                history=[_history_row(row) for row in result.many("history")],
                missing_fields=missing,
                source_sha256=sha,
                based_on=current,
                created_by=user,
            )
            for code in result.many("codes"):
                policy_code_add(
                    version=version,
                    system=code.value["system"],
                    code=code.value["code"],
                    code_end=code.value["code_end"],
                    description=code.value["description"],
                )
            terms: dict[str, tuple[str, str]] = {}
            for term in result.many("terms"):
                # Notes name a device by its brand; a procedure by its whole name.
                name = term.value["short"] if term.value["kind"] == "device" else term.value["name"]
                terms.setdefault(name.lower()[:MAX_TERM], (name[:MAX_TERM], term.value["kind"]))
            PolicyTerm.objects.bulk_create(PolicyTerm(version=version, term=t, kind=k) for t, k in terms.values())
            _criteria_create(version=version, roots=result.criteria)
            _field_reviews_create(version=version, result=result)
            base = _file_name(filename)
            version.source_document.save(
                f"{base.stem[:40]}-{sha[:12]}{base.suffix[:10]}", ContentFile(data), save=False
            )
            stored_name = version.source_document.name or ""
            version.save(update_fields=["source_document"])
            audit_record(
                action=AuditAction.CREATE,
                object_type=AuditObject.POLICY_VERSION,
                object_id=version.pk,
                user=user,
                changes={"status": (None, version.status), "source_sha256": (None, sha)},
                detail={"policy": policy.number or policy.title, "version": label, "imported_from": result.layout},
            )
            prior = result.one("prior_authorization")
            if prior is not None:
                requirement_rules_suggest(user=user, version=version, statement=prior.value["statement"])
    except BaseException:
        # The file system is not part of the transaction: remove a copy the rollback orphaned.
        if stored_name and version is not None:
            version.source_document.storage.delete(stored_name)
        raise
    return version


def _current_published(policy: Policy, start: date | None) -> PolicyVersion | None:
    """The published version a newer revision follows: open-ended, and starting before it (when known)."""
    published = PolicyVersion.objects.filter(
        policy=policy, status=PolicyVersionStatus.PUBLISHED, effective_end__isnull=True
    )
    if start is not None:
        published = published.filter(Q(effective_start__isnull=True) | Q(effective_start__lt=start))
    return published.order_by("-effective_start").first()


def _revision_note(current: PolicyVersion, start: date | None) -> str:
    ends = (
        f"publishing this draft ends it on {(start - timedelta(days=1)).isoformat()}, the day before this one starts"
        if start is not None
        else "set this draft's effective start; publishing it then ends that version the day before"
    )
    return (
        f"revision: this document revises published version {current.version_label} (compare them in the "
        f"admin); {ends}. Confirm and clear this note"
    )


def _missing(result: ImportResult, *, number: str, title: str) -> list[str]:
    missing: list[str] = []
    if not number:
        missing.append("policy number: the document does not state it; copy it from the payer's policy index")
    if not title:
        missing.append("policy title: the document does not state it; copy it from the payer's policy index")
    if result.value("effective_start") is None and result.value("effective_end") is None:
        missing.append("effective dates: the document states neither when this version took effect nor when it ended")
    if not result.many("lines_of_business_excluded") and not result.many("lines_of_business_only"):
        missing.append(
            "lines of business: the document does not say which lines of business it applies to; the draft "
            "lists every line, so remove those it does not apply to"
        )
    missing.extend(f"import: {error}" for error in result.errors)
    return missing


def _position(result: ImportResult, missing: list[str]) -> tuple[str, str]:
    stated = result.many("positions")
    statement = " ".join(dict.fromkeys(p.source.text for p in stated))
    positions = list(dict.fromkeys(p.value["position"] for p in stated))
    if len(positions) == 1:
        return positions[0], statement
    if not positions:
        missing.append("coverage position: no sentence states one; set the position the policy states")
    else:
        per = "; ".join(
            f"{p.value['indication']}: {CoveragePosition(p.value['position']).label.lower()}" for p in stated
        )
        missing.append(
            f"coverage position: the policy states a position per indication ({per[:300]}); choose the one this "
            "version records, or split the policy"
        )
    return str(CoveragePosition.UNDETERMINED), statement


def _lines_of_business(result: ImportResult) -> list[str]:
    only = {f.value for f in result.many("lines_of_business_only")} & set(LineOfBusiness.values)
    if only:
        return [lob for lob in LineOfBusiness.values if lob in only]
    excluded = {f.value for f in result.many("lines_of_business_excluded")}
    if "medicaid" in excluded:
        # CHIP is run with the state's Medicaid programme and follows its coverage rules.
        excluded.add(LineOfBusiness.CHIP)
    return [lob for lob in LineOfBusiness.values if lob not in excluded]


def _history_row(row: Field) -> dict[str, str]:
    return {"date": row.value["date"].isoformat(), "action": row.value["action"], "detail": row.value["detail"]}


def _criteria_create(*, version: PolicyVersion, roots: list[Criterion]) -> None:
    if not roots:
        return
    if len(roots) > 1:
        # Separate lists (one per indication, usually) are alternatives, not all required at once.
        holder = Criterion("any_of", "Any of the following indications", roots[0].source, 0.5, children=list(roots))
        roots = [holder]
    facts = {f.key: f for f in FactDefinition.objects.filter(key__in=_fact_keys(roots))}
    for position, root in enumerate(roots):
        _criterion_create(version=version, parent=None, position=position, node=root, facts=facts)


def _fact_keys(nodes: list[Criterion]) -> set[str]:
    return {n.fact for node in nodes for n in [node, *_descendants(node)] if n.fact}


def _descendants(node: Criterion) -> list[Criterion]:
    return [n for child in node.children for n in (child, *_descendants(child))]


def _criterion_create(
    *,
    version: PolicyVersion,
    parent: CriterionRow | None,
    position: int,
    node: Criterion,
    facts: dict[str, FactDefinition],
) -> None:
    fact = facts.get(node.fact) if node.fact else None
    node_type = node.node_type
    if node_type == CriterionNodeType.LEAF and fact is None:
        node_type = CriterionNodeType.DOCUMENTED
    row = CriterionRow.objects.create(
        version=version,
        parent=parent,
        position=position,
        node_type=node_type,
        label=(node.label or "(criterion)")[:500],
        min_met=node.min_met,
        fact=fact if node_type == CriterionNodeType.LEAF else None,
        operator=node.operator if node_type == CriterionNodeType.LEAF else "",
        value=node.value if node_type == CriterionNodeType.LEAF else None,
    )
    for i, child in enumerate(node.children):
        _criterion_create(version=version, parent=row, position=i, node=child, facts=facts)


def _file_name(filename: str) -> Path:
    try:
        return Path(get_valid_filename(Path(filename).name))
    except SuspiciousFileOperation:
        return Path("policy.txt")


def outcome_json(outcome: ImportOutcome | None, result: ImportResult, status: str) -> dict[str, Any]:
    data = result.as_json()
    data["status"] = status
    if outcome is not None:
        data["version_id"] = outcome.version.pk
    return data


# -- fields read below the confidence threshold: recorded on the draft, confirmed one by one


def _field_reviews_create(*, version: PolicyVersion, result: ImportResult) -> None:
    """One review per field item (and criterion) the importer read below REVIEW_THRESHOLD from a span of the document.

    A value with no source span was given by the editor (the payer field), so there is nothing to confirm.
    """
    reviews: list[ImportFieldReview] = []
    for name, found in result.fields.items():
        for position, item in enumerate(found if isinstance(found, list) else [found]):
            if item.confidence >= REVIEW_THRESHOLD or not item.source.text:
                continue
            reviews.append(
                ImportFieldReview(
                    version=version,
                    field=name[:40],
                    position=position,
                    label=field_label(name)[:100],
                    value=plain(item.value),
                    shown=shown_value(name, item.value)[:500],
                    source_text=item.source.text,
                    confidence=round(item.confidence, 2),
                )
            )
    nodes = [node for root in result.criteria for node in (root, *_descendants(root))]
    for position, node in enumerate(nodes):
        if node.confidence >= REVIEW_THRESHOLD or not node.source.text:
            continue
        # Corrected in the draft's criteria, then confirmed here.
        reviews.append(
            ImportFieldReview(
                version=version,
                field="criteria",
                position=position,
                label="Criterion",
                value={"type": node.node_type, "label": node.label, "fact": node.fact, "operator": node.operator},
                shown=(node.label or "(criterion)")[:500],
                source_text=node.source.text,
                confidence=round(node.confidence, 2),
            )
        )
    ImportFieldReview.objects.bulk_create(reviews)


# The fields an editor may correct while confirming, and the draft's attribute each date or label
# sets. A code or a term replaces the draft's row it became, and may instead be removed from the
# draft; the title is the policy's. Positions, lines of business and the policy's number and payer
# are corrected on the draft's page or the policy's, then confirmed.
# What a removed code or term's review shows in place of its value.
REMOVED = "(removed from the draft)"

ATTRIBUTES = {
    "effective_start": "effective_start",
    "effective_end": "effective_end",
    "revised": "revised_date",
    "last_review": "review_date",
    "version_label": "version_label",
}
CORRECTABLE = {*ATTRIBUTES, "title", "codes", "terms"}
REMOVABLE = {"codes", "terms"}

# "CPT 64633", "HCPCS Level II E0601 — Positive airway pressure device", "ICD-10-CM E10.10–E10.9":
# a code as the review shows it. A range's end is a code (it holds a digit); a description follows
# a dash with spaces around it.
_CODE_CORRECTION_RE = re.compile(
    r"^(?P<system>[A-Za-z][\w\- ]*?)\s+(?P<code>[A-Za-z]?\d[A-Za-z0-9.]*)"
    r"(?:(?:\s*[-–]\s*|\s+(?:to|through)\s+)(?P<end>[A-Za-z]?\d[A-Za-z0-9.]*))?"
    r"(?:\s+[-–—]\s+(?P<description>\S.*))?$"
)


def _code_system(name: str) -> str | None:
    wanted = re.sub(r"[\s\-]", "", name).lower()
    for value, label in CodeSystem.choices:
        if wanted in (value.lower(), re.sub(r"[\s\-]", "", str(label)).lower()):
            return str(value)
    return "ICD10CM" if wanted in ("icd10", "icd10cm") else None


def _draft_locked(version_id: int) -> PolicyVersion:
    version = PolicyVersion.objects.select_for_update().select_related("policy").filter(pk=version_id).first()
    if version is None:
        raise NotFoundError(f"policy version {version_id} does not exist")
    if version.status != PolicyVersionStatus.DRAFT:
        raise InvalidTransition(
            f"version {version.version_label} is {version.get_status_display().lower()}; only a draft can be changed",
            current_status=version.status,
        )
    return version


def _corrected_attribute(review: ImportFieldReview, version: PolicyVersion, text: str) -> date | str:
    if review.field == "version_label":
        if len(text) > 50:
            raise ValidationFailed({"corrected": ["a version label has at most 50 characters"]})
        if (
            PolicyVersion.objects.filter(policy_id=version.policy_id, version_label=text)
            .exclude(pk=version.pk)
            .exists()
        ):
            raise ValidationFailed({"corrected": [f"the policy already has a version {text}"]})
        return text
    try:
        day = date.fromisoformat(text)
    except ValueError as exc:
        raise ValidationFailed({"corrected": [f"{text!r} is not a date; write it as YYYY-MM-DD"]}) from exc
    start = day if review.field == "effective_start" else version.effective_start
    end = day if review.field == "effective_end" else version.effective_end
    if review.field in ("effective_start", "effective_end") and start and end and end < start:
        raise ValidationFailed({"corrected": [f"the effective end {end} would be before the start {start}"]})
    return day


def _imported_code(review: ImportFieldReview, version: PolicyVersion) -> PolicyCode:
    value = review.value if isinstance(review.value, dict) else {}
    system = str(value.get("system", ""))
    first, last = str(value.get("code", "")), str(value.get("code_end") or "")
    row = PolicyCode.objects.filter(
        version=version,
        system=system,
        code=normalize_code(system, first),
        code_end=normalize_code(system, last) if last else "",
    ).first()
    if row is None:
        raise ValidationFailed(
            {
                "corrected": [
                    f"the draft no longer lists {review.shown}; confirm it as read, or correct the draft's codes"
                ]
            }
        )
    return row


def _imported_term(review: ImportFieldReview, version: PolicyVersion) -> PolicyTerm:
    value = review.value if isinstance(review.value, dict) else {}
    # The draft holds a device by the short name notes use, a procedure by its whole name.
    name = str(value.get("short") if value.get("kind") == "device" and value.get("short") else value.get("name", ""))
    row = PolicyTerm.objects.filter(version=version, term__iexact=name[:MAX_TERM]).first()
    if row is None:
        raise ValidationFailed(
            {"corrected": [f"the draft no longer lists {name!r}; confirm it as read, or correct the draft's terms"]}
        )
    return row


def _code_corrected(review: ImportFieldReview, version: PolicyVersion, text: str) -> dict[str, tuple[Any, Any]]:
    row = _imported_code(review, version)
    match = _CODE_CORRECTION_RE.match(text)
    system = _code_system(match.group("system")) if match else None
    if match is None or system is None:
        raise ValidationFailed(
            {
                "corrected": [
                    f"{text!r} is not a code: write the code set and the code, or a range, e.g. "
                    "'CPT 64633', 'HCPCS Level II E0601' or 'ICD-10-CM E10.10-E10.9', "
                    "optionally followed by ' - ' and its description"
                ]
            }
        )
    old = code_text({"system": row.system, "code": row.code, "code_end": row.code_end, "description": ""})
    description = match.group("description") or row.description
    row.delete()
    new = policy_code_add(
        version=version,
        system=system,
        code=match.group("code"),
        code_end=match.group("end") or "",
        description=description,
    )
    return {"codes": (old, code_text({"system": new.system, "code": new.code, "code_end": new.code_end}))}


def _term_corrected(review: ImportFieldReview, version: PolicyVersion, text: str) -> dict[str, tuple[Any, Any]]:
    row = _imported_term(review, version)
    if len(text) > MAX_TERM:
        raise ValidationFailed({"corrected": [f"a term has at most {MAX_TERM} characters"]})
    if PolicyTerm.objects.filter(version=version, term__iexact=text).exclude(pk=row.pk).exists():
        raise ValidationFailed({"corrected": [f"the draft already lists {text!r}"]})
    old = row.term
    row.term = text
    row.save(update_fields=["term"])
    return {"terms": (old, text)}


def _title_corrected(version: PolicyVersion, text: str) -> dict[str, tuple[Any, Any]]:
    if len(text) > MAX_TITLE:
        raise ValidationFailed({"corrected": [f"a title has at most {MAX_TITLE} characters"]})
    policy = Policy.objects.select_for_update().get(pk=version.policy_id)
    old = policy.title
    policy.title = text
    policy.save(update_fields=["title"])
    return {"policy.title": (old, text)}


def _corrected(review: ImportFieldReview, version: PolicyVersion, text: str) -> dict[str, tuple[Any, Any]]:
    """Correct the draft (or its policy's title) to `text`; the changes, for the audit record."""
    if review.field not in CORRECTABLE:
        raise ValidationFailed(
            {
                "corrected": [
                    f"{review.label.lower()} is corrected on the draft's page (or the policy's), then confirmed here"
                ]
            }
        )
    if review.field == "codes":
        return _code_corrected(review, version, text)
    if review.field == "terms":
        return _term_corrected(review, version, text)
    if review.field == "title":
        return _title_corrected(version, text)
    value = _corrected_attribute(review, version, text)
    attribute = ATTRIBUTES[review.field]
    old = getattr(version, attribute)
    setattr(version, attribute, value)
    version.save(update_fields=[attribute])
    return {attribute: (old.isoformat() if isinstance(old, date) else old, text)}


def _removed(review: ImportFieldReview, version: PolicyVersion) -> dict[str, tuple[Any, Any]]:
    """Take a code or a term the importer misread off the draft; the change, for the audit record."""
    if review.field not in REMOVABLE:
        raise ValidationFailed(
            {"remove": [f"only a code or a term is removed here; {review.label.lower()} is corrected instead"]}
        )
    if review.field == "codes":
        code = _imported_code(review, version)
        code.delete()
        return {"codes": (review.shown, None)}
    term = _imported_term(review, version)
    term.delete()
    return {"terms": (term.term, None)}


@transaction.atomic
def import_field_review_confirm(
    *, review_id: int, user: User, corrected: str = "", remove: bool = False
) -> ImportFieldReview:
    """Confirm one field the importer was unsure of, correcting the draft first when `corrected` is given.

    With `remove`, a code or a term the importer misread is taken off the draft, and the review is
    settled as removed. Confirming again changes nothing. Only a draft's fields are confirmed: a
    published version is frozen.
    """
    require_role(user, Role.POLICY_EDITOR, action="confirm an imported field")
    version_id = ImportFieldReview.objects.filter(pk=review_id).values_list("version_id", flat=True).first()
    if version_id is None:
        raise NotFoundError(f"imported field {review_id} does not exist")
    version = _draft_locked(version_id)
    review = ImportFieldReview.objects.select_for_update().get(pk=review_id)
    if review.confirmed_at is not None:
        return review
    changes: dict[str, tuple[Any, Any]] = {}
    corrected = corrected.strip()
    if remove:
        changes = _removed(review, version)
        review.corrected_from = review.shown
        review.shown = REMOVED
        review.value = None
    elif corrected and corrected != review.shown:
        changes = _corrected(review, version, corrected)
        review.corrected_from = review.shown
        review.shown = corrected[:500]
        review.value = corrected
    review.confirmed_by = user
    review.confirmed_at = timezone.now()
    review.save(update_fields=["corrected_from", "shown", "value", "confirmed_by", "confirmed_at"])
    changes[f"confirmed.{review.field}.{review.position}"] = (None, review.shown)
    audit_record(
        action=AuditAction.CHANGE,
        object_type=AuditObject.POLICY_VERSION,
        object_id=version.pk,
        user=user,
        changes=changes,
        detail={
            "policy": version.policy.number or version.policy.title,
            "version": version.version_label,
            "confirmed": review.label,
        },
    )
    return review


# -- documented-review criteria mapped to the fact catalogue from the import page

LIST_OPERATORS = {CriterionOperator.IN, CriterionOperator.NOT_IN, CriterionOperator.ANY_IN, CriterionOperator.NONE_IN}
ORDER_OPERATORS = {CriterionOperator.GT, CriterionOperator.GTE, CriterionOperator.LT, CriterionOperator.LTE}


def criterion_value_parse(*, fact: FactDefinition, operator: str, text: str) -> Any:
    """The value a leaf compares its fact with, typed as the engine reads the fact; ValidationFailed if it cannot be."""
    if operator not in CriterionOperator.values:
        raise ValidationFailed({"operator": [f"choose a comparison ({operator!r} is not one)"]})
    if operator in (CriterionOperator.IS_TRUE, CriterionOperator.IS_FALSE):
        if fact.value_type != FactType.BOOLEAN:
            raise ValidationFailed({"operator": [f"{fact.label} is not a yes/no fact; compare it with a value"]})
        return None
    if operator in ORDER_OPERATORS and fact.value_type not in (FactType.INTEGER, FactType.NUMBER, FactType.DATE):
        raise ValidationFailed({"operator": [f"{fact.label} is not a number or a date, so it cannot be compared so"]})
    listed = operator in LIST_OPERATORS or fact.value_type == FactType.CODE_LIST
    parts = [p for p in text.replace(";", ",").split(",") if p.strip()] if listed else [text]
    if not parts or not all(p.strip() for p in parts):
        raise ValidationFailed({"value": ["give the value to compare with"]})
    try:
        if fact.value_type == FactType.CODE_LIST:
            values = typed_value(parts, fact.value_type)
        else:
            values = [typed_value(part, fact.value_type) for part in parts]
    except ValueError as exc:
        kind = FactType(fact.value_type).label.lower() if fact.value_type in FactType.values else fact.value_type
        raise ValidationFailed({"value": [f"{text!r} is not a {kind} ({exc})"]}) from exc
    allowed = [v.get("value") for v in fact.allowed_values if isinstance(v, dict)]
    if allowed and any(v not in allowed for v in values):
        raise ValidationFailed({"value": [f"{fact.label} takes one of: {', '.join(str(a) for a in allowed)}"]})
    return values if listed else values[0]


@transaction.atomic
def criterion_fact_map(*, criterion_id: int, user: User, fact_key: str, operator: str, value: str = "") -> CriterionRow:
    """Turn a draft's documented-review condition into a condition on a catalogue fact, so the engine decides it."""
    require_role(user, Role.POLICY_EDITOR, action="map a criterion to a fact")
    version_id = CriterionRow.objects.filter(pk=criterion_id).values_list("version_id", flat=True).first()
    if version_id is None:
        raise NotFoundError(f"criterion {criterion_id} does not exist")
    version = _draft_locked(version_id)
    node = CriterionRow.objects.select_for_update().get(pk=criterion_id)
    if node.node_type not in (CriterionNodeType.DOCUMENTED, CriterionNodeType.LEAF) or node.children.exists():
        raise ValidationFailed({"criterion": [f"{node.label!r} is a group; only a condition is tested on a fact"]})
    fact = FactDefinition.objects.filter(key=fact_key).first()
    if fact is None:
        raise ValidationFailed({"fact": ["choose a fact from the catalogue, or add one"]})
    typed = criterion_value_parse(fact=fact, operator=operator, text=value)
    before = (node.node_type, node.fact.key if node.fact else None, node.operator, node.value)
    node.node_type = CriterionNodeType.LEAF
    node.fact = fact
    node.operator = operator
    node.value = typed
    node.save(update_fields=["node_type", "fact", "operator", "value"])
    audit_record(
        action=AuditAction.CHANGE,
        object_type=AuditObject.POLICY_VERSION,
        object_id=version.pk,
        user=user,
        changes={f"criterion.{node.pk}": (list(before), [node.node_type, fact.key, operator, typed])},
        detail={
            "policy": version.policy.number or version.policy.title,
            "version": version.version_label,
            "criterion": node.label[:200],
        },
    )
    return node


@transaction.atomic
def fact_definition_create(
    *, user: User, key: str, label: str, value_type: str, unit: str = "", description: str = ""
) -> FactDefinition:
    """Add a fact to the catalogue that criteria can test."""
    require_role(user, Role.POLICY_EDITOR, action="add a fact to the catalogue")
    errors: dict[str, list[str]] = {}
    key = key.strip()
    try:
        validate_slug(key)
    except DjangoValidationError:
        errors["key"] = ["a key has only lower-case letters, digits, hyphens and underscores, e.g. hba1c_percent"]
    if len(key) > 80:
        errors["key"] = ["a key has at most 80 characters"]
    elif key and FactDefinition.objects.filter(key=key).exists():
        errors["key"] = [f"the catalogue already has a fact {key}"]
    if not label.strip():
        errors["label"] = ["name the fact in words a reviewer reads"]
    if value_type not in FactType.values:
        errors["value_type"] = ["choose the kind of value the fact takes"]
    if errors:
        raise ValidationFailed(errors)
    fact = FactDefinition.objects.create(
        key=key, label=label.strip()[:200], value_type=value_type, unit=unit.strip()[:40], description=description
    )
    audit_record(
        action=AuditAction.CREATE,
        object_type=FactDefinition._meta.label_lower,
        object_id=fact.pk,
        user=user,
        changes={"key": (None, key), "value_type": (None, value_type)},
        detail={"label": fact.label},
    )
    return fact


# -- the document held between reading it and creating its draft


def policy_import_upload_hold(*, data: bytes, filename: str, user: User) -> ImportUpload:
    """Hold a document read on the import page until its editor creates the draft; copies past their hours go."""
    require_role(user, Role.POLICY_EDITOR, action="import a policy document")
    limit = settings.POLICY_IMPORT_MAX_BYTES
    if len(data) > limit:
        raise ImportRefused(f"{filename}: the file is larger than {limit / 1024 / 1024:.1f} MB, the most imported")
    sha = hashlib.sha256(data).hexdigest()
    now = timezone.now()
    with transaction.atomic():
        ImportUpload.objects.filter(held_at__lt=now - timedelta(hours=settings.POLICY_IMPORT_HOLD_HOURS)).delete()
        held, _ = ImportUpload.objects.update_or_create(
            uploaded_by=user,
            sha256=sha,
            defaults={"filename": _file_name(filename).name[:255], "size": len(data), "data": data, "held_at": now},
        )
    return held


def policy_document_import_held(*, sha256: str, user: User, payer: str = "") -> ImportOutcome:
    """Create the draft from the document this editor read, checked byte for byte against its SHA-256."""
    require_role(user, Role.POLICY_EDITOR, action="import a policy document")
    held = ImportUpload.objects.filter(uploaded_by=user, sha256=sha256).first()
    if held is None:
        raise ImportRefused(
            f"the document read on this page is no longer held (copies are kept {settings.POLICY_IMPORT_HOLD_HOURS} "
            "hours); read it again"
        )
    data = bytes(held.data)
    if hashlib.sha256(data).hexdigest() != sha256:
        raise ImportRefused("the held copy of the document is not the one that was read; read it again")
    outcome = policy_document_import(data=data, filename=held.filename, user=user, payer=payer)
    ImportUpload.objects.filter(pk=held.pk).delete()
    return outcome
