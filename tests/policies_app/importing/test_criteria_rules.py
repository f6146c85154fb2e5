"""How payers nest criteria and state their thresholds: the rules that turn them into groups and fact tests."""

from __future__ import annotations

from policies_app.importing import extract_document
from policies_app.importing.facts import FactSpec, map_fact
from tests.policies_app.importing.conftest import CATALOGUE

FACTS = [*CATALOGUE, FactSpec("prior_spine_surgery", "Prior surgery at the same level", "boolean", "")]


def tree(text: str):
    return extract_document(text.encode(), file="p.txt", catalogue=FACTS).criteria


def test_age_without_years_is_read_as_the_members_age():
    assert map_fact("Age 21 or older", FACTS)[:3] == ("member_age", "gte", 21)


def test_aged_and_over_is_read_as_at_least():
    assert map_fact("Aged 65 and over", FACTS)[:3] == ("member_age", "gte", 65)


def test_younger_than_is_read_as_less_than_in_years():
    assert map_fact("The member is younger than 19", FACTS)[:3] == ("member_age", "lt", 19)


def test_the_age_at_an_event_is_no_test_of_the_members_age():
    assert map_fact("Diagnosed at age 45 or younger", FACTS) is None


def test_a_lab_value_in_percent_written_out_maps_to_the_lab_fact():
    assert map_fact("HbA1c of 8.5 percent or higher", FACTS)[:3] == ("hba1c_percent", "gte", 8.5)


def test_a_with_clause_that_states_the_test_is_not_a_second_condition():
    found = map_fact("Poorly controlled diabetes, with an HbA1c of 9 percent or higher", FACTS)
    assert found is not None and found[:3] == ("hba1c_percent", "gte", 9)


def test_a_with_clause_after_the_test_is_a_second_condition():
    assert map_fact("BMI of 40 kg/m2 or greater with at least two comorbidities", FACTS) is None


def test_an_angle_in_degrees_with_the_sign_maps_to_the_angle_fact():
    assert map_fact("Cobb angle of 50° or greater", FACTS)[:3] == ("cobb_angle_degrees", "gte", 50)


def test_months_of_therapy_are_converted_to_the_facts_weeks():
    assert map_fact("At least 3 months of failed conservative therapy", FACTS)[:3] == (
        "conservative_therapy_weeks",
        "gte",
        13,
    )


def test_an_imaging_finding_shown_on_mri_maps_to_the_imaging_fact():
    assert map_fact("MRI shows spinal stenosis at the symptomatic level", FACTS)[:2] == (
        "imaging_confirms_stenosis",
        "is_true",
    )


def test_a_named_operation_counts_as_prior_surgery():
    assert map_fact("No prior laminectomy at the same level", FACTS)[:2] == ("prior_spine_surgery", "is_false")


def test_two_forms_of_one_noun_joined_by_or_are_one_condition():
    found = map_fact("No prior arthrodesis or arthroplasty at the level or levels to be treated", FACTS)
    assert found is not None and found[:2] == ("prior_spine_surgery", "is_false")


def test_an_item_ending_meaning_either_is_an_any_of_group():
    (root,) = tree(
        "Policy\n\nCoverage applies when all of the following are met:\n"
        "  - The member has recurrent infections, meaning either:\n"
        "    - three or more courses of antibiotics in a year; or\n"
        "    - one hospital admission for an infection.\n"
        "  - The member is a non-smoker.\n"
    )
    group = root.children[0]
    assert (group.node_type, len(group.children)) == ("any_of", 2)


def test_numbering_that_restarts_under_an_announcing_item_is_nested():
    (root,) = tree(
        "Policy\n\nCoverage applies when all of the following are met:\n"
        "1. Age 18 years or older\n"
        "2. A diagnosis of chronic migraine\n"
        "3. Resistance to treatment, shown by one of the following:\n"
        "1. No response to two medications\n"
        "2. Intolerance of three medications\n"
        "4. No seizure disorder\n"
    )
    assert [c.node_type for c in root.children] == ["leaf", "documented", "any_of", "documented"]
    assert len(root.children[2].children) == 2


