"""Writes to the policy library. Every status change is guarded and atomic."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.text import get_valid_filename

from casemgmt.audit.models import AuditAction, AuditObject
from casemgmt.audit.services import audit_record
from casemgmt.kernel.errors import (
    ConflictError,
    InvalidTransition,
    NotFoundError,
    PermissionDeniedError,
    ValidationFailed,
)
from casemgmt.kernel.roles import Role, require_role
from policies_app.codes import code_problem, normalize_code, range_problem
from policies_app.importer import ImportRefused, parse_policy
from policies_app.models import (
    CoveragePosition,
    Criterion,
    CriterionNodeType,
    FactDefinition,
    LineOfBusiness,
    Policy,
    PolicyCode,
    PolicyTerm,
    PolicyVersion,
    PolicyVersionStatus,
)
from policies_app.requirement_rules import requirement_rules_suggest
from policies_app.selectors import content_sha256
from policies_app.signals import policy_version_published

# Re-exported: the stamp is bumped here and by the requirement rules, which services imports.
from policies_app.stamp import library_stamp_bump as library_stamp_bump


def _locked_version(version_id: int) -> PolicyVersion:
    try:
        return PolicyVersion.objects.select_for_update().select_related("policy").get(pk=version_id)
    except PolicyVersion.DoesNotExist as exc:
        raise NotFoundError(f"policy version {version_id} does not exist") from exc


def _audit_version(version: PolicyVersion, user: User, action: str = AuditAction.CHANGE, **changes: Any) -> None:
    """The audit row of a version's status change (or creation), in the caller's transaction."""
    audit_record(
        action=action,
        object_type=AuditObject.POLICY_VERSION,
        object_id=version.pk,
        user=user,
        changes=changes,
        detail={"policy": version.policy.number or version.policy.title, "version": version.version_label},
    )


def _require_editable(version: PolicyVersion) -> None:
    if version.status != PolicyVersionStatus.DRAFT:
        raise InvalidTransition(
            f"version {version.version_label} is {version.get_status_display().lower()}; only a draft can be changed",
            current_status=version.status,
        )


def publish_problems(version: PolicyVersion) -> dict[str, list[str]]:
    """Everything that stops a version from being published, by field."""
    problems: dict[str, list[str]] = {}

    def add(field: str, message: str) -> None:
        problems.setdefault(field, []).append(message)

    policy = version.policy
    if not policy.number:
        add("policy.number", "the policy number is missing; fill it in from the payer's policy index")
    if not policy.title:
        add("policy.title", "the policy title is missing")
    if not policy.lines_of_business:
        add("policy.lines_of_business", "choose at least one line of business the policy applies to")
    invalid_lob = set(policy.lines_of_business) - set(LineOfBusiness.values)
    if invalid_lob:
        add("policy.lines_of_business", f"unknown lines of business: {', '.join(sorted(invalid_lob))}")
    if version.coverage_position == CoveragePosition.UNDETERMINED:
        add("coverage_position", "set the coverage position the policy states")
    if not version.statement.strip():
        add("statement", "the policy statement is empty")
    if version.effective_start is None and version.effective_end is None:
        add("effective_start", "set when this version takes effect (or, if unknown, when it ended)")
    for code in version.codes.all():
        problem = (
            range_problem(code.system, code.code, code.code_end)
            if code.code_end
            else code_problem(code.system, code.code)
        )
        if problem:
            add("codes", problem)
    if not version.codes.exists() and not version.terms.exists():
        add("codes", "a version must govern at least one code or name at least one device or procedure term")
    if (
        version.coverage_position == CoveragePosition.MEDICALLY_NECESSARY_WITH_CRITERIA
        and not version.criteria.exists()
    ):
        add("criteria", "a position of 'medically necessary when criteria are met' needs criteria")
    for node in version.criteria.all():
        if node.node_type == "leaf" and (node.fact_id is None or not node.operator):
            add("criteria", f"criterion {node.label!r} needs a fact and an operator")
        if node.node_type not in ("leaf", "documented") and not node.children.exists():
            add("criteria", f"group {node.label!r} has no conditions")
    for item in version.missing_fields:
        add("missing_fields", f"the importer could not read: {item}; fill it in and clear this note")
    for review in version.field_reviews.filter(confirmed_at__isnull=True).order_by("pk"):
        add(
            "imported_fields",
            f"confirm the imported {review.label.lower()} {review.shown[:80]!r} "
            f"(read from {review.source_text[:80]!r} at confidence {review.confidence:.2f})",
        )
    return problems


def _overlapping(version: PolicyVersion) -> PolicyVersion | None:
    """A published version of the same policy whose dates overlap this one's, if any."""
    others = PolicyVersion.objects.filter(policy_id=version.policy_id, status=PolicyVersionStatus.PUBLISHED).exclude(
        pk=version.pk
    )
    if version.effective_end is not None:
        others = others.filter(Q(effective_start__isnull=True) | Q(effective_start__lte=version.effective_end))
    if version.effective_start is not None:
        others = others.filter(Q(effective_end__isnull=True) | Q(effective_end__gte=version.effective_start))
    return others.order_by("effective_start").first()


