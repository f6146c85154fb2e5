"""Which services need prior authorization: an in-memory index of the published requirement rules.

Pure data and lookups, no database (policies_app.selectors builds it and caches it per process,
like the engine index). Precedence, most specific first:

1. the code: a rule for the single code, then the narrowest range that holds it;
2. the diagnoses: a rule naming one of the request's diagnoses before a rule naming none;
3. the line of business: a rule for the request's line before a rule for every line;
4. then the later start, then the later rule.

A rule for a code always beats the plan-wide default (a rule without a code), and with no rule
at all the answer is the built-in default: prior authorization required, so that a gap in the
plan's list sends a request to a person rather than waving it through.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from policies_app.codes import normalize_code
from policies_app.engine import expand_code_range
from policies_app.models import LineOfBusiness, Requirement

EN_DASH = "\u2013"
_SHAPE_RE = re.compile(r"^(?P<prefix>[A-Z]*)(?P<digits>\d+)(?P<suffix>[A-Z]*)$")
# Distinct codes looked up are cached; the bound only guards against arbitrary input.
_CACHE_LIMIT = 200_000
# Ranges up to this wide (99202-99215 is 13) go into the per-code dict; wider ones are found by
# bisection. Expanding wider ones made building an index of 10,000 rules ten times slower.
_EXPAND_LIMIT = 20


@dataclass(frozen=True)
class RequirementAnswer:
    requirement: str
    rule_id: int | None
    description: str
    # True when no rule names the service: the plan-wide default rule, or the built-in default.
    is_default: bool

    @property
    def label(self) -> str:
        return Requirement(self.requirement).label


@dataclass(frozen=True)
class RuleData:
    """One published rule as plain data."""

    rule_id: int
    version: int
    code_system: str
    code_start: str
    code_end: str
    diagnosis_codes: tuple[str, ...]
    line_of_business: str
    requirement: str
    effective_start: date
    effective_end: date | None

    @property
    def is_default(self) -> bool:
        return not self.code_start

    def in_effect_on(self, day: date) -> bool:
        return self.effective_start <= day and (self.effective_end is None or day <= self.effective_end)

    def matches_diagnoses(self, diagnoses: Sequence[str]) -> bool:
        """A rule's ICD-10-CM code matches itself and every code under it (M48.06 holds M48.062)."""
        if not self.diagnosis_codes:
            return True
        normalized = [normalize_code("ICD10CM", d) for d in diagnoses]
        return any(d.startswith(r) for d in normalized for r in self.diagnosis_codes)

    def description(self) -> str:
        if self.is_default:
            scope = "Plan-wide default"
        else:
            scope = f"{self.code_system} {self.code_start}{EN_DASH + self.code_end if self.code_end else ''}"
        lob = LineOfBusiness(self.line_of_business).label if self.line_of_business else "all lines of business"
        diagnoses = f", with diagnosis {' or '.join(self.diagnosis_codes)}" if self.diagnosis_codes else ""
        label = Requirement(self.requirement).label
        period = f"in effect from {_day(self.effective_start)}"
        if self.effective_end is not None:
            period += f" to {_day(self.effective_end)}"
        return f"{scope}, {lob}{diagnoses}: {label[0].lower() + label[1:]} (rule {self.rule_id}, version {self.version}, {period})"


def _day(d: date) -> str:
    return f"{d.day} {d.strftime('%b %Y')}"


BUILT_IN_DEFAULT = RequirementAnswer(
    requirement=Requirement.REQUIRED.value,
    rule_id=None,
    description=(
        "No requirement rule covers this service and the plan has no default rule: "
        "prior authorization required (the built-in default)"
    ),
    is_default=True,
)


def _shape(code: str) -> tuple[tuple[str, str, int], int] | None:
    m = _SHAPE_RE.match(code)
    if m is None:
        return None
    return (m["prefix"], m["suffix"], len(m["digits"])), int(m["digits"])


# (width, has no diagnoses, for every line, -start ordinal, -id): smaller is more specific.
_Rank = tuple[int, bool, bool, int, int]


def _rank(rule: RuleData, width: int) -> _Rank:
    return (
        width,
        not rule.diagnosis_codes,
        not rule.line_of_business,
        -rule.effective_start.toordinal(),
        -rule.rule_id,
    )


