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


def test_a_products_label_with_its_colon_alone_on_its_line_takes_the_next_line():
    text = (
        "Products:\nRiverbend Employer Group (PPO); Riverbend Individual & Family (bought on the marketplace)\n\n"
        + POLICY
    )
    assert only(text) == ["commercial", "exchange"]


def test_a_not_applicable_to_label_alone_on_its_line_excludes_the_next_line():
    text = "Not applicable to:\nGolden Oaks Select (Medicare Advantage); see policy GO-12\n\n" + POLICY
    assert excluded(text) == ["medicare_advantage"]


def test_a_lines_of_business_label_with_a_dotted_leader_names_the_lines():
    text = "Lines of business ..... Commercial; Marketplace Silver; CHIP (Little Oaks)\n\n" + POLICY
    assert only(text) == ["chip", "commercial", "exchange"]


def test_an_excluded_lines_label_goes_on_to_its_indented_continuation_line():
    text = (
        "Excluded lines ....... Medicaid (Oaks Family follows state rules);\n"
        "                       Medicare Advantage\n"
        "Review type .......... Prior authorization\n\n" + POLICY
    )
    assert excluded(text) == ["medicaid", "medicare_advantage"]


def test_plans_in_scope_and_out_of_scope_labels_apply_and_exclude():
    text = (
        "Plans in scope:: Riverbend Commercial (group plans); Little Oaks (CHIP)\n"
        "Plans out of scope:: Golden Oaks (Medicare Advantage); Federal Employee Program\n\n" + POLICY
    )
    assert (only(text), excluded(text)) == (["chip", "commercial"], ["fep", "medicare_advantage"])


def test_product_types_of_plans_the_statement_then_calls_medicare_advantage_are_not_commercial():
    text = (
        "Applies to\tGolden Oaks Prime (HMO) and Golden Oaks Plus (PPO)\n"
        "          Medicare Advantage members.\n\n" + POLICY
    )
    assert only(text) == ["medicare_advantage"]


def test_product_types_named_as_their_own_plans_before_a_programme_stay_commercial():
    text = "This policy applies to HMO and PPO plans and to Golden Oaks Medicare Advantage plans.\n\n" + POLICY
    assert only(text) == ["commercial", "medicare_advantage"]


def test_a_programme_that_follows_another_bodys_criteria_is_excluded():
    text = (
        POLICY + "\nRiverbend Medicaid (wrap-around benefits) follows the state agency's criteria, not this policy.\n"
    )
    assert excluded(text) == ["medicaid"]


def test_part_of_a_programme_the_policy_applies_to_following_its_own_criteria_keeps_the_programme():
    text = (
        "This policy applies to Medicaid fee-for-service members. Members of a Medicaid managed care plan "
        "follow their plan's criteria.\n\n" + POLICY
    )
    assert (only(text), excluded(text)) == (["medicaid"], [])


def test_a_programme_named_before_the_following_criteria_is_not_excluded():
    text = "Covered by Medicaid\nKnee bracing is medically necessary when all of the following criteria are met:\n"
    assert excluded(text) == []


def test_all_products_except_a_plan_excludes_it_without_naming_lines_applied():
    text = "Products All Riverbend products except Riverbend Medicaid (Oaks Care)\n\n" + POLICY
    assert (only(text), excluded(text)) == ([], ["medicaid"])


def test_a_position_that_remains_in_force_is_stated():
    text = POLICY + "\nWhat is not changing\n- Heated knee sleeves remain investigational, as none is cleared.\n"
    assert ("investigational", "Heated knee sleeves") in positions(text)


def test_an_outcome_if_met_label_states_a_position_with_criteria():
    text = (
        "STEP 1 Rental of a knee walker\n"
        "Outcome if met: MEDICALLY NECESSARY (approve rental)\n"
        "Outcome if not met: send to a physician reviewer\n"
        "[ALL] Step 1\n"
        " +-- [ ] 1\tMember is 12 years of age or older\n"
        " +-- [ ] 2\tMember cannot bear weight on one foot\n"
    )
    assert positions(text) == [("medically_necessary_with_criteria", "STEP 1 Rental of a knee walker")]


