from __future__ import annotations

import html
import re
from datetime import date
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from casemgmt.security.services import roles_sync_permissions
from policies_app.models import Criterion, FactDefinition, Policy, PolicyVersion, PolicyVersionStatus
from policies_app.services import policy_version_submit_for_review
from tests import factories

pytestmark = pytest.mark.django_db

VERSIONS = "/admin/policies_app/policyversion/"


@pytest.fixture(autouse=True)
def role_permissions(db: None) -> None:
    # Tests build their own groups; give them the admin permissions each role has in production.
    roles_sync_permissions()


def staff(user: User) -> User:
    # Demo and production reviewers are staff (demo_user_ensure); the conftest personas are not.
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    return user


def signed_in(user: User) -> Client:
    browser = Client()
    browser.force_login(user)
    return browser


def text(response: Any) -> str:
    return html.unescape(response.content.decode())


def draft_form_data(version: PolicyVersion, **overrides: str) -> dict[str, str]:
    """The change form of a draft as the browser would post it, with empty inline formsets."""
    data = {
        "version_label": version.version_label,
        "coverage_position": version.coverage_position,
        "effective_start": version.effective_start.isoformat() if version.effective_start else "",
        "effective_end": "",
        "revised_date": "",
        "review_date": "",
        "statement": version.statement,
        "history": "",
        "missing_fields": "",
    }
    for prefix in ("codes", "terms", "criteria"):
        data[f"{prefix}-TOTAL_FORMS"] = "0"
        data[f"{prefix}-INITIAL_FORMS"] = "0"
    data.update(overrides)
    return data


def criteria_version(policy: Policy | None = None, **overrides: Any) -> PolicyVersion:
    version = factories.draft_version(
        policy,
        coverage_position="medically_necessary_with_criteria",
        statement="Covered when criteria are met.",
        **overrides,
    )
    group = Criterion.objects.create(version=version, node_type="all_of", label="All of the following")
    factories.leaf(version, group, "Six weeks of failed conservative therapy", "conservative_therapy_weeks", "gte", 6)
    factories.leaf(version, group, "Imaging confirms stenosis", "imaging_confirms_stenosis", "is_true", None)
    return version


def test_editor_edits_a_draft_with_code_term_and_criterion_inlines(editor: User) -> None:
    version = factories.draft_version()
    code = version.codes.get()
    weeks = FactDefinition.objects.get(key="conservative_therapy_weeks")
    data = draft_form_data(
        version,
        statement="Now with criteria.",
        coverage_position="medically_necessary_with_criteria",
        **{
            "codes-TOTAL_FORMS": "2",
            "codes-INITIAL_FORMS": "1",
            "codes-0-id": str(code.pk),
            "codes-0-version": str(version.pk),
            "codes-0-system": "CPT",
            "codes-0-code": "62330",
            "codes-0-code_end": "",
            "codes-0-description": "Decompression",
            "codes-1-system": "HCPCS",
            "codes-1-code": "g0276",
            "codes-1-code_end": "",
            "codes-1-description": "",
            "terms-TOTAL_FORMS": "1",
            "terms-0-term": "mild",
            "terms-0-kind": "procedure",
            "criteria-TOTAL_FORMS": "1",
            "criteria-0-position": "0",
            "criteria-0-node_type": "leaf",
            "criteria-0-label": "Six weeks of conservative therapy",
            "criteria-0-fact": str(weeks.pk),
            "criteria-0-operator": "gte",
            "criteria-0-value": "6",
        },
    )

    response = signed_in(editor).post(f"{VERSIONS}{version.pk}/change/", data)

    assert response.status_code == 302, response.context["errors"] if response.context else response
    version.refresh_from_db()
    assert version.statement == "Now with criteria."
    assert sorted(version.codes.values_list("system", "code", "description")) == [
        ("CPT", "62330", "Decompression"),
        ("HCPCS", "G0276", ""),
    ]
    assert list(version.terms.values_list("term", "kind")) == [("mild", "procedure")]
    leaf = version.criteria.get()
    assert (leaf.fact_id, leaf.operator, leaf.value) == (weeks.pk, "gte", 6)


