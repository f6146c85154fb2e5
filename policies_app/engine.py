"""The flagging engine: pure functions over plain data.

Nothing here touches the database, so intake, the reviewer pages, Celery tasks, the admin's
"try it" form and the benchmark all run the same code. `policies_app.selectors.engine_index`
builds a `PolicyIndex` from published versions; `evaluate_request` turns a request into flags.
"""

from __future__ import annotations

import hashlib
import operator
import re
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from types import MappingProxyType
from typing import Any, NamedTuple

from policies_app.codes import icd10cm_position, icd10cm_range_codes, icd10cm_range_span, normalize_code
from policies_app.negation import term_mentions

# Ranges wider than this are kept as ranges and scanned, not expanded into single codes.
MAX_EXPANDED_RANGE = 5000
# ICD-10-CM ranges of up to this many codes are expanded into single codes. Payers' ranges within
# a category or block fit (E10.10-E10.9 is 111 codes, S32.0-S32.2 354, E08-E13 582); a range over
# a chapter is far wider (M00-M99 is 8,674 codes, S00-T88 54,261) and a library may repeat it in
# many versions, so it is kept as an interval of tabular positions instead: one integer
# comparison per such range for each distinct code looked up, and lookups are cached.
MAX_EXPANDED_ICD10CM_RANGE = 2000

NON_COVERED_POSITIONS = {
    "investigational": "investigational",
    "experimental_investigational": "investigational",
    "not_medically_necessary": "not_medically_necessary",
    "cosmetic": "cosmetic",
}


# The labels of policies_app.models.LineOfBusiness, for the flags' plain-language text (the engine
# runs without Django; tests/policies_app keeps the two in step).
LINE_OF_BUSINESS_LABELS = MappingProxyType(
    {
        "commercial": "Commercial",
        "medicare_advantage": "Medicare Advantage",
        "medicaid": "Medicaid",
        "chip": "CHIP",
        "exchange": "Exchange (ACA marketplace)",
        "fep": "Federal Employee Program (FEP)",
    }
)


def lines_of_business_text(values: Iterable[str]) -> str:
    """'Commercial and Exchange (ACA marketplace)': labels in a sentence, never the stored values."""
    labels = [LINE_OF_BUSINESS_LABELS.get(v, v) for v in sorted(values)]
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1] if labels else ""


class Tri(StrEnum):
    """Three-valued result of a criterion: facts may be missing when a request arrives."""

    MET = "met"
    NOT_MET = "not_met"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class CriterionNode:
    node_type: str  # all_of | any_of | at_least | leaf | documented
    label: str
    children: tuple[CriterionNode, ...] = ()
    min_met: int | None = None
    fact: str = ""
    fact_type: str = ""
    unit: str = ""
    operator: str = ""
    value: Any = None
    criterion_id: int | None = None
    # What people call the fact ("Weeks of failed conservative therapy"); messages use it, never the key.
    fact_label: str = ""


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
    # The editors allowed approval at intake when the criteria are met (issue 17, automatic approval).
    auto_approve: bool = False
    # Every flag message names the version; formatted once here rather than once per flag.
    reference: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        number = self.policy_number or self.policy_title or f"#{self.policy_id}"
        start = self.effective_start.isoformat() if self.effective_start else "unknown start"
        object.__setattr__(self, "reference", f"policy {number} (version {self.version_label}, effective {start})")

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


_TRI_VALUE = {t: t.value for t in Tri}
_PLAIN = frozenset({str, int, float, bool, type(None), list})


class LeafResult(NamedTuple):
    """One leaf's verdict. A named tuple, not a frozen dataclass: one is built per leaf per
    evaluation, and a tuple is several times cheaper to construct."""

    label: str
    fact: str
    operator: str
    expected: Any
    actual: Any
    result: Tri
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        label, fact, op, expected, actual, result, note = self
        return {
            "label": label,
            "fact": fact,
            "operator": op,
            "expected": expected,
            "actual": actual if type(actual) in _PLAIN else _jsonable(actual),
            # Enum .value goes through a descriptor; a dict lookup is several times cheaper.
            "result": _TRI_VALUE[result],
            "note": note,
        }