def test_an_outcome_label_restated_by_the_sentence_below_it_is_one_position():
    text = (
        "STEP 2 Purchase after the rental\n"
        "Outcome if met: MEDICALLY NECESSARY (approve purchase)\n"
        "-----------------------------------\n"
        "Purchase is medically necessary when the walker was used on most days of the rental.\n"
    )
    assert [p for p, _ in positions(text)] == ["medically_necessary_with_criteria"]


def test_an_outcome_if_not_met_label_states_no_position():
    text = "STEP 3 Rental of a knee walker\nOutcome if not met: MEDICALLY NECESSARY review by a physician\n"
    assert positions(text) == []


def test_a_sentence_naming_its_code_in_brackets_under_a_code_list_still_states_a_position():
    text = (
        POLICY
        + "\nCoding\nCPT 29000 Application of a knee splint, long leg\n"
        + "Bracing of a knee without instability (M25.361) is not medically necessary.\n"
    )
    assert ("not_medically_necessary", "Bracing of a knee without instability (M25.361)") in positions(text)


def test_all_criteria_must_be_met_states_a_position_where_none_is_named():
    text = (
        "What is changing\nAll of the criteria in the right-hand column must be met.\n"
        "#\tOld criteria\tNew criteria\n1\tAge 16 or older\tThe member is 18 years of age or older\n"
    )
    result = extract_document(text.encode(), file="p.txt")
    stated = [(f.value["position"], f.confidence) for f in result.many("positions")]
    assert stated == [("medically_necessary_with_criteria", 0.6)]


def test_all_criteria_must_be_met_adds_nothing_beside_a_stated_position():
    text = POLICY + "\nAll of the criteria above must be met.\n"
    assert [p for p, _ in positions(text)] == ["medically_necessary_with_criteria"]


def test_a_not_for_label_excludes_the_plans_it_names():
    text = "Plans: Brookvale commercial plans\nNot for: Brookvale Senior Choice (Medicare Advantage)\n\n" + POLICY
    assert excluded(text) == ["medicare_advantage"]


def test_a_not_for_label_goes_on_to_a_line_opening_on_and():
    text = "Not for: Brookvale Golden (Medicare Advantage) members\nand Brookvale Medicaid members.\n\n" + POLICY
    assert excluded(text) == ["medicaid", "medicare_advantage"]


def test_plan_members_told_to_refer_elsewhere_after_a_semicolon_are_excluded():
    text = POLICY + "\nThe policy is silent for Brookvale Medicaid members; refer to the state manual.\n"
    assert excluded(text) == ["medicaid"]


def test_a_field_list_applies_to_label_goes_on_to_its_indented_continuation_line():
    text = (
        ":Applies to: Brookvale employer plans (commercial);\n"
        "             Brookvale Young Ones (CHIP)\n"
        ":Not applicable: Brookvale Golden (Medicare Advantage)\n\n" + POLICY
    )
    assert (only(text), excluded(text)) == (["chip", "commercial"], ["medicare_advantage"])


def test_a_plan_on_the_line_above_a_not_applicable_label_is_not_excluded():
    text = ":Applies to: Brookvale Young Ones (CHIP)\n:Not applicable: none\n\n" + POLICY
    assert (only(text), excluded(text)) == (["chip"], [])


def test_property_names_joined_by_underscores_apply_and_exclude():
    text = (
        "  :PROPERTIES:\n"
        "  :APPLIES_TO:\tBrookvale commercial plans; Brookvale Solo (ACA exchange)\n"
        "  :DOES_NOT_APPLY_TO: Brookvale Golden (Medicare Advantage)\n"
        "  :END:\n\n" + POLICY
    )
    assert (only(text), excluded(text)) == (["commercial", "exchange"], ["medicare_advantage"])


def test_a_group_plan_with_employer_in_brackets_is_commercial():
    text = "This policy applies to Brookvale Group (employer) plans.\n\n" + POLICY
    assert only(text) == ["commercial"]


def test_a_requirements_grid_by_code_names_the_lines_of_its_product_columns():
    text = (
        "CPT\tDescription\tCommercial\tMedicare Advantage\n"
        "97110\tTherapeutic exercise, each 15 minutes\tPA\tNO PA\n"
        "97112\tNeuromuscular reeducation, each 15 minutes\tNO PA\tPA\n\n" + POLICY
    )
    assert only(text) == ["commercial", "medicare_advantage"]


