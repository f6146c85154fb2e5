"""The flagging engine over plain data: no database, no Django."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from policies_app.engine import (
    CriterionNode,
    FlagData,
    LineRequest,
    PolicyIndex,
    RequestData,
    Tri,
    VersionData,
    evaluate_criteria,
    evaluate_request,
    explain_criteria,
    request_facts,
)

DOS = date(2026, 3, 2)
COMMERCIAL = frozenset({"commercial", "exchange"})


def version(
    version_id: int = 1,
    *,
    policy_id: int | None = None,
    codes: tuple[tuple[str, str, str], ...] = (("CPT", "62330", "62330"),),
    terms: tuple[str, ...] = (),
    position: str = "investigational",
    start: date | None = date(2023, 7, 1),
    end: date | None = None,
    label: str = "2023-07",
    criteria: CriterionNode | None = None,
    lines_of_business: frozenset[str] = COMMERCIAL,
    number: str = "07.01.89",
) -> VersionData:
    return VersionData(
        version_id=version_id,
        policy_id=policy_id if policy_id is not None else version_id,
        payer="Test Plan",
        policy_number=number,
        policy_title="Test policy",
        version_label=label,
        effective_start=start,
        effective_end=end,
        coverage_position=position,
        statement="The statement.",
        lines_of_business=lines_of_business,
        codes=codes,
        terms=terms,
        criteria=criteria,
    )


def request(
    *codes: str,
    system: str = "CPT",
    day: date = DOS,
    lob: str = "commercial",
    notes: str = "",
    description: str = "",
    facts: dict[str, Any] | None = None,
    diagnoses: tuple[str, ...] = (),
    born: date | None = None,
) -> RequestData:
    return RequestData(
        line_of_business=lob,
        lines=tuple(
            LineRequest(sequence=i, code_system=system, code=code, date_of_service=day, description=description)
            for i, code in enumerate(codes or ("99213",), start=1)
        ),
        diagnosis_codes=diagnoses,
        facts=facts or {},
        member_birth_date=born,
        notes=notes,
    )


def flags_for(versions: list[VersionData], req: RequestData) -> list[FlagData]:
    return evaluate_request(PolicyIndex(versions), req)


def kinds(versions: list[VersionData], req: RequestData) -> list[str]:
    return [f.kind for f in flags_for(versions, req)]


def leaf(label: str, fact: str, operator: str, value: Any, fact_type: str = "integer") -> CriterionNode:
    return CriterionNode(node_type="leaf", label=label, fact=fact, fact_type=fact_type, operator=operator, value=value)


def group(node_type: str, *children: CriterionNode, min_met: int | None = None) -> CriterionNode:
    return CriterionNode(node_type=node_type, label=f"{node_type} group", children=children, min_met=min_met)


# Leaves whose result depends only on which of these facts the request sends.
MET = leaf("A is yes", "a", "is_true", None, "boolean")
NOT_MET = leaf("B is yes", "b", "is_true", None, "boolean")
UNKNOWN = leaf("C is yes", "c", "is_true", None, "boolean")
TRI_FACTS = {"a": True, "b": False}
BY_RESULT = {Tri.MET: MET, Tri.NOT_MET: NOT_MET, Tri.UNKNOWN: UNKNOWN}


# --- flag kinds -----------------------------------------------------------------------------


def test_investigational_position_flags_investigational_with_citation() -> None:
    [flag] = flags_for([version()], request("62330"))
    assert flag.kind == "investigational"
    assert flag.severity == "critical"
    assert "policy 07.01.89 (version 2023-07, effective 2023-07-01)" in flag.message
    assert flag.citation is not None
    assert flag.citation["policy_number"] == "07.01.89"
    assert flag.citation["version"] == "2023-07"
    assert flag.citation["effective_start"] == "2023-07-01"
    assert flag.citation["coverage_position"] == "investigational"
    assert flag.citation["criterion"] == "The statement."


def test_experimental_investigational_position_flags_investigational() -> None:
    [flag] = flags_for([version(position="experimental_investigational")], request("62330"))
    assert flag.kind == "investigational"
    assert flag.message.startswith("Experimental/investigational service per")
    assert flag.details["coverage_position"] == "experimental_investigational"


def test_not_medically_necessary_position_flags_not_medically_necessary() -> None:
    [flag] = flags_for([version(position="not_medically_necessary")], request("62330"))
    assert (flag.kind, flag.severity) == ("not_medically_necessary", "critical")


def test_cosmetic_position_flags_cosmetic() -> None:
    [flag] = flags_for([version(position="cosmetic")], request("62330"))
    assert (flag.kind, flag.severity) == ("cosmetic", "critical")


def test_medically_necessary_position_flags_medically_necessary() -> None:
    [flag] = flags_for([version(position="medically_necessary")], request("62330"))
    assert (flag.kind, flag.severity) == ("medically_necessary", "info")


def test_undetermined_position_flags_position_undetermined() -> None:
    [flag] = flags_for([version(position="undetermined")], request("62330"))
    assert (flag.kind, flag.severity) == ("position_undetermined", "warning")


def criteria_version(criteria: CriterionNode | None) -> VersionData:
    return version(position="medically_necessary_with_criteria", criteria=criteria)


AGE_AND_THERAPY = group(
    "all_of",
    leaf("Member is 50 or older", "member_age", "gte", 50),
    leaf("At least 12 weeks of failed conservative therapy", "conservative_therapy_weeks", "gte", 12),
)


def test_criteria_met_flags_may_approve() -> None:
    req = request("62330", born=date(1960, 5, 1), facts={"conservative_therapy_weeks": 14})
    [flag] = flags_for([criteria_version(AGE_AND_THERAPY)], req)
    assert (flag.kind, flag.severity) == ("criteria_met", "info")
    assert "may approve" in flag.message
    assert flag.details["result"] == "met"


def test_criteria_not_met_names_the_failed_criterion() -> None:
    req = request("62330", born=date(1960, 5, 1), facts={"conservative_therapy_weeks": 4})
    [flag] = flags_for([criteria_version(AGE_AND_THERAPY)], req)
    assert (flag.kind, flag.severity) == ("criteria_not_met", "critical")
    assert flag.criterion == "At least 12 weeks of failed conservative therapy"
    assert "Physician review required to deny" in flag.message
    assert flag.details["failed"] == ["At least 12 weeks of failed conservative therapy"]


def test_criteria_incomplete_lists_the_unknown_facts() -> None:
    [flag] = flags_for([criteria_version(AGE_AND_THERAPY)], request("62330"))
    assert (flag.kind, flag.severity) == ("criteria_incomplete", "warning")
    assert flag.details["unknown_facts"] == ["conservative_therapy_weeks", "member_age"]
    assert "documentation needed for conservative_therapy_weeks, member_age" in flag.message


def test_criteria_incomplete_leaves_out_unknown_facts_that_cannot_change_the_result() -> None:
    tree = group(
        "all_of",
        group("any_of", leaf("Age 50+", "member_age", "gte", 50), leaf("BMI under 40", "bmi", "lt", 40, "number")),
        leaf("12 weeks therapy", "conservative_therapy_weeks", "gte", 12),
    )
    [flag] = flags_for([criteria_version(tree)], request("62330", born=date(1960, 5, 1)))
    assert flag.kind == "criteria_incomplete"
    assert flag.details["unknown_facts"] == ["conservative_therapy_weeks"]


def test_criteria_position_without_criteria_is_incomplete() -> None:
    [flag] = flags_for([criteria_version(None)], request("62330"))
    assert flag.kind == "criteria_incomplete"
    assert flag.details["unknown_facts"] == []


def test_no_version_in_effect_when_the_date_of_service_is_outside_every_version() -> None:
    old = version(start=date(2020, 1, 1), end=date(2022, 12, 31))
    [flag] = flags_for([old], request("62330"))
    assert (flag.kind, flag.severity) == ("no_version_in_effect", "warning")
    assert flag.version is None
    assert flag.details["matched_by"] == "code"
    assert "2026-03-02" in flag.message


def test_line_of_business_excluded_replaces_the_position_flag() -> None:
    [flag] = flags_for([version()], request("62330", lob="medicare_advantage"))
    assert (flag.kind, flag.severity) == ("line_of_business_excluded", "info")
    assert "Medicare Advantage plans" in flag.message
    assert flag.citation is not None
    assert flag.citation["policy_number"] == "07.01.89"


def test_term_match_when_text_names_a_device_the_codes_do_not_cover() -> None:
    dynesys = version(codes=(), terms=("Dynesys",), position="experimental_investigational")
    assert kinds([dynesys], request("22612", notes="Plan: L4-5 Dynesys.")) == ["term_match", "investigational"]


def test_term_named_only_in_a_negated_mention_raises_no_flag() -> None:
    """Issue 17 section 6: "no Dynesys will be used" raises no investigational flag for Dynesys."""
    dynesys = version(codes=(), terms=("Dynesys",), position="experimental_investigational")
    assert kinds([dynesys], request("22612", notes="Plan: L4-5 decompression; no Dynesys will be used.")) == []


def test_term_match_is_not_raised_when_the_code_also_matches() -> None:
    both = version(terms=("mild procedure",))
    assert kinds([both], request("62330", notes="Patient asks about the mild procedure.")) == ["investigational"]


def test_no_flags_for_an_unrelated_code() -> None:
    assert flags_for([version()], request("99213")) == []


# --- codes and ranges -----------------------------------------------------------------------


def test_code_range_matches_a_code_inside_it() -> None:
    ranged = version(codes=(("CPT", "22867", "22870"),))
    assert kinds([ranged], request("22868")) == ["investigational"]


def test_code_range_does_not_match_the_code_after_it() -> None:
    ranged = version(codes=(("CPT", "22867", "22870"),))
    assert kinds([ranged], request("22871")) == []


def test_alphanumeric_range_matches_category_iii_codes() -> None:
    ranged = version(codes=(("CPT", "0274T", "0276T"),))
    assert kinds([ranged], request("0275T")) == ["investigational"]
    assert kinds([ranged], request("0277T")) == []


def test_wide_range_kept_unexpanded_still_matches() -> None:
    surgery = version(codes=(("CPT", "10004", "69990"),))
    index = PolicyIndex([surgery])
    assert [v.version_id for v in index.versions_for_code("CPT", "22612")] == [1]
    assert index.versions_for_code("CPT", "70010") == []


def test_wide_numeric_range_does_not_match_a_category_iii_code_by_string_order() -> None:
    surgery = version(codes=(("CPT", "10004", "69990"),))
    assert PolicyIndex([surgery]).versions_for_code("CPT", "1000T") == []


def test_icd10cm_range_with_ends_of_differing_length_flags_a_code_inside_it() -> None:
    diabetes = version(codes=(("ICD10CM", "E10.10", "E10.9"),))
    assert kinds([diabetes], request("E10.65", system="ICD10CM")) == ["investigational"]


def test_icd10cm_range_flags_a_seventh_character_code_under_its_last_code() -> None:
    fractures = version(codes=(("ICD10CM", "S32.0", "S32.2"),))
    assert kinds([fractures], request("S32.2XXA", system="ICD10CM")) == ["investigational"]


def test_icd10cm_range_does_not_flag_the_code_after_its_last_leaf() -> None:
    diabetes = version(codes=(("ICD10CM", "E10.10", "E10.9"),))
    assert kinds([diabetes], request("E10.A0", system="ICD10CM")) == []


def test_icd10cm_range_flags_a_code_written_without_its_dot() -> None:
    diabetes = version(codes=(("ICD10CM", "E10.10", "E10.9"),))
    assert kinds([diabetes], request("E1065", system="ICD10CM")) == ["investigational"]


def test_icd10cm_range_of_a_whole_chapter_is_kept_unexpanded_and_still_matches() -> None:
    musculoskeletal = version(codes=(("ICD10CM", "M00", "M99"),))
    index = PolicyIndex([musculoskeletal])
    assert [v.version_id for v in index.versions_for_code("ICD10CM", "M1A.0110")] == [1]
    assert index.versions_for_code("ICD10CM", "N00.0") == []


def test_icd10cm_subcategory_listed_alone_flags_the_codes_under_it() -> None:
    stenosis = version(codes=(("ICD10CM", "M48.06", "M48.06"),))
    assert kinds([stenosis], request("M48.062", system="ICD10CM")) == ["investigational"]
    assert kinds([stenosis], request("M48.07", system="ICD10CM")) == []


def test_icd10cm_billable_code_listed_alone_flags_only_itself() -> None:
    claudication = version(codes=(("ICD10CM", "M48.062", "M48.062"),))
    assert kinds([claudication], request("M48.061", system="ICD10CM")) == []


def test_code_matches_only_in_its_own_system() -> None:
    hcpcs = version(codes=(("HCPCS", "G0276", "G0276"),))
    assert kinds([hcpcs], request("G0276", system="HCPCS")) == ["investigational"]
    assert kinds([hcpcs], request("G0276", system="CPT")) == []


# --- versions in effect ---------------------------------------------------------------------


def two_versions(old_position: str = "investigational", new_position: str = "medically_necessary") -> list[VersionData]:
    return [
        version(1, policy_id=7, start=date(2022, 1, 1), end=date(2024, 6, 30), label="2022", position=old_position),
        version(2, policy_id=7, start=date(2024, 7, 1), end=None, label="2024", position=new_position),
    ]


def test_the_version_in_effect_on_the_date_of_service_is_used() -> None:
    [flag] = flags_for(two_versions(), request("62330", day=date(2023, 5, 1)))
    assert (flag.kind, flag.citation["version"] if flag.citation else None) == ("investigational", "2022")


def test_the_newer_version_is_used_after_its_start() -> None:
    [flag] = flags_for(two_versions(), request("62330", day=date(2024, 7, 1)))
    assert (flag.kind, flag.citation["version"] if flag.citation else None) == ("medically_necessary", "2024")


def test_the_last_day_of_a_closed_version_is_still_in_effect() -> None:
    [flag] = flags_for(two_versions(), request("62330", day=date(2024, 6, 30)))
    assert flag.citation is not None
    assert flag.citation["version"] == "2022"


def test_open_ended_version_is_in_effect_far_in_the_future() -> None:
    assert kinds([version(end=None)], request("62330", day=date(2030, 1, 1))) == ["investigational"]


def test_version_with_unknown_start_is_in_effect_until_its_end() -> None:
    replaced = version(start=None, end=date(2025, 1, 26))
    assert kinds([replaced], request("62330", day=date(2001, 1, 1))) == ["investigational"]
    assert kinds([replaced], request("62330", day=date(2025, 1, 26))) == ["investigational"]
    assert kinds([replaced], request("62330", day=date(2025, 1, 27))) == ["no_version_in_effect"]


def test_unknown_start_citation_says_so() -> None:
    [flag] = flags_for([version(start=None, end=date(2025, 1, 26))], request("62330", day=date(2024, 1, 1)))
    assert "effective unknown start" in flag.message
    assert flag.citation is not None
    assert flag.citation["effective_start"] is None
    assert flag.citation["effective_end"] == "2025-01-26"


def test_code_dropped_in_the_newer_version_does_not_flag_under_it() -> None:
    versions = [
        version(1, policy_id=7, codes=(("CPT", "62330", "62330"), ("CPT", "62331", "62331")), end=date(2024, 6, 30)),
        version(2, policy_id=7, codes=(("CPT", "62330", "62330"),), start=date(2024, 7, 1), label="2024"),
    ]
    assert kinds(versions, request("62331", day=date(2024, 1, 1))) == ["investigational"]
    assert kinds(versions, request("62331", day=date(2025, 1, 1))) == []


def test_term_dropped_in_the_newer_version_does_not_flag_under_it() -> None:
    versions = [
        version(1, policy_id=7, codes=(), terms=("Isobar",), end=date(2024, 6, 30)),
        version(2, policy_id=7, codes=(), terms=("Dynesys",), start=date(2024, 7, 1), label="2024"),
    ]
    assert kinds(versions, request("22612", notes="Isobar rod", day=date(2025, 1, 1))) == []


# --- terms ----------------------------------------------------------------------------------


def test_term_matches_case_insensitively_ignoring_trademark_signs() -> None:
    index = PolicyIndex([version(codes=(), terms=("Dynesys",))])
    assert index.versions_for_text("Planned DYNESYS® implant") == {1: {"dynesys"}}
    assert index.versions_for_text("dynesys™ system") == {1: {"dynesys"}}


def test_term_written_with_trademark_sign_matches_plain_text() -> None:
    index = PolicyIndex([version(codes=(), terms=("Dynesys®",))])
    assert index.versions_for_text("dynesys") == {1: {"dynesys"}}


def test_term_does_not_match_inside_a_longer_word() -> None:
    index = PolicyIndex([version(codes=(), terms=("Dynesys",))])
    assert index.versions_for_text("the Dynesystem rod") == {}


def test_multi_word_term_matches_across_punctuation_and_spacing() -> None:
    index = PolicyIndex([version(codes=(), terms=("CD HorizoN AGILE",))])
    assert index.versions_for_text("Used a cd-horizon   Agile rod.") == {1: {"cd horizon agile"}}


def test_multi_word_term_needs_every_word() -> None:
    index = PolicyIndex([version(codes=(), terms=("Stabilimax NZ",))])
    assert index.versions_for_text("Stabilimax only") == {}


def test_overlapping_terms_starting_at_the_same_word_are_all_found() -> None:
    index = PolicyIndex([version(1, codes=(), terms=("mild",)), version(2, codes=(), terms=("mild device",))])
    assert index.versions_for_text("the mild device") == {1: {"mild"}, 2: {"mild device"}}


def test_term_matches_with_accents_stripped() -> None:
    index = PolicyIndex([version(codes=(), terms=("Zodiak DynaMo",))])
    assert index.versions_for_text("ZODIÁK dynamo") == {1: {"zodiak dynamo"}}


def test_term_in_the_line_description_flags_only_that_line() -> None:
    dynesys = version(codes=(), terms=("Dynesys",))
    req = RequestData(
        line_of_business="commercial",
        lines=(
            LineRequest(1, "CPT", "22612", DOS, description="Dynesys rod"),
            LineRequest(2, "CPT", "22614", DOS),
        ),
    )
    assert {f.service_line for f in flags_for([dynesys], req)} == {1}


def test_term_does_not_span_description_and_notes() -> None:
    index = PolicyIndex([version(codes=(), terms=("dynamic stabilization",))])
    req = request("22612", description="dynamic", notes="stabilization discussed")
    assert evaluate_request(index, req) == []


# --- three-valued logic ---------------------------------------------------------------------

ALL_OF_TABLE = [
    (Tri.MET, Tri.MET, Tri.MET),
    (Tri.MET, Tri.NOT_MET, Tri.NOT_MET),
    (Tri.MET, Tri.UNKNOWN, Tri.UNKNOWN),
    (Tri.NOT_MET, Tri.NOT_MET, Tri.NOT_MET),
    (Tri.NOT_MET, Tri.UNKNOWN, Tri.NOT_MET),
    (Tri.UNKNOWN, Tri.UNKNOWN, Tri.UNKNOWN),
]
ANY_OF_TABLE = [
    (Tri.MET, Tri.MET, Tri.MET),
    (Tri.MET, Tri.NOT_MET, Tri.MET),
    (Tri.MET, Tri.UNKNOWN, Tri.MET),
    (Tri.NOT_MET, Tri.NOT_MET, Tri.NOT_MET),
    (Tri.NOT_MET, Tri.UNKNOWN, Tri.UNKNOWN),
    (Tri.UNKNOWN, Tri.UNKNOWN, Tri.UNKNOWN),
]


@pytest.mark.parametrize(("left", "right", "expected"), ALL_OF_TABLE)
def test_all_of_truth_table(left: Tri, right: Tri, expected: Tri) -> None:
    for a, b in ((left, right), (right, left)):
        assert evaluate_criteria(group("all_of", BY_RESULT[a], BY_RESULT[b]), TRI_FACTS, []) is expected


@pytest.mark.parametrize(("left", "right", "expected"), ANY_OF_TABLE)
def test_any_of_truth_table(left: Tri, right: Tri, expected: Tri) -> None:
    for a, b in ((left, right), (right, left)):
        assert evaluate_criteria(group("any_of", BY_RESULT[a], BY_RESULT[b]), TRI_FACTS, []) is expected


@pytest.mark.parametrize(
    ("children", "expected"),
    [
        ((Tri.MET, Tri.MET, Tri.NOT_MET), Tri.MET),
        ((Tri.MET, Tri.NOT_MET, Tri.NOT_MET), Tri.NOT_MET),
        ((Tri.MET, Tri.UNKNOWN, Tri.NOT_MET), Tri.UNKNOWN),
        ((Tri.MET, Tri.MET, Tri.UNKNOWN), Tri.MET),
        ((Tri.UNKNOWN, Tri.UNKNOWN, Tri.NOT_MET), Tri.UNKNOWN),
        ((Tri.UNKNOWN, Tri.NOT_MET, Tri.NOT_MET), Tri.NOT_MET),
    ],
)
def test_at_least_two_of_three_truth_table(children: tuple[Tri, ...], expected: Tri) -> None:
    node = group("at_least", *(BY_RESULT[c] for c in children), min_met=2)
    assert evaluate_criteria(node, TRI_FACTS, []) is expected


def test_nested_groups_combine_three_valued_results() -> None:
    # all_of(any_of(unknown, met), at_least 1 of (not met, unknown)) -> all_of(met, unknown) -> unknown
    tree = group("all_of", group("any_of", UNKNOWN, MET), group("at_least", NOT_MET, UNKNOWN, min_met=1))
    assert evaluate_criteria(tree, TRI_FACTS, []) is Tri.UNKNOWN


def test_explanation_lists_every_leaf_in_policy_order() -> None:
    tree = group("all_of", MET, group("any_of", NOT_MET, UNKNOWN))
    outcome = explain_criteria(tree, TRI_FACTS)
    assert [(leaf.label, leaf.result) for leaf in outcome.checklist] == [
        ("A is yes", Tri.MET),
        ("B is yes", Tri.NOT_MET),
        ("C is yes", Tri.UNKNOWN),
    ]
    assert outcome.checklist[2].note == "fact not provided"


def test_explanation_records_expected_and_actual_values() -> None:
    outcome = explain_criteria(leaf("Thickness over 2.5 mm", "lf_mm", "gt", 2.5, "number"), {"lf_mm": "3.1"})
    assert outcome.checklist[0].as_dict() == {
        "label": "Thickness over 2.5 mm",
        "fact": "lf_mm",
        "operator": "gt",
        "expected": 2.5,
        "actual": 3.1,
        "result": "met",
        "note": "",
    }


def test_decisive_failures_skip_a_branch_another_branch_satisfied() -> None:
    tree = group("all_of", group("any_of", MET, NOT_MET), leaf("D is yes", "d", "is_true", None, "boolean"))
    outcome = explain_criteria(tree, {**TRI_FACTS, "d": False})
    assert outcome.result is Tri.NOT_MET
    assert [leaf.label for leaf in outcome.decisive] == ["D is yes"]


# --- facts ----------------------------------------------------------------------------------


def test_member_age_is_derived_at_the_date_of_service() -> None:
    req = request("62330", born=date(1976, 3, 3), day=date(2026, 3, 2))
    assert request_facts(req, req.lines[0])["member_age"] == 49


def test_member_age_counts_the_birthday_itself() -> None:
    req = request("62330", born=date(1976, 3, 2), day=date(2026, 3, 2))
    assert request_facts(req, req.lines[0])["member_age"] == 50


def test_member_age_criterion_uses_the_date_of_service_not_today() -> None:
    tree = leaf("Member is 50 or older", "member_age", "gte", 50)
    versions = [criteria_version(tree)]
    assert kinds(versions, request("62330", born=date(1976, 3, 3), day=date(2026, 3, 2))) == ["criteria_not_met"]
    assert kinds(versions, request("62330", born=date(1976, 3, 3), day=date(2026, 3, 3))) == ["criteria_met"]


def test_diagnosis_any_in_matches_an_icd_category_prefix() -> None:
    tree = leaf("Lumbar stenosis", "diagnosis_codes", "any_in", ["M48.06"], "code_list")
    assert explain_criteria(tree, {"diagnosis_codes": ["M48.062"]}).result is Tri.MET
    assert explain_criteria(tree, {"diagnosis_codes": ["m48062"]}).result is Tri.MET
    assert explain_criteria(tree, {"diagnosis_codes": ["M48.02"]}).result is Tri.NOT_MET


def test_diagnosis_none_in_is_the_negation_of_any_in() -> None:
    tree = leaf("No fracture", "diagnosis_codes", "none_in", ["S32"], "code_list")
    assert explain_criteria(tree, {"diagnosis_codes": ["M48.062"]}).result is Tri.MET
    assert explain_criteria(tree, {"diagnosis_codes": ["S32.001A"]}).result is Tri.NOT_MET


def test_request_diagnoses_feed_the_diagnosis_fact() -> None:
    tree = leaf("Lumbar stenosis", "diagnosis_codes", "any_in", ["M48.06"], "code_list")
    assert kinds([criteria_version(tree)], request("62330", diagnoses=("M48.062",))) == ["criteria_met"]


def test_unreadable_fact_value_is_unknown_with_a_note() -> None:
    tree = leaf("12 weeks therapy", "conservative_therapy_weeks", "gte", 12)
    outcome = explain_criteria(tree, {"conservative_therapy_weeks": "several"})
    assert outcome.result is Tri.UNKNOWN
    assert outcome.checklist[0].note.startswith("unreadable:")
    assert outcome.checklist[0].actual == "several"


def test_yes_no_value_is_not_read_as_a_number() -> None:
    tree = leaf("12 weeks therapy", "conservative_therapy_weeks", "gte", 12)
    assert explain_criteria(tree, {"conservative_therapy_weeks": True}).result is Tri.UNKNOWN


def test_unreadable_fact_makes_the_flag_incomplete_naming_that_fact() -> None:
    tree = leaf("12 weeks therapy", "conservative_therapy_weeks", "gte", 12)
    [flag] = flags_for([criteria_version(tree)], request("62330", facts={"conservative_therapy_weeks": "lots"}))
    assert flag.kind == "criteria_incomplete"
    assert flag.details["unknown_facts"] == ["conservative_therapy_weeks"]
    assert flag.details["checklist"][0]["note"].startswith("unreadable:")


def test_boolean_fact_reads_yes_and_no_words() -> None:
    tree = leaf("Imaging confirms stenosis", "imaging", "is_true", None, "boolean")
    assert explain_criteria(tree, {"imaging": "yes"}).result is Tri.MET
    assert explain_criteria(tree, {"imaging": "no"}).result is Tri.NOT_MET
    assert explain_criteria(tree, {"imaging": "maybe"}).result is Tri.UNKNOWN


# --- several policies -----------------------------------------------------------------------


def test_each_line_is_flagged_by_its_own_policies() -> None:
    versions = [
        version(1, codes=(("CPT", "62330", "62330"),)),
        version(2, codes=(("CPT", "22612", "22612"),), position="cosmetic"),
    ]
    flags = flags_for(versions, request("62330", "22612", "99213"))
    assert [(f.service_line, f.kind) for f in flags] == [(1, "investigational"), (2, "cosmetic")]


def test_two_policies_governing_one_code_both_flag() -> None:
    versions = [version(1), version(2, position="not_medically_necessary", number="OTHER")]
    assert sorted(kinds(versions, request("62330"))) == ["investigational", "not_medically_necessary"]


def test_code_listed_twice_in_one_version_flags_once() -> None:
    twice = version(codes=(("CPT", "62330", "62330"), ("CPT", "62330", "62331")))
    assert kinds([twice], request("62330")) == ["investigational"]


def test_criteria_incomplete_names_the_unknown_facts_in_words_where_the_catalogue_has_them() -> None:
    labelled = CriterionNode(
        node_type="leaf",
        label="At least 12 weeks of failed conservative therapy",
        fact="conservative_therapy_weeks",
        fact_type="number",
        operator="gte",
        value=12,
        fact_label="Weeks of failed conservative therapy",
    )
    [flag] = flags_for([criteria_version(labelled)], request("62330"))
    assert "documentation needed for Weeks of failed conservative therapy." in flag.message
    assert flag.details["unknown_facts"] == ["conservative_therapy_weeks"]
