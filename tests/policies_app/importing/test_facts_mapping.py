"""How a criterion's words become a catalogue fact's test: treatments named by what they are, tests
confined to one option, two measures in one criterion, and diagnoses the codes do not fully state."""

from __future__ import annotations

from policies_app.importing.facts import FactSpec, map_fact
from tests.policies_app.importing.conftest import CATALOGUE


def test_a_treatment_named_by_a_therapy_word_times_the_therapy():
    found = map_fact("The member has had at least 10 weeks of supervised hydrotherapy", CATALOGUE)
    assert found is not None and found[:3] == ("conservative_therapy_weeks", "gte", 10)


def test_a_treatment_named_by_a_phoresis_word_times_the_therapy():
    found = map_fact("Six weeks or more of home iontophoresis sessions", CATALOGUE)
    assert found is not None and found[:3] == ("conservative_therapy_weeks", "gte", 6)


def test_a_bracket_of_examples_adds_no_condition():
    found = map_fact("At least 6 weeks of splinting (for example, with a night splint or a thumb brace)", CATALOGUE)
    assert found is not None and found[:3] == ("conservative_therapy_weeks", "gte", 6)


def test_a_bracket_that_states_another_condition_still_joins_it():
    text = "Skeletal maturity (age 16 or older for girls, or closed growth plates on imaging)"
    assert map_fact(text, CATALOGUE) is None


def test_a_count_of_sessions_is_no_time_of_therapy():
    assert map_fact("Failure of at least 12 sessions of physical therapy", CATALOGUE) is None


def test_a_test_for_one_option_only_is_no_fact_test():
    assert map_fact("For the laser option only, the member is 21 years of age or older", CATALOGUE) is None


def test_a_test_that_applies_only_if_an_option_is_chosen_is_no_fact_test():
    assert map_fact("The member is 16 years of age or older if the implant is chosen", CATALOGUE) is None


def test_a_test_of_the_whole_request_still_maps_beside_an_option_named_elsewhere():
    found = map_fact("The member is 16 years of age or older", CATALOGUE)
    assert found is not None and found[:3] == ("member_age", "gte", 16)


def test_two_thresholds_in_different_units_are_two_tests_one_fact_cannot_hold():
    text = "A resting oxygen saturation of 88% or lower and at least 8 weeks of inhaler therapy"
    assert map_fact(text, CATALOGUE) is None


def test_two_times_of_one_kind_are_no_second_measure():
    found = map_fact("At least 3 months of conservative therapy, including at least 6 weeks of bracing", CATALOGUE)
    assert found is not None and found[:2] == ("conservative_therapy_weeks", "gte")


def test_a_relative_clause_after_the_codes_asks_more_than_the_diagnosis():
    text = "The member has chronic plaque psoriasis (L40.0) that covers both palms"
    assert map_fact(text, CATALOGUE) is None


def test_a_phrase_placing_the_diagnosis_after_its_codes_keeps_the_codes():
    found = map_fact("The member has chronic plaque psoriasis (L40.0) of the scalp", CATALOGUE)
    assert found is not None and found[:3] == ("diagnosis_codes", "any_in", ["L40.0"])


def test_a_bracketed_quantity_specifies_the_treatment_and_is_no_second_test():
    text = "At least 10 weeks of compression garments (30 mm Hg or more) without relief"
    found = map_fact(text, CATALOGUE)
    assert found is not None and found[:3] == ("conservative_therapy_weeks", "gte", 10)


def test_only_when_describing_a_symptom_confines_no_test():
    found = map_fact("Leg pain only when standing, present for at least 6 months", CATALOGUE)
    assert found is not None and found[:3] == ("symptom_duration_months", "gte", 6)


def test_a_treatment_named_in_the_singular_is_the_treatment_tried():
    found = map_fact("The member followed a home exercise plan for at least 8 weeks without relief", CATALOGUE)
    assert found is not None and found[:3] == ("conservative_therapy_weeks", "gte", 8)


def test_a_test_narrowing_a_diagnosis_named_before_with_is_two_conditions():
    assert map_fact("Chronic kidney disease with a BMI of 32 kg/m2 or less", CATALOGUE) is None


def test_a_test_set_off_by_a_comma_after_with_restates_the_condition():
    found = map_fact("Severe obesity, with a BMI of 45 kg/m2 or more", CATALOGUE)
    assert found is not None and found[:3] == ("bmi", "gte", 45)