def test_an_announcing_item_takes_the_next_items_even_when_their_style_matches_its_own():
    (root,) = tree(
        "Policy\n\nCoverage applies when all of the following are met:\n"
        "- Pain for at least 6 months\n"
        "- One of the following:\n"
        "- Failed injections\n"
        "- Failed physical therapy\n"
    )
    assert len(root.children) == 2 and len(root.children[1].children) == 2


def test_a_spelled_out_number_with_its_unit_is_read_as_the_threshold():
    assert map_fact("At least six weeks of physical therapy", FACTS)[:3] == ("conservative_therapy_weeks", "gte", 6)


def test_a_number_written_in_words_and_digits_counts_once():
    assert map_fact("Symptoms for at least three (3) months", FACTS)[:3] == ("symptom_duration_months", "gte", 3)


def test_a_spelled_out_count_without_a_unit_states_no_threshold():
    assert map_fact("At least one episode of severe hypoglycemia", FACTS) is None


def test_a_measure_is_named_by_its_instruments_initials():
    facts = [*FACTS, FactSpec("oswestry_disability_index", "Oswestry Disability Index score", "number", "points")]
    assert map_fact("ODI of 40 or more", facts)[:3] == ("oswestry_disability_index", "gte", 40)


def test_a_non_compound_of_a_yes_no_facts_noun_denies_the_fact():
    assert map_fact("Non-smoker, or quit smoking at least 8 weeks before surgery", FACTS)[:2] == (
        "current_smoker",
        "is_false",
    )


def test_a_non_adjective_is_no_denial_of_a_yes_no_fact():
    assert map_fact("Non-surgical care has been tried", FACTS) is None


def test_a_duration_that_measures_another_thing_beside_the_fact_is_not_the_facts_test():
    assert map_fact("Symptomatic valve disease despite medical therapy for at least 3 months", FACTS) is None


def test_a_duration_beside_the_facts_words_is_the_facts_test():
    assert map_fact("Pain that has persisted for at least 3 months despite therapy", FACTS)[:3] == (
        "symptom_duration_months",
        "gte",
        3,
    )


def test_time_on_a_treatment_set_off_by_commas_is_no_duration_of_symptoms():
    assert map_fact("Using a nightly oral appliance, with follow-up by a dentist, for at least 4 months", FACTS) is None


def test_time_on_medications_is_no_duration_of_symptoms():
    assert map_fact("On two seizure medications for more than 6 months", FACTS) is None


def test_a_condition_lasting_a_time_set_off_by_commas_is_the_duration_of_symptoms():
    assert map_fact("Daily headaches, worse in the morning, for at least 3 months", FACTS)[:3] == (
        "symptom_duration_months",
        "gte",
        3,
    )


def test_previous_reads_as_prior_for_a_yes_no_fact():
    assert map_fact("No previous laminectomy at the level to be treated", FACTS)[:3] == (
        "prior_spine_surgery",
        "is_false",
        None,
    )


def test_a_yes_no_fact_is_not_read_from_a_criterion_that_never_names_its_subject():
    assert (
        map_fact("A repeat nerve block at the same level is not given within 3 months of the previous block", FACTS)
        is None
    )


def test_a_yes_no_fact_whose_key_ends_with_its_state_is_read_from_its_subject():
    facts = [FactSpec("claudication_present", "Neurogenic claudication present", "boolean", "")]
    assert map_fact("Walking brings on neurogenic claudication", facts)[:3] == ("claudication_present", "is_true", None)


def test_a_diagnosis_with_a_complication_named_by_its_closing_codes_maps_to_the_codes():
    found = map_fact("Type 2 diabetes with a foot ulcer (E11.621)", FACTS)
    assert found is not None and found[:3] == ("diagnosis_codes", "any_in", ["E11.621"])


def test_a_diagnosis_with_another_condition_after_its_codes_is_documented():
    assert map_fact("Type 2 diabetes (E11.9) with at least one prior amputation", FACTS) is None
