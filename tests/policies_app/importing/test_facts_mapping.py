"""How a criterion's words become a catalogue fact's test: treatments named by what they are, tests
confined to one option, two measures in one criterion, and diagnoses the codes do not fully state."""

from __future__ import annotations

from policies_app.importing.facts import map_fact
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
