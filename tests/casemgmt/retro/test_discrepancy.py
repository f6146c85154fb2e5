"""Each discrepancy rule on its own, over plain data (no database): casemgmt/retro/discrepancy.py."""

from __future__ import annotations

from datetime import date

import pytest

from casemgmt.retro.discrepancy import CitedVersion, DecidedLine, compare
from policies_app.engine import FlagData, PolicyIndex, VersionData

DAY = date(2025, 6, 1)


def version(
    vid: int, policy: int, position: str, start: date, end: date | None = None, code: str = "62330"
) -> VersionData:
    return VersionData(
        version_id=vid,
        policy_id=policy,
        payer="Plan",
        policy_number=f"P{policy}",
        policy_title="Policy",
        version_label=f"v{vid}",
        effective_start=start,
        effective_end=end,
        coverage_position=position,
        statement="Statement.",
        lines_of_business=frozenset({"commercial"}),
        codes=(("CPT", code, code),),
    )


OLD = version(1, 10, "medically_necessary", date(2024, 1, 1), date(2025, 1, 31))
NEW = version(2, 10, "investigational", date(2025, 2, 1))
INDEX = PolicyIndex([OLD, NEW])


def flag(kind: str, v: VersionData | None = NEW, details: dict | None = None) -> FlagData:
    return FlagData(1, kind, "critical", kind, v, "", details or {})


def rules(outcome: str, flags: list[FlagData], cited: list[VersionData], index: PolicyIndex = INDEX) -> list[str]:
    line = DecidedLine(1, "CPT", "62330", DAY, outcome)
    cites = [CitedVersion(v.version_id, v.policy_id) for v in cited]
    return compare(index, [line], flags, cites)[0].rules


@pytest.mark.parametrize(
    ("kind", "rule"),
    [
        ("investigational", "approved_investigational"),
        ("not_medically_necessary", "approved_not_medically_necessary"),
        ("cosmetic", "approved_cosmetic"),
        ("criteria_not_met", "approved_criteria_not_met"),
    ],
)
@pytest.mark.parametrize("outcome", ["approved", "partially_approved", "modified"])
def test_an_approving_line_now_non_covered_is_a_discrepancy(kind, rule, outcome):
    assert rules(outcome, [flag(kind)], [NEW]) == [rule]


def test_the_governing_version_differing_from_the_cited_one_is_named_beside_the_outcome_change():
    assert rules("approved", [flag("investigational")], [OLD]) == [
        "approved_investigational",
        "governing_version_differs",
    ]


@pytest.mark.parametrize("kind", ["criteria_met", "medically_necessary"])
def test_a_denied_line_now_covered_is_a_discrepancy(kind):
    assert rules("denied", [flag(kind)], [NEW]) == ["adverse_now_covered"]


def test_a_denied_line_still_adverse_under_another_position_agrees():
    assert rules("denied", [flag("criteria_not_met")], [OLD]) == []


def test_a_denial_whose_cited_version_no_longer_governs_the_date_is_a_discrepancy():
    # The version now in effect lists another code: nothing flags the line, the denial's basis is gone.
    replaced = version(3, 10, "medically_necessary", date(2025, 2, 1), code="62331")
    index = PolicyIndex([OLD, replaced])
    assert rules("denied", [], [OLD], index) == ["adverse_basis_withdrawn"]


def test_a_denial_under_the_version_still_in_effect_agrees():
    assert rules("denied", [flag("investigational")], [NEW]) == []


@pytest.mark.parametrize("outcome", ["approved", "denied"])
def test_no_version_in_effect_is_a_discrepancy_whatever_the_outcome(outcome):
    no_version = FlagData(1, "no_version_in_effect", "warning", "none", None, "", {"policy_id": 10})
    assert rules(outcome, [no_version], [OLD]) == ["no_version_in_effect"]


@pytest.mark.parametrize(
    "kind", ["criteria_incomplete", "line_of_business_excluded", "term_match", "position_undetermined"]
)
def test_flags_that_suggest_no_outcome_are_no_discrepancy_on_an_approval(kind):
    assert rules("approved", [flag(kind)], [NEW]) == []


def test_an_approval_no_policy_governs_agrees():
    assert rules("approved", [], []) == []


def test_a_pended_line_is_no_determination_to_disagree_with():
    assert rules("pended", [flag("investigational")], [NEW]) == []