class FlagData(NamedTuple):
    """One suggestion on one service line. Immutable like the other records here, but a named
    tuple: requests raise several flags each, and a frozen dataclass is three times slower to build."""

    service_line: int
    kind: str
    severity: str
    message: str
    version: VersionData | None = None
    criterion: str = ""
    details: Mapping[str, Any] = MappingProxyType({})

    @property
    def citation(self) -> dict[str, Any] | None:
        return self.version.citation(self.criterion) if self.version else None


# --- text matching --------------------------------------------------------------------------

_MARKS = dict.fromkeys(map(ord, "®™©℠"), " ")
_WORD = re.compile(r"[a-z0-9]+")


def normalize_words(text: str) -> tuple[str, ...]:
    """The words of text: lower-case, trademark signs and accents stripped, punctuation dropped."""
    text = text.translate(_MARKS)
    # Most clinical text is plain ASCII; Unicode decomposition is only needed for the rest.
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text)
        text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return tuple(_WORD.findall(text.lower()))


def normalize_text(text: str) -> str:
    """Normalized words joined by single spaces, padded so a term can be found as " term "."""
    return " " + " ".join(normalize_words(text)) + " "


def normalize_term(term: str) -> str:
    return " ".join(normalize_words(term))


DOCUMENTED_FACT_PREFIX = "documented-"


def documented_fact_key(label: str) -> str:
    """The clinical-fact key under which a reviewer records a documented-review criterion.

    Derived from the criterion's words rather than its row, so a finding recorded on a case still
    answers the same criterion in the policy's next version, and a reworded criterion asks again.
    """
    digest = hashlib.sha256(normalize_text(label).encode()).hexdigest()
    return f"{DOCUMENTED_FACT_PREFIX}{digest[:16]}"


class TermMatcher:
    """Finds policy terms in free text on word boundaries.

    Terms are looked up word by word in a dict keyed by the normalized phrase rather than with
    one big regex alternation: Python's re tries every alternative at every position, which is
    far too slow with the tens of thousands of terms of a large library, and an alternation
    also reports only one of several terms starting at the same word ("mild" and "mild device").
    """

    def __init__(self, terms: Mapping[str, Iterable[int]]) -> None:
        owners: dict[str, list[int]] = defaultdict(list)
        for term, term_owners in terms.items():
            key = normalize_term(term)
            if key:
                owners[key].extend(term_owners)
        self._owners: dict[str, tuple[int, ...]] = {k: tuple(dict.fromkeys(v)) for k, v in owners.items()}
        lengths: dict[str, set[int]] = defaultdict(set)
        for key in self._owners:
            words = key.split(" ")
            lengths[words[0]].add(len(words))
        self._lengths: dict[str, tuple[int, ...]] = {w: tuple(sorted(n)) for w, n in lengths.items()}

    def __bool__(self) -> bool:
        return bool(self._owners)

    def find_words(self, words: tuple[str, ...]) -> dict[int, set[str]]:
        """Return owner id -> the normalized terms of that owner found in the words."""
        found: dict[int, set[str]] = {}
        if not self._owners:
            return found
        lengths_of = self._lengths
        count = len(words)
        for i, word in enumerate(words):
            lengths = lengths_of.get(word)
            if lengths is None:
                continue
            for n in lengths:
                if i + n > count:
                    break
                key = word if n == 1 else " ".join(words[i : i + n])
                term_owners = self._owners.get(key)
                if term_owners is None:
                    continue
                for owner in term_owners:
                    hit = found.get(owner)
                    if hit is None:
                        found[owner] = {key}
                    else:
                        hit.add(key)
        return found

    def find(self, text: str) -> dict[int, set[str]]:
        if not self._owners or not text:
            return {}
        return self.find_words(normalize_words(text))


