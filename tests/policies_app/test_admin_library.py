"""The editors' admin as a product (issue 19): typed "try it" from the fact catalogue, history as a
table, read-only versions without editing hints, "in effect today", the versions timeline and the
fact catalogue's allowed values."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from casemgmt.security.services import roles_sync_permissions
from policies_app.engine import documented_fact_key
from policies_app.models import Criterion, FactDefinition, Policy, PolicyVersion
from tests import factories

pytestmark = pytest.mark.django_db

VERSIONS = "/admin/policies_app/policyversion/"
POLICIES = "/admin/policies_app/policy/"
FACTS = "/admin/policies_app/factdefinition/"


@pytest.fixture(autouse=True)
def role_permissions(db: None) -> None:
    roles_sync_permissions()


def signed_in(user: User) -> Client:
    browser = Client()
    browser.force_login(user)
    return browser


def text(response: Any) -> str:
    return html.unescape(response.content.decode())


def sample(**extra: str) -> dict[str, str]:
    return {
        "line_of_business": "commercial",
        "code_system": "CPT",
        "code": "62330",
        "date_of_service": "2024-03-01",
    } | extra


def criteria_version(policy: Policy | None = None, **overrides: Any) -> PolicyVersion:
    version = factories.draft_version(
        policy,
        coverage_position="medically_necessary_with_criteria",
        statement="Covered when criteria are met.",
        **overrides,
    )
    group = Criterion.objects.create(version=version, node_type="all_of", label="All of the following")
    factories.leaf(version, group, "Six weeks of failed conservative therapy", "conservative_therapy_weeks", "gte", 6)
    return version


# --- try it ------------------------------------------------------------------------------------


def test_try_it_asks_each_fact_with_an_input_of_its_type_and_no_json_box(editor: User) -> None:
    version = criteria_version()

    page = signed_in(editor).get(f"{VERSIONS}{version.pk}/try/").content.decode()

    assert 'name="clinical_facts"' not in page
    assert re.search(r'<input type="number" name="fact-conservative_therapy_weeks"', page)
    assert "Weeks of failed conservative therapy (weeks)" in page
    assert re.search(r'<input type="radio" name="fact-imaging_confirms_stenosis" value="yes"', page)
    assert re.search(r'<input type="date" name="fact-|<input type="number" name="fact-bmi"', page)
    # The facts this version reads come before the rest of the catalogue.
    assert page.index("fact-conservative_therapy_weeks") < page.index("fact-bmi")


def test_try_it_reads_a_typed_fact_into_the_checklist(editor: User) -> None:
    version = criteria_version()

    response = signed_in(editor).post(
        f"{VERSIONS}{version.pk}/try/", sample(**{"fact-conservative_therapy_weeks": "4"})
    )

    flag = response.context["flags"][0]
    assert [(leaf["label"], leaf["result"], leaf["actual"]) for leaf in flag["checklist"]] == [
        ("Six weeks of failed conservative therapy", "not_met", "4")
    ]
    assert "Weeks of failed conservative therapy (weeks)" in text(response)


def test_try_it_offers_a_facts_allowed_values_as_a_select(editor: User) -> None:
    FactDefinition.objects.create(
        key="stenosis_level",
        label="Level of stenosis",
        value_type="text",
        allowed_values=[{"value": "L4-L5", "label": "L4 to L5"}, {"value": "L5-S1", "label": "L5 to S1"}],
    )
    version = criteria_version()
    factories.leaf(version, version.criteria.get(parent=None), "Stenosis at L4-L5", "stenosis_level", "eq", "L4-L5")
    browser = signed_in(editor)

    page = browser.get(f"{VERSIONS}{version.pk}/try/").content.decode()
    response = browser.post(
        f"{VERSIONS}{version.pk}/try/",
        sample(**{"fact-stenosis_level": '"L4-L5"', "fact-conservative_therapy_weeks": "8"}),
    )

    assert re.search(r'<select name="fact-stenosis_level"[^>]*>\s*<option value="" selected>Unknown</option>', page)
    assert "L4 to L5</option>" in page
    assert response.context["flags"][0]["kind"] == "criteria_met"


def test_try_it_asks_a_documented_review_criterion_as_yes_no_or_unknown(editor: User) -> None:
    version = criteria_version()
    Criterion.objects.create(
        version=version,
        parent=version.criteria.get(parent=None),
        position=1,
        node_type="documented",
        label="Symptoms limit daily activities",
    )
    field = f"documented-{documented_fact_key('Symptoms limit daily activities')}"
    browser = signed_in(editor)

    page = browser.get(f"{VERSIONS}{version.pk}/try/").content.decode()
    unknown = browser.post(f"{VERSIONS}{version.pk}/try/", sample(**{"fact-conservative_therapy_weeks": "8"}))
    yes = browser.post(f"{VERSIONS}{version.pk}/try/", sample(**{"fact-conservative_therapy_weeks": "8", field: "yes"}))

    assert [m for m in ("yes", "no", "") if f'name="{field}" value="{m}"' in page] == ["yes", "no", ""]
    assert unknown.context["flags"][0]["kind"] == "criteria_incomplete"
    assert "Documentation needed for: Symptoms limit daily activities" in text(unknown)
    assert yes.context["flags"][0]["kind"] == "criteria_met"


# --- a version's page --------------------------------------------------------------------------


def test_a_published_versions_history_is_a_table_not_json(editor: User) -> None:
    history = [{"date": "2023-05-01", "action": "Revised", "detail": "Added the imaging criterion"}]
    version = factories.publish(factories.draft_version(history=history), editor)

    page = signed_in(editor).get(f"{VERSIONS}{version.pk}/change/").content.decode()

    assert '<table class="version-history">' in page
    assert "<td>2023-05-01</td><td>Revised</td><td>Added the imaging criterion</td>" in page
    assert '"detail":' not in html.unescape(page)


def test_a_drafts_history_is_edited_one_entry_per_line(editor: User) -> None:
    version = factories.draft_version()
    data = {
        "version_label": version.version_label,
        "coverage_position": version.coverage_position,
        "effective_start": "2024-01-01",
        "statement": version.statement,
        "history": "2024-01-01 | Created | First edition\n2024-06-01 | Revised",
        "missing_fields": "",
    }
    for prefix in ("codes", "terms", "criteria"):
        data |= {f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"}

    response = signed_in(editor).post(f"{VERSIONS}{version.pk}/change/", data)

    assert response.status_code == 302
    version.refresh_from_db()
    assert version.history == [
        {"date": "2024-01-01", "action": "Created", "detail": "First edition"},
        {"date": "2024-06-01", "action": "Revised", "detail": ""},
    ]


def test_a_read_only_version_shows_no_hint_about_placing_criteria(editor: User) -> None:
    published = factories.publish(criteria_version(), editor)
    draft = criteria_version(published.policy, version_label="2025-01")
    browser = signed_in(editor)

    assert "a new group must be saved" not in text(browser.get(f"{VERSIONS}{published.pk}/change/"))
    assert "a new group must be saved" in text(browser.get(f"{VERSIONS}{draft.pk}/change/"))


def test_a_read_only_version_shows_its_dates_without_how_to_fill_them_in(editor: User) -> None:
    version = factories.publish(factories.draft_version(), editor)

    page = text(signed_in(editor).get(f"{VERSIONS}{version.pk}/change/"))

    assert "Open: in effect until replaced" in page
    assert "Blank while open-ended." not in page
    assert "Blank when unknown." not in page


def test_try_it_starts_from_a_request_the_version_governs(editor: User) -> None:
    version = criteria_version()

    form = signed_in(editor).get(f"{VERSIONS}{version.pk}/try/").context["form"]

    assert (form["code_system"].value(), form["code"].value(), form["line_of_business"].value()) == (
        "CPT",
        "62330",
        "commercial",
    )


# --- in effect today and the timeline ----------------------------------------------------------


def test_a_version_that_has_ended_is_not_shown_as_current(editor: User) -> None:
    today = timezone.localdate()
    factories.publish(
        factories.draft_version(effective_start=today - timedelta(days=700), effective_end=today - timedelta(days=300)),
        editor,
    )

    page = text(signed_in(editor).get(POLICIES))

    assert "None in effect today" in page
    assert "2024-01 (from" not in page


def test_the_version_list_marks_only_the_version_in_effect_today(editor: User) -> None:
    today = timezone.localdate()
    policy = factories.policy()
    factories.publish(
        factories.draft_version(
            policy, effective_start=today - timedelta(days=700), effective_end=today - timedelta(days=1)
        ),
        editor,
    )
    factories.publish(factories.draft_version(policy, version_label="2025-01", effective_start=today), editor)

    page = signed_in(editor).get(VERSIONS).content.decode()

    assert page.count('alt="True"') == 1
    assert page.count('alt="False"') == 1


def test_a_policys_page_draws_its_versions_on_a_timeline(editor: User) -> None:
    today = timezone.localdate()
    policy = factories.policy()
    old = factories.publish(
        factories.draft_version(
            policy, effective_start=today - timedelta(days=700), effective_end=today - timedelta(days=1)
        ),
        editor,
    )
    current = factories.publish(factories.draft_version(policy, version_label="2025-01", effective_start=today), editor)
    factories.draft_version(policy, version_label="2026-draft", effective_start=None)

    page = signed_in(editor).get(f"{POLICIES}{policy.pk}/change/").content.decode()

    timeline = page.split('<svg class="timeline"')[1].split("</svg>")[0]
    assert f'href="{VERSIONS}{old.pk}/change/"' in timeline
    assert re.search(r'<rect class="bar status-published in-effect open-ended"', timeline)
    assert re.search(r'<rect class="bar status-published" x=', timeline)
    assert timeline.count("<rect") == 2  # the undated draft is named, with no bar
    assert "v2026-draft · Draft" in timeline
    assert f"v{current.version_label}: Published, {today.isoformat()} to open (in effect today)" in html.unescape(page)


# --- the fact catalogue ------------------------------------------------------------------------


def fact_data(**overrides: str) -> dict[str, str]:
    return {
        "key": "stenosis_grade",
        "label": "Stenosis grade",
        "value_type": "integer",
        "unit": "",
        "description": "",
    } | overrides


def test_an_editor_lists_a_facts_allowed_values_one_per_line(editor: User) -> None:
    response = signed_in(editor).post(f"{FACTS}add/", fact_data(allowed_values="1 | Mild\n2 | Moderate\n3"))

    assert response.status_code == 302
    assert FactDefinition.objects.get(key="stenosis_grade").allowed_values == [
        {"value": 1, "label": "Mild"},
        {"value": 2, "label": "Moderate"},
        {"value": 3, "label": "3"},
    ]


def test_an_allowed_value_not_of_the_facts_type_is_refused_naming_the_line(editor: User) -> None:
    response = signed_in(editor).post(f"{FACTS}add/", fact_data(allowed_values="1 | Mild\nsevere | Severe"))

    assert response.status_code == 200
    assert "line 2: 'severe' is not a whole number" in text(response)
    assert not FactDefinition.objects.filter(key="stenosis_grade").exists()


def test_a_facts_allowed_values_are_shown_as_lines_to_edit(editor: User) -> None:
    fact = FactDefinition.objects.create(
        key="stenosis_grade",
        label="Stenosis grade",
        value_type="integer",
        allowed_values=[{"value": 1, "label": "Mild"}],
    )

    page = text(signed_in(editor).get(f"{FACTS}{fact.pk}/change/"))

    assert re.search(r'<textarea name="allowed_values"[^>]*>\s*1 \| Mild</textarea>', page)


def test_a_policy_with_a_published_version_shows_its_lines_of_business_by_label(editor: User) -> None:
    version = factories.publish(factories.draft_version(), editor)

    page = text(signed_in(editor).get(f"{POLICIES}{version.policy_id}/change/"))

    assert "Commercial and Exchange (ACA marketplace)" in page
    assert '["commercial", "exchange"]' not in page