def test_whom_a_with_clause_is_about_is_no_second_condition():
    found = map_fact("Adults with a body mass index of 40 kg/m2 or more", CATALOGUE)
    assert found is not None and found[:3] == ("bmi", "gte", 40)


def test_a_leaf_qualifying_its_parents_noun_before_a_test_is_two_conditions():
    assert map_fact("of hepatic origin, with an HbA1c of 8% or higher on the latest test", CATALOGUE) is None


def test_a_second_predicate_joined_by_and_is_a_second_condition():
    text = "The member is 12 years of age or older and has completed growth of the jaw"
    assert map_fact(text, CATALOGUE) is None


def test_and_inside_one_predicate_keeps_the_test():
    found = map_fact("Knee pain and stiffness present for at least 4 months", CATALOGUE)
    assert found is not None and found[:3] == ("symptom_duration_months", "gte", 4)


def test_a_participle_clause_after_the_codes_asks_for_a_proof():
    text = "Chronic pancreatitis (K86.0, K86.1) confirmed by endoscopic ultrasound"
    assert map_fact(text, CATALOGUE) is None


def test_codes_of_an_example_do_not_state_the_diagnosis():
    text = "A movement disorder that limits walking, such as essential tremor (G25.0)"
    assert map_fact(text, CATALOGUE) is None


def test_codes_naming_the_diagnosis_itself_still_map():
    found = map_fact("Chronic pancreatitis (K86.0, K86.1)", CATALOGUE)
    assert found is not None and found[:3] == ("diagnosis_codes", "any_in", ["K86.0", "K86.1"])


def test_a_bmi_unit_that_lost_its_superscript_is_still_the_bmi_unit():
    found = map_fact("Body mass index is 38 kg/m or less", CATALOGUE)
    assert found is not None and found[:3] == ("bmi", "lte", 38)


def test_a_second_predicate_saying_the_treatment_did_not_work_keeps_the_test():
    found = map_fact("The member has had at least 5 weeks of bracing and has not improved", CATALOGUE)
    assert found is not None and found[:3] == ("conservative_therapy_weeks", "gte", 5)


def test_a_participle_placing_the_diagnosis_after_its_codes_keeps_the_codes():
    found = map_fact("A pressure ulcer (L89.614) located on the right heel", CATALOGUE)
    assert found is not None and found[:3] == ("diagnosis_codes", "any_in", ["L89.614"])


def test_whom_presenting_with_a_test_is_no_second_condition():
    found = map_fact("The member presents with a body mass index of 42 kg/m2 or more", CATALOGUE)
    assert found is not None and found[:3] == ("bmi", "gte", 42)


def test_no_improvement_after_a_time_of_a_treatment_times_a_failed_therapy():
    found = map_fact("No improvement after at least 5 weeks of an oral antihistamine", CATALOGUE)
    assert found is not None and found[:3] == ("conservative_therapy_weeks", "gte", 5)


def test_symptoms_persisting_after_a_time_of_a_treatment_time_a_failed_therapy():
    found = map_fact("Symptoms persist after 9 weeks of a leukotriene antagonist", CATALOGUE)
    assert found is not None and found[:3] == ("conservative_therapy_weeks", "gte", 9)


def test_a_time_after_which_nothing_failed_names_no_therapy():
    assert map_fact("Return to work after at least 6 weeks of leave", CATALOGUE) is None


def test_a_with_clause_naming_the_means_of_the_counted_therapy_adds_no_condition():
    found = map_fact("At least 7 weeks of drug therapy with an anti-inflammatory agent", CATALOGUE)
    assert found is not None and found[:3] == ("conservative_therapy_weeks", "gte", 7)


def test_a_with_clause_after_the_threshold_itself_still_adds_a_condition():
    assert map_fact("A body mass index of 36 kg/m2 or more with a sleep disorder", CATALOGUE) is None


def test_alternative_sites_after_the_codes_are_choices_the_codes_do_not_tell_apart():
    assert map_fact("Chronic hand eczema (L30.9) of the fingers, palms or wrists", CATALOGUE) is None


def test_an_alternative_diagnosis_after_the_codes_has_no_code_of_its_own():
    assert map_fact("Lichen planus (L43.9) or a similar rash", CATALOGUE) is None


def test_an_or_joining_the_codes_criterion_to_the_next_offers_no_choice():
    found = map_fact("Osteomalacia (M83.9); or", CATALOGUE)
    assert found is not None and found[:3] == ("diagnosis_codes", "any_in", ["M83.9"])


# A score kept in points, as an editor adds it beside the installed facts.
_SCORE = FactSpec("disability_index", "Neck Disability Index score", "number", "points")


