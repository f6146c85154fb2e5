"""Reads of the policy library, including the engine index that every process shares."""

from __future__ import annotations

import hashlib
import json
import threading
from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from typing import Any

from django.db.models import Case, OuterRef, Q, QuerySet, Subquery, Value, When

from policies_app.engine import (
    CriterionNode,
    FlagData,
    LineRequest,
    PolicyIndex,
    RequestData,
    VersionData,
    documented_fact_key,
    evaluate_request,
)
from policies_app.models import (
    Criterion,
    CriterionNodeType,
    CriterionOperator,
    FactDefinition,
    FactType,
    LibraryStamp,
    Policy,
    PolicyCode,
    PolicyVersion,
    PolicyVersionStatus,
    RequirementRule,
    RequirementRuleStatus,
)
from policies_app.requirement_index import RequirementIndex, RuleData

_index_lock = threading.Lock()
_index: tuple[str, PolicyIndex] | None = None
_requirements: tuple[str, RequirementIndex] | None = None


def library_stamp() -> tuple[int, str]:
    """The library's change counter and the random token of its latest change."""
    row = LibraryStamp.objects.filter(pk=1).values_list("value", "token").first()
    return (int(row[0]), row[1]) if row else (0, "")


def _criteria_tree(nodes: Iterable[Criterion]) -> CriterionNode | None:
    children: dict[int | None, list[Criterion]] = defaultdict(list)
    for node in nodes:
        children[node.parent_id].append(node)
    for group in children.values():
        group.sort(key=lambda n: (n.position, n.id))

    def build(node: Criterion) -> CriterionNode:
        fact = node.fact
        if node.node_type == CriterionNodeType.DOCUMENTED:
            return CriterionNode(
                node_type=node.node_type,
                label=node.label,
                fact=documented_fact_key(node.label),
                fact_type=FactType.BOOLEAN,
                operator=CriterionOperator.IS_TRUE,
                criterion_id=node.id,
                fact_label=node.label,
            )
        return CriterionNode(
            node_type=node.node_type,
            label=node.label,
            children=tuple(build(c) for c in children.get(node.id, ())),
            min_met=node.min_met,
            fact=fact.key if fact else "",
            fact_type=fact.value_type if fact else "",
            unit=fact.unit if fact else "",
            operator=node.operator,
            value=node.value,
            criterion_id=node.id,
            fact_label=fact.label if fact else "",
        )

    roots = children.get(None, [])
    if not roots:
        return None
    if len(roots) == 1:
        return build(roots[0])
    # Several top-level nodes read as "all of" them, which is how policies list criteria.
    return CriterionNode(node_type="all_of", label="All of the following", children=tuple(build(r) for r in roots))


def version_data(version: PolicyVersion) -> VersionData:
    """Plain data for one version; expects codes, terms and criteria__fact prefetched."""
    policy = version.policy
    return VersionData(
        version_id=version.pk,
        policy_id=policy.pk,
        payer=policy.payer,
        policy_number=policy.number,
        policy_title=policy.title,
        version_label=version.version_label,
        effective_start=version.effective_start,
        effective_end=version.effective_end,
        coverage_position=version.coverage_position,
        statement=version.statement,
        lines_of_business=frozenset(policy.lines_of_business),
        codes=tuple((c.system, c.code, c.code_end or c.code) for c in version.codes.all()),
        terms=tuple(t.term for t in version.terms.all()),
        criteria=_criteria_tree(version.criteria.all()),
        content_sha256=version.content_sha256,
        auto_approve=version.auto_approve_when_met,
    )


def versions_with_content() -> QuerySet[PolicyVersion]:
    return PolicyVersion.objects.select_related("policy").prefetch_related("codes", "terms", "criteria__fact")


def build_index(stamp: int | None = None) -> PolicyIndex:
    versions = versions_with_content().filter(status=PolicyVersionStatus.PUBLISHED)
    return PolicyIndex((version_data(v) for v in versions), stamp=library_stamp()[0] if stamp is None else stamp)