class RequirementIndex:
    """Published rules by code: a dict for single codes and expandable ranges, sorted lists for wide ranges."""

    def __init__(self, rules: Iterable[RuleData], stamp: int = 0) -> None:
        self.stamp = stamp
        self.rules: dict[int, RuleData] = {}
        exact: dict[tuple[str, str], list[tuple[_Rank, RuleData]]] = defaultdict(list)
        # Wide ranges whose ends share a shape compare by number, so 1000T does not fall inside
        # 10004-69990 by string order; others compare as equal-length strings.
        shaped: dict[tuple[str, tuple[str, str, int]], list[tuple[int, int, RuleData]]] = defaultdict(list)
        unshaped: dict[str, list[tuple[str, str, RuleData]]] = defaultdict(list)
        defaults: list[tuple[_Rank, RuleData]] = []
        for rule in rules:
            self.rules[rule.rule_id] = rule
            if rule.is_default:
                defaults.append((_rank(rule, 0), rule))
                continue
            last = rule.code_end or rule.code_start
            a, b = _shape(rule.code_start), _shape(last)
            if a is not None and b is not None and a[0] == b[0]:
                width = b[1] - a[1]
                expanded = expand_code_range(rule.code_start, last) if width <= _EXPAND_LIMIT else None
                if expanded is not None:
                    rank = _rank(rule, width)
                    for code in expanded:
                        exact[(rule.code_system, code)].append((rank, rule))
                else:
                    shaped[(rule.code_system, a[0])].append((a[1], b[1], rule))
            else:
                unshaped[rule.code_system].append((rule.code_start, last, rule))
        self._exact = {key: tuple(r for _, r in sorted(entries, key=lambda e: e[0])) for key, entries in exact.items()}
        # Per shape: the ranges sorted by first code, their first codes, and the widest range's
        # width; a code can only be in a range starting at most that far below it.
        self._shaped: dict[
            tuple[str, tuple[str, str, int]], tuple[list[int], list[tuple[int, int, RuleData]], int]
        ] = {}
        for key, ranges in shaped.items():
            ranges.sort(key=lambda r: r[0])
            self._shaped[key] = ([r[0] for r in ranges], ranges, max(hi - lo for lo, hi, _ in ranges))
        self._unshaped = dict(unshaped)
        self._defaults = tuple(r for _, r in sorted(defaults, key=lambda e: e[0]))
        self._cache: dict[tuple[str, str], tuple[RuleData, ...]] = {}
        self._answers: dict[int, RequirementAnswer] = {}

    def __len__(self) -> int:
        return len(self.rules)

    def candidates(self, code_system: str, code: str) -> tuple[RuleData, ...]:
        """Every rule naming the code, most specific first (dates, line and diagnoses not yet applied)."""
        key = (code_system, code)
        found = self._cache.get(key)
        if found is not None:
            return found
        ranked: list[tuple[_Rank, RuleData]] = []
        shape = _shape(code)
        if shape is not None:
            entry = self._shaped.get((code_system, shape[0]))
            if entry is not None:
                starts, ranges, widest = entry
                number = shape[1]
                for lo, hi, rule in ranges[bisect_left(starts, number - widest) : bisect_right(starts, number)]:
                    if number <= hi:
                        ranked.append((_rank(rule, hi - lo), rule))
        for first, last, rule in self._unshaped.get(code_system, ()):
            if len(code) == len(first) and first <= code <= last:
                # No numeric width for mismatched shapes: ranked after every numeric range.
                ranked.append((_rank(rule, 10**9), rule))
        exact = self._exact.get(key, ())
        # Expanded ranges are at most _EXPAND_LIMIT wide and the others wider, so the per-code
        # entries (already in order) all come before them.
        ranked.sort(key=lambda e: e[0])
        found = (*exact, *(r for _, r in ranked)) if ranked else exact
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[key] = found
        return found

    def lookup(
        self,
        *,
        code_system: str,
        code: str,
        date_of_service: date,
        line_of_business: str,
        diagnoses: Sequence[str] = (),
    ) -> RequirementAnswer:
        for rule in self.candidates(code_system, code):
            if (
                rule.in_effect_on(date_of_service)
                and rule.line_of_business in ("", line_of_business)
                and rule.matches_diagnoses(diagnoses)
            ):
                return self._answer(rule)
        for rule in self._defaults:
            if rule.in_effect_on(date_of_service) and rule.line_of_business in ("", line_of_business):
                return self._answer(rule)
        return BUILT_IN_DEFAULT

    def _answer(self, rule: RuleData) -> RequirementAnswer:
        # One answer per rule, built on first use: its description is formatted once.
        answer = self._answers.get(rule.rule_id)
        if answer is None:
            answer = self._answers[rule.rule_id] = RequirementAnswer(
                rule.requirement, rule.rule_id, rule.description(), is_default=rule.is_default
            )
        return answer
