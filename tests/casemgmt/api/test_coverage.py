"""GET /api/v1/coverage: the requirement, the governing version and the documentation its criteria read."""

from __future__ import annotations

from datetime import date

import pytest
from rest_framework.test import APIClient

from casemgmt.security.services import api_token_create
from policies_app.models import PolicyVersion
from tests import factories

pytestmark = pytest.mark.django_db

URL = "/api/v1/coverage?code_system=CPT&date_of_service=2026-12-01&line_of_business=commercial"


def client_for(user) -> APIClient:
    _, raw = api_token_create(user=user)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return api


@pytest.fixture
def with_criteria(editor) -> PolicyVersion:
    version = factories.draft_version(
        coverage_position="medically_necessary_with_criteria", statement="Covered when criteria are met."
    )
    group = version.criteria.create(node_type="all_of", label="All of")
    factories.leaf(version, group, "Six weeks of therapy", "conservative_therapy_weeks", "gte", 6)
    factories.leaf(version, group, "Adult", "member_age", "gte", 18)
    return factories.publish(version, editor)


def test_code_without_rules_is_required_by_the_built_in_default(integration_client):
    body = client_for(integration_client).get(f"{URL}&code=99213").json()
    assert body["pa_required"] == "required"
    assert body["requirement"]["is_default"] is True
    assert body["requirement"]["rule_id"] is None


def test_requirement_comes_from_the_rule_with_its_label(integration_client, editor):
    rule = factories.requirement_rule(editor, code_start="99202", code_end="99215", requirement="not_required")
    body = client_for(integration_client).get(f"{URL}&code=99213").json()
    assert body["pa_required"] == "not_required"
    assert body["requirement"] == {
        "requirement": "not_required",
        "label": "No prior authorization required",
        "rule_id": rule.pk,
        "description": body["requirement"]["description"],
        "is_default": False,
    }
    assert body["requirement"]["description"].startswith("CPT 99202\u201399215, all lines of business")


def test_diagnosis_codes_reach_the_lookup(integration_client, editor):
    factories.requirement_rule(editor, requirement="required")
    factories.requirement_rule(editor, requirement="not_covered", diagnosis_codes=("M48.06",))
    api = client_for(integration_client)
    with_diagnosis = api.get(f"{URL}&code=62330&diagnosis_codes=M48.062,M54.16").json()
    without = api.get(f"{URL}&code=62330").json()
    assert (with_diagnosis["pa_required"], without["pa_required"]) == ("not_covered", "required")


def test_invalid_diagnosis_code_is_400_naming_the_field(integration_client):
    response = client_for(integration_client).get(f"{URL}&code=62330&diagnosis_codes=ZZZ")
    assert response.status_code == 400
    assert "diagnosis_codes" in response.json()["errors"]


def test_governing_version_is_named_with_its_position(integration_client, editor, with_criteria):
    body = client_for(integration_client).get(f"{URL}&code=62330").json()
    assert body["governing"] == {
        "policy_version_id": with_criteria.pk,
        "policy_number": "TP.01",
        "policy_title": "Test procedure policy",
        "version": "2024-01",
        "coverage_position": "medically_necessary_with_criteria",
        "coverage_position_label": "Medically necessary when criteria are met",
        "effective_start": "2024-01-01",
        "effective_end": None,
    }


def test_documentation_lists_the_facts_the_criteria_read(integration_client, with_criteria):
    body = client_for(integration_client).get(f"{URL}&code=62330").json()
    assert [(d["key"], d["unit"], d["type"], d["derived"]) for d in body["documentation"]] == [
        ("conservative_therapy_weeks", "weeks", "integer", False),
        ("member_age", "years", "integer", True),
    ]
    assert body["documentation"][0]["label"] == "Weeks of failed conservative therapy"


def test_ungoverned_code_has_no_governing_version_or_documentation(integration_client, with_criteria):
    body = client_for(integration_client).get(f"{URL}&code=99213").json()
    assert (body["governing"], body["documentation"]) == (None, [])


def test_version_not_in_effect_on_the_date_does_not_govern(integration_client, editor):
    factories.publish(factories.draft_version(effective_start=date(2027, 1, 1)), editor)
    body = client_for(integration_client).get(f"{URL}&code=62330").json()
    assert body["governing"] is None