def engine_index(stamp: tuple[int, str] | None = None) -> PolicyIndex:
    """The process's index of published versions, rebuilt when another process has published.

    One indexed primary-key read per call decides whether the cached index is still current;
    a caller that has just read the stamp in a query of its own passes it.
    """
    global _index
    value, token = library_stamp() if stamp is None else stamp
    current = _index
    if current is not None and current[0] == token:
        return current[1]
    with _index_lock:
        if _index is None or _index[0] != token:
            _index = (token, build_index(value))
        return _index[1]


def index_with_draft(draft: PolicyVersion) -> PolicyIndex:
    """The published library with `draft` standing in for its policy's versions (the "try it" form)."""
    published = [
        version_data(v)
        for v in versions_with_content().filter(status=PolicyVersionStatus.PUBLISHED).exclude(policy=draft.policy)
    ]
    return PolicyIndex([*published, version_data(versions_with_content().get(pk=draft.pk))], stamp=-1)


def version_content(version: PolicyVersion) -> dict[str, Any]:
    """The canonical content of a version: what its content hash covers."""
    policy = version.policy
    criteria = [
        {
            "id": c.pk,
            "parent": c.parent_id,
            "position": c.position,
            "node_type": c.node_type,
            "label": c.label,
            "min_met": c.min_met,
            "fact": c.fact.key if c.fact else None,
            "operator": c.operator,
            "value": c.value,
        }
        for c in sorted(version.criteria.all(), key=lambda c: c.pk)
    ]

    def day(d: date | None) -> str | None:
        return d.isoformat() if d else None

    return {
        "payer": policy.payer,
        "policy_number": policy.number,
        "policy_title": policy.title,
        "lines_of_business": sorted(policy.lines_of_business),
        "version": version.version_label,
        "coverage_position": version.coverage_position,
        "effective_start": day(version.effective_start),
        "effective_end": day(version.effective_end),
        "statement": version.statement,
        "codes": sorted([c.system, c.code, c.code_end, c.description] for c in version.codes.all()),
        "terms": sorted(t.term for t in version.terms.all()),
        "criteria": criteria,
        "source_sha256": version.source_sha256,
        "auto_approve_when_met": version.auto_approve_when_met,
    }


