"""Criteria lists become a nested tree; leaves become fact tests or documented-review criteria."""

from __future__ import annotations

from policies_app.importing import extract_document
from policies_app.importing.facts import map_fact
from tests.policies_app.importing.conftest import CATALOGUE

NESTED = """Policy

Fusion is considered medically necessary when ALL of the following criteria are met:
  1. Age 18 years or older; and
  2. At least 3 of the following provocation tests:
     a. Thigh thrust test;
     b. Compression test;
     c. Distraction test;
     d. Sacral thrust test; and
  3. ANY of the following:
     a. Body mass index (BMI) of 40 kg/m2 or greater;
     b. HbA1c less than 8.0 percent;
  4. Failure of at least 6 weeks of conservative care,
     including physical therapy.

Other text.
"""


def tree(text: str = NESTED):
    return extract_document(text.encode(), file="p.txt", catalogue=CATALOGUE).criteria


def test_all_of_list_becomes_an_all_of_group():
    (root,) = tree()
    assert (root.node_type, len(root.children)) == ("all_of", 4)


def test_at_least_n_of_the_following_keeps_n():
    group = tree()[0].children[1]
    assert (group.node_type, group.min_met, len(group.children)) == ("at_least", 3, 4)


def test_any_of_the_following_nests_under_its_item():
    group = tree()[0].children[2]
    assert group.node_type == "any_of"
    assert [child.label for child in group.children] == [
        "Body mass index (BMI) of 40 kg/m2 or greater",
        "HbA1c less than 8.0 percent",
    ]


def test_a_wrapped_item_is_one_criterion():
    leaf = tree()[0].children[3]
    assert leaf.label == "Failure of at least 6 weeks of conservative care, including physical therapy"


def test_the_list_ends_at_the_first_paragraph_after_it():
    labels = [leaf.label for leaf in tree()[0].leaves()]
    assert "Other text." not in labels and len(labels) == 8


def test_a_leaf_that_states_a_fact_becomes_its_test():
    age = tree()[0].children[0]
    assert (age.node_type, age.fact, age.operator, age.value) == ("leaf", "member_age", "gte", 18)


def test_a_leaf_no_fact_states_becomes_a_documented_criterion():
    test = tree()[0].children[1].children[0]
    assert (test.node_type, test.fact, test.label) == ("documented", None, "Thigh thrust test")


def test_every_node_carries_its_source_span():
    result = extract_document(NESTED.encode(), file="p.txt", catalogue=CATALOGUE)
    for node in result.criteria[0].leaves():
        assert result.text[node.source.start : node.source.end].startswith(node.label[:10])


def test_unit_decides_between_facts_with_similar_words():
    assert map_fact("BMI of 35 kg/m2 or greater", CATALOGUE)[:3] == ("bmi", "gte", 35)


def test_weeks_of_conservative_therapy_is_read_with_its_comparison():
    assert map_fact("Failure of at least 12 weeks of conservative therapy", CATALOGUE)[:3] == (
        "conservative_therapy_weeks",
        "gte",
        12,
    )


def test_months_are_converted_to_the_weeks_the_fact_is_kept_in():
    test = map_fact("At least 6 months of conservative therapy has failed", CATALOGUE)
    assert test is not None and test[:3] == ("conservative_therapy_weeks", "gte", 26) and test[3] < 0.8


def test_an_angle_is_mapped_to_the_angle_fact():
    assert map_fact("Cobb angle of 45 degrees or greater", CATALOGUE)[:3] == ("cobb_angle_degrees", "gte", 45)


def test_a_lab_value_with_a_less_than_comparison():
    assert map_fact("HbA1c less than 8.0 percent in members with diabetes", CATALOGUE)[:3] == ("hba1c_percent", "lt", 8)


def test_a_negated_yes_no_fact_tests_for_no():
    assert map_fact("The member is not a current tobacco smoker", CATALOGUE)[:3] == ("current_smoker", "is_false", None)


def test_diagnosis_codes_in_a_criterion_become_a_diagnosis_test():
    test = map_fact("Diagnosis of lumbar spinal stenosis (M48.061, M48.062)", CATALOGUE)
    assert test is not None and test[:3] == ("diagnosis_codes", "any_in", ["M48.061", "M48.062"])


def test_a_number_with_the_right_unit_but_another_subject_is_not_mapped():
    assert map_fact("Radicular pain or neurogenic claudication for at least 4 weeks", CATALOGUE) is None


def test_a_criterion_joining_another_condition_stays_documented():
    assert map_fact("Age 40 years or younger, or no more than mild osteoarthritis on imaging", CATALOGUE) is None
    assert map_fact("BMI of 35 kg/m2 or greater with at least one obesity-related comorbidity", CATALOGUE) is None


def test_an_html_list_nests_by_its_markup():
    html = (
        b"<h2>Criteria</h2><p>It is medically necessary when meeting all of the following:</p>"
        b"<ol type='I'><li>Age 18 years or older;</li><li>Either of the following:<ol type='a'>"
        b"<li>CPAP use under 4 hours per night;</li><li>The member refused CPAP;</li></ol></li>"
        b"<li>No complete concentric collapse.</li></ol>"
    )
    (root,) = extract_document(html, file="p.html", catalogue=CATALOGUE).criteria
    assert [child.node_type for child in root.children] == ["leaf", "any_of", "documented"]
    assert len(root.children[1].children) == 2
