"""The public list of services requiring prior authorization (CMS-0057-F): the page and its CSV."""

from __future__ import annotations

import csv
import html
import io
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from policies_app.models import PolicyCode
from policies_app.requirement_rules import requirement_rule_retire
from tests import factories

pytestmark = pytest.mark.django_db

PAGE = "/prior-authorization/requirements/"
CSV = "/prior-authorization/requirements.csv"


def rows(response) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(response.content.decode())))


def test_page_is_public_and_lists_published_rules_in_people_words(editor):
    factories.requirement_rule(editor, code_start="99202", code_end="99215", requirement="not_required")
    response = Client().get(PAGE)
    page = html.unescape(response.content.decode())
    assert response.status_code == 200
    assert "CPT 99202\u201399215" in page
    assert "No prior authorization required" in page
    assert "All lines of business" in page


def test_drafts_retired_and_future_rules_are_not_listed(editor):
    factories.requirement_rule(editor, publish=False, code_start="11111")
    factories.requirement_rule(editor, code_start="22222", effective_start=timezone.localdate() + timedelta(days=1))
    retired = factories.requirement_rule(editor, code_start="33333")
    requirement_rule_retire(user=editor, rule_id=retired.pk)
    factories.requirement_rule(editor, code_start="44444")
    assert [r["Code or range"] for r in rows(Client().get(CSV))] == ["44444"]


def test_csv_has_description_from_the_governing_policy_and_its_number(editor):
    draft = factories.draft_version(factories.policy(number="TP.02"), codes=[])
    PolicyCode.objects.create(version=draft, system="CPT", code="62330", description="Lumbar decompression")
    factories.publish(draft, editor)
    factories.requirement_rule(editor, policy_id=draft.policy_id)
    [row] = rows(Client().get(CSV))
    assert (row["Description"], row["Policy"], row["Requirement"]) == (
        "Lumbar decompression",
        "TP.02",
        "Prior authorization required",
    )


def test_filter_by_line_of_business_keeps_rules_for_every_line(editor):
    factories.requirement_rule(editor, code_start="11111", line_of_business="medicaid")
    factories.requirement_rule(editor, code_start="22222", line_of_business="commercial")
    factories.requirement_rule(editor, code_start="33333")
    listed = [r["Code or range"] for r in rows(Client().get(f"{CSV}?line_of_business=medicaid"))]
    assert listed == ["11111", "33333"]


def test_unknown_line_of_business_is_400(db):
    assert Client().get(f"{PAGE}?line_of_business=martian").status_code == 400
    assert Client().get(f"{CSV}?line_of_business=martian").status_code == 400


def test_plan_wide_default_is_listed_last_as_every_other_service(editor):
    factories.requirement_rule(editor, code_system="", code_start="")
    factories.requirement_rule(editor)
    listed = [r["Code or range"] for r in rows(Client().get(CSV))]
    assert listed == ["62330", "Every other service (plan-wide default)"]


def test_csv_cell_that_a_spreadsheet_would_run_is_prefixed(editor):
    draft = factories.draft_version(codes=[])
    PolicyCode.objects.create(version=draft, system="CPT", code="62330", description="=HYPERLINK(1)")
    factories.publish(draft, editor)
    factories.requirement_rule(editor, policy_id=draft.policy_id)
    [row] = rows(Client().get(CSV))
    assert row["Description"] == "'=HYPERLINK(1)"
