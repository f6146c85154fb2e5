"""Identity, dates, positions, lines of business, codes, terms and the prior-authorization statement."""

from __future__ import annotations

from datetime import date

from policies_app.importing import extract_document
from policies_app.importing.terms import Term, TermIndex

HEADER = """Acme Health Plan
Medical Policy

Title: Sacroiliac Joint Fusion
Policy Number: MP-0815
Effective Date: 03/01/2025
Original Effective Date: June 15, 2016
Last Review Date: 11 February 2025

Policy

Sacroiliac joint fusion is considered medically necessary when ALL of the following are met:
1. Age 18 years or older
2. Imaging confirms the diagnosis
"""


def extract(text: str, **kwargs):
    return extract_document(text.encode(), file="policy.txt", **kwargs)


def test_every_field_points_to_its_source_in_the_normalized_text():
    result = extract(HEADER)
    for found in result.fields.values():
        for item in found if isinstance(found, list) else [found]:
            assert result.text[item.source.start : item.source.end] == item.source.text


def test_payer_is_taken_from_the_document():
    payer = extract(HEADER).one("payer")
    assert payer is not None and payer.value == "Acme Health Plan"


def test_payer_comes_from_the_editor_when_the_document_names_none():
    result = extract(HEADER.replace("Acme Health Plan\n", ""), payer="Given Plan")
    assert result.value("payer") == "Given Plan"


def test_payer_in_a_capitalised_letterhead_is_read_as_its_name():
    assert extract(HEADER.replace("Acme Health Plan", "ACME HEALTH PLAN")).value("payer") == "Acme Health Plan"


def test_number_and_title_come_from_their_labels():
    result = extract(HEADER)
    assert (result.value("number"), result.value("title")) == ("MP-0815", "Sacroiliac Joint Fusion")


def test_a_number_line_with_the_title_after_it_gives_both():
    result = extract(
        "07.01.89 Image-Guided Decompression\n\nRevised: July 2023\n\nPOLICY\n\nIt is considered investigational.\n"
    )
    assert (result.value("number"), result.value("title")) == ("07.01.89", "Image-Guided Decompression")


def test_labelled_dates_in_any_common_form_are_read():
    result = extract(HEADER)
    assert result.value("effective_start") == date(2025, 3, 1)
    assert result.value("original_effective") == date(2016, 6, 15)
    assert result.value("last_review") == date(2025, 2, 11)


def test_replaced_banner_ends_the_version_the_day_before():
    result = extract("This policy version was replaced on August 4, 2025.\n" + HEADER)
    assert result.value("effective_end") == date(2025, 8, 3)
    assert result.value("version_label") == "replaced-2025-08-04"


def test_a_later_revision_in_the_history_ends_this_version():
    text = HEADER + "\nPolicy History\n05/01/2025\tRevised\tCriteria changed\n03/01/2025\tNew\tCreated\n"
    result = extract(text)
    assert result.value("effective_end") == date(2025, 4, 30)
    assert result.one("effective_end").confidence < 0.8


def test_history_rows_keep_date_action_and_detail():
    text = HEADER + "\nPolicy History\n02/11/2025\tAnnual review\tNo change\n"
    rows = [row.value for row in extract(text).many("history")]
    assert rows == [{"date": date(2025, 2, 11), "action": "Annual review", "detail": "No change"}]


def test_revised_only_documents_take_effect_when_revised():
    result = extract("Revised: May 2024\n\nPOLICY\n\nCryoablation is considered investigational.\n")
    assert result.value("effective_start") == date(2024, 5, 1)
    assert result.value("version_label") == "2024-05"


def test_positions_are_read_per_indication():
    text = (
        "POLICY\n\nMILD is considered investigational for lumbar spinal stenosis.\n"
        "MILD is considered experimental/investigational for cervical stenosis.\n"
    )
    positions = [p.value for p in extract(text).many("positions")]
    assert positions == [
        {"position": "investigational", "indication": "lumbar spinal stenosis"},
        {"position": "experimental_investigational", "indication": "cervical stenosis"},
    ]


def test_not_medically_necessary_is_not_read_as_medically_necessary():
    positions = extract("POLICY\n\nLavage of the knee is considered not medically necessary.\n").many("positions")
    assert [p.value["position"] for p in positions] == ["not_medically_necessary"]


def test_a_carrier_that_considers_states_the_position_after_the_subject():
    text = "Policy\n\nMeridian considers open fusion experimental and investigational because it is unproven.\n"
    assert [p.value["position"] for p in extract(text).many("positions")] == ["experimental_investigational"]


def test_reasonable_and_necessary_when_criteria_are_met_is_the_criteria_position():
    text = "Coverage Indications\n\nAn injection is considered reasonable and necessary when ALL of the following are met:\n1. Age 18 years or older\n"
    assert [p.value["position"] for p in extract(text).many("positions")] == ["medically_necessary_with_criteria"]


