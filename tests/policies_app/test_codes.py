"""ICD-10-CM in the code set the project uses (simple-icd-10-cm): valid codes and billable codes."""

from __future__ import annotations

import pytest

from policies_app.codes import code_problem, diagnosis_problem

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
