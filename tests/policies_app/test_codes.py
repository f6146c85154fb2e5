"""ICD-10-CM in the code set the project uses (simple-icd-10-cm): valid codes and billable codes."""

from __future__ import annotations

import pytest

from policies_app.codes import (
    code_problem,
    diagnosis_problem,
    icd10cm_in_range,
    icd10cm_range_codes,
    icd10cm_range_roots,
    icd10cm_tabular,
    range_problem,
)

NOT_BILLABLE = "is not a billable code: use a more specific one"


@pytest.mark.parametrize("code", ["M48", "M48.06", "M4806", "m48.06", "S32.001", "C7A"])
def test_a_category_or_subcategory_is_not_a_billable_diagnosis(code: str) -> None:
    """Issue 17 §6: only billable codes are accepted; a category header (M48, M48.06) is not one.
    ICD-10-CM Official Guidelines I.B.2: a code is invalid unless coded to its full number of
    characters, including the 7th character where one applies (S32.001 needs S32.001A)."""
    assert diagnosis_problem(code) == f"{code!r} {NOT_BILLABLE}"


@pytest.mark.parametrize("code", ["M48.062", "M48062", "m48.062", "S32.001A", "Z66", "I10", "M54.50"])
def test_a_billable_code_is_a_reportable_diagnosis(code: str) -> None:
    """Issue 17 §6: a billable code (a leaf of the tabular list: M48.062, or a category with no
    subdivision such as I10 or Z66) is accepted, with or without its dot."""
    assert diagnosis_problem(code) is None


def test_a_code_outside_the_code_set_is_still_named_as_such() -> None:
    """Issue 17 §6: a code that is not in ICD-10-CM at all keeps its own message, not the billable one."""
    assert diagnosis_problem("M48.06X") == "'M48.06X' is not an ICD-10-CM code"


def test_a_policy_may_still_name_a_category() -> None:
    """Issue 17 §6 is about reported diagnoses: a policy's code list may name a whole category (M48.06)."""
    assert code_problem("ICD10CM", "M48.06") is None


# --- ICD-10-CM ranges -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "last"),
    [("E10.10", "E10.9"), ("M48.061", "M48.07"), ("F50.00", "F50.9"), ("S32.0", "S32.2"), ("M41.1", "M41.129")],
)
def test_an_icd10cm_range_whose_ends_differ_in_length_is_accepted(first: str, last: str) -> None:
    """Payers list ranges as the tabular list reads them, from a code to one of another depth."""
    assert range_problem("ICD10CM", first, last) is None


def test_a_reversed_icd10cm_range_is_refused_naming_it() -> None:
    assert range_problem("ICD10CM", "E10.9", "E10.10") == (
        "range E10.9-E10.10 must run from the lower to the higher code in ICD-10-CM tabular order: "
        "E10.10 comes before E10.9"
    )


def test_an_icd10cm_range_across_chapters_is_refused_naming_it() -> None:
    assert range_problem("ICD10CM", "A00", "C00") == (
        "range A00-C00 crosses ICD-10-CM chapters (A00 is in chapter 1, C00 in chapter 2): list one range per chapter"
    )


def test_an_icd10cm_range_end_that_is_a_chapter_is_refused_naming_it() -> None:
    assert (
        range_problem("ICD10CM", "13", "M00") == "'13' in range 13-M00 is a chapter or block of ICD-10-CM, not a code"
    )


def test_an_icd10cm_range_holds_the_codes_between_its_ends_in_tabular_order() -> None:
    assert icd10cm_in_range("E10.65", "E10.10", "E10.9")


def test_an_icd10cm_range_holds_every_code_under_its_last_code() -> None:
    """S32.0-S32.2 holds the seventh-character codes of S32.2, as M41.1-M41.12 holds M41.122."""
    assert icd10cm_in_range("S32.2XXA", "S32.0", "S32.2")
    assert icd10cm_in_range("M41.122", "M41.1", "M41.12")


def test_an_icd10cm_range_ending_in_a_leaf_holds_no_code_after_it() -> None:
    """E10.9 has no code under it, so E10.10-E10.9 stops there (E10.A0 follows it)."""
    assert not icd10cm_in_range("E10.A0", "E10.10", "E10.9")


def test_an_icd10cm_range_follows_the_tabular_order_not_the_text_order() -> None:
    """The tabular list puts M35.0C before M35.09, though it sorts after it as text."""
    assert icd10cm_in_range("M35.0C", "M35.00", "M35.09")


def test_an_icd10cm_range_holds_a_code_written_without_its_dot() -> None:
    assert icd10cm_in_range("E1065", "E10.10", "E10.9")


@pytest.mark.parametrize(("first", "last"), [("E10.10", "E10.9"), ("S32.0", "S32.2"), ("M41.1", "M41.12")])
def test_an_icd10cm_ranges_roots_hold_exactly_its_codes(first: str, last: str) -> None:
    """What a database filter matches (codes alone, roots with every code under them) is the range."""
    alone, roots = icd10cm_range_roots(first, last)
    matched = {c for c in icd10cm_tabular()[0] if c in alone or c.startswith(roots)}
    assert matched == set(icd10cm_range_codes(first, last))


def test_a_reversed_hcpcs_range_is_still_refused_as_before() -> None:
    assert range_problem("HCPCS", "G0280", "G0276") == (
        "range G0280-G0276 must run from the lower to the higher code of the same form"
    )


def test_a_range_of_another_system_with_ends_of_differing_length_is_still_refused() -> None:
    assert (
        range_problem("X12_1365", "3", "42") == "range 3-42 must run from the lower to the higher code of the same form"
    )