def test_draft_code_inline_refuses_a_malformed_code_naming_it(editor: User) -> None:
    version = factories.draft_version(codes=[])
    data = draft_form_data(
        version,
        **{"codes-TOTAL_FORMS": "1", "codes-0-system": "CPT", "codes-0-code": "6233", "codes-0-code_end": ""},
    )

    response = signed_in(editor).post(f"{VERSIONS}{version.pk}/change/", data)

    assert response.status_code == 200
    assert "'6233' is not a CPT code" in text(response)
    assert not version.codes.exists()


def test_published_version_change_page_is_read_only(editor: User) -> None:
    version = factories.publish(factories.draft_version(), editor)

    response = signed_in(editor).get(f"{VERSIONS}{version.pk}/change/")

    assert response.status_code == 200
    page = text(response)
    assert 'name="statement"' not in page
    assert "62330" in page
    assert 'name="codes-0-code"' not in page
    assert "this version is read-only" in page
    assert "Retire" in page
    assert ">Publish<" not in page


def test_post_changing_a_published_version_is_refused_and_changes_nothing(editor: User) -> None:
    version = factories.publish(factories.draft_version(), editor)

    response = signed_in(editor).post(f"{VERSIONS}{version.pk}/change/", draft_form_data(version, statement="Edited."))

    assert response.status_code == 403
    version.refresh_from_db()
    assert version.statement == "The test procedure is investigational."


def test_in_review_version_is_read_only_too(editor: User) -> None:
    version = factories.draft_version()
    policy_version_submit_for_review(version_id=version.pk, user=editor)

    response = signed_in(editor).post(f"{VERSIONS}{version.pk}/change/", draft_form_data(version, statement="Edited."))

    assert response.status_code == 403
    version.refresh_from_db()
    assert version.statement == "The test procedure is investigational."


def test_publish_list_action_publishes_a_version_in_review(editor: User) -> None:
    version = factories.submit(factories.draft_version())

    response = signed_in(editor).post(
        VERSIONS, {"action": "publish", "_selected_action": [str(version.pk)]}, follow=True
    )

    version.refresh_from_db()
    assert version.status == PolicyVersionStatus.PUBLISHED
    assert version.published_by == editor
    assert "TP.01 v2024-01 published." in text(response)


def test_overlapping_publish_shows_the_clear_message_and_changes_nothing(editor: User) -> None:
    policy = factories.policy()
    factories.publish(factories.draft_version(policy, effective_end=date(2024, 12, 31)), editor)
    later = factories.submit(factories.draft_version(policy, version_label="2024-06", effective_start=date(2024, 6, 1)))

    response = signed_in(editor).post(f"{VERSIONS}{later.pk}/transition/publish/", follow=True)

    page = text(response)
    assert "Could not publish" in page
    assert "Effective start: version 2024-06 (2024-06-01 to open) overlaps published version 2024-01" in page
    later.refresh_from_db()
    assert later.status == PolicyVersionStatus.IN_REVIEW


def test_the_editor_who_submitted_a_version_is_told_another_editor_must_publish_it(editor: User) -> None:
    """Issue 17 §6: the one who submitted a version for review cannot publish it; the admin says why."""
    version = factories.draft_version()
    policy_version_submit_for_review(version_id=version.pk, user=editor)

    response = signed_in(editor).post(f"{VERSIONS}{version.pk}/transition/publish/", follow=True)

    assert (
        "Could not publish TP.01 v2024-01: You submitted version 2024-01 for review, "
        "so another policy editor must review and publish it."
    ) in text(response)
    version.refresh_from_db()
    assert version.status == PolicyVersionStatus.IN_REVIEW


def test_submit_for_review_of_an_incomplete_draft_names_each_missing_field(editor: User) -> None:
    version = factories.draft_version(factories.policy(number="", title="Untitled"), statement="")

    response = signed_in(editor).post(f"{VERSIONS}{version.pk}/transition/submit/", follow=True)

    page = text(response)
    assert "Policy number: the policy number is missing" in page
    assert "Statement: the policy statement is empty" in page
    version.refresh_from_db()
    assert version.status == PolicyVersionStatus.DRAFT


