"""The DTR Questionnaire built from a policy version's criteria, and a QuestionnaireResponse read
back as the clinical facts the three-valued engine judges."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from fhir.resources.R4B.questionnaire import Questionnaire
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse

from casemgmt.cases.validation import Problems, check_facts
from casemgmt.fhir.codes import Ext, Profile
from casemgmt.fhir.parsing import resource_json
from casemgmt.fhir.questionnaires import questionnaire_for_version, questionnaire_response_facts
from policies_app.engine import LineRequest, RequestData, evaluate_request
from policies_app.models import FactDefinition, PolicyVersion
from policies_app.selectors import engine_index
from policies_app.services import policy_seed
from tests import factories

pytestmark = pytest.mark.django_db

BASE = "https://payer.example.org/fhir/r4"
WEEKS = {
    "label": "At least 12 weeks of conservative therapy",
    "fact": "conservative_therapy_weeks",
    "operator": "gte",
    "value": 12,
}
BMI = {"label": "BMI under 40", "fact": "bmi", "operator": "lt", "value": 40}
IMAGING = {
    "label": "Imaging confirms stenosis",
    "fact": "imaging_confirms_stenosis",
    "operator": "is_true",
    "value": None,
}
SMOKER = {"label": "Not a current smoker", "fact": "current_smoker", "operator": "is_false", "value": None}
AGE = {"label": "Adult", "fact": "member_age", "operator": "gte", "value": 18}
EXTRA_FACTS = [
    ("last_injection_date", "Date of the last epidural injection", "date", ""),
    ("surgeon_specialty", "Surgeon's specialty", "text", ""),
    ("prior_procedure_codes", "Earlier procedures (CPT)", "code_list", ""),
]


def seeded_version(
    editor: User, criteria: list[dict[str, Any]], *, number: str = "DTR.01", code: str = "62331", **extra: Any
) -> PolicyVersion:
    """A published version for `code` whose criteria are the tree given, through policy_seed."""
    data: dict[str, Any] = {
        "payer": "Test Health Plan",
        "number": number,
        "title": "Lumbar decompression",
        "lines_of_business": ["commercial", "exchange"],
        "version_label": "2024-01",
        "coverage_position": "medically_necessary_with_criteria",
        "effective_start": date(2024, 1, 1),
        "statement": "Medically necessary when the criteria are met.",
        "codes": [("CPT", code, "Lumbar decompression")],
        "facts": EXTRA_FACTS,
        "criteria": criteria,
        **extra,
    }
    return policy_seed(data=data, user=factories.second_editor(), publisher=editor)


def as_json(questionnaire: Questionnaire) -> dict[str, Any]:
    """The questionnaire as sent: it must pass its model's validation on the way out."""
    return resource_json(questionnaire)


