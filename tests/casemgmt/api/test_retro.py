"""The managers' run API: access by role, bad parameters, idempotency, progress, cancel."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from casemgmt.retro.models import RetroRun, RetroRunStatus, RetroTrigger
from casemgmt.security import services as services_services
from tests.casemgmt.retro.conftest import days_ago, decided_case

pytestmark = pytest.mark.django_db

PERSONAS = ["nurse", "physician", "editor", "integration_client", "outsider"]


def api_as(user: User | None) -> APIClient:
    api = APIClient()
    if user is not None:
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {services_services.api_token_create(user=user)[1]}")
    return api


def body(library: Any, **overrides: Any) -> dict[str, Any]:
    values = {"policy_id": library.a1.policy_id, "date_from": str(days_ago(60)), "date_to": str(days_ago(1))}
    values.update(overrides)
    return values


def test_a_manager_starts_a_run_and_follows_it_to_completion(
    library, manager, nurse, integration_client, django_capture_on_commit_callbacks
):
    decided_case(integration_client, nurse, code="62330", dos=days_ago(30))
    api = api_as(manager)
    with django_capture_on_commit_callbacks(execute=True):
        created = api.post("/api/v1/retro/runs", body(library, sample_percent="100"), format="json")
    assert created.status_code == 201, created.content
    run_id = created.json()["id"]
    assert created.json()["trigger"] == "on_demand" and created.json()["started_by"] == "mona.manager"

    shown = api.get(f"/api/v1/retro/runs/{run_id}")
    assert shown.status_code == 200
    data = shown.json()
    assert (data["status"], data["selected"], data["evaluated"], data["percent_done"]) == ("completed", 1, 1, 100)


def test_the_same_idempotency_key_starts_one_run(library, manager):
    api = api_as(manager)
    first = api.post("/api/v1/retro/runs", body(library), format="json", HTTP_IDEMPOTENCY_KEY="retro-1")
    again = api.post("/api/v1/retro/runs", body(library), format="json", HTTP_IDEMPOTENCY_KEY="retro-1")
    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert first.json()["id"] == again.json()["id"]
    assert RetroRun.objects.filter(trigger=RetroTrigger.ON_DEMAND).count() == 1


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"policy_id": 999_999}, "policy"),
        ({"date_from": "2026-13-01"}, "date_from"),
        ({"date_to": str(days_ago(90))}, "date_to"),
        ({"line_of_business": "medicare_part_z"}, "line_of_business"),
        ({"sample_percent": "0"}, "sample_percent"),
        ({"sample_percent": "101"}, "sample_percent"),
        ({"sample_percent": "ten"}, "sample_percent"),
        ({"nightly": True}, "nightly"),
    ],
)
def test_bad_parameters_are_400_naming_the_field(library, manager, overrides, field):
    response = api_as(manager).post("/api/v1/retro/runs", body(library, **overrides), format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]
    assert not RetroRun.objects.filter(trigger=RetroTrigger.ON_DEMAND).exists()


@pytest.mark.parametrize("persona", PERSONAS)
def test_only_managers_start_read_or_cancel_runs(request, library, manager, persona):
    run = api_as(manager).post("/api/v1/retro/runs", body(library), format="json").json()
    user: User = request.getfixturevalue(persona)
    api = api_as(user)
    for response in (
        api.post("/api/v1/retro/runs", body(library), format="json"),
        api.get(f"/api/v1/retro/runs/{run['id']}"),
        api.post(f"/api/v1/retro/runs/{run['id']}/cancel", {}, format="json"),
    ):
        assert response.status_code == 403, (persona, response.content)
        assert str(run["seed"]).encode() not in response.content
    assert RetroRun.objects.get(pk=run["id"]).status == RetroRunStatus.QUEUED
    assert RetroRun.objects.filter(trigger=RetroTrigger.ON_DEMAND).count() == 1


def test_anonymous_calls_are_401(library, manager):
    run = api_as(manager).post("/api/v1/retro/runs", body(library), format="json").json()
    api = api_as(None)
    assert api.get(f"/api/v1/retro/runs/{run['id']}").status_code == 401
    assert api.post("/api/v1/retro/runs", body(library), format="json").status_code == 401


def test_a_manager_cancels_a_run_and_cancelling_again_is_409(library, manager):
    api = api_as(manager)
    run = api.post("/api/v1/retro/runs", body(library), format="json").json()
    cancelled = api.post(f"/api/v1/retro/runs/{run['id']}/cancel", {}, format="json")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    again = api.post(f"/api/v1/retro/runs/{run['id']}/cancel", {}, format="json")
    assert again.status_code == 409 and again.json()["current_status"] == "cancelled"


def test_an_unknown_run_is_404(manager):
    assert api_as(manager).get("/api/v1/retro/runs/424242").status_code == 404