def test_a_table_with_one_product_column_names_no_lines():
    text = "CPT\tDescription\tCommercial\n97110\tTherapeutic exercise\tPA\n\n" + POLICY
    assert only(text) == []


def test_a_position_kept_only_while_a_condition_holds_has_criteria():
    text = "Policy\n\nRenting a cold therapy pump is medically necessary only while swelling keeps going down.\n"
    assert [p for p, _ in positions(text)] == ["medically_necessary_with_criteria"]


def test_statements_quoted_under_an_original_message_header_are_not_positions():
    text = (
        "Hello all,\n\n" + POLICY + "\nThanks\n-----Original Message-----\nFrom: Policy Desk\n"
        "Heated knee sleeves are considered investigational.\n"
    )
    assert [p for p, _ in positions(text)] == ["medically_necessary_with_criteria"]


def test_a_forwarded_message_with_no_positions_above_it_keeps_the_quoted_positions():
    text = "Please see below.\n-----Original Message-----\nFrom: Policy Desk\n\n" + POLICY
    assert [p for p, _ in positions(text)] == ["medically_necessary_with_criteria"]


def test_a_filled_plain_text_line_wraps_onto_a_line_opening_on_a_name():
    text = (
        "Policy\n\n"
        "Brookvale considers a knee walker medically necessary after surgery for suspected\n"
        "Lisfranc injury of the foot when all of the following criteria are met:\n"
        "1. Age 18 years or older\n"
        "2. Non-weight-bearing ordered\n"
    )
    stated = extract_document(text.encode(), file="p.txt").many("positions")
    assert [f.source.text.split("\n")[-1][:8] for f in stated] == ["Lisfranc"]


def test_an_item_does_not_wrap_onto_an_underlined_title():
    text = (
        "Policy\n\n"
        "Knee walkers are medically necessary when all of the following are met:\n"
        "  - Non-weight-bearing was ordered by the surgeon after the operation on the foot\n"
        "Walkers after an ankle fracture considered\n"
        "------------------------------------------\n"
        "Knee walkers are considered investigational for ankle sprains.\n"
    )
    assert [p for p, _ in positions(text)] == ["medically_necessary_with_criteria", "investigational"]


def test_plans_named_only_in_the_quoted_original_message_are_not_read():
    text = (
        "Plans: Brookvale commercial plans\n\n" + POLICY + "\n-----Original Message-----\nFrom: Policy Desk\n"
        "Plans: Brookvale commercial plans and Brookvale Medicaid\n"
    )
    assert only(text) == ["commercial"]


def test_a_quoted_position_closed_by_its_full_stop_does_not_run_into_the_next_row():
    text = (
        'POSITION,A1,,,,"Acme Health considers lumbar disc replacement with an approved device medically necessary '
        'when criteria K1 through K4 below are met."\n'
        'POSITION,A2,,,,"Lumbar disc replacement is considered investigational for multilevel disease."\n'
    )
    found = [f.value["position"] for f in extract_document(text.encode(), file="export.txt").many("positions")]
    assert found == ["medically_necessary_with_criteria", "investigational"]


def test_a_full_stop_inside_a_number_does_not_end_a_does_not_apply_statement():
    text = (
        "This policy does not apply to Golden Oaks (Medicare Advantage) members, who follow NCD 99.41, or to\n"
        "Federal Employee Program members.\n\n" + POLICY
    )
    assert excluded(text) == ["fep", "medicare_advantage"]


def test_an_applies_value_under_a_plan_name_applies_the_kind_it_names():
    text = "Plans\nRiverbend Select\nApplies (individual plans bought on the exchange)\n\n" + POLICY
    assert (only(text), excluded(text)) == (["exchange"], [])


def test_a_does_not_apply_value_under_a_plan_name_excludes_the_plan():
    text = "Plans\nRiverbend Family\nDoes not apply. Medicaid members are reviewed by the state.\n\n" + POLICY
    assert (only(text), excluded(text)) == ([], ["medicaid"])


def test_a_does_not_apply_value_naming_no_kind_excludes_the_kind_the_plan_name_carries():
    text = "Plans\nRiverbend Senior Medicare\nDoes not apply\n\n" + POLICY
    assert excluded(text) == ["medicare_advantage"]


