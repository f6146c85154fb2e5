"""GET /api/v1/reports/cms-0057f (issue 16, section 5)."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from casemgmt.audit.models import AuditEvent, AuditObject

pytestmark = pytest.mark.django_db


def api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_a_missing_year_is_400_with_its_field_path(manager):
    """Issue 16, section 5: the report is for a calendar year (`year=`)."""
    response = api(manager).get("/api/v1/reports/cms-0057f")
    assert response.status_code == 400
    assert "year" in str(response.json())


def test_a_year_out_of_range_is_400(manager):
    """Issue 16, section 5: a calendar year the report can cover."""
    assert api(manager).get("/api/v1/reports/cms-0057f?year=99999").status_code == 400


def test_a_nurse_may_not_read_the_report(nurse):
    """casemgmt/security/access_matrix.py: managers read the report."""
    assert api(nurse).get("/api/v1/reports/cms-0057f?year=2025").status_code == 403


def test_the_report_read_is_audited(manager):
    """Issue 16, section 5; 45 CFR 164.312(b): every report read is audited."""
    response = api(manager).get("/api/v1/reports/cms-0057f?year=2025")
    assert response.status_code == 200
    assert response.json()["tables"] == []
    assert AuditEvent.objects.filter(object_type=AuditObject.REPORT).count() == 1