def items_by_link(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for item in items:
        found[item["linkId"]] = item
        found.update(items_by_link(item.get("item", [])))
    return found


def response(*items: dict[str, Any]) -> QuestionnaireResponse:
    return QuestionnaireResponse.model_validate(
        {"resourceType": "QuestionnaireResponse", "status": "completed", "item": list(items)}
    )


def answered(link: str, *answers: dict[str, Any]) -> dict[str, Any]:
    return {"linkId": link, "answer": list(answers)}


# --- the Questionnaire ---------------------------------------------------------------------------


def test_a_fact_is_asked_with_its_label_type_and_unit(editor: User) -> None:
    version = factories.criteria_library(editor, auto_approve=False)
    body = as_json(questionnaire_for_version(version=version, base_url=BASE))
    weeks = items_by_link(body["item"])["conservative_therapy_weeks"]
    assert weeks["text"] == "Weeks of failed conservative therapy"
    assert weeks["type"] == "integer"
    assert weeks["extension"] == [{"url": Ext.QUESTIONNAIRE_UNIT, "valueCoding": {"display": "weeks"}}]


def test_each_fact_type_gets_its_item_type(editor: User) -> None:
    leaves = [
        IMAGING,
        BMI,
        WEEKS,
        {
            "label": "Injection over 3 months ago",
            "fact": "last_injection_date",
            "operator": "lt",
            "value": "2024-01-01",
        },
        {"label": "Orthopaedic surgeon", "fact": "surgeon_specialty", "operator": "eq", "value": "orthopaedics"},
        {"label": "No earlier fusion", "fact": "prior_procedure_codes", "operator": "none_in", "value": ["22612"]},
    ]
    version = seeded_version(editor, [{"label": "All of", "children": leaves}])
    items = items_by_link(as_json(questionnaire_for_version(version=version, base_url=BASE))["item"])
    types = {link: (item["type"], item.get("repeats", False)) for link, item in items.items()}
    assert {link: types[link] for link in [leaf["fact"] for leaf in leaves]} == {
        "imaging_confirms_stenosis": ("boolean", False),
        "bmi": ("decimal", False),
        "conservative_therapy_weeks": ("integer", False),
        "last_injection_date": ("date", False),
        "surgeon_specialty": ("string", False),
        "prior_procedure_codes": ("string", True),
    }


def test_the_questionnaire_is_versioned_with_the_policy_version(editor: User) -> None:
    version = factories.criteria_library(editor, auto_approve=False)
    body = as_json(questionnaire_for_version(version=version, base_url=BASE))
    assert body["url"] == f"{BASE}/Questionnaire/policy-{version.policy_id}"
    assert body["version"] == f"2024-01-pv{version.pk}"
    assert body["status"] == "active"
    assert body["meta"]["profile"] == [Profile.DTR_QUESTIONNAIRE]
    assert body["title"] == "TP.02 Second procedure"


def test_a_later_version_of_the_policy_is_a_later_version_of_the_questionnaire(editor: User) -> None:
    first = factories.criteria_library(editor, auto_approve=False)
    second = factories.draft_version(
        first.policy,
        codes=[("CPT", "62331", "")],
        version_label="2025-01",
        effective_start=date(2025, 1, 1),
        coverage_position="medically_necessary_with_criteria",
    )
    factories.leaf(second, None, "At least 6 weeks of conservative therapy", "conservative_therapy_weeks", "gte", 6)
    factories.publish(second, editor)
    old, new = (as_json(questionnaire_for_version(version=v, base_url=BASE)) for v in (first, second))
    assert old["url"] == new["url"]
    assert (old["version"], new["version"]) == (f"2024-01-pv{first.pk}", f"2025-01-pv{second.pk}")


def test_the_same_version_gives_identical_json(editor: User) -> None:
    version = seeded_version(editor, [{"label": "All of", "children": [IMAGING, WEEKS, BMI]}])
    first = json.dumps(as_json(questionnaire_for_version(version=version, base_url=BASE)), sort_keys=True)
    again = PolicyVersion.objects.get(pk=version.pk)
    assert json.dumps(as_json(questionnaire_for_version(version=again, base_url=BASE)), sort_keys=True) == first


def test_groups_follow_the_criteria_tree_with_its_wording(editor: User) -> None:
    version = seeded_version(
        editor,
        [
            {
                "label": "All of the following",
                "children": [
                    WEEKS,
                    {"label": "At least one of", "node_type": "any_of", "children": [BMI, SMOKER]},
                    {"label": "Two of", "node_type": "at_least", "min_met": 2, "children": [IMAGING]},
                ],
            }
        ],
    )
    body = as_json(questionnaire_for_version(version=version, base_url=BASE))
    [root] = body["item"]
    assert (root["type"], root["text"]) == ("group", "All of the following")
    outline = [(item["type"], item["text"], [c["linkId"] for c in item.get("item", [])]) for item in root["item"]]
    assert outline == [
        ("integer", "Weeks of failed conservative therapy", []),
        ("group", "At least one of", ["bmi", "current_smoker"]),
        ("group", "Two of", ["imaging_confirms_stenosis"]),
    ]


def test_a_fact_the_criteria_read_twice_is_asked_once(editor: User) -> None:
    twelve, six = dict(WEEKS), {**WEEKS, "label": "At least 6 weeks", "value": 6}
    version = seeded_version(
        editor,
        [{"label": "Any of", "node_type": "any_of", "children": [twelve, {"label": "All of", "children": [six, BMI]}]}],
    )
    body = json.dumps(as_json(questionnaire_for_version(version=version, base_url=BASE)))
    assert body.count('"linkId": "conservative_therapy_weeks"') == 1


def test_a_fact_derived_from_the_request_is_not_asked(editor: User) -> None:
    version = seeded_version(editor, [{"label": "All of", "children": [AGE, WEEKS]}])
    links = items_by_link(as_json(questionnaire_for_version(version=version, base_url=BASE))["item"])
    assert "member_age" not in links
    assert "conservative_therapy_weeks" in links


def test_a_version_whose_criteria_read_only_derived_facts_has_no_questions(editor: User) -> None:
    version = seeded_version(editor, [{"label": "All of", "children": [AGE]}])
    assert "item" not in as_json(questionnaire_for_version(version=version, base_url=BASE))


def test_a_group_gated_by_a_yes_no_fact_is_enabled_only_when_it_holds(editor: User) -> None:
    version = seeded_version(
        editor,
        [
            {
                "label": "All of",
                "children": [IMAGING, {"label": "Any of", "node_type": "any_of", "children": [WEEKS, BMI]}],
            }
        ],
    )
    gated = items_by_link(as_json(questionnaire_for_version(version=version, base_url=BASE))["item"])
    group = next(item for item in gated.values() if item.get("text") == "Any of")
    assert group["enableWhen"] == [{"question": "imaging_confirms_stenosis", "operator": "=", "answerBoolean": True}]
    assert "enableWhen" not in gated["imaging_confirms_stenosis"]


def test_a_group_gated_by_two_yes_no_facts_is_enabled_when_both_hold(editor: User) -> None:
    either = {"label": "Any of", "node_type": "any_of", "children": [WEEKS, BMI]}
    version = seeded_version(editor, [{"label": "All of", "children": [IMAGING, SMOKER, either]}])
    items = items_by_link(as_json(questionnaire_for_version(version=version, base_url=BASE))["item"])
    group = next(item for item in items.values() if item.get("text") == "Any of")
    assert group["enableBehavior"] == "all"
    assert [(w["question"], w["answerBoolean"]) for w in group["enableWhen"]] == [
        ("imaging_confirms_stenosis", True),
        ("current_smoker", False),
    ]


def test_a_group_is_not_gated_when_its_facts_matter_elsewhere(editor: User) -> None:
    version = seeded_version(
        editor,
        [
            {
                "label": "Any of",
                "node_type": "any_of",
                "children": [
                    {
                        "label": "All of",
                        "children": [IMAGING, {"label": "Either", "node_type": "any_of", "children": [BMI]}],
                    },
                    {**BMI, "label": "BMI under 30", "value": 30},
                ],
            }
        ],
    )
    body = json.dumps(as_json(questionnaire_for_version(version=version, base_url=BASE)))
    assert "enableWhen" not in body


def test_a_group_beside_a_yes_no_fact_in_an_any_of_is_not_gated(editor: User) -> None:
    version = seeded_version(
        editor,
        [
            {
                "label": "Any of",
                "node_type": "any_of",
                "children": [IMAGING, {"label": "All of", "children": [WEEKS, BMI]}],
            }
        ],
    )
    assert "enableWhen" not in json.dumps(as_json(questionnaire_for_version(version=version, base_url=BASE)))


# --- a QuestionnaireResponse as facts ----------------------------------------------------------------


def test_answers_become_the_facts_v1_takes(editor: User) -> None:
    seeded_version(editor, [{"label": "All of", "children": [IMAGING]}])  # the catalogue's extra facts
    facts, problems = questionnaire_response_facts(
        response=response(
            {
                "linkId": "criteria.root",
                "item": [
                    answered("imaging_confirms_stenosis", {"valueBoolean": True}),
                    answered("conservative_therapy_weeks", {"valueInteger": 14}),
                    answered("bmi", {"valueQuantity": {"value": 31.5, "unit": "kg/m2"}}),
                    answered("last_injection_date", {"valueDate": "2024-02-03"}),
                    answered("surgeon_specialty", {"valueString": "orthopaedics"}),
                    answered("prior_procedure_codes", {"valueCoding": {"code": "22612"}}, {"valueString": "63047"}),
                ],
            }
        ),
        path="Bundle.entry[3].resource",
    )
    assert problems == []
    assert facts == {
        "imaging_confirms_stenosis": True,
        "conservative_therapy_weeks": 14,
        "bmi": 31.5,
        "last_injection_date": "2024-02-03",
        "surgeon_specialty": "orthopaedics",
        "prior_procedure_codes": ["22612", "63047"],
    }
    checked = Problems()
    check_facts(checked, facts, dict(FactDefinition.objects.values_list("key", "value_type")))
    assert not checked


def test_an_unanswered_question_is_an_unknown_fact() -> None:
    facts, problems = questionnaire_response_facts(
        response=response({"linkId": "conservative_therapy_weeks"}, answered("bmi", {"valueDecimal": 28})),
        path="QuestionnaireResponse",
    )
    assert (facts, problems) == ({"bmi": 28.0}, [])


def test_an_unknown_link_id_is_named_by_its_path() -> None:
    _, problems = questionnaire_response_facts(
        response=response(
            {
                "linkId": "group",
                "item": [answered("bmi", {"valueDecimal": 28}), answered("shoe_size", {"valueInteger": 9})],
            }
        ),
        path="Bundle.entry[2].resource",
    )
    assert [p.path for p in problems] == ["Bundle.entry[2].resource.item[0].item[1].linkId"]


def test_a_derived_fact_cannot_be_answered() -> None:
    _, problems = questionnaire_response_facts(
        response=response(answered("member_age", {"valueInteger": 70})), path="QuestionnaireResponse"
    )
    assert [p.path for p in problems] == ["QuestionnaireResponse.item[0].linkId"]


@pytest.mark.parametrize(
    ("link", "answer", "element"),
    [
        ("imaging_confirms_stenosis", {"valueString": "yes"}, "valueString"),
        ("conservative_therapy_weeks", {"valueDecimal": 12.5}, "valueDecimal"),
        ("conservative_therapy_weeks", {"valueBoolean": True}, "valueBoolean"),
        ("bmi", {"valueQuantity": {"value": 31, "unit": "lb/in2"}}, "valueQuantity"),
    ],
)
def test_an_answer_of_the_wrong_type_is_named_by_its_path(link: str, answer: dict[str, Any], element: str) -> None:
    facts, problems = questionnaire_response_facts(
        response=response(answered(link, answer)), path="QuestionnaireResponse"
    )
    assert facts == {}
    assert [p.path for p in problems] == [f"QuestionnaireResponse.item[0].answer[0].{element}"]


def test_a_fact_answered_twice_is_refused() -> None:
    _, problems = questionnaire_response_facts(
        response=response(answered("bmi", {"valueDecimal": 28}), answered("bmi", {"valueDecimal": 29})),
        path="QuestionnaireResponse",
    )
    assert [p.path for p in problems] == ["QuestionnaireResponse.item[1].linkId"]


# --- evaluated by the engine ---------------------------------------------------------------------


def criteria_flag(facts: dict[str, Any]) -> str:
    """The kind of the criteria flag the engine raises on CPT 62331 with these clinical facts."""
    day = timezone.localdate() + timedelta(days=10)
    request = RequestData(
        line_of_business="commercial",
        lines=(LineRequest(sequence=1, code_system="CPT", code="62331", date_of_service=day),),
        facts=facts,
    )
    return next(f.kind for f in evaluate_request(engine_index(), request) if f.kind.startswith("criteria_"))


def test_without_a_response_the_criteria_need_documentation(editor: User) -> None:
    factories.criteria_library(editor, auto_approve=False)
    assert criteria_flag({}) == "criteria_incomplete"


def test_a_response_meeting_the_criteria_turns_the_line_met(editor: User) -> None:
    factories.criteria_library(editor, auto_approve=False)
    facts, _ = questionnaire_response_facts(
        response=response(answered("conservative_therapy_weeks", {"valueInteger": 16})), path="QuestionnaireResponse"
    )
    assert criteria_flag(facts) == "criteria_met"


def test_a_response_falling_short_turns_the_line_not_met(editor: User) -> None:
    factories.criteria_library(editor, auto_approve=False)
    facts, _ = questionnaire_response_facts(
        response=response(answered("conservative_therapy_weeks", {"valueQuantity": {"value": 4, "unit": "weeks"}})),
        path="QuestionnaireResponse",
    )
    assert criteria_flag(facts) == "criteria_not_met"