@transaction.atomic
def policy_version_submit_for_review(*, version_id: int, user: User) -> PolicyVersion:
    require_role(user, Role.POLICY_EDITOR, action="submit a policy version for review")
    version = _locked_version(version_id)
    _require_editable(version)
    problems = publish_problems(version)
    if problems:
        raise ValidationFailed(problems)
    version.status = PolicyVersionStatus.IN_REVIEW
    version.submitted_by = user
    version.submitted_at = timezone.now()
    version.save(update_fields=["status", "submitted_by", "submitted_at"])
    _audit_version(version, user, status=(PolicyVersionStatus.DRAFT, version.status))
    return version


@transaction.atomic
def policy_version_return_to_draft(*, version_id: int, user: User) -> PolicyVersion:
    require_role(user, Role.POLICY_EDITOR, action="return a policy version to draft")
    version = _locked_version(version_id)
    if version.status != PolicyVersionStatus.IN_REVIEW:
        raise InvalidTransition(f"version {version.version_label} is not in review", current_status=version.status)
    version.status = PolicyVersionStatus.DRAFT
    version.save(update_fields=["status"])
    _audit_version(version, user, status=(PolicyVersionStatus.IN_REVIEW, version.status))
    return version


@transaction.atomic
def policy_version_publish(*, version_id: int, user: User) -> PolicyVersion:
    """Publish a reviewed version. It never changes again.

    A published open-ended predecessor that starts before this version is closed the day
    before this one starts; any other overlap is refused. Sends `policy_version_published` in
    the transaction: its receivers (re-flagging open cases, the retrospective run) act on it.
    With POLICY_PUBLISH_NEEDS_SECOND_EDITOR on, the editor who submitted the version for review
    cannot publish it: a second editor reviews what the first wrote.
    """
    require_role(user, Role.POLICY_EDITOR, action="publish a policy version")
    # Lock the policy row first so two publishes of one policy cannot both pass the overlap check.
    Policy.objects.select_for_update().filter(
        pk=PolicyVersion.objects.filter(pk=version_id).values("policy_id")[:1]
    ).first()
    version = _locked_version(version_id)
    if version.status != PolicyVersionStatus.IN_REVIEW:
        raise InvalidTransition(
            f"version {version.version_label} is {version.get_status_display().lower()}; "
            "only a version in review can be published",
            current_status=version.status,
        )
    if settings.POLICY_PUBLISH_NEEDS_SECOND_EDITOR and version.submitted_by_id == user.pk:
        raise PermissionDeniedError(
            f"you submitted version {version.version_label} for review, so another policy editor "
            "must review and publish it"
        )
    problems = publish_problems(version)
    if problems:
        raise ValidationFailed(problems)
    now = timezone.now()
    if version.effective_start is not None:
        predecessor = (
            PolicyVersion.objects.select_for_update()
            .filter(
                policy_id=version.policy_id,
                status=PolicyVersionStatus.PUBLISHED,
                effective_end__isnull=True,
            )
            .filter(Q(effective_start__isnull=True) | Q(effective_start__lt=version.effective_start))
            .first()
        )
        if predecessor is not None:
            predecessor.effective_end = version.effective_start - timedelta(days=1)
            predecessor.save(update_fields=["effective_end"])
            _audit_version(predecessor, user, effective_end=(None, predecessor.effective_end))
    clash = _overlapping(version)
    if clash is not None:
        raise ConflictError(
            f"version {version.version_label} ({_window(version)}) overlaps published version "
            f"{clash.version_label} ({_window(clash)}) of the same policy; change the dates or retire that version",
            field="effective_start",
        )
    version.content_sha256 = content_sha256(version)
    version.status = PolicyVersionStatus.PUBLISHED
    version.published_by = user
    version.published_at = now
    version.save(update_fields=["content_sha256", "status", "published_by", "published_at"])
    _audit_version(
        version,
        user,
        status=(PolicyVersionStatus.IN_REVIEW, version.status),
        content_sha256=("", version.content_sha256),
    )
    library_stamp_bump()
    # In this transaction: what the receivers write exists iff the publish commits.
    policy_version_published.send(sender=PolicyVersion, version_id=version.pk, user=user)
    return version


