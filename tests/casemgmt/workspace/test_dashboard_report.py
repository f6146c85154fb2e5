"""The CMS-0057-F yearly report page and CSV (issue 16, section 5)."""

from __future__ import annotations

import csv
import io

import pytest
from django.utils import timezone

from casemgmt.audit.models import AuditEvent, AuditObject
from tests.casemgmt.workspace.conftest import signed_in

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("who", ["nurse", "physician", "integration_client", "outsider", "editor"])
def test_the_report_is_for_managers_only(request, who):
    """Issue 16, section 5: the report is produced by managers, like the dashboard."""
    browser = signed_in(request.getfixturevalue(who))
    assert browser.get("/dashboard/report/?year=2025").status_code == 403
    assert browser.get("/dashboard/report.csv?year=2025").status_code == 403


def test_a_year_out_of_range_is_a_form_error(manager):
    """Issue 16, section 5: the report is for a calendar year."""
    response = signed_in(manager).get("/dashboard/report/?year=12")
    assert response.status_code == 400
    assert signed_in(manager).get("/dashboard/report.csv?year=abc").status_code == 400


def test_the_csv_has_each_metric_with_its_formula(manager):
    """Issue 16, section 5: the formula of every metric in the CSV."""
    year = timezone.localdate().year
    response = signed_in(manager).get(f"/dashboard/report.csv?year={year}")
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["line_of_business", "plan_id", "name", "value", "unit", "period", "count", "total", "formula"]


def test_every_report_read_is_audited(manager):
    """Issue 16, section 5; HIPAA 45 CFR 164.312(b): reads of the report are recorded."""
    signed_in(manager).get("/dashboard/report/?year=2025")
    signed_in(manager).get("/dashboard/report.csv?year=2025")
    assert AuditEvent.objects.filter(object_type=AuditObject.REPORT).count() == 2
