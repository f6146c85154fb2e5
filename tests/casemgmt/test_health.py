"""/healthz: what a load balancer polls. Database and broker status, no login."""

from __future__ import annotations

import pytest
from django.conf import settings

pytestmark = pytest.mark.django_db


def test_healthz_reports_database_and_broker(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    if settings.CELERY_BROKER_URL:
        assert body["broker"] == "ok"
    else:
        assert body["broker"] == "in-process (no broker configured)"
    assert "no-cache" in response["Cache-Control"]


def test_healthz_reports_an_unreachable_broker_as_503(client, settings, monkeypatch):
    unreachable = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    settings.CELERY_BROKER_URL = unreachable
    monkeypatch.setenv("CELERY_BROKER_URL", unreachable)  # Celery reads the env var before its config
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error"
    assert body["database"] == "ok"
    assert body["broker"].startswith("error: ")


def test_healthz_only_answers_get(client):
    assert client.post("/healthz").status_code == 405


def test_healthz_reports_the_outbox_without_failing_on_it(client):
    from datetime import timedelta

    from django.utils import timezone

    from casemgmt.outbox.services import outbox_task_add

    outbox_task_add(name="casemgmt.tasks.case_flags_refresh_task", args=[1], due_at=timezone.now() - timedelta(hours=1))
    response = client.get("/healthz")
    assert response.status_code == 200
    outbox = response.json()["outbox"]
    assert (outbox["unsent"], outbox["overdue"], outbox["relays"]) == (1, 1, 0)
    assert outbox["oldest_overdue_seconds"] >= 3600
    assert outbox["relay_heartbeat_seconds"] is None
