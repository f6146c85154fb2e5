"""Lines of business stated by matrices, register abbreviations, grids and exceptions; positions in unusual layouts."""

from __future__ import annotations

from policies_app.importing import extract_document

POLICY = """Policy

Knee bracing is considered medically necessary when ALL of the following are met:
1. Age 18 years or older
2. Ligament instability on examination
"""


def only(text: str, file: str = "p.txt") -> list[str]:
    return sorted(f.value for f in extract_document(text.encode(), file=file).many("lines_of_business_only"))


def excluded(text: str, file: str = "p.txt") -> list[str]:
    return sorted(f.value for f in extract_document(text.encode(), file=file).many("lines_of_business_excluded"))


def test_members_not_subject_to_this_policy_are_excluded():
    text = (
        POLICY + "\nMedicaid members (plan code 7) are reviewed under manual 12 and are not subject to this policy.\n"
    )
    assert excluded(text) == ["medicaid"]


def test_a_pathway_that_does_not_review_a_plan_excludes_it():
    text = POLICY + "\nRiverbend Medicaid members are not reviewed with this pathway; the state decides.\n"
    assert excluded(text) == ["medicaid"]


def test_a_pathway_used_for_members_names_the_lines_it_applies_to():
    text = (
        POLICY
        + "\nThis pathway is used for Riverbend Commercial members and for Golden Oaks (a Medicare Advantage plan) members.\n"
    )
    assert only(text) == ["commercial", "medicare_advantage"]


def test_a_sentence_opening_not_applicable_to_excludes_the_plan():
    text = "Not applicable to Riverbend Medicare Advantage plans, which follow their own rules.\n\n" + POLICY
    assert excluded(text) == ["medicare_advantage"]


def test_a_guideline_not_used_for_a_plan_excludes_it():
    text = POLICY + "\nIt is not used for members of Golden Oaks (Medicaid); their requests go to the state.\n"
    assert excluded(text) == ["medicaid"]


def test_an_exception_in_an_applicability_statement_is_excluded_and_not_applied():
    text = (
        "This policy applies to all Riverbend Health products except the Federal Employee Program (FEP).\n\n" + POLICY
    )
    assert (only(text), excluded(text)) == ([], ["fep"])


def test_register_abbreviations_after_a_lob_label_name_lines_and_exclusions():
    text = "LOB\tCOMM-PPO\tIND-EXCH\tEXCL\tMCD (SEE MANUAL 4)\n\n" + POLICY
    assert (only(text), excluded(text)) == (["commercial", "exchange"], ["medicaid"])


def test_an_unknown_abbreviation_after_a_lob_label_names_nothing():
    text = "LOB\tXYZ-QQ\n\n" + POLICY
    assert only(text) == []


def test_a_products_label_alone_on_its_line_takes_the_next_line():
    text = "Products\nRiverbend Choice (PPO); Golden Oaks (Medicare Advantage HMO)\n\n" + POLICY
    assert only(text) == ["commercial", "medicare_advantage"]


def test_an_excluded_products_label_alone_on_its_line_excludes_the_next_line():
    text = "Excluded products\nRiverbend Medicaid (state plan) - see the state manual\n\n" + POLICY
    assert excluded(text) == ["medicaid"]


def test_a_plans_heading_over_a_sentence_is_not_a_label():
    text = "Plans\nThe device is sold to Medicaid agencies. It is small.\n\n" + POLICY
    assert only(text) == []


def test_ballot_boxes_with_an_empty_box_mark_ticked_and_left_out_plans():
    text = "Plan types: ☒ Commercial ☒ CHIP ☐ Medicaid\n\n" + POLICY
    assert (only(text), excluded(text)) == (["chip", "commercial"], ["medicaid"])


def test_a_coverage_matrix_header_names_the_lines_by_its_product_columns():
    text = (
        POLICY
        + "\nService\tRiverbend Commercial (PPO)\tRiverbend Marketplace\tRiverbend Medicaid (Kids First)\n"
        + "Brace fitting\tCovered\tCovered\tPA required\n"
    )
    assert only(text) == ["commercial", "exchange", "medicaid"]


def test_a_table_whose_header_cells_are_not_all_plans_names_no_lines():
    text = POLICY + "\nService\tMedicaid rate\tNotes\n" + "Brace fitting\t$40\tnone\n"
    assert only(text) == []


def test_members_not_covered_by_this_matrix_are_excluded():
    text = POLICY + "\nFederal Employee Program members are not covered by this matrix.\n"
    assert excluded(text) == ["fep"]


def positions(text: str) -> list[tuple[str, str]]:
    result = extract_document(text.encode(), file="p.txt")
    return [(f.value["position"], f.value["indication"]) for f in result.many("positions")]


def test_a_statement_with_inline_criteria_after_its_colon_states_its_position():
    items = "; ".join(f"({n}) the member has finding number {n} on the scan of the left side" for n in range(1, 12))
    text = (
        "Policy\nRiverbend considers nerve wrapping medically necessary for a member with\n"
        f"chronic neuritis when all of the following are met: {items}.\n"
    )
    assert [p for p, _ in positions(text)] == ["medically_necessary_with_criteria"]


