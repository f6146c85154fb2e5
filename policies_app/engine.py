"""The flagging engine: pure functions over plain data.

Nothing here touches the database, so intake, the reviewer pages, Celery tasks, the admin's
"try it" form and the benchmark all run the same code. `policies_app.selectors.engine_index`
builds a `PolicyIndex` from published versions; `evaluate_request` turns a request into flags.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import Enum
from typing import Any

# Ranges wider than this are kept as ranges and scanned, not expanded into single codes.
MAX_EXPANDED_RANGE = 5000

NON_COVERED_POSITIONS = {
    "investigational": "investigational",
    "experimental_investigational": "investigational",
    "not_medically_necessary": "not_medically_necessary",
    "cosmetic": "cosmetic",
}


class Tri(str, Enum):
    """Three-valued result of a criterion: facts may be missing when a request arrives."""

    MET = "met"
    NOT_MET = "not_met"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class CriterionNode:
    node_type: str  # all_of | any_of | at_least | leaf
    label: str
    children: tuple[CriterionNode, ...] = ()
    min_met: int | None = None
    fact: str = ""
    fact_type: str = ""
    unit: str = ""
    operator: str = ""
    value: Any = None
    criterion_id: int | None = None


@dataclass(frozen=True, slots=True)
class VersionData:
    version_id: int
    policy_id: int
    payer: str
    policy_number: str
    policy_title: str
    version_label: str
    effective_start: date | None
    effective_end: date | None
    coverage_position: str
    statement: str
    lines_of_business: frozenset[str]
    codes: tuple[tuple[str, str, str], ...]  # (system, first, last); last == first for one code
    terms: tuple[str, ...] = ()
    criteria: CriterionNode | None = None
    content_sha256: str = ""

    def in_effect_on(self, day: date) -> bool:
        if self.effective_start is not None and day < self.effective_start:
            return False
        return self.effective_end is None or day <= self.effective_end

    def citation(self, criterion: str) -> dict[str, Any]:
        return {
            "policy_version_id": self.version_id,
            "payer": self.payer,
            "policy_number": self.policy_number,
            "policy_title": self.policy_title,
            "version": self.version_label,
            "effective_start": self.effective_start.isoformat() if self.effective_start else None,
            "effective_end": self.effective_end.isoformat() if self.effective_end else None,
            "coverage_position": self.coverage_position,
            "criterion": criterion,
            "content_sha256": self.content_sha256,
        }

    @property
    def reference(self) -> str:
        number = self.policy_number or self.policy_title or f"#{self.policy_id}"
        start = self.effective_start.strftime("%Y-%m-%d") if self.effective_start else "unknown start"
        return f"policy {number} (version {self.version_label}, effective {start})"


@dataclass(frozen=True, slots=True)
class LineRequest:
    sequence: int
    code_system: str
    code: str
    date_of_service: date
    description: str = ""


@dataclass(frozen=True, slots=True)
class RequestData:
    line_of_business: str
    lines: tuple[LineRequest, ...]
    diagnosis_codes: tuple[str, ...] = ()
    facts: Mapping[str, Any] = field(default_factory=dict)
    member_birth_date: date | None = None
    notes: str = ""


@dataclass(frozen=True, slots=True)
class LeafResult:
    label: str
    fact: str
    operator: str
    expected: Any
    actual: Any
    result: Tri
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "fact": self.fact,
            "operator": self.operator,
            "expected": self.expected,
            "actual": _jsonable(self.actual),
            "result": self.result.value,
            "note": self.note,
        }


@dataclass(frozen=True, slots=True)
class FlagData:
    service_line: int
    kind: str
    severity: str
    message: str
    version: VersionData | None = None
    criterion: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def citation(self) -> dict[str, Any] | None:
        return self.version.citation(self.criterion) if self.version else None


# --- text matching --------------------------------------------------------------------------

_MARKS = dict.fromkeys(map(ord, "®™©℠"), " ")


def normalize_text(text: str) -> str:
    """Lower-case, strip trademark signs and accents, and fold runs of non-word characters."""
    text = unicodedata.normalize("NFKD", text.translate(_MARKS))
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return " " + " ".join(re.findall(r"[a-z0-9]+", text.lower())) + " "


class TermMatcher:
    """Finds policy terms in free text on word boundaries, in one regex pass."""

    def __init__(self, terms: Mapping[str, Iterable[int]]) -> None:
        self._owners: dict[str, list[int]] = defaultdict(list)
        for term, owners in terms.items():
            key = normalize_text(term).strip()
            if key:
                self._owners[key].extend(owners)
        alternatives = sorted(self._owners, key=len, reverse=True)
        self._pattern = (
            re.compile(r"(?<= )(" + "|".join(re.escape(a) for a in alternatives) + r")(?= )")
            if alternatives
            else None
        )

    def find(self, text: str) -> dict[int, set[str]]:
        """Return owner id -> the normalized terms of that owner found in text."""
        found: dict[int, set[str]] = defaultdict(set)
        if self._pattern is None or not text:
            return found
        normalized = normalize_text(text)
        position = 0
        # Overlapping matches matter ("cd horizon agile" and "agile" can both be terms), so the
        # search restarts one word after each match start rather than after its end.
        while True:
            match = self._pattern.search(normalized, position)
            if match is None:
                break
            for owner in self._owners[match.group(1)]:
                found[owner].add(match.group(1))
            position = match.start() + 1
        return found


# --- codes ----------------------------------------------------------------------------------

_RANGE_SHAPE = re.compile(r"^(?P<prefix>[A-Z]*)(?P<digits>\d+)(?P<suffix>[A-Z]*)$")


def expand_code_range(first: str, last: str) -> list[str] | None:
    """Expand a range such as 22867-22870, 0274T-0276T or G0276-G0280 into its codes.

    Returns None for ranges too wide or of mismatched shape; those are kept as ranges.
    """
    if first == last:
        return [first]
    a, b = _RANGE_SHAPE.match(first), _RANGE_SHAPE.match(last)
    if not a or not b or len(first) != len(last):
        return None
    if a["prefix"] != b["prefix"] or a["suffix"] != b["suffix"] or len(a["digits"]) != len(b["digits"]):
        return None
    lo, hi = int(a["digits"]), int(b["digits"])
    if hi < lo or hi - lo > MAX_EXPANDED_RANGE:
        return None
    width = len(a["digits"])
    return [f"{a['prefix']}{n:0{width}d}{a['suffix']}" for n in range(lo, hi + 1)]


class PolicyIndex:
    """An in-memory index of published versions for fast lookup by code and by term."""

    def __init__(self, versions: Iterable[VersionData], stamp: int = 0) -> None:
        self.stamp = stamp
        self.versions: dict[int, VersionData] = {}
        self.by_policy: dict[int, list[VersionData]] = defaultdict(list)
        self._exact: dict[tuple[str, str], list[int]] = defaultdict(list)
        self._wide_ranges: list[tuple[str, str, str, int]] = []
        term_owners: dict[str, list[int]] = defaultdict(list)
        for version in versions:
            self.versions[version.version_id] = version
            self.by_policy[version.policy_id].append(version)
            for system, first, last in version.codes:
                expanded = expand_code_range(first, last)
                if expanded is None:
                    self._wide_ranges.append((system, first, last, version.version_id))
                else:
                    for code in expanded:
                        self._exact[(system, code)].append(version.version_id)
            for term in version.terms:
                term_owners[term].append(version.version_id)
        for policy_versions in self.by_policy.values():
            policy_versions.sort(key=lambda v: v.effective_start or date.min)
        self._terms = TermMatcher(term_owners)

    def __len__(self) -> int:
        return len(self.versions)

    def versions_for_code(self, system: str, code: str) -> list[VersionData]:
        ids = list(self._exact.get((system, code), ()))
        for r_system, first, last, version_id in self._wide_ranges:
            if r_system == system and len(code) == len(first) and first <= code <= last:
                ids.append(version_id)
        return [self.versions[i] for i in ids]

    def versions_for_text(self, text: str) -> dict[int, set[str]]:
        return self._terms.find(text)

    def version_in_effect(self, policy_id: int, day: date) -> VersionData | None:
        for version in self.by_policy.get(policy_id, ()):
            if version.in_effect_on(day):
                return version
        return None


# --- criteria -------------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return sorted(value)
    return value


def _coerce(value: Any, fact_type: str) -> Any:
    """Read a fact value as its declared type; raise ValueError when it cannot be read."""
    if fact_type in ("number", "integer"):
        if isinstance(value, bool):
            raise ValueError("a yes/no value is not a number")
        number = float(value)
        return int(number) if fact_type == "integer" and number.is_integer() else number
    if fact_type == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in {"true", "yes", "1", "false", "no", "0"}:
            return value.strip().lower() in {"true", "yes", "1"}
        raise ValueError("expected yes or no")
    if fact_type == "date":
        return value if isinstance(value, date) else date.fromisoformat(str(value))
    if fact_type == "code_list":
        items = [value] if isinstance(value, str) else list(value)
        return [str(item).strip().upper() for item in items]
    return str(value)


def _code_matches(actual: str, wanted: str) -> bool:
    """ICD-10-CM categories match their subcodes: M48.06 matches M48.061."""
    a, w = actual.replace(".", "").upper(), str(wanted).replace(".", "").upper()
    return a.startswith(w)


def _compare(operator: str, actual: Any, expected: Any, fact_type: str) -> bool:
    if operator == "is_true":
        return actual is True
    if operator == "is_false":
        return actual is False
    if operator in ("any_in", "none_in"):
        wanted = expected if isinstance(expected, list) else [expected]
        values = actual if isinstance(actual, list) else [actual]
        hit = any(_code_matches(str(v), str(w)) for v in values for w in wanted)
        return hit if operator == "any_in" else not hit
    if operator in ("in", "not_in"):
        options = [_coerce(e, fact_type) for e in (expected if isinstance(expected, list) else [expected])]
        return (actual in options) == (operator == "in")
    target = _coerce(expected, fact_type)
    if operator == "eq":
        return bool(actual == target)
    if operator == "ne":
        return bool(actual != target)
    if operator == "gt":
        return bool(actual > target)
    if operator == "gte":
        return bool(actual >= target)
    if operator == "lt":
        return bool(actual < target)
    if operator == "lte":
        return bool(actual <= target)
    raise ValueError(f"unknown operator {operator!r}")


def evaluate_criteria(node: CriterionNode, facts: Mapping[str, Any], trail: list[LeafResult]) -> Tri:
    """Kleene three-valued evaluation; every leaf appends its explanation to trail."""
    if node.node_type == "leaf":
        raw = facts.get(node.fact)
        if raw is None or raw == "" or raw == []:
            trail.append(
                LeafResult(node.label, node.fact, node.operator, node.value, None, Tri.UNKNOWN, "fact not provided")
            )
            return Tri.UNKNOWN
        try:
            actual = _coerce(raw, node.fact_type)
            result = Tri.MET if _compare(node.operator, actual, node.value, node.fact_type) else Tri.NOT_MET
            trail.append(LeafResult(node.label, node.fact, node.operator, node.value, actual, result))
            return result
        except (TypeError, ValueError) as exc:
            trail.append(
                LeafResult(node.label, node.fact, node.operator, node.value, raw, Tri.UNKNOWN, f"unreadable: {exc}")
            )
            return Tri.UNKNOWN
    results = [evaluate_criteria(child, facts, trail) for child in node.children]
    met = results.count(Tri.MET)
    not_met = results.count(Tri.NOT_MET)
    unknown = len(results) - met - not_met
    if node.node_type == "all_of":
        need = len(results)
    elif node.node_type == "any_of":
        need = 1 if results else 0
    else:
        need = node.min_met or 1
    if met >= need:
        return Tri.MET
    if met + unknown < need:
        return Tri.NOT_MET
    return Tri.UNKNOWN


def request_facts(request: RequestData, line: LineRequest) -> dict[str, Any]:
    """Clinical facts plus the facts derived from the request itself, as of the date of service."""
    facts: dict[str, Any] = dict(request.facts)
    if request.member_birth_date is not None:
        born, day = request.member_birth_date, line.date_of_service
        facts["member_age"] = day.year - born.year - ((day.month, day.day) < (born.month, born.day))
    facts["diagnosis_codes"] = list(request.diagnosis_codes)
    facts["line_of_business"] = request.line_of_business
    facts["procedure_code"] = line.code
    return facts


# --- flags ----------------------------------------------------------------------------------


def _position_flags(version: VersionData, line: LineRequest, request: RequestData) -> list[FlagData]:
    position = version.coverage_position
    ref = version.reference
    statement = version.statement or version.policy_title
    if position in NON_COVERED_POSITIONS:
        kind = NON_COVERED_POSITIONS[position]
        wording = {
            "investigational": "Investigational service",
            "not_medically_necessary": "Not medically necessary",
            "cosmetic": "Cosmetic service",
        }[kind]
        if position == "experimental_investigational":
            wording = "Experimental/investigational service"
        return [
            FlagData(
                line.sequence, kind, "critical", f"{wording} per {ref}.", version, statement,
                {"coverage_position": position},
            )
        ]
    if position == "medically_necessary_with_criteria":
        if version.criteria is None:
            return [
                FlagData(
                    line.sequence, "criteria_incomplete", "warning",
                    f"{ref} requires criteria, but none are recorded for this version: review manually.",
                    version, statement, {"unknown_facts": []},
                )
            ]
        trail: list[LeafResult] = []
        outcome = evaluate_criteria(version.criteria, request_facts(request, line), trail)
        details = {"result": outcome.value, "checklist": [leaf.as_dict() for leaf in trail]}
        criterion = version.criteria.label
        if outcome is Tri.MET:
            return [
                FlagData(line.sequence, "criteria_met", "info", f"Criteria met per {ref}: may approve.",
                         version, criterion, details)
            ]
        if outcome is Tri.NOT_MET:
            failed = [leaf.label for leaf in trail if leaf.result is Tri.NOT_MET]
            return [
                FlagData(
                    line.sequence, "criteria_not_met", "critical",
                    f"Criteria not met per {ref}: {'; '.join(failed)}. Physician review required to deny.",
                    version, "; ".join(failed) or criterion, details,
                )
            ]
        missing = sorted({leaf.fact for leaf in trail if leaf.result is Tri.UNKNOWN})
        details["unknown_facts"] = missing
        return [
            FlagData(
                line.sequence, "criteria_incomplete", "warning",
                f"Criteria unknown per {ref}: documentation needed for {', '.join(missing)}.",
                version, criterion, details,
            )
        ]
    if position == "medically_necessary":
        return [
            FlagData(line.sequence, "medically_necessary", "info", f"Medically necessary per {ref}.",
                     version, statement, {})
        ]
    return [
        FlagData(
            line.sequence, "position_undetermined", "warning",
            f"{ref} has no coverage position recorded: review manually.", version, statement, {},
        )
    ]


def evaluate_line(index: PolicyIndex, request: RequestData, line: LineRequest) -> list[FlagData]:
    flags: list[FlagData] = []
    code_policies: dict[int, VersionData] = {}
    for version in index.versions_for_code(line.code_system, line.code):
        code_policies.setdefault(version.policy_id, version)
    term_hits: dict[int, set[str]] = defaultdict(set)
    for version_id, terms in index.versions_for_text(f"{line.description}\n{request.notes}").items():
        term_hits[index.versions[version_id].policy_id] |= terms

    for policy_id in sorted(set(code_policies) | set(term_hits)):
        in_effect = index.version_in_effect(policy_id, line.date_of_service)
        by_code = policy_id in code_policies
        if in_effect is None:
            known = code_policies.get(policy_id) or index.by_policy[policy_id][-1]
            how = f"{line.code_system} {line.code}" if by_code else "terms in the request"
            flags.append(
                FlagData(
                    line.sequence, "no_version_in_effect", "warning",
                    f"No version of policy {known.policy_number or known.policy_title or policy_id} "
                    f"is in effect on {line.date_of_service.isoformat()} (matched by {how}): review manually.",
                    None, "", {"policy_id": policy_id, "matched_by": "code" if by_code else "term",
                               "terms": sorted(term_hits.get(policy_id, ()))},
                )
            )
            continue
        governs_code = any(
            system == line.code_system and (first == line.code or (len(first) == len(line.code) and first <= line.code <= last))
            for system, first, last in in_effect.codes
        )
        terms_now = term_hits.get(policy_id, set()) & {normalize_text(t).strip() for t in in_effect.terms}
        if not governs_code and not terms_now:
            # The code or term belonged to another version of the policy, not the one in effect.
            continue
        if not governs_code:
            flags.append(
                FlagData(
                    line.sequence, "term_match", "warning",
                    f"The request names {', '.join(sorted(terms_now))}, governed by {in_effect.reference}, "
                    f"which does not list {line.code_system} {line.code}.",
                    in_effect, in_effect.statement, {"terms": sorted(terms_now)},
                )
            )
        if request.line_of_business not in in_effect.lines_of_business:
            flags.append(
                FlagData(
                    line.sequence, "line_of_business_excluded", "info",
                    f"{in_effect.reference} does not apply to the {request.line_of_business.replace('_', ' ')} "
                    "line of business: review under that line's own coverage rules.",
                    in_effect, "Lines of business: " + ", ".join(sorted(in_effect.lines_of_business)),
                    {"line_of_business": request.line_of_business},
                )
            )
            continue
        flags.extend(_position_flags(in_effect, line, request))
    return flags


def evaluate_request(index: PolicyIndex, request: RequestData) -> list[FlagData]:
    flags: list[FlagData] = []
    for line in request.lines:
        flags.extend(evaluate_line(index, request, line))
    return flags