def test_lines_of_business_the_policy_does_not_apply_to_are_listed():
    text = HEADER + "\nThis policy does not apply to Medicare Advantage or Medicaid members. It may not apply to FEP.\n"
    assert {f.value for f in extract(text).many("lines_of_business_excluded")} == {
        "medicare_advantage",
        "medicaid",
        "fep",
    }


def test_a_policy_that_applies_only_to_one_programme_says_so():
    text = HEADER + "\nThis policy applies to Acme Medicaid and CHIP members.\n"
    assert {f.value for f in extract(text).many("lines_of_business_only")} == {"medicaid", "chip"}


def test_code_ranges_are_kept_as_ranges_with_descriptions():
    text = (
        HEADER
        + "\nCodes\n\nCPT\n22869 - 22870\tInsertion of interspinous device\nHCPCS\nL8685 – L8688\tPulse generator\n"
    )
    codes = [c.value for c in extract(text).many("codes")]
    assert codes == [
        {"system": "CPT", "code": "22869", "code_end": "22870", "description": "Insertion of interspinous device"},
        {"system": "HCPCS", "code": "L8685", "code_end": "L8688", "description": "Pulse generator"},
    ]


def test_icd10cm_codes_are_read_with_their_descriptions():
    text = HEADER + "\nICD-10 Codes\n\nM53.2X8\tSpinal instabilities, sacral region\n"
    codes = [c.value for c in extract(text).many("codes")]
    assert codes == [
        {"system": "ICD10CM", "code": "M53.2X8", "code_end": "", "description": "Spinal instabilities, sacral region"}
    ]


def test_a_code_that_does_not_exist_is_left_out_and_reported():
    result = extract(HEADER + "\nCodes\n\nICD-10-CM\nM99.999\tNo such diagnosis\n")
    assert result.many("codes") == []
    assert any("M99.999" in error for error in result.errors)


def test_devices_in_a_list_are_found_with_or_without_signs_and_in_any_case():
    text = (
        HEADER
        + "\nDescription\n\nExamples include the iFuse Implant System, the Rialto™ SI Fusion System and the aura6000 system.\n"
    )
    names = {t.value["name"]: t.value["short"] for t in extract(text).many("terms") if t.value["kind"] == "device"}
    assert names == {
        "iFuse Implant System": "iFuse",
        "Rialto SI Fusion System": "Rialto SI Fusion",
        "aura6000 system": "aura6000",
    }


def test_devices_after_but_are_not_limited_to_are_found():
    text = "Other systems include but are not limited to the BioFlex® System and Isobar™ Spinal System.\nIt is considered investigational.\n"
    names = {t.value["short"] for t in extract(text).many("terms") if t.value["kind"] == "device"}
    assert names == {"BioFlex", "Isobar"}


def test_a_list_of_ordinary_words_is_not_taken_for_devices():
    text = HEADER + "\nSymptoms such as locking or catching of the knee are common.\n"
    assert [t for t in extract(text).many("terms") if t.value["kind"] == "device"] == []


def test_a_lower_case_trademarked_brand_is_qualified_by_its_noun():
    text = "Description\n\nSurgical tools (mild®) are used in the mild® procedure.\n\nPOLICY\n\nIt is considered investigational.\n"
    names = [t.value["name"] for t in extract(text).many("terms")]
    assert "mild procedure" in names and "mild" not in names


def test_term_index_finds_a_device_by_the_short_name_people_write():
    index = TermIndex([Term("Dynesys Dynamic Stabilization System", "Dynesys", "device")])
    assert [term.short for term, _ in index.match("Plan: L4-5 dynesys stabilisation")] == ["Dynesys"]


def test_term_index_does_not_match_unrelated_words():
    index = TermIndex([Term("Superion Indirect Decompression System", "Superion", "device")])
    assert index.match("superior endplate changes at L4") == []


def test_prior_authorization_statement_suggests_a_requirement():
    prior = extract(HEADER + "\nPrior authorization is required for sacroiliac joint fusion.\n").one(
        "prior_authorization"
    )
    assert prior is not None and prior.value["requirement"] == "required"


def test_prior_approval_section_not_applicable_means_not_required():
    prior = extract(HEADER + "\nPRIOR APPROVAL\n\nNot applicable.\n").one("prior_authorization")
    assert prior is not None and prior.value == {"statement": "Not applicable.", "requirement": "not_required"}


def test_a_document_with_no_position_codes_or_criteria_is_an_unknown_format():
    result = extract(
        "Acme Health Plan Coverage Bulletin\n\nKnee braces are covered when a physician prescribes them.\n"
    )
    assert result.errors and result.errors[0].startswith("unknown format")
