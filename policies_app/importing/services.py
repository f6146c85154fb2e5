"""An extracted document becomes a draft policy version, through the library's services.

The seed layouts (Wellmark, Blue Cross and Blue Shield of Minnesota) still go through
`policies_app.services.policy_import`, so what they produce is unchanged; any other document
is written from its `ImportResult`. Either way the draft carries the criteria the document
states, and every field the importer was unsure of is a note in `missing_fields`, which blocks
publishing until the editor confirms it and clears the note.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Q
from django.utils.text import get_valid_filename

from casemgmt.audit.models import AuditAction, AuditObject
from casemgmt.audit.services import audit_record
from casemgmt.kernel.roles import Role, require_role
from policies_app.importer import MAX_NUMBER, MAX_TERM, MAX_TITLE, WELLMARK, ImportRefused, parse_policy
from policies_app.importing.criteria import FactSpec
from policies_app.importing.extract import extract_document
from policies_app.importing.result import REVIEW_THRESHOLD, Criterion, Field, ImportResult
from policies_app.models import (
    CoveragePosition,
    CriterionNodeType,
    FactDefinition,
    LineOfBusiness,
    Policy,
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
        if created and result.criteria:
            with transaction.atomic():
                _criteria_create(version=version, roots=result.criteria)
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
    for name, found in result.fields.items():
        for item in found if isinstance(found, list) else [found]:
            if item.confidence < REVIEW_THRESHOLD and item.source.text:
                missing.append(
                    f"{name.replace('_', ' ')}: confirm {_shown(item)} read from {item.source.text[:80]!r} "
                    f"(confidence {item.confidence:.2f})"
                )
    missing.extend(f"import: {error}" for error in result.errors)
    return missing


def _shown(item: Field) -> str:
    value = item.value
    if isinstance(value, dict):
        value = value.get("name") or value.get("position") or value.get("code") or value.get("date")
    return repr(str(value)[:60])


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