# --- codes ----------------------------------------------------------------------------------

_RANGE_SHAPE = re.compile(r"^(?P<prefix>[A-Z]*)(?P<digits>\d+)(?P<suffix>[A-Z]*)$")


def _shape(code: str) -> tuple[str, int, str, int] | None:
    """(prefix, number, suffix, digit count) of a code such as 0274T or G0276."""
    m = _RANGE_SHAPE.match(code)
    if m is None:
        return None
    return m["prefix"], int(m["digits"]), m["suffix"], len(m["digits"])


def expand_code_range(first: str, last: str) -> list[str] | None:
    """Expand a range such as 22867-22870, 0274T-0276T or G0276-G0280 into its codes.

    Returns None for ranges too wide or of mismatched shape; those are kept as ranges.
    """
    if first == last:
        return [first]
    a, b = _shape(first), _shape(last)
    if a is None or b is None or len(first) != len(last):
        return None
    if a[0] != b[0] or a[2] != b[2] or a[3] != b[3]:
        return None
    lo, hi = a[1], b[1]
    if hi < lo or hi - lo > MAX_EXPANDED_RANGE:
        return None
    prefix, suffix, width = a[0], a[2], a[3]
    return [f"{prefix}{n:0{width}d}{suffix}" for n in range(lo, hi + 1)]


# (prefix, suffix, digit count) of a code; wide ranges are bucketed by it.
_ShapeKey = tuple[str, str, int]

# Distinct codes looked up are cached; a library has tens of thousands, so this bound is only a
# guard against a caller feeding the index arbitrary strings.
_CODE_CACHE_LIMIT = 200_000