def test_new_draft_from_a_published_version_copies_codes_terms_and_criteria(editor: User) -> None:
    source = factories.publish(criteria_version(terms=["mild"]), editor)

    response = signed_in(editor).post(f"{VERSIONS}{source.pk}/draft-from/", {"version_label": "2025-01"})

    draft = PolicyVersion.objects.get(policy=source.policy, version_label="2025-01")
    assert response.status_code == 302
    assert response["Location"] == f"{VERSIONS}{draft.pk}/change/"
    assert draft.status == PolicyVersionStatus.DRAFT
    assert draft.based_on == source
    assert list(draft.codes.values_list("system", "code")) == [("CPT", "62330")]
    assert list(draft.terms.values_list("term", flat=True)) == ["mild"]
    group = draft.criteria.get(parent__isnull=True)
    assert sorted(group.children.values_list("label", flat=True)) == [
        "Imaging confirms stenosis",
        "Six weeks of failed conservative therapy",
    ]


def test_new_draft_with_a_taken_label_is_a_form_error(editor: User) -> None:
    source = factories.draft_version()

    response = signed_in(editor).post(f"{VERSIONS}{source.pk}/draft-from/", {"version_label": "2024-01"})

    assert response.status_code == 200
    assert "version '2024-01' already exists for this policy" in text(response)
    assert PolicyVersion.objects.count() == 1


def test_diff_view_shows_the_changed_statement_as_a_changed_row(editor: User) -> None:
    policy = factories.policy()
    old = factories.publish(factories.draft_version(policy, statement="Old wording."), editor)
    new = factories.draft_version(policy, version_label="2025-01", statement="New wording.")

    response = signed_in(editor).get(f"{VERSIONS}{old.pk}/diff/{new.pk}/")

    assert response.status_code == 200
    rows = re.findall(r'<tr class="([^"]*)">\s*<th class="section">([^<]*)</th>', response.content.decode())
    statement_row = next(classes for classes, section in rows if section == "Policy statement")
    assert "changed" in statement_row
    payer_row = next(classes for classes, section in rows if section == "Payer")
    assert "changed" not in payer_row
    page = text(response)
    assert "Old wording." in page
    assert "New wording." in page


def test_compare_page_links_to_the_diff_of_each_other_version(editor: User) -> None:
    policy = factories.policy()
    old = factories.draft_version(policy)
    new = factories.draft_version(policy, version_label="2025-01")

    response = signed_in(editor).get(f"{VERSIONS}{old.pk}/compare/")

    assert f'href="{VERSIONS}{old.pk}/diff/{new.pk}/"' in response.content.decode()


def test_try_it_shows_an_investigational_flag_for_a_matching_code(editor: User) -> None:
    version = factories.draft_version()

    response = signed_in(editor).post(
        f"{VERSIONS}{version.pk}/try/",
        {"line_of_business": "commercial", "code_system": "CPT", "code": "62330", "date_of_service": "2024-03-01"},
    )

    page = text(response)
    assert response.status_code == 200
    assert "investigational" in page
    assert "Investigational service per policy TP.01 (version 2024-01, effective 2024-01-01)." in page


def test_try_it_shows_the_criteria_checklist_leaf_by_leaf(editor: User) -> None:
    version = criteria_version()

    response = signed_in(editor).post(
        f"{VERSIONS}{version.pk}/try/",
        {
            "line_of_business": "commercial",
            "code_system": "CPT",
            "code": "62330",
            "date_of_service": "2024-03-01",
            "fact-conservative_therapy_weeks": "8",
        },
    )

    flag = response.context["flags"][0]
    assert flag["kind"] == "criteria_incomplete"
    assert [(leaf["label"], leaf["result"]) for leaf in flag["checklist"]] == [
        ("Six weeks of failed conservative therapy", "met"),
        ("Imaging confirms stenosis", "unknown"),
    ]
    page = text(response)
    assert "Documentation needed for: Imaging confirms spinal stenosis" in page
    assert '<td class="result-met">met</td>' in page


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("fact-conservative_therapy_weeks", "eight", "Enter a whole number"),
        ("fact-bmi", "heavy", "Enter a number"),
        ("fact-imaging_confirms_stenosis", "maybe", "Select a valid choice"),
        ("date_of_service", "2024-02-30", "Enter a valid date"),
    ],
)
def test_try_it_reports_bad_input_as_a_form_error(editor: User, field: str, value: str, message: str) -> None:
    version = factories.draft_version()
    data = {"line_of_business": "commercial", "code_system": "CPT", "code": "62330", "date_of_service": "2024-03-01"}

    response = signed_in(editor).post(f"{VERSIONS}{version.pk}/try/", {**data, field: value})

    assert response.status_code == 200
    assert message in text(response)
    assert response.context["flags"] is None


