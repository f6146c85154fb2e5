"""Refusals, missing pages and server errors in the layout, with a way back; machine doors stay JSON."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.test import RequestFactory
from django.views.defaults import server_error

from casemgmt.workspace import home
from tests.casemgmt.workspace.conftest import signed_in

pytestmark = pytest.mark.django_db


def test_a_refused_page_is_shown_in_the_layout_with_its_reason_and_a_way_back(auditor):
    response = signed_in(auditor).get("/dashboard/")

    assert response.status_code == 403
    html = response.content.decode()
    assert 'class="topbar"' in html and "Audit log</a>" in html
    assert "You cannot open this page" in html
    assert "Only managers may see the dashboard." in html
    assert 'href="/"' in html


def test_a_case_page_refused_to_an_auditor_uses_the_403_page(auditor, nurse, integration_client):
    from tests import factories

    case = factories.case(integration_client)
    response = signed_in(auditor).get(f"/cases/{case.case_number}/")

    assert response.status_code in (403, 404)
    assert 'class="topbar"' in response.content.decode()


def test_a_missing_page_is_shown_in_the_layout_with_a_way_back(nurse):
    response = signed_in(nurse).get("/no-such-page/")

    assert response.status_code == 404
    html = response.content.decode()
    assert 'class="topbar"' in html and "This page does not exist" in html
    assert "Go to your start page" in html


def test_the_server_error_page_is_in_the_layout_and_shows_no_request_data():
    request = RequestFactory().get("/cases/PA-SECRET01/")
    request.user = AnonymousUser()

    response = server_error(request)

    html = response.content.decode()
    assert response.status_code == 500
    assert 'class="topbar"' in html and "Something went wrong" in html and 'href="/"' in html
    assert "PA-SECRET01" not in html


def test_api_refusals_and_misses_stay_json():
    request = RequestFactory().get("/api/v1/nothing")

    refused = home.forbidden(request, PermissionDenied("no"))
    missing = home.not_found(request)

    assert refused.status_code == 403 and json.loads(refused.content) == {
        "detail": "You do not have permission to perform this action."
    }
    assert missing.status_code == 404 and json.loads(missing.content) == {"detail": "Not found."}


def test_fhir_refusals_and_misses_are_operation_outcomes(client):
    request = RequestFactory().get("/fhir/r4/Nothing")

    refused = home.forbidden(request, PermissionDenied("no"))
    missing = client.get("/fhir/r4/no/such/thing")

    assert refused["Content-Type"] == "application/fhir+json"
    assert json.loads(refused.content)["issue"][0]["code"] == "forbidden"
    assert missing.status_code == 404
    assert json.loads(missing.content)["resourceType"] == "OperationOutcome"