def test_covered_when_a_finding_is_documented_is_a_position_with_criteria():
    text = "Policy\nA second graft is covered when growth of the lesion is documented on two scans.\n"
    assert [p for p, _ in positions(text)] == ["medically_necessary_with_criteria"]


def test_covered_when_the_member_improved_by_a_margin_is_a_position_with_criteria():
    text = "Policy\nFurther sessions are covered when the pain score improved by at least 3 points.\n"
    assert [p for p, _ in positions(text)] == ["medically_necessary_with_criteria"]


def test_covered_when_billed_with_a_modifier_is_still_no_position():
    text = "Policy\nThe visit is covered when billed with modifier 25 on the same claim.\n"
    assert positions(text) == []


def test_a_request_that_reaches_an_outcome_is_medically_necessary_with_criteria():
    text = "Policy\nA request that reaches Accept is medically necessary; others go to a reviewer.\n"
    assert [p for p, _ in positions(text)] == ["medically_necessary_with_criteria"]


def test_a_legend_defining_a_status_word_states_no_position():
    text = "Policy\nApproved means the service is covered when the criteria of the row are met.\n"
    assert positions(text) == []


def test_members_not_covered_by_this_policy_is_scope_not_a_position():
    text = "Policy\nRiverbend Medicaid members are not covered by this policy; see the state manual.\n"
    assert positions(text) == []


def test_a_prose_sentence_in_a_codes_section_states_its_position():
    text = (
        "Policy\nNerve wrapping is medically necessary when all of the following are met:\n"
        "1. Age 18 years or older\n2. Chronic neuritis\n\nCodes\nCPT\t64702\tNeuroplasty; digital\n"
        "Laser nerve ablation of the wrist and the elbow is investigational.\n"
    )
    assert [p for p, _ in positions(text)] == ["medically_necessary_with_criteria", "investigational"]


def test_a_code_row_in_a_codes_section_states_no_position():
    text = (
        "Policy\nNerve wrapping is medically necessary when all of the following are met:\n"
        "1. Age 18 years or older\n2. Chronic neuritis\n\nCodes\n"
        "CPT 64999 Unlisted nerve procedure (for laser ablation, which is investigational).\n"
    )
    assert [p for p, _ in positions(text)] == ["medically_necessary_with_criteria"]


MATRIX = (
    "Coverage\nService\tRiverbend Choice (PPO)\tRiverbend Medicaid\tRiverbend Medicare Advantage\n"
    "Nerve wrapping (64702) – criteria in Section A\tPA required\tCovered\tPA required\n"
    "Laser nerve ablation\tNot covered – investigational\tNot covered – investigational\tNot covered – investigational\n"
    "Massage chairs\tNot covered – not medically necessary\tNot covered – not medically necessary\t"
    "Not covered – not medically necessary\n"
)


def test_each_coverage_matrix_row_states_the_position_its_cells_agree_on():
    assert positions(MATRIX) == [
        ("medically_necessary_with_criteria", "Nerve wrapping (64702)"),
        ("investigational", "Laser nerve ablation"),
        ("not_medically_necessary", "Massage chairs"),
    ]


def test_a_section_a_matrix_row_sends_criteria_to_does_not_restate_its_position():
    text = (
        MATRIX
        + "Section A – Nerve wrapping\nNerve wrapping is medically necessary when all of the following are met:\n- Age 18 years or older\n- Chronic neuritis\n"
    )
    assert [p for p, _ in positions(text)] == [
        "medically_necessary_with_criteria",
        "investigational",
        "not_medically_necessary",
    ]


def test_a_matrix_row_whose_cells_disagree_states_no_position():
    text = (
        "Coverage\nService\tRiverbend Choice\tRiverbend Medicaid\n"
        "Nerve wrapping\tCovered\tNot covered – investigational\n"
        "Laser nerve ablation\tNot covered – investigational\tNot covered – investigational\n"
    )
    assert positions(text) == [("investigational", "Laser nerve ablation")]


def test_a_fee_table_with_plan_columns_names_no_lines():
    text = POLICY + "\nCode\tCommercial fee\tMedicaid fee\tMedicare fee\n" + "64702\t$410\t$220\t$305\n"
    assert only(text) == []


def test_abbreviations_in_a_products_label_name_the_lines():
    text = "Products: COMM, MCD, EXCH\n\n" + POLICY
    assert only(text) == ["commercial", "exchange", "medicaid"]


def test_a_lower_case_word_like_an_abbreviation_is_no_line():
    text = "Plans ind and comm may vary by region\n\n" + POLICY
    assert only(text) == []


def test_treatment_by_means_of_a_device_still_states_a_position():
    text = "Policy\nNerve ablation by means of a laser probe is investigational.\n"
    assert [p for p, _ in positions(text)] == ["investigational"]


def test_a_plans_sentence_without_a_label_colon_reads_no_abbreviation():
    text = "Plans MA and FEP may differ from this one\n\n" + POLICY
    assert only(text) == []
