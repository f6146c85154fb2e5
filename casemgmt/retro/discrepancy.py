"""The discrepancy rules: when does a re-evaluation disagree with the decision of record?

Pure functions over plain data, like the engine: the chunk service feeds them the decision's
lines and citations and the engine's fresh flags, and they return the rules that fired per line.
docs/architecture.md ("Retrospective review") states the rules in prose; each has a test.

Vocabulary. A decided line's outcome is *approving* when it approves units (approved, partially
approved, modified) and *adverse* when it denies some (denied, partially approved, modified); a
partial approval or a modification is both. The fresh flags of a line come from the engine run
against the published version of each matching policy in effect on the line's date of service.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from casemgmt.cases.models import FlagKind, LineOutcome
from policies_app.engine import FlagData, PolicyIndex


class Rule:
    """Rule codes, as stored on results and review items."""

    APPROVED_INVESTIGATIONAL = "approved_investigational"
    APPROVED_NOT_MEDICALLY_NECESSARY = "approved_not_medically_necessary"
    APPROVED_COSMETIC = "approved_cosmetic"
    APPROVED_CRITERIA_NOT_MET = "approved_criteria_not_met"
    ADVERSE_NOW_COVERED = "adverse_now_covered"
    ADVERSE_BASIS_WITHDRAWN = "adverse_basis_withdrawn"
    NO_VERSION_IN_EFFECT = "no_version_in_effect"
    # Never fires alone: added beside an outcome-changing rule when the version that now governs
    # the line is not the version of the same policy the decision cited.
    GOVERNING_VERSION_DIFFERS = "governing_version_differs"


RULE_LABELS: dict[str, str] = {
    Rule.APPROVED_INVESTIGATIONAL: "Approved, but the service is investigational under the version in effect",
    Rule.APPROVED_NOT_MEDICALLY_NECESSARY: "Approved, but the service is not medically necessary under the version in effect",
    Rule.APPROVED_COSMETIC: "Approved, but the service is cosmetic under the version in effect",
    Rule.APPROVED_CRITERIA_NOT_MET: "Approved, but the policy's criteria are not met",
    Rule.ADVERSE_NOW_COVERED: "Denied or limited, but the service is now covered (criteria met or medically necessary)",
    Rule.ADVERSE_BASIS_WITHDRAWN: "Denied or limited on a policy version that no longer governs the date of service",
    Rule.NO_VERSION_IN_EFFECT: "No version of a governing policy is in effect on the date of service",
    Rule.GOVERNING_VERSION_DIFFERS: "The version now governing differs from the version cited",
}

APPROVING = frozenset({LineOutcome.APPROVED, LineOutcome.PARTIALLY_APPROVED, LineOutcome.MODIFIED})
ADVERSE = frozenset({LineOutcome.DENIED, LineOutcome.PARTIALLY_APPROVED, LineOutcome.MODIFIED})
NON_COVERED_RULES = {
    FlagKind.INVESTIGATIONAL: Rule.APPROVED_INVESTIGATIONAL,
    FlagKind.NOT_MEDICALLY_NECESSARY: Rule.APPROVED_NOT_MEDICALLY_NECESSARY,
    FlagKind.COSMETIC: Rule.APPROVED_COSMETIC,
    FlagKind.CRITERIA_NOT_MET: Rule.APPROVED_CRITERIA_NOT_MET,
}
ADVERSE_KINDS = frozenset(NON_COVERED_RULES)
COVERED_KINDS = frozenset({FlagKind.CRITERIA_MET, FlagKind.MEDICALLY_NECESSARY})


@dataclass(frozen=True, slots=True)
class DecidedLine:
    sequence: int
    code_system: str
    code: str
    date_of_service: date
    outcome: str


@dataclass(frozen=True, slots=True)
class CitedVersion:
    policy_version_id: int
    policy_id: int


@dataclass(slots=True)
class LineFinding:
    line: DecidedLine
    rules: list[str]
    flags: list[FlagData] = field(default_factory=list)


def _cited_for_line(
    index: PolicyIndex, line: DecidedLine, cited: Sequence[CitedVersion], flags: Sequence[FlagData], single_line: bool
) -> list[CitedVersion]:
    """The citations that concern this line.

    Citations belong to the whole decision. One concerns a line when the decision has only that
    line, when a published version of the cited policy governs the line's code, or when the
    re-evaluation flags the line under that policy.
    """
    if single_line:
        return list(cited)
    governing = index.code_match(line.code_system, line.code).policies
    flagged = {f.version.policy_id for f in flags if f.version is not None}
    flagged |= {int(f.details["policy_id"]) for f in flags if f.kind == FlagKind.NO_VERSION_IN_EFFECT}
    return [c for c in cited if c.policy_id in governing or c.policy_id in flagged]


def line_rules(
    index: PolicyIndex,
    line: DecidedLine,
    flags: Sequence[FlagData],
    cited: Sequence[CitedVersion],
    *,
    single_line: bool,
) -> list[str]:
    """The rules that fire for one decided line; empty when decision and re-evaluation agree."""
    if line.outcome not in APPROVING and line.outcome not in ADVERSE:
        return []  # a pended line is no determination to disagree with
    kinds = {f.kind for f in flags}
    rules: list[str] = []
    outcome_changed = False
    if line.outcome in APPROVING:
        for kind, rule in NON_COVERED_RULES.items():
            if kind in kinds:
                rules.append(rule)
                outcome_changed = True
    if line.outcome in ADVERSE and not kinds & ADVERSE_KINDS:
        relevant = _cited_for_line(index, line, cited, flags, single_line)
        if kinds & COVERED_KINDS:
            rules.append(Rule.ADVERSE_NOW_COVERED)
            outcome_changed = True
        elif FlagKind.NO_VERSION_IN_EFFECT not in kinds and any(
            _no_longer_in_effect(index, c, line.date_of_service) for c in relevant
        ):
            rules.append(Rule.ADVERSE_BASIS_WITHDRAWN)
    if FlagKind.NO_VERSION_IN_EFFECT in kinds:
        rules.append(Rule.NO_VERSION_IN_EFFECT)
    if outcome_changed:
        relevant = _cited_for_line(index, line, cited, flags, single_line)
        cited_by_policy = {c.policy_id: c.policy_version_id for c in relevant}
        for f in flags:
            if f.version is None or f.version.policy_id not in cited_by_policy:
                continue
            if cited_by_policy[f.version.policy_id] != f.version.version_id:
                rules.append(Rule.GOVERNING_VERSION_DIFFERS)
                break
    return rules


def _no_longer_in_effect(index: PolicyIndex, cited: CitedVersion, day: date) -> bool:
    now = index.version_in_effect(cited.policy_id, day)
    return now is None or now.version_id != cited.policy_version_id


def compare(
    index: PolicyIndex,
    lines: Iterable[DecidedLine],
    flags: Iterable[FlagData],
    cited: Sequence[CitedVersion],
) -> list[LineFinding]:
    """Every decided line with its fresh flags and the rules that fired (possibly none)."""
    by_line: dict[int, list[FlagData]] = {}
    for f in flags:
        by_line.setdefault(f.service_line, []).append(f)
    decided = list(lines)
    single = len(decided) == 1
    out = []
    for line in decided:
        line_flags = by_line.get(line.sequence, [])
        out.append(LineFinding(line, line_rules(index, line, line_flags, cited, single_line=single), line_flags))
    return out


def flag_summary(f: FlagData) -> dict[str, Any]:
    return {
        "kind": f.kind,
        "severity": f.severity,
        "message": f.message,
        "policy_version_id": f.version.version_id if f.version else None,
    }


def findings_rules(findings: Iterable[LineFinding]) -> list[str]:
    """The distinct rules of a case, in a stable order."""
    seen: dict[str, None] = {}
    for finding in findings:
        for rule in finding.rules:
            seen.setdefault(rule, None)
    return list(seen)


def new_citations(findings: Iterable[LineFinding]) -> list[dict[str, Any]]:
    """The citations of the versions the re-evaluation relied on, one per version."""
    out: dict[int, dict[str, Any]] = {}
    for finding in findings:
        for f in finding.flags:
            if f.version is not None and f.version.version_id not in out:
                out[f.version.version_id] = f.version.citation(f.criterion)
    return list(out.values())


def lines_detail(findings: Iterable[LineFinding]) -> list[dict[str, Any]]:
    return [
        {
            "sequence": x.line.sequence,
            "code_system": x.line.code_system,
            "code": x.line.code,
            "date_of_service": x.line.date_of_service.isoformat(),
            "outcome": x.line.outcome,
            "rules": x.rules,
            "flags": [flag_summary(f) for f in x.flags],
        }
        for x in findings
    ]


def rule_label(code: str) -> str:
    return RULE_LABELS.get(code, code)
