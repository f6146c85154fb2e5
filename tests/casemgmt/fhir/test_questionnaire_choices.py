"""DTR questions from the fact catalogue's allowed answers (`choice` items with the plan's codings)
and from documented-review criteria (yes/no questions on the finding a reviewer would record),
and the answers to them read back as clinical facts."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User

from casemgmt.cases.models import Case
from casemgmt.fhir.codes import System, fact_values
from casemgmt.fhir.questionnaires import questionnaire_for_version, questionnaire_response_facts
from policies_app.engine import documented_fact_key
from policies_app.models import FactDefinition
from tests.casemgmt.fhir.test_questionnaires import (
    IMAGING,
    WEEKS,
    answered,
    as_json,
    criteria_flag,
    items_by_link,
    response,
    seeded_version,
)

pytestmark = pytest.mark.django_db

BASE = "https://payer.example.org/fhir/r4"
SPECIALTY = {"label": "Orthopaedic surgeon", "fact": "surgeon_specialty", "operator": "eq", "value": "orthopaedics"}
PRIOR = {"label": "No earlier fusion", "fact": "prior_procedure_codes", "operator": "none_in", "value": ["22612"]}
SPECIALTIES = [
    {"value": "orthopaedics", "label": "Orthopaedic surgery"},
    {"value": "neurosurgery", "label": "Neurosurgery"},
]
DOCUMENTED_TEXT = "Physical examination documents a radiculopathy"
DOCUMENTED = {"label": DOCUMENTED_TEXT, "node_type": "documented"}
FINDING = documented_fact_key(DOCUMENTED_TEXT)


def allow(key: str, values: list[dict[str, Any]]) -> None:
    """The catalogue entry's allowed answers, as an editor keeps them in the admin."""
    FactDefinition.objects.filter(key=key).update(allowed_values=values)