@transaction.atomic
def policy_version_retire(*, version_id: int, user: User) -> PolicyVersion:
    require_role(user, Role.POLICY_EDITOR, action="retire a policy version")
    version = _locked_version(version_id)
    if version.status != PolicyVersionStatus.PUBLISHED:
        raise InvalidTransition(f"version {version.version_label} is not published", current_status=version.status)
    version.status = PolicyVersionStatus.RETIRED
    version.save(update_fields=["status"])
    _audit_version(version, user, status=(PolicyVersionStatus.PUBLISHED, version.status))
    library_stamp_bump()
    return version


def _window(version: PolicyVersion) -> str:
    start = version.effective_start.isoformat() if version.effective_start else "unknown start"
    end = version.effective_end.isoformat() if version.effective_end else "open"
    return f"{start} to {end}"


@transaction.atomic
def policy_version_draft_from(*, version_id: int, user: User, version_label: str) -> PolicyVersion:
    """Copy a version, with its codes, terms and criteria, into a new draft."""
    require_role(user, Role.POLICY_EDITOR, action="create a policy draft")
    source = PolicyVersion.objects.select_related("policy").get(pk=version_id)
    if PolicyVersion.objects.filter(policy=source.policy, version_label=version_label).exists():
        raise ValidationFailed({"version_label": [f"version {version_label!r} already exists for this policy"]})
    draft = PolicyVersion.objects.create(
        policy=source.policy,
        version_label=version_label,
        coverage_position=source.coverage_position,
        effective_start=None,
        effective_end=None,
        statement=source.statement,
        history=source.history,
        auto_approve_when_met=source.auto_approve_when_met,
        based_on=source,
        created_by=user,
    )
    PolicyCode.objects.bulk_create(
        PolicyCode(version=draft, system=c.system, code=c.code, code_end=c.code_end, description=c.description)
        for c in source.codes.all()
    )
    PolicyTerm.objects.bulk_create(PolicyTerm(version=draft, term=t.term, kind=t.kind) for t in source.terms.all())
    mapping: dict[int, Criterion] = {}
    # Copy parents before children: walk the tree breadth-first from the roots.
    pending = list(source.criteria.filter(parent__isnull=True).order_by("position", "id"))
    while pending:
        node = pending.pop(0)
        copy = Criterion.objects.create(
            version=draft,
            parent=mapping.get(node.parent_id) if node.parent_id else None,
            position=node.position,
            node_type=node.node_type,
            label=node.label,
            min_met=node.min_met,
            fact=node.fact,
            operator=node.operator,
            value=node.value,
        )
        mapping[node.pk] = copy
        pending.extend(node.children.order_by("position", "id"))
    _audit_version(draft, user, AuditAction.CREATE, status=(None, draft.status), based_on=(None, source.pk))
    return draft


def policy_code_add(
    *, version: PolicyVersion, system: str, code: str, code_end: str = "", description: str = ""
) -> PolicyCode:
    _require_editable(version)
    code = normalize_code(system, code)
    code_end = normalize_code(system, code_end) if code_end else ""
    problem = range_problem(system, code, code_end) if code_end else code_problem(system, code)
    if problem:
        raise ValidationFailed({"code": [problem]})
    obj, _ = PolicyCode.objects.get_or_create(
        version=version, system=system, code=code, code_end=code_end, defaults={"description": description}
    )
    return obj