class PolicyIndex:
    """An in-memory index of published versions for fast lookup by code and by term."""

    def __init__(self, versions: Iterable[VersionData], stamp: int = 0) -> None:
        self.stamp = stamp
        self.versions: dict[int, VersionData] = {}
        # Criteria trees are compiled on first use: compiling all of them up front allocates enough
        # closures to set the collector rescanning the whole heap, and most versions are rarely hit.
        self._criteria: dict[int, Evaluator] = {}
        by_policy: dict[int, list[VersionData]] = defaultdict(list)
        exact: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
        # Ranges too wide to expand. Those whose ends share a shape compare by number, so a
        # category III code (1000T) does not fall inside a numeric range (10004-69990) by string
        # order; ICD-10-CM ranges compare by position in the tabular order; any other range
        # compares as strings of equal length.
        shaped: dict[str, dict[_ShapeKey, list[tuple[int, int, int]]]] = defaultdict(lambda: defaultdict(list))
        unshaped: dict[str, list[tuple[str, str, int]]] = defaultdict(list)
        tabular: list[tuple[int, int, int]] = []
        term_owners: dict[str, list[int]] = defaultdict(list)
        for version in versions:
            vid = version.version_id
            self.versions[vid] = version
            by_policy[version.policy_id].append(version)
            for system, first, last in version.codes:
                # An ICD-10-CM code holds the codes under it (a policy listing M48.06 means M48.061
                # and M48.062, the codes a claim may carry), as a range holds those under its end.
                span = icd10cm_range_span(first, last) if system == "ICD10CM" else None
                if span is not None:
                    if span[1] - span[0] < MAX_EXPANDED_ICD10CM_RANGE:
                        by_code = exact[system]
                        for code in icd10cm_range_codes(first, last):
                            by_code[code].append(vid)
                    else:
                        tabular.append((span[0], span[1], vid))
                    continue
                # An ICD-10-CM range whose ends the tabular order reverses is read as other systems'
                # ranges are, so that no published code is left out.
                expanded = expand_code_range(first, last)
                if expanded is not None:
                    by_code = exact[system]
                    for code in expanded:
                        by_code[code].append(vid)
                    continue
                a, b = _shape(first), _shape(last)
                if a is not None and b is not None and (a[0], a[2], a[3]) == (b[0], b[2], b[3]):
                    shaped[system][(a[0], a[2], a[3])].append((a[1], b[1], vid))
                else:
                    unshaped[system].append((first, last, vid))
            for term in version.terms:
                term_owners[term].append(vid)
        for policy_versions in by_policy.values():
            policy_versions.sort(key=lambda v: v.effective_start or date.min)
        self.by_policy: dict[int, list[VersionData]] = dict(by_policy)
        # Open ends become date.min and date.max so the hot loop compares plain dates.
        self._periods: dict[int, tuple[tuple[date, date, VersionData], ...]] = {
            policy_id: tuple((v.effective_start or date.min, v.effective_end or date.max, v) for v in vs)
            for policy_id, vs in self.by_policy.items()
        }
        self._exact: dict[str, dict[str, list[int]]] = {system: dict(codes) for system, codes in exact.items()}
        self._wide_shaped = {system: {k: tuple(r) for k, r in by_shape.items()} for system, by_shape in shaped.items()}
        self._wide_unshaped = {system: tuple(r) for system, r in unshaped.items()}
        self._wide_icd10cm = tuple(tabular)
        self._terms = TermMatcher(term_owners)
        self._code_cache: dict[tuple[str, str], CodeMatch] = {}

    def __len__(self) -> int:
        return len(self.versions)

    def _wide_ids(self, system: str, code: str) -> list[int]:
        ids: list[int] = []
        by_shape = self._wide_shaped.get(system)
        if by_shape:
            shape = _shape(code)
            if shape is not None:
                for lo, hi, vid in by_shape.get((shape[0], shape[2], shape[3]), ()):
                    if lo <= shape[1] <= hi:
                        ids.append(vid)
        for first, last, vid in self._wide_unshaped.get(system, ()):
            if len(code) == len(first) and first <= code <= last:
                ids.append(vid)
        if system == "ICD10CM" and self._wide_icd10cm:
            position = icd10cm_position(code)
            if position is not None:
                ids.extend(vid for lo, hi, vid in self._wide_icd10cm if lo <= position <= hi)
        return ids

    def code_match(self, system: str, code: str) -> CodeMatch:
        """The versions governing a code, and their policies; cached, as codes repeat across requests."""
        key = (system, code)
        match = self._code_cache.get(key)
        if match is not None:
            return match
        by_code = self._exact.get(system)
        # The index keys ICD-10-CM codes as the code set writes them, with the dot (E10.65).
        lookup = normalize_code(system, code) if system == "ICD10CM" else code
        ids = [*(by_code.get(lookup, ()) if by_code is not None else ()), *self._wide_ids(system, lookup)]
        # A version listing a code twice (a code and a range covering it) is still one match.
        version_ids = frozenset(ids)
        first_by_policy: dict[int, VersionData] = {}
        for vid in sorted(version_ids):
            version = self.versions[vid]
            first_by_policy.setdefault(version.policy_id, version)
        # Sorted by policy so lines flag in a stable order.
        match = CodeMatch(version_ids, dict(sorted(first_by_policy.items())))
        if len(self._code_cache) >= _CODE_CACHE_LIMIT:
            self._code_cache.clear()
        self._code_cache[key] = match
        return match

    def version_ids_for_code(self, system: str, code: str) -> frozenset[int]:
        return self.code_match(system, code).version_ids

    def versions_for_code(self, system: str, code: str) -> list[VersionData]:
        return [self.versions[i] for i in sorted(self.version_ids_for_code(system, code))]

    def versions_for_words(self, words: tuple[str, ...]) -> dict[int, set[str]]:
        return self._terms.find_words(words)

    def versions_for_text(self, text: str) -> dict[int, set[str]]:
        """Version id -> the normalized terms of that version named in text."""
        return self._terms.find(text)

    @property
    def has_terms(self) -> bool:
        return bool(self._terms)

    def criteria_evaluator(self, version: VersionData) -> Evaluator:
        evaluator = self._criteria.get(version.version_id)
        if evaluator is None:
            if version.criteria is None:
                raise ValueError(f"version {version.version_id} has no criteria")
            evaluator = self._criteria[version.version_id] = compile_criteria(version.criteria)
        return evaluator

    def version_in_effect(self, policy_id: int, day: date) -> VersionData | None:
        for start, end, version in self._periods.get(policy_id, ()):
            if start <= day <= end:
                return version
        return None