def questions(editor: User, criteria: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    version = seeded_version(editor, criteria)
    return items_by_link(as_json(questionnaire_for_version(version=version, base_url=BASE))["item"])


@pytest.fixture
def specialties(editor: User) -> None:
    seeded_version(editor, [{"label": "All of", "children": [SPECIALTY]}], number="CAT.01", code="63030")
    allow("surgeon_specialty", SPECIALTIES)


# --- the questions ---------------------------------------------------------------------------------


def test_a_fact_with_allowed_answers_is_a_choice_of_the_plans_codings(editor: User, specialties: None) -> None:
    item = questions(editor, [{"label": "All of", "children": [SPECIALTY]}])["surgeon_specialty"]
    assert item["type"] == "choice"
    assert item["answerOption"] == [
        {
            "valueCoding": {
                "system": fact_values("surgeon_specialty"),
                "code": "orthopaedics",
                "display": "Orthopaedic surgery",
            }
        },
        {
            "valueCoding": {
                "system": fact_values("surgeon_specialty"),
                "code": "neurosurgery",
                "display": "Neurosurgery",
            }
        },
    ]


def test_a_list_of_codes_with_allowed_answers_is_a_repeating_choice(editor: User) -> None:
    seeded_version(editor, [{"label": "All of", "children": [PRIOR]}], number="CAT.02", code="63030")
    allow("prior_procedure_codes", [{"value": "22612", "label": "Lumbar fusion"}])
    item = questions(editor, [{"label": "All of", "children": [PRIOR]}])["prior_procedure_codes"]
    assert (item["type"], item["repeats"], len(item["answerOption"])) == ("choice", True, 1)


def test_a_fact_without_allowed_answers_keeps_its_own_type(editor: User) -> None:
    item = questions(editor, [{"label": "All of", "children": [SPECIALTY]}])["surgeon_specialty"]
    assert item["type"] == "string"
    assert "answerOption" not in item


def test_a_yes_no_fact_is_asked_yes_or_no_whatever_its_allowed_answers(editor: User) -> None:
    seeded_version(editor, [{"label": "All of", "children": [IMAGING]}], number="CAT.03", code="63030")
    allow("imaging_confirms_stenosis", [{"value": True, "label": "Yes"}])
    item = questions(editor, [{"label": "All of", "children": [IMAGING]}])["imaging_confirms_stenosis"]
    assert (item["type"], "answerOption" in item) == ("boolean", False)


def test_a_documented_criterion_is_a_yes_no_question_on_its_finding(editor: User) -> None:
    item = questions(editor, [{"label": "All of", "children": [DOCUMENTED, WEEKS]}])[FINDING]
    assert (item["type"], item["text"]) == ("boolean", DOCUMENTED_TEXT)


def test_a_documented_criterion_in_an_all_of_gates_the_group_beside_it(editor: User) -> None:
    either = {"label": "Any of", "node_type": "any_of", "children": [WEEKS, SPECIALTY]}
    items = questions(editor, [{"label": "All of", "children": [DOCUMENTED, either]}])
    group = next(item for item in items.values() if item.get("text") == "Any of")
    assert group["enableWhen"] == [{"question": FINDING, "operator": "=", "answerBoolean": True}]


# --- the answers ----------------------------------------------------------------------------------


def read(*items: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    facts, problems = questionnaire_response_facts(response=response(*items), path="QuestionnaireResponse")
    return facts, [f"{p.path}: {p.message}" for p in problems]


def test_a_coding_answer_is_read_as_the_value_it_stands_for(specialties: None) -> None:
    coding = {"system": fact_values("surgeon_specialty"), "code": "neurosurgery", "display": "Neurosurgery"}
    assert read(answered("surgeon_specialty", {"valueCoding": coding})) == ({"surgeon_specialty": "neurosurgery"}, [])


def test_an_offered_code_sent_as_text_is_read(specialties: None) -> None:
    assert read(answered("surgeon_specialty", {"valueString": "orthopaedics"})) == (
        {"surgeon_specialty": "orthopaedics"},
        [],
    )


def test_an_answer_not_offered_is_refused_naming_its_element(specialties: None) -> None:
    facts, problems = read(answered("surgeon_specialty", {"valueString": "podiatry"}))
    assert facts == {}
    assert problems == [
        "QuestionnaireResponse.item[0].answer[0].valueString: 'podiatry' is not one of the answers offered: "
        "orthopaedics (Orthopaedic surgery), neurosurgery (Neurosurgery)"
    ]


def test_a_coding_of_another_code_system_is_refused(specialties: None) -> None:
    coding = {"system": "http://snomed.info/sct", "code": "orthopaedics"}
    _, problems = read(answered("surgeon_specialty", {"valueCoding": coding}))
    assert problems == [
        "QuestionnaireResponse.item[0].answer[0].valueCoding: "
        f"must be a code of {fact_values('surgeon_specialty')}, not of http://snomed.info/sct"
    ]


def test_a_documented_finding_is_read_as_yes_or_no(editor: User) -> None:
    seeded_version(editor, [{"label": "All of", "children": [DOCUMENTED]}])
    assert read(answered(FINDING, {"valueBoolean": False})) == ({FINDING: False}, [])


def test_a_documented_finding_answered_as_text_is_refused(editor: User) -> None:
    seeded_version(editor, [{"label": "All of", "children": [DOCUMENTED]}])
    _, problems = read(answered(FINDING, {"valueString": "yes"}))
    assert problems == ["QuestionnaireResponse.item[0].answer[0].valueString: must be yes or no (valueBoolean)"]


def test_a_finding_no_criterion_asks_for_is_not_a_fact() -> None:
    _, problems = read(answered(documented_fact_key("Anything at all"), {"valueBoolean": True}))
    assert [p.split(": ")[0] for p in problems] == ["QuestionnaireResponse.item[0].linkId"]


def test_a_documented_finding_answered_yes_meets_its_criterion(editor: User) -> None:
    seeded_version(editor, [{"label": "All of", "children": [DOCUMENTED]}])
    facts, _ = read(answered(FINDING, {"valueBoolean": True}))
    assert criteria_flag(facts) == "criteria_met"


# --- through $submit -------------------------------------------------------------------------------


def submitted_answers(api: Any, code: str, *items: dict[str, Any]) -> Any:
    from tests.casemgmt.fhir.pas_bundles import pas_request
    from tests.casemgmt.fhir.test_submit import SUBMIT

    questionnaire = {"resourceType": "QuestionnaireResponse", "status": "completed", "item": list(items)}
    info = {"category": {"coding": [{"system": System.PAS_TEMP, "code": "additionalInformation"}]}}
    return api.post(SUBMIT, pas_request(code, supporting=[(info, questionnaire)]), format="json")


def test_a_choice_answered_in_a_pas_request_becomes_the_value_it_stands_for(fhir_api, editor: User) -> None:
    seeded_version(editor, [{"label": "All of", "children": [SPECIALTY]}], code="62331")
    allow("surgeon_specialty", SPECIALTIES)
    coding = {"system": fact_values("surgeon_specialty"), "code": "orthopaedics"}
    response = submitted_answers(fhir_api, "62331", answered("surgeon_specialty", {"valueCoding": coding}))
    assert response.status_code == 201, response.json()
    assert Case.objects.get().clinical_facts == {"surgeon_specialty": "orthopaedics"}


def test_a_documented_finding_answered_in_a_pas_request_is_the_cases_fact(fhir_api, editor: User) -> None:
    seeded_version(editor, [{"label": "All of", "children": [DOCUMENTED]}], code="62331")
    response = submitted_answers(fhir_api, "62331", answered(FINDING, {"valueBoolean": True}))
    assert response.status_code == 201, response.json()
    assert Case.objects.get().clinical_facts == {FINDING: True}