def policy_seed(*, data: dict[str, Any], user: User, publisher: User) -> PolicyVersion:
    """Create and publish a policy version from structured data, unless it already exists.

    Used by `load_demo`; goes through the same draft, review and publish services as editors:
    `user` drafts the version and submits it for review, `publisher` publishes it. Seeding has
    no exemption from POLICY_PUBLISH_NEEDS_SECOND_EDITOR, so with it on (the default)
    `publisher` is a second policy editor; the audit trail then shows two editors for every
    published version, seeded or not.
    `prior_approval` (the policy's PRIOR APPROVAL statement) suggests draft requirement rules for
    its codes, and `auto_approve_when_met` allows approval at intake when the criteria are met.
    `facts` (key, label, value type, unit, and optionally the allowed values) adds the clinical
    facts the `criteria` test to the catalogue; each criteria node is a leaf (`label`, `fact`,
    `operator`, `value`), a documented-review criterion (`label`, `node_type` "documented") or a
    group (`label`, `children`, and `node_type` and `min_met` other than "all of").
    """
    policy, _ = Policy.objects.get_or_create(
        payer=data["payer"],
        number=data["number"],
        defaults={
            "title": data["title"],
            "lines_of_business": data["lines_of_business"],
            "retrospective_review": data.get("retrospective_review", False),
            "original_effective_date": data.get("original_effective_date"),
        },
    )
    existing = PolicyVersion.objects.filter(policy=policy, version_label=data["version_label"]).first()
    if existing is not None:
        return existing
    with transaction.atomic():
        version = PolicyVersion.objects.create(
            policy=policy,
            version_label=data["version_label"],
            coverage_position=data["coverage_position"],
            effective_start=data.get("effective_start"),
            effective_end=data.get("effective_end"),
            revised_date=data.get("revised_date"),
            review_date=data.get("review_date"),
            statement=data["statement"],
            history=data.get("history", []),
            auto_approve_when_met=data.get("auto_approve_when_met", False),
            created_by=user,
        )
        for system, code, description in data.get("codes", []):
            first, _, last = code.partition("-")
            policy_code_add(version=version, system=system, code=first, code_end=last, description=description)
        PolicyTerm.objects.bulk_create(
            PolicyTerm(version=version, term=term, kind=kind) for term, kind in data.get("terms", [])
        )
        for key, label, value_type, unit, *allowed in data.get("facts", []):
            _fact_seed(
                key=key,
                label=label,
                value_type=value_type,
                unit=unit,
                allowed_values=allowed[0] if allowed else [],
                user=user,
            )
        for position, node in enumerate(data.get("criteria", [])):
            _criterion_seed(version=version, parent=None, position=position, node=node)
        if data.get("prior_approval"):
            # As for an imported document: the policy's word on prior approval is a suggestion to confirm.
            requirement_rules_suggest(user=user, version=version, statement=data["prior_approval"])
        policy_version_submit_for_review(version_id=version.pk, user=user)
        return policy_version_publish(version_id=version.pk, user=publisher)


def _fact_seed(
    *, key: str, label: str, value_type: str, unit: str, allowed_values: list[dict[str, Any]], user: User
) -> None:
    """Add a clinical fact to the catalogue unless it is there: an existing entry is the editors' to change."""
    fact, created = FactDefinition.objects.get_or_create(
        key=key, defaults={"label": label, "value_type": value_type, "unit": unit, "allowed_values": allowed_values}
    )
    if created:
        # The same object type as the admin's rows for the catalogue.
        audit_record(
            action=AuditAction.CREATE,
            object_type="policies_app.factdefinition",
            object_id=fact.pk,
            user=user,
            changes={"key": (None, key), "value_type": (None, value_type)},
        )


def _criterion_seed(*, version: PolicyVersion, parent: Criterion | None, position: int, node: dict[str, Any]) -> None:
    """One node of a seeded criteria tree: a leaf names `fact`, `operator` and `value`; a group its `children`."""
    children: list[dict[str, Any]] = node.get("children", [])
    created = Criterion.objects.create(
        version=version,
        parent=parent,
        position=position,
        node_type=node.get("node_type", CriterionNodeType.ALL_OF if children else CriterionNodeType.LEAF),
        label=node["label"],
        min_met=node.get("min_met"),
        fact=FactDefinition.objects.get(key=node["fact"]) if "fact" in node else None,
        operator=node.get("operator", ""),
        value=node.get("value"),
    )
    for i, child in enumerate(children):
        _criterion_seed(version=version, parent=created, position=i, node=child)


