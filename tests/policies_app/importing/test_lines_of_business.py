"""Lines of business as documents name them: running text, header labels, Medicare's own documents, FEP."""

from __future__ import annotations

import pytest

from policies_app.importing import extract_document

POLICY = """Policy

Knee bracing is considered medically necessary when ALL of the following are met:
1. Age 18 years or older
2. Ligament instability on examination
"""


def only(text: str) -> list[str]:
    return sorted(f.value for f in extract_document(text.encode(), file="p.txt").many("lines_of_business_only"))


def excluded(text: str) -> list[str]:
    return sorted(f.value for f in extract_document(text.encode(), file="p.txt").many("lines_of_business_excluded"))


def test_criteria_that_apply_to_programmes_in_running_text_name_them():
    text = POLICY + "\nThese guidelines apply to Medicaid managed care and CHIP enrollees of the plan.\n"
    assert only(text) == ["chip", "medicaid"]


def test_a_products_label_lists_the_lines_of_business():
    text = "Products: Commercial PPO, Individual & Family plans\n\n" + POLICY
    assert only(text) == ["commercial", "exchange"]


def test_an_applies_to_label_with_a_tab_lists_the_lines_of_business():
    text = "Applies to:\tEmployer group plans; Medicare Advantage plans\n\n" + POLICY
    assert only(text) == ["commercial", "medicare_advantage"]


def test_a_products_sentence_about_devices_is_not_a_label():
    assert only(POLICY + "Products affected include, for example, Brandex and Medix.\n") == []


def test_a_does_not_apply_label_excludes_rather_than_limits():
    text = "Products: Commercial HMO\nDoes not apply to: Medicare Advantage\n\n" + POLICY
    assert only(text) == ["commercial"]
    assert excluded(text) == ["medicare_advantage"]


def test_a_local_coverage_determination_applies_to_medicare():
    assert only("Local Coverage Determination (LCD)\nLCD ID\nL12345\n\n" + POLICY) == ["medicare_advantage"]


def test_a_commercial_policy_is_not_taken_for_medicare():
    assert only("Orchard Valley Health Plan\n\n" + POLICY) == []


@pytest.mark.parametrize(
    "sentence",
    [
        "This policy does not apply to Federal Employee Program (FEP) members.",
        "FEHB members: refer to the FEP Service Benefit Plan brochure.",
    ],
)
def test_federal_employee_program_statements_exclude_fep(sentence: str):
    assert excluded(POLICY + "\n" + sentence + "\n") == ["fep"]


def test_an_applicable_to_label_limits_the_lines_of_business():
    assert only("Applicable to: Medicaid\n\n" + POLICY) == ["medicaid"]


def test_a_not_applicable_statement_excludes_the_line_of_business():
    text = POLICY + "\nThis guideline is not applicable to Medicare Advantage plans.\n"
    assert excluded(text) == ["medicare_advantage"]
    assert only(text) == []


def test_an_excluded_products_label_excludes_the_lines_of_business():
    assert excluded("Excluded products: Medicaid, CHIP\n\n" + POLICY) == ["chip", "medicaid"]


def test_a_lines_of_business_label_written_with_a_plural_in_brackets_limits_them():
    text = "Line(s) of business: Commercial PPO, Individual and Family (Marketplace)\n\n" + POLICY
    assert only(text) == ["commercial", "exchange"]


def test_a_plan_named_as_a_label_before_does_not_apply_is_excluded():
    text = (
        "Applies to: all Orchard Valley commercial plans. Medicare Advantage: this policy does not apply.\n\n" + POLICY
    )
    assert excluded(text) == ["medicare_advantage"]


def test_a_plan_named_before_a_dash_and_does_not_apply_is_excluded():
    assert excluded(POLICY + "\nMedicaid – these criteria do not apply; see the state manual.\n") == ["medicaid"]


def test_a_plan_named_before_a_label_that_applies_is_not_excluded():
    assert excluded(POLICY + "\nMedicaid members: this policy applies as written.\n") == []


def test_a_not_applicable_to_row_of_a_tab_separated_header_excludes_the_plan():
    assert excluded("Policy\tKNEE-220\nNot applicable to\tMedicaid (Orchard Community Care)\n\n" + POLICY) == [
        "medicaid"
    ]


def test_an_excluded_products_row_of_a_markdown_table_excludes_the_plans():
    text = "| Policy number | KNEE-220 |\n| Excluded products | Medicare Advantage; Federal Employee Program |\n\n"
    assert excluded(text + POLICY) == ["fep", "medicare_advantage"]


def test_a_products_row_of_a_markdown_table_limits_the_lines_of_business():
    assert only("| Products | Commercial PPO and Marketplace plans |\n\n" + POLICY) == ["commercial", "exchange"]


def test_an_applies_to_sentence_wrapped_over_lines_names_every_plan_in_it():
    text = POLICY + (
        "\nThese criteria apply to members of fully insured employer plans and of the Silver\n"
        "Marketplace plans sold on the state exchange.\n"
    )
    assert only(text) == ["commercial", "exchange"]


def test_an_applies_to_label_ends_with_its_line():
    text = POLICY + "\nApplies to: Commercial HMO\nMedicare Advantage plans use the national determination\n"
    assert only(text) == ["commercial"]


def test_a_guideline_used_for_members_of_plans_limits_the_lines_of_business():
    text = POLICY + "\nThis guideline is used for members of Brookfield Commercial and Brookfield Exchange plans.\n"
    assert only(text) == ["commercial", "exchange"]


def test_a_plan_named_first_with_does_not_apply_at_the_end_of_its_sentence_is_excluded():
    text = POLICY + (
        "\nFederal Employee Program members: benefits follow the Service Benefit Plan brochure, and this policy"
        " does not apply.\n"
    )
    assert excluded(text) == ["fep"]


def test_a_plan_named_first_with_does_not_apply_to_another_plan_is_not_excluded():
    text = POLICY + "\nFor Medicare members the plan reviews each case, and this policy does not apply to them.\n"
    assert excluded(text) == []


def test_a_plan_labelled_not_applicable_is_excluded():
    assert excluded(POLICY + "\nBrookfield Medicaid plans: not applicable. Use the state manual.\n") == ["medicaid"]


def test_members_not_managed_under_these_guidelines_are_excluded():
    text = (
        POLICY + "\nThese guidelines apply to commercial members. FEP members are not managed under these guidelines.\n"
    )
    assert excluded(text) == ["fep"]
    assert only(text) == ["commercial"]


def test_plans_told_to_refer_to_another_document_are_excluded():
    text = POLICY + "\nMedicare Advantage plans: refer to the Coverage Summary of the same name.\n"
    assert excluded(text) == ["medicare_advantage"]