def test_an_applies_value_in_the_cell_beside_a_plan_name_applies_it():
    text = "Plan\tStatus\nRiverbend Choice PPO\tApplies\n\n" + POLICY
    assert only(text) == ["commercial"]


def test_an_applies_to_statement_is_not_read_as_a_status_value():
    text = "Riverbend Senior Medicare\nApplies to all requests received after the first of the month.\n\n" + POLICY
    assert (only(text), excluded(text)) == ([], [])


def test_ticks_and_crosses_after_plan_names_apply_and_exclude():
    text = (
        "Lines of business: Commercial ✓  Individual exchange ✓  Medicaid ✗  (✓ applies, ✗ does not apply)\n\n" + POLICY
    )
    assert (only(text), excluded(text)) == (["commercial", "exchange"], ["medicaid"])


def test_ticks_and_crosses_before_plan_names_apply_and_exclude():
    text = "Lines of business: ✓ Commercial  ✗ Medicare Advantage  ✓ Medicaid\n\n" + POLICY
    assert (only(text), excluded(text)) == (["commercial", "medicaid"], ["medicare_advantage"])


def test_a_not_in_scope_label_alone_on_its_line_excludes_the_next_line():
    text = "Lines of business\nCommercial\nNot in scope\nRiverbend Kids (CHIP)\n\n" + POLICY
    assert (only(text), excluded(text)) == (["commercial"], ["chip"])


BOX_TABLE = """┌──────────────────┬──────────────────────────────────┐
│ Policy           │ KN-101 Knee bracing              │
├──────────────────┼──────────────────────────────────┤
│ Plans            │ Riverbend Group (employer PPO);  │
│                  │ Riverbend Solo (ACA exchange)    │
├──────────────────┼──────────────────────────────────┤
│ Not applicable to│ Golden Oaks Medicare Advantage;  │
│                  │ Federal Employee Program         │
└──────────────────┴──────────────────────────────────┘
"""


def test_a_drawn_table_row_with_an_empty_label_cell_continues_the_plans_value():
    assert only(BOX_TABLE + "\n" + POLICY) == ["commercial", "exchange"]


def test_a_plan_name_wrapped_over_drawn_table_rows_is_read_whole():
    wrapped = BOX_TABLE.replace("Medicare Advantage;  │", "Federal           │").replace(
        "Federal Employee Program         │", "Employee Program                 │"
    )
    assert excluded(wrapped + "\n" + POLICY) == ["fep"]


def test_a_verb_in_a_clause_narrowing_a_noun_states_no_position():
    text = POLICY + "\nSection 88 of the Act allows payment for services that are reasonable and necessary.\n"
    assert [p for p, _ in positions(text)] == ["medically_necessary_with_criteria"]


def test_a_clause_after_a_comma_states_the_position_of_its_noun():
    text = POLICY + "\nNot covered:\n1. Bracing of the elbow in the same session, which is investigational.\n"
    assert [p for p, _ in positions(text)] == ["medically_necessary_with_criteria", "investigational"]


def test_not_covered_under_this_policy_with_no_reason_is_no_position():
    text = POLICY + "\nSoft sleeves without hinges are not covered under this policy.\n"
    assert [p for p, _ in positions(text)] == ["medically_necessary_with_criteria"]


def test_a_remark_sending_the_reader_to_the_policy_statement_is_no_position():
    text = POLICY + "\nKnee braces with heating elements are considered investigational.\n\nDevices\n\n"
    text += "The Warmwrap brace and the flexheat sleeve are investigational (see Policy).\n"
    assert [p for p, _ in positions(text)] == ["medically_necessary_with_criteria", "investigational"]


def test_a_paragraph_line_taken_for_a_title_still_states_its_position():
    text = (
        "Coverage\n"
        "    Riverbend considers a hinged knee brace medically\n"
        "    necessary when all of the following are met:\n"
        "        The member is 18 years of age or older.\n"
        "        Ligament instability is found on examination.\n"
        "\n"
        "    Revision of a worn brace is considered\n"
        "    medically necessary for breakage of the frame.\n"
        "\n"
        "    Braces for knee pain alone are not medically\n"
        "    necessary.\n"
    )
    assert [p for p, _ in positions(text)] == [
        "medically_necessary_with_criteria",
        "medically_necessary",
        "not_medically_necessary",
    ]