def test_editor_sets_policy_lines_of_business_with_checkboxes(editor: User) -> None:
    policy = factories.policy()
    data = {
        "payer": policy.payer,
        "number": policy.number,
        "title": policy.title,
        "lines_of_business": ["commercial", "medicaid"],
        "original_effective_date": "",
        "versions-TOTAL_FORMS": "0",
        "versions-INITIAL_FORMS": "0",
    }

    response = signed_in(editor).post(f"/admin/policies_app/policy/{policy.pk}/change/", data)

    assert response.status_code == 302
    policy.refresh_from_db()
    assert policy.lines_of_business == ["commercial", "medicaid"]


def test_policy_list_searches_by_number_and_shows_the_current_version(editor: User) -> None:
    factories.publish(factories.draft_version(factories.policy(number="07.01.89")), editor)
    factories.policy(number="99.99.99", title="Other")

    response = signed_in(editor).get("/admin/policies_app/policy/", {"q": "07.01"})

    page = text(response)
    assert "07.01.89" in page
    assert "99.99.99" not in page
    assert "2024-01 (from 2024-01-01)" in page


def test_nurse_reads_versions_with_their_codes_but_sees_no_edit_actions(nurse: User, editor: User) -> None:
    version = factories.draft_version()
    browser = signed_in(staff(nurse))

    listing = browser.get(VERSIONS)
    page = browser.get(f"{VERSIONS}{version.pk}/change/")

    assert listing.status_code == 200
    assert 'name="action"' not in listing.content.decode()
    assert page.status_code == 200
    content = text(page)
    assert "62330" in content
    assert "Submit for review" not in content
    assert "New draft from this version" not in content
    assert 'name="statement"' not in content


def test_nurse_change_post_is_forbidden_and_changes_nothing(nurse: User) -> None:
    version = factories.draft_version()

    response = signed_in(staff(nurse)).post(f"{VERSIONS}{version.pk}/change/", draft_form_data(version, statement="X"))

    assert response.status_code == 403
    version.refresh_from_db()
    assert version.statement == "The test procedure is investigational."


@pytest.mark.parametrize("url", ["transition/submit/", "draft-from/"])
def test_nurse_cannot_use_workflow_views(nurse: User, url: str) -> None:
    version = factories.draft_version()

    response = signed_in(staff(nurse)).post(f"{VERSIONS}{version.pk}/{url}", {"version_label": "x"})

    assert response.status_code == 403
    version.refresh_from_db()
    assert version.status == PolicyVersionStatus.DRAFT
    assert PolicyVersion.objects.count() == 1


def test_physician_can_use_try_it_and_the_diff(physician: User) -> None:
    policy = factories.policy()
    one = factories.draft_version(policy)
    two = factories.draft_version(policy, version_label="2025-01")
    browser = signed_in(staff(physician))

    assert browser.get(f"{VERSIONS}{one.pk}/try/").status_code == 200
    assert browser.get(f"{VERSIONS}{one.pk}/diff/{two.pk}/").status_code == 200


@pytest.mark.parametrize("url", ["", "1/change/", "1/try/", "1/diff/2/"])
def test_outsider_without_staff_is_redirected_to_login(outsider: User, url: str) -> None:
    response = signed_in(outsider).get(f"{VERSIONS}{url}")

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_policy_with_a_published_version_keeps_its_number_title_and_lines(editor: User) -> None:
    version = factories.publish(factories.draft_version(), editor)
    policy = version.policy
    response = signed_in(editor).post(
        f"/admin/policies_app/policy/{policy.pk}/change/",
        {
            "payer": "Other payer",
            "number": "XX.99",
            "title": "Renamed",
            "retrospective_review": "on",
            "original_effective_date": "",
            "versions-TOTAL_FORMS": "0",
            "versions-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code in (200, 302)
    policy.refresh_from_db()
    assert (policy.payer, policy.number, policy.title) == ("Test Health Plan", "TP.01", "Test procedure policy")
    assert policy.lines_of_business == ["commercial", "exchange"]
