"""One request from intake to a cited decision, through the real API and the real pages."""

from __future__ import annotations

from datetime import date

import pytest
from django.core.management import call_command
from django.test import Client
from rest_framework.test import APIClient

from casemgmt.cases.models import Case, Citation
from casemgmt.security.services import api_token_create
from policies_app.demo.seed_policies import WELLMARK_07_01_89
from policies_app.models import PolicyVersion
from policies_app.services import policy_seed
from tests import factories

pytestmark = pytest.mark.django_db


def test_request_flows_from_intake_to_cited_denial(integration_client, nurse, physician, editor):
    version = policy_seed(data=WELLMARK_07_01_89, user=editor)
    _, token = api_token_create(user=integration_client)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

    submitted = api.post("/api/v1/cases", factories.api_case_body(), format="json")
    assert submitted.status_code == 201
    case_number = submitted.json()["case_number"]
    assert submitted.json()["flags"][0]["citation"]["policy_number"] == "07.01.89"

    nurse_browser = Client()
    nurse_browser.force_login(nurse)
    assert case_number in nurse_browser.get("/queue/").content.decode()
    page = nurse_browser.get(f"/cases/{case_number}/").content.decode()
    assert "Investigational service per policy 07.01.89 (version 2023-07" in page
    nurse_browser.post(f"/cases/{case_number}/refer", {"summary": "Investigational per 07.01.89."})

    doctor = Client()
    doctor.force_login(physician)
    case = Case.objects.get(case_number=case_number)
    doctor.post(
        f"/cases/{case_number}/decide",
        {
            "outcome_1": "denied",
            "reason_1": "Image-guided minimally invasive lumbar decompression is investigational under policy 07.01.89.",
            "citation_versions": [version.pk],
            "criterion": "Image-guided minimally invasive spinal decompression is considered investigational.",
            "row_version": case.row_version,
        },
    )

    decisions = api.get(f"/api/v1/cases/{case_number}/decisions").json()
    assert decisions[0]["lines"][0]["outcome"] == "denied"
    citation = decisions[0]["citations"][0]
    assert (citation["policy_number"], citation["version"], citation["effective_start"]) == (
        "07.01.89",
        "2023-07",
        "2023-07-01",
    )
    assert api.get(f"/api/v1/cases/{case_number}").json()["status"] == "decided"

    # A later edition closes the old one; the decision still says what it rested on then.
    successor = factories.draft_version(
        version.policy, version_label="2027-01", effective_start=date(2027, 1, 1), coverage_position="investigational"
    )
    factories.publish(successor, editor)
    assert PolicyVersion.objects.get(pk=version.pk).effective_end == date(2026, 12, 31)
    assert Citation.objects.get().effective_end is None


def test_load_demo_is_idempotent(db, capsys):
    call_command("load_demo")
    counts = (Case.objects.count(), PolicyVersion.objects.count())
    call_command("load_demo")
    assert (Case.objects.count(), PolicyVersion.objects.count()) == counts == (5, 2)
    assert "nurse" in capsys.readouterr().out


def test_load_demo_names_the_address_it_is_told_the_app_is_served_on(db, capsys):
    call_command("load_demo", url="http://127.0.0.1:8011/")
    assert "Sign in at http://127.0.0.1:8011/ with one of these" in capsys.readouterr().out