def policy_import(*, path_or_bytes: Path | str | bytes, filename: str, user: User) -> tuple[PolicyVersion, bool]:
    """Import a payer policy document as a draft version; return it and whether it was created.

    `path_or_bytes` is a file path or the document's bytes; `filename` names the stored copy.
    The same bytes imported again return the earlier version untouched (created is False).
    A document the importer cannot read raises ImportRefused and nothing is written.
    """
    require_role(user, Role.POLICY_EDITOR, action="import a policy document")
    if isinstance(path_or_bytes, bytes):
        data = path_or_bytes
    else:
        try:
            data = Path(path_or_bytes).read_bytes()
        except OSError as exc:
            raise ImportRefused(f"cannot read {path_or_bytes}: {exc.strerror or exc}") from exc
    sha = hashlib.sha256(data).hexdigest()
    earlier = PolicyVersion.objects.filter(source_sha256=sha).order_by("pk").first()
    if earlier is not None:
        return earlier, False
    # Parse before the transaction: a refusal must leave the database and MEDIA_ROOT untouched.
    parsed = parse_policy(data)

    stored_name = ""
    version: PolicyVersion | None = None
    try:
        with transaction.atomic():
            if parsed.number:
                policy, _ = Policy.objects.get_or_create(
                    payer=parsed.payer,
                    number=parsed.number,
                    defaults={
                        "title": parsed.title,
                        "lines_of_business": parsed.lines_of_business,
                        "retrospective_review": parsed.retrospective_review,
                        "original_effective_date": parsed.original_effective_date,
                    },
                )
                # Serialise imports into one policy, then look again: a concurrent import of the
                # same bytes may have committed since the first look.
                Policy.objects.select_for_update().filter(pk=policy.pk).first()
                earlier = PolicyVersion.objects.filter(source_sha256=sha).order_by("pk").first()
                if earlier is not None:
                    return earlier, False
            else:
                matched = Policy.objects.filter(payer=parsed.payer, versions__source_sha256=sha).order_by("pk").first()
                policy = matched or Policy.objects.create(
                    payer=parsed.payer,
                    number="",
                    title=parsed.title,
                    lines_of_business=parsed.lines_of_business,
                    retrospective_review=parsed.retrospective_review,
                    original_effective_date=parsed.original_effective_date,
                )
            label = parsed.version_label or f"import-{sha[:12]}"
            clash = PolicyVersion.objects.filter(policy=policy, version_label=label).first()
            if clash is not None:
                raise ImportRefused(
                    f"policy {policy.number or '(no number)'} already has a version {label} "
                    f"({clash.get_status_display().lower()}) from a different document; "
                    "edit that version or retire it instead of importing a second one"
                )
            version = PolicyVersion.objects.create(
                policy=policy,
                version_label=label,
                status=PolicyVersionStatus.DRAFT,
                coverage_position=parsed.coverage_position,
                effective_start=parsed.effective_start,
                effective_end=parsed.effective_end,
                revised_date=parsed.revised_date,
                review_date=parsed.review_date,
                statement=parsed.statement,
                history=parsed.history,
                missing_fields=parsed.missing_fields,
                source_sha256=sha,
                created_by=user,
            )
            for system, code, description in parsed.codes:
                first, _, last = code.partition("-")
                policy_code_add(version=version, system=system, code=first, code_end=last, description=description)
            PolicyTerm.objects.bulk_create(
                PolicyTerm(version=version, term=term, kind=kind) for term, kind in parsed.terms
            )
            base = _import_file_name(filename)
            # The sha prefix keeps two documents with one file name apart; the stem is cut so the
            # name fits the FileField's 100 characters with the upload_to folder.
            version.source_document.save(
                f"{base.stem[:40]}-{sha[:12]}{base.suffix[:10]}", ContentFile(data), save=False
            )
            stored_name = version.source_document.name or ""
            version.save(update_fields=["source_document"])
            _audit_version(version, user, AuditAction.CREATE, status=(None, version.status), source_sha256=(None, sha))
            if parsed.prior_approval:
                # The policy's own word on prior approval becomes draft rules for the editor to confirm.
                requirement_rules_suggest(user=user, version=version, statement=parsed.prior_approval)
    except BaseException:
        # The file system is not part of the transaction: remove a copy the rollback orphaned.
        if stored_name and version is not None:
            version.source_document.storage.delete(stored_name)
        raise
    return version, True


def _import_file_name(filename: str) -> Path:
    try:
        return Path(get_valid_filename(Path(filename).name))
    except SuspiciousFileOperation:
        # Names such as "" or ".." have nothing usable; the sha prefix still identifies the file.
        return Path("policy.txt")
