"""Which rule answers a lookup: precedence, dates, line of business, diagnoses, the defaults, the cache."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.db import connection
from django.test.utils import CaptureQueriesContext

from policies_app.requirement_index import RequirementIndex, RuleData
from policies_app.requirement_rules import requirement_rule_retire
from policies_app.selectors import library_stamp, requirement_index
from tests import factories

DAY = date(2026, 3, 1)


def rule(rule_id: int, **overrides: Any) -> RuleData:
    values: dict[str, Any] = {
        "rule_id": rule_id,
        "version": 1,
        "code_system": "CPT",
        "code_start": "62330",
        "code_end": "",
        "diagnosis_codes": (),
        "line_of_business": "",
        "requirement": "required",
        "effective_start": date(2025, 1, 1),
        "effective_end": None,
    }
    values.update(overrides)
    return RuleData(**values)


def ask(index: RequirementIndex, code: str = "62330", **overrides: Any) -> Any:
    values: dict[str, Any] = {
        "code_system": "CPT",
        "code": code,
        "date_of_service": DAY,
        "line_of_business": "commercial",
    }
    values.update(overrides)
    return index.lookup(**values)


def test_single_code_beats_a_range_holding_it():
    index = RequirementIndex(
        [rule(1, code_start="62320", code_end="62340", requirement="not_required"), rule(2, requirement="required")]
    )
    assert ask(index).rule_id == 2


def test_narrower_range_beats_wider_range():
    index = RequirementIndex(
        [
            rule(1, code_start="60000", code_end="69999", requirement="required"),
            rule(2, code_start="62300", code_end="62399", requirement="notification_only"),
        ]
    )
    assert ask(index).requirement == "notification_only"


def test_wide_ranges_are_found_and_ordered_by_width():
    index = RequirementIndex(
        [
            rule(1, code_start="10004", code_end="69990", requirement="required"),
            rule(2, code_start="60000", code_end="63999", requirement="not_required"),
        ]
    )
    assert (ask(index).rule_id, ask(index, "20000").rule_id, ask(index, "70000").rule_id) == (2, 1, None)


def test_short_range_beats_a_wide_range_holding_it():
    index = RequirementIndex(
        [
            rule(1, code_start="62000", code_end="62999", requirement="required"),
            rule(2, code_start="62325", code_end="62335", requirement="not_required"),
        ]
    )
    assert ask(index).rule_id == 2


def test_category_iii_code_is_not_inside_a_numeric_range():
    index = RequirementIndex([rule(1, code_start="10004", code_end="69990", requirement="not_required")])
    assert ask(index, "1000T").rule_id is None


def test_rule_with_matching_diagnosis_beats_rule_without():
    index = RequirementIndex(
        [rule(1, requirement="required"), rule(2, diagnosis_codes=("M48.06",), requirement="not_required")]
    )
    assert ask(index, diagnoses=["M48.062"]).rule_id == 2


def test_rule_with_other_diagnoses_does_not_apply():
    index = RequirementIndex(
        [rule(1, requirement="required"), rule(2, diagnosis_codes=("M48.06",), requirement="not_required")]
    )
    assert ask(index, diagnoses=["M54.16"]).rule_id == 1


def test_diagnosis_category_matches_codes_under_it_written_without_the_dot():
    index = RequirementIndex([rule(1, diagnosis_codes=("M48",), requirement="not_covered")])
    assert ask(index, diagnoses=["m48062"]).requirement == "not_covered"


def test_line_of_business_rule_beats_every_line_rule():
    index = RequirementIndex(
        [rule(1, requirement="required"), rule(2, line_of_business="medicaid", requirement="not_required")]
    )
    assert (ask(index, line_of_business="medicaid").rule_id, ask(index).rule_id) == (2, 1)


def test_code_specificity_outranks_diagnoses_and_line_of_business():
    index = RequirementIndex(
        [
            rule(1, code_start="62300", code_end="62399", diagnosis_codes=("M48.06",), line_of_business="commercial"),
            rule(2, requirement="not_required"),
        ]
    )
    assert ask(index, diagnoses=["M48.062"]).rule_id == 2


def test_rule_not_in_effect_on_the_date_is_skipped():
    index = RequirementIndex(
        [
            rule(1, requirement="required"),
            rule(2, requirement="not_required", effective_start=date(2026, 6, 1)),
            rule(3, requirement="not_covered", effective_end=date(2025, 12, 31), line_of_business="commercial"),
        ]
    )
    assert ask(index).rule_id == 1


def test_later_start_wins_between_rules_of_equal_precedence():
    index = RequirementIndex([rule(1), rule(2, effective_start=date(2025, 6, 1), requirement="not_required")])
    assert ask(index).rule_id == 2


def test_plan_wide_default_applies_when_no_rule_names_the_code():
    index = RequirementIndex(
        [
            rule(1),
            rule(2, code_system="", code_start="", requirement="notification_only", effective_start=date(2020, 1, 1)),
        ]
    )
    answer = ask(index, "99213")
    assert (answer.requirement, answer.rule_id, answer.is_default) == ("notification_only", 2, True)


def test_rule_for_the_code_beats_the_plan_wide_default():
    index = RequirementIndex([rule(1, requirement="not_required"), rule(2, code_system="", code_start="")])
    assert (ask(index).rule_id, ask(index).is_default) == (1, False)


def test_no_rule_at_all_answers_required_by_the_built_in_default():
    answer = ask(RequirementIndex([]))
    assert (answer.requirement, answer.rule_id, answer.is_default) == ("required", None, True)
    assert "built-in default" in answer.description


def test_description_is_in_peoples_words():
    index = RequirementIndex(
        [rule(12, code_start="99202", code_end="99215", requirement="not_required", effective_start=date(2026, 1, 1))]
    )
    assert ask(index, "99213").description == (
        "CPT 99202\u201399215, all lines of business: no prior authorization required "
        "(rule 12, version 1, in effect from 1 Jan 2026)"
    )


def test_hcpcs_rule_does_not_answer_a_cpt_code():
    index = RequirementIndex([rule(1, code_system="HCPCS", code_start="G0276", requirement="not_required")])
    assert ask(index, "G0276").rule_id is None


# --- the per-process cache -------------------------------------------------------------------------


def test_index_holds_only_published_rules(editor):
    published = factories.requirement_rule(editor, requirement="not_required")
    factories.requirement_rule(editor, publish=False, code_start="62331")
    assert set(requirement_index().rules) == {published.pk}


def test_index_is_not_rebuilt_while_the_stamp_is_unchanged(editor):
    factories.requirement_rule(editor)
    stamp = library_stamp()
    first = requirement_index(stamp)
    with CaptureQueriesContext(connection) as queries:
        again = requirement_index(stamp)
        again.lookup(code_system="CPT", code="62330", date_of_service=DAY, line_of_business="commercial")
    assert again is first
    assert len(queries) == 0


def test_index_is_rebuilt_when_a_rule_is_retired(editor):
    published = factories.requirement_rule(editor, requirement="not_required")
    before = requirement_index()
    requirement_rule_retire(user=editor, rule_id=published.pk)
    after = requirement_index()
    assert after is not before
    assert ask(after).rule_id is None