@dataclass(frozen=True, slots=True)
class CodeMatch:
    """The versions whose codes include one code, and for each of their policies the first of them."""

    version_ids: frozenset[int]
    policies: Mapping[int, VersionData]


# --- criteria -------------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return sorted(value)
    return value


def _to_number(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("a yes/no value is not a number")
    return float(value)


def _to_integer(value: Any) -> int | float:
    number = _to_number(value)
    return int(number) if number.is_integer() else number


_YES = frozenset({"true", "yes", "1"})
_NO = frozenset({"false", "no", "0"})


def _to_boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _YES:
            return True
        if word in _NO:
            return False
    raise ValueError("expected yes or no")


def _to_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _to_code_list(value: Any) -> list[str]:
    items = [value] if isinstance(value, str) else list(value)
    return [str(item).strip().upper() for item in items]


_COERCE: dict[str, Callable[[Any], Any]] = {
    "number": _to_number,
    "integer": _to_integer,
    "boolean": _to_boolean,
    "date": _to_date,
    "code_list": _to_code_list,
}


def _coerce(value: Any, fact_type: str) -> Any:
    """Read a fact value as its declared type; raise ValueError when it cannot be read."""
    return _COERCE.get(fact_type, str)(value)


def _bare_code(code: Any) -> str:
    return str(code).replace(".", "").upper()


_ORDER: dict[str, Callable[[Any, Any], Any]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}


def _predicate(op: str, expected: Any, fact_type: str) -> Callable[[Any], bool]:
    """A test of a coerced fact value against the criterion's expected value, built once.

    Raises ValueError when the expected value cannot be read or the operator is unknown.
    """
    if op == "is_true":
        return lambda actual: actual is True
    if op == "is_false":
        return lambda actual: actual is False
    if op in ("any_in", "none_in"):
        # str.startswith takes a tuple, so the category-prefix test is one C call per value.
        wanted = tuple(_bare_code(w) for w in (expected if isinstance(expected, list) else [expected]))
        hit_means = op == "any_in"

        def codes(actual: Any) -> bool:
            values = actual if isinstance(actual, list) else [actual]
            return any(_bare_code(v).startswith(wanted) for v in values) is hit_means

        return codes
    if op in ("in", "not_in"):
        options = [_coerce(e, fact_type) for e in (expected if isinstance(expected, list) else [expected])]
        member_means = op == "in"
        return lambda actual: (actual in options) is member_means
    compare = _ORDER.get(op)
    if compare is None:
        raise ValueError(f"unknown operator {op!r}")
    target = _coerce(expected, fact_type)
    return lambda actual: bool(compare(actual, target))


# An evaluator appends each leaf's verdict to the trail and returns the node's result with the
# leaves that decide it.
Evaluator = Callable[[Mapping[str, Any], list[LeafResult]], tuple[Tri, list[LeafResult]]]


def _compile_leaf(node: CriterionNode) -> Evaluator:
    label, fact, op, expected = node.label, node.fact, node.operator, node.value
    coerce = _COERCE.get(node.fact_type, str)
    try:
        test = _predicate(op, expected, node.fact_type)
    except (TypeError, ValueError) as exc:
        problem = f"the criterion's value cannot be read: {exc}"

        def test(actual: Any) -> bool:
            raise ValueError(problem)

    met, not_met, unknown = Tri.MET, Tri.NOT_MET, Tri.UNKNOWN

    def evaluate(facts: Mapping[str, Any], trail: list[LeafResult]) -> tuple[Tri, list[LeafResult]]:
        raw = facts.get(fact)
        if raw is None or raw == "" or raw == []:
            leaf = LeafResult(label, fact, op, expected, None, unknown, "fact not provided")
        else:
            try:
                actual = coerce(raw)
                leaf = LeafResult(label, fact, op, expected, actual, met if test(actual) else not_met, "")
            except (TypeError, ValueError) as exc:
                # A value that cannot be read is a missing fact, not a failed criterion: a person asks again.
                leaf = LeafResult(label, fact, op, expected, raw, unknown, f"unreadable: {exc}")
        trail.append(leaf)
        return leaf.result, [leaf]

    return evaluate


def compile_criteria(node: CriterionNode) -> Evaluator:
    """Turn a criteria tree into nested closures, so operators and expected values are read once."""
    if node.node_type in ("leaf", "documented"):
        return _compile_leaf(node)
    children = tuple(compile_criteria(child) for child in node.children)
    if node.node_type == "all_of":
        need = len(children)
    elif node.node_type == "any_of":
        need = 1
    else:
        need = node.min_met or 1
    met, not_met, unknown = Tri.MET, Tri.NOT_MET, Tri.UNKNOWN

    def evaluate(facts: Mapping[str, Any], trail: list[LeafResult]) -> tuple[Tri, list[LeafResult]]:
        # Kleene logic: met once enough children are met, not met once too few can still be.
        results = [child(facts, trail) for child in children]
        met_count = unknown_count = 0
        for result, _ in results:
            if result is met:
                met_count += 1
            elif result is unknown:
                unknown_count += 1
        if met_count >= need:
            outcome = met
        elif met_count + unknown_count < need:
            outcome = not_met
        else:
            outcome = unknown
        return outcome, [leaf for result, leaves in results if result is outcome for leaf in leaves]

    return evaluate


@dataclass(frozen=True, slots=True)
class CriteriaOutcome:
    """The result of a criteria tree with its explanation.

    checklist: every leaf in policy order. decisive: the leaves that decide the result, that is
    the failing ones when not met and the unknown ones when unknown; a leaf that failed inside
    an "any of" group that another branch satisfied is in the checklist but not decisive.
    """

    result: Tri
    checklist: tuple[LeafResult, ...]
    decisive: tuple[LeafResult, ...]


def run_criteria(evaluator: Evaluator, facts: Mapping[str, Any]) -> CriteriaOutcome:
    trail: list[LeafResult] = []
    result, decisive = evaluator(facts, trail)
    return CriteriaOutcome(result, tuple(trail), tuple(decisive))


def explain_criteria(node: CriterionNode, facts: Mapping[str, Any]) -> CriteriaOutcome:
    """Kleene three-valued evaluation of a criteria tree, explained leaf by leaf."""
    return run_criteria(compile_criteria(node), facts)


def evaluate_criteria(node: CriterionNode, facts: Mapping[str, Any], trail: list[LeafResult]) -> Tri:
    """Kleene three-valued evaluation; every leaf appends its explanation to trail."""
    return compile_criteria(node)(facts, trail)[0]


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

_WORDING = {
    "investigational": "Investigational service",
    "experimental_investigational": "Experimental/investigational service",
    "not_medically_necessary": "Not medically necessary",
    "cosmetic": "Cosmetic service",
}


class _LineContext:
    """What one service line's policies share: its facts are derived once, not once per policy."""

    __slots__ = ("_facts", "index", "line", "request")

    def __init__(self, index: PolicyIndex, request: RequestData, line: LineRequest) -> None:
        self.index = index
        self.request = request
        self.line = line
        self._facts: dict[str, Any] | None = None

    @property
    def facts(self) -> dict[str, Any]:
        if self._facts is None:
            self._facts = request_facts(self.request, self.line)
        return self._facts


def _position_flags(version: VersionData, ctx: _LineContext) -> list[FlagData]:
    position = version.coverage_position
    sequence = ctx.line.sequence
    ref = version.reference
    statement = version.statement or version.policy_title
    kind = NON_COVERED_POSITIONS.get(position)
    if kind is not None:
        return [
            FlagData(
                sequence,
                kind,
                "critical",
                f"{_WORDING[position]} per {ref}.",
                version,
                statement,
                {"coverage_position": position},
            )
        ]
    if position == "medically_necessary_with_criteria":
        if version.criteria is None:
            return [
                FlagData(
                    sequence,
                    "criteria_incomplete",
                    "warning",
                    f"{ref} requires criteria, but none are recorded for this version: review manually.",
                    version,
                    statement,
                    {"result": Tri.UNKNOWN.value, "checklist": [], "unknown_facts": []},
                )
            ]
        outcome = run_criteria(ctx.index.criteria_evaluator(version), ctx.facts)
        details: dict[str, Any] = {
            "result": _TRI_VALUE[outcome.result],
            "checklist": [leaf.as_dict() for leaf in outcome.checklist],
        }
        criterion = version.criteria.label
        if outcome.result is Tri.MET:
            return [
                FlagData(
                    sequence,
                    "criteria_met",
                    "info",
                    f"Criteria met per {ref}: may approve.",
                    version,
                    criterion,
                    details,
                )
            ]
        if outcome.result is Tri.NOT_MET:
            failed = list(dict.fromkeys(leaf.label for leaf in outcome.decisive))
            details["failed"] = failed
            return [
                FlagData(
                    sequence,
                    "criteria_not_met",
                    "critical",
                    f"Criteria not met per {ref}: {'; '.join(failed)}. Physician review required to deny.",
                    version,
                    "; ".join(failed) or criterion,
                    details,
                )
            ]
        missing = sorted({leaf.fact for leaf in outcome.decisive})
        details["unknown_facts"] = missing
        labels = _fact_labels(version.criteria) if version.criteria is not None else {}
        return [
            FlagData(
                sequence,
                "criteria_incomplete",
                "warning",
                f"Criteria unknown per {ref}: documentation needed for {', '.join(labels.get(k) or k for k in missing)}.",
                version,
                criterion,
                details,
            )
        ]
    if position == "medically_necessary":
        return [
            FlagData(sequence, "medically_necessary", "info", f"Medically necessary per {ref}.", version, statement, {})
        ]
    return [
        FlagData(
            sequence,
            "position_undetermined",
            "warning",
            f"{ref} has no coverage position recorded: review manually.",
            version,
            statement,
            {},
        )
    ]


def _fact_labels(node: CriterionNode) -> dict[str, str]:
    """Each fact a criteria tree reads, by key, with the words people use for it."""
    labels = {node.fact: node.fact_label} if node.fact and node.fact_label else {}
    for child in node.children:
        labels.update(_fact_labels(child))
    return labels


def _merge_hits(a: Mapping[int, set[str]], b: Mapping[int, set[str]]) -> Mapping[int, set[str]]:
    if not b:
        return a
    if not a:
        return b
    merged = {k: set(v) for k, v in a.items()}
    for k, v in b.items():
        merged.setdefault(k, set()).update(v)
    return merged


def _evaluate_line(index: PolicyIndex, request: RequestData, line: LineRequest, note_hits: _NoteHits) -> list[FlagData]:
    flags: list[FlagData] = []
    versions = index.versions
    code_match = index.code_match(line.code_system, line.code)
    code_ids = code_match.version_ids
    code_policies = code_match.policies
    # The description and the notes are matched separately, so a term cannot span the two.
    term_hits = _merge_hits(note_hits.terms, index.versions_for_text(line.description) if line.description else {})
    if not code_ids and not term_hits:
        return flags

    term_policies: dict[int, set[str]] = {}
    for version_id, terms in term_hits.items():
        term_policies.setdefault(versions[version_id].policy_id, set()).update(terms)

    ctx = _LineContext(index, request, line)
    day = line.date_of_service
    periods = index._periods
    for policy_id in sorted(code_policies.keys() | term_policies.keys()) if term_policies else code_policies:
        in_effect = None
        for start, end, candidate in periods[policy_id]:
            if start <= day <= end:
                in_effect = candidate
                break
        if in_effect is None:
            by_code = policy_id in code_policies
            known = code_policies.get(policy_id) or index.by_policy[policy_id][-1]
            how = f"{line.code_system} {line.code}" if by_code else "terms in the request"
            flags.append(
                FlagData(
                    line.sequence,
                    "no_version_in_effect",
                    "warning",
                    f"No version of policy {known.policy_number or known.policy_title or policy_id} "
                    f"is in effect on {day.isoformat()} (matched by {how}): review manually.",
                    None,
                    "",
                    {
                        "policy_id": policy_id,
                        "matched_by": "code" if by_code else "term",
                        "terms": sorted(term_policies.get(policy_id, ())),
                    },
                )
            )
            continue
        # Judge by the version in effect: a code or term another version listed does not count.
        governs_code = in_effect.version_id in code_ids
        terms_now = term_hits.get(in_effect.version_id)
        if not governs_code and not terms_now:
            continue
        if not governs_code and terms_now:
            term_details: dict[str, Any] = {"terms": sorted(terms_now)}
            negated = note_hits.negated.get(in_effect.version_id)
            if negated:
                term_details["mentioned_negated"] = sorted(negated)
            flags.append(
                FlagData(
                    line.sequence,
                    "term_match",
                    "warning",
                    f"The request names {', '.join(sorted(terms_now))}, governed by {in_effect.reference}, "
                    f"which does not list {line.code_system} {line.code}.",
                    in_effect,
                    in_effect.statement,
                    term_details,
                )
            )
        if request.line_of_business not in in_effect.lines_of_business:
            flags.append(
                FlagData(
                    line.sequence,
                    "line_of_business_excluded",
                    "info",
                    f"{in_effect.reference} does not apply to "
                    f"{lines_of_business_text([request.line_of_business])} plans: review under that line of "
                    "business's own coverage rules.",
                    in_effect,
                    f"This policy applies to {lines_of_business_text(in_effect.lines_of_business)} plans.",
                    {"line_of_business": request.line_of_business},
                )
            )
            continue
        flags.extend(_position_flags(in_effect, ctx))
    return flags


class _NoteHits(NamedTuple):
    """The policy terms a request's notes name, by version id: those named as wanted, and those
    named in a negated mention ("no Dynesys will be used"). A term every mention of which is negated
    is only in `negated` and raises no flag (issue 17, section 6)."""

    terms: Mapping[int, set[str]]
    negated: Mapping[int, set[str]]


_NO_NOTE_HITS = _NoteHits(MappingProxyType({}), MappingProxyType({}))


def _note_hits(index: PolicyIndex, request: RequestData) -> _NoteHits:
    if not request.notes or not index.has_terms:
        return _NO_NOTE_HITS
    hits = index.versions_for_text(request.notes)
    if not hits:
        return _NO_NOTE_HITS
    # Negation is judged only once a term is found, so a note naming none costs nothing more.
    mentions = term_mentions(request.notes, set().union(*hits.values()), normalize_words)
    if not mentions.negated:
        return _NoteHits(hits, _NO_NOTE_HITS.negated)
    dropped = mentions.negated_only
    return _NoteHits(
        {vid: kept for vid, terms in hits.items() if (kept := terms - dropped)},
        {vid: found for vid, terms in hits.items() if (found := terms & mentions.negated)},
    )


def evaluate_line(index: PolicyIndex, request: RequestData, line: LineRequest) -> list[FlagData]:
    """The flags of one service line: every policy whose codes or terms match it."""
    return _evaluate_line(index, request, line, _note_hits(index, request))


def evaluate_request(index: PolicyIndex, request: RequestData) -> list[FlagData]:
    # The notes are shared by every line, so they are normalized and matched once.
    note_hits = _note_hits(index, request)
    flags: list[FlagData] = []
    for line in request.lines:
        flags.extend(_evaluate_line(index, request, line, note_hits))
    return flags