def content_sha256(version: PolicyVersion) -> str:
    content = version_content(version)
    # The end date of an open-ended version is closed once, when its successor is published;
    # everything else is frozen at publish, and the hash covers exactly that.
    content.pop("effective_end")
    # Hashed only when on, so versions published before the switch existed keep their hashes.
    if not content["auto_approve_when_met"]:
        content.pop("auto_approve_when_met")
    payload = json.dumps(content, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


def policy_list() -> QuerySet[Policy]:
    return Policy.objects.prefetch_related("versions").order_by("payer", "number")


def published_versions_for_citation(ids: Iterable[int]) -> dict[int, PolicyVersion]:
    return {
        v.pk: v
        for v in PolicyVersion.objects.select_related("policy").filter(
            pk__in=list(ids), status__in=[PolicyVersionStatus.PUBLISHED, PolicyVersionStatus.RETIRED]
        )
    }


def criteria_facts(version: VersionData) -> list[FactDefinition]:
    """The catalogue's facts a version's criteria read, in the order the criteria name them."""
    keys: list[str] = []
    pending = [version.criteria] if version.criteria is not None else []
    while pending:
        node = pending.pop(0)
        if node.fact and node.fact not in keys:
            keys.append(node.fact)
        pending.extend(node.children)
    found = {f.key: f for f in FactDefinition.objects.filter(key__in=keys)}
    return [found[k] for k in keys if k in found]


def coverage_lookup(*, code_system: str, code: str, date_of_service: date, line_of_business: str) -> list[FlagData]:
    """Which policy versions govern a service on a date, and their position (Da Vinci CRD's question)."""
    request = RequestData(
        line_of_business=line_of_business,
        lines=(LineRequest(sequence=1, code_system=code_system, code=code, date_of_service=date_of_service),),
    )
    return evaluate_request(engine_index(), request)


def governing_version(flags: Iterable[FlagData], *, line_of_business: str, day: date) -> VersionData | None:
    """The version governing a service: of the flags' versions in effect on `day`, the first for
    the line of business, else the first."""
    versions = [f.version for f in flags if f.version is not None and f.version.in_effect_on(day)]
    for version in versions:
        if line_of_business in version.lines_of_business:
            return version
    return versions[0] if versions else None


# --- requirement rules ------------------------------------------------------------------------


def rule_data(rule: RequirementRule) -> RuleData:
    return RuleData(
        rule_id=rule.pk,
        version=rule.version,
        code_system=rule.code_system,
        code_start=rule.code_start,
        code_end=rule.code_end,
        diagnosis_codes=tuple(rule.diagnosis_codes),
        line_of_business=rule.line_of_business,
        requirement=rule.requirement,
        effective_start=rule.effective_start,
        effective_end=rule.effective_end,
    )


def build_requirement_index(stamp: int = 0) -> RequirementIndex:
    rules = RequirementRule.objects.filter(status=RequirementRuleStatus.PUBLISHED).only(
        "pk",
        "version",
        "code_system",
        "code_start",
        "code_end",
        "diagnosis_codes",
        "line_of_business",
        "requirement",
        "effective_start",
        "effective_end",
    )
    return RequirementIndex((rule_data(r) for r in rules.iterator(chunk_size=2000)), stamp=stamp)


def requirement_index(stamp: tuple[int, str] | None = None) -> RequirementIndex:
    """The process's index of published requirement rules, rebuilt only when the library stamp moved.

    Publishing or retiring a rule bumps the same stamp as a policy version, so the read that
    keeps the engine index current keeps this one current too; a caller that has read the stamp
    already (intake) passes it and the lookup costs no query.
    """
    global _requirements
    value, token = library_stamp() if stamp is None else stamp
    current = _requirements
    if current is not None and current[0] == token:
        return current[1]
    with _index_lock:
        if _requirements is None or _requirements[0] != token:
            _requirements = (token, build_requirement_index(value))
        return _requirements[1]


def requirement_rules_in_effect(*, day: date, line_of_business: str = "") -> QuerySet[RequirementRule]:
    """Published rules in effect on `day` (for one line of business and the rules for every line, if given)."""
    rules = RequirementRule.objects.filter(status=RequirementRuleStatus.PUBLISHED, effective_start__lte=day).filter(
        Q(effective_end__isnull=True) | Q(effective_end__gte=day)
    )
    if line_of_business:
        rules = rules.filter(line_of_business__in=["", line_of_business])
    # The plan-wide default is listed last: it applies to what the rules above it do not name.
    return (
        rules.select_related("policy")
        .annotate(is_default=Case(When(code_start="", then=Value(1)), default=Value(0)))
        .order_by("is_default", "code_system", "code_start", "code_end", "line_of_business")
    )


def requirement_code_description(day: date) -> Subquery:
    """What a requirement rule's code means, from the codes table of its policy's version in effect
    on `day` (the latest to take effect), as a subquery to annotate rules with: any number of
    rules read in the rules' own query."""
    in_effect = PolicyCode.objects.filter(
        Q(version__effective_start__isnull=True) | Q(version__effective_start__lte=day),
        Q(version__effective_end__isnull=True) | Q(version__effective_end__gte=day),
        version__policy=OuterRef("policy_id"),
        version__status=PolicyVersionStatus.PUBLISHED,
        system=OuterRef("code_system"),
        code=OuterRef("code_start"),
        code_end=OuterRef("code_end"),
    )
    return Subquery(in_effect.order_by("-version__effective_start").values("description")[:1])


def requirement_code_descriptions(rules: Iterable[RequirementRule], day: date) -> dict[int, str]:
    """Rule id -> what its code means (`requirement_code_description`). One query."""
    ids = [rule.pk for rule in rules if rule.policy_id is not None and rule.code_start]
    if not ids:
        return {}
    described = RequirementRule.objects.filter(pk__in=ids).annotate(description=requirement_code_description(day))
    return {pk: text for pk, text in described.values_list("pk", "description") if text}