def test_a_proof_stated_as_a_predicate_after_the_codes_asks_more_than_the_diagnosis():
    text = "Chronic sinusitis (J32.9) is confirmed by sinus imaging, with other causes ruled out"
    assert map_fact(text, CATALOGUE) is None


def test_a_condition_joined_by_and_straight_after_the_threshold_is_a_second_condition():
    assert map_fact("The member is 14 years of age or older and fully grown.", CATALOGUE) is None


def test_a_second_threshold_joined_by_and_states_a_range():
    assert map_fact("A body mass index of at least 32 kg/m2 and no more than 39 kg/m2", CATALOGUE) is None


def test_and_failed_straight_after_the_threshold_keeps_the_test():
    found = map_fact("A wrist splint was worn for at least 5 weeks and failed", CATALOGUE)
    assert found is not None and found[:3] == ("conservative_therapy_weeks", "gte", 5)


def test_a_symptom_that_has_lasted_a_time_states_its_duration():
    found = map_fact("Swelling of one or both ankles has lasted 4 months or longer", CATALOGUE)
    assert found is not None and found[:3] == ("symptom_duration_months", "gte", 4)


def test_a_symptom_lasting_a_time_states_its_duration():
    found = map_fact("Hoarseness lasting 5 months or longer", CATALOGUE)
    assert found is not None and found[:3] == ("symptom_duration_months", "gte", 5)


def test_how_long_relief_lasted_is_no_symptom_duration():
    assert map_fact("Relief lasting at least 4 months after the earlier block", CATALOGUE) is None


def test_how_long_the_member_has_been_abstinent_is_no_symptom_duration():
    assert map_fact("The member has been abstinent from opioids for at least 9 months", CATALOGUE) is None


def test_how_much_a_treatment_failed_by_is_no_second_measure():
    text = "The wound has failed to shrink by 40% or more after at least 5 weeks of offloading and dressings"
    found = map_fact(text, CATALOGUE)
    assert found is not None and found[:3] == ("conservative_therapy_weeks", "gte", 5)


def test_a_training_programme_tried_and_failed_times_the_therapy():
    text = "The member has tried and failed hip muscle strength training for at least 10 weeks."
    found = map_fact(text, CATALOGUE)
    assert found is not None and found[:3] == ("conservative_therapy_weeks", "gte", 10)


def test_no_greater_than_bounds_the_fact_from_above():
    found = map_fact("Body mass index no greater than 37 kg/m2", CATALOGUE)
    assert found is not None and found[:3] == ("bmi", "lte", 37)


def test_not_less_than_bounds_the_fact_from_below():
    found = map_fact("HbA1c not less than 6.5%", CATALOGUE)
    assert found is not None and found[:3] == ("hba1c_percent", "gte", 6.5)


def test_does_not_exceed_bounds_the_fact_from_above():
    found = map_fact("The HbA1c does not exceed 9.5%", CATALOGUE)
    assert found is not None and found[:3] == ("hba1c_percent", "lte", 9.5)


def test_failure_of_a_bare_time_of_therapy_states_its_least():
    found = map_fact("Failure of 7 weeks of nonsurgical management", CATALOGUE)
    assert found is not None and found[:3] == ("conservative_therapy_weeks", "gte", 7)


def test_a_failed_course_written_with_a_hyphen_states_its_least():
    found = map_fact("The member completed and failed a 9-week course of supervised exercise", CATALOGUE)
    assert found is not None and found[:3] == ("conservative_therapy_weeks", "gte", 9)


def test_symptoms_despite_a_time_of_therapy_time_a_failed_therapy():
    found = map_fact("Ongoing hip pain despite 10 weeks of physical therapy", CATALOGUE)
    assert found is not None and found[:3] == ("conservative_therapy_weeks", "gte", 10)


def test_a_score_in_points_written_as_a_percentage_is_the_same_number():
    found = map_fact("A Neck Disability Index score of at least 28%", [*CATALOGUE, _SCORE])
    assert found is not None and found[:3] == ("disability_index", "gte", 28)


def test_an_alternative_bound_without_a_number_lets_the_test_be_met_otherwise():
    text = "Age 16 years or older, or younger with fused growth plates on radiographs"
    assert map_fact(text, CATALOGUE) is None


def test_a_bare_and_closing_the_line_joins_the_next_criterion_and_keeps_the_test():
    found = map_fact("Age 70 years or older and ", CATALOGUE)
    assert found is not None and found[:3] == ("member_age", "gte", 70)
