"""The managers' admin: start a run, cancel and re-run, edit the nightly sample and schedule."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django_celery_beat.models import PeriodicTask

from casemgmt.retro.models import RetroOrigin, RetroRun, RetroRunStatus, RetroSchedule, RetroTrigger
from casemgmt.security import services as services_services
from tests.casemgmt.retro.conftest import days_ago

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def role_permissions(db: None) -> None:
    services_services.roles_sync_permissions()


def staff(user: User) -> Client:
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    client = Client()
    client.force_login(user)
    return client


def test_the_nightly_run_and_the_sweeper_are_in_the_database_schedule():
    nightly = PeriodicTask.objects.get(name="retro: nightly review")
    sweeper = PeriodicTask.objects.get(name="retro: sweeper")
    assert nightly.task == "casemgmt.retro.tasks.retro_nightly_task" and nightly.crontab is not None
    assert sweeper.task == "casemgmt.retro.tasks.retro_sweep_task" and sweeper.interval is not None
    assert nightly.enabled and sweeper.enabled


def test_a_manager_edits_the_nightly_schedule_in_the_admin(manager):
    nightly = PeriodicTask.objects.get(name="retro: nightly review")
    page = staff(manager).get(f"/admin/django_celery_beat/periodictask/{nightly.pk}/change/")
    assert page.status_code == 200


def test_a_manager_starts_a_run_from_the_admin(library, manager):
    response = staff(manager).post(
        "/admin/retro/retrorun/add/",
        {
            "policy": library.a1.policy_id,
            "date_from": str(days_ago(60)),
            "date_to": str(days_ago(1)),
            "line_of_business": "",
            "sample_percent": "25",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    run = RetroRun.objects.get(trigger=RetroTrigger.ON_DEMAND)
    assert (run.requested_via, run.started_by, run.sample_percent) == (RetroOrigin.ADMIN, manager, Decimal("25.00"))
    page = staff(manager).get(f"/admin/retro/retrorun/{run.pk}/change/").content.decode()
    assert "<progress" in page and f'hx-get="/retro/runs/{run.pk}/progress"' in page


def test_bad_admin_run_parameters_are_form_errors_naming_the_field(library, manager):
    response = staff(manager).post(
        "/admin/retro/retrorun/add/",
        {
            "policy": library.a1.policy_id,
            "date_from": str(days_ago(1)),
            "date_to": str(days_ago(60)),
            "sample_percent": "0",
        },
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "date_to" in errors and "sample_percent" in errors
    assert not RetroRun.objects.filter(trigger=RetroTrigger.ON_DEMAND).exists()


def test_admin_actions_cancel_and_run_again(library, manager):
    from casemgmt.retro import services

    run = services.retro_run_request(
        user=manager,
        request=services.RunRequest(policy_id=library.a1.policy_id, date_from=days_ago(60), date_to=days_ago(1)),
    )
    client = staff(manager)
    client.post("/admin/retro/retrorun/", {"action": "cancel_runs", "_selected_action": [run.pk]})
    run.refresh_from_db()
    assert run.status == RetroRunStatus.CANCELLED
    client.post("/admin/retro/retrorun/", {"action": "run_again", "_selected_action": [run.pk]})
    again = RetroRun.objects.exclude(pk=run.pk).get(trigger=RetroTrigger.ON_DEMAND)
    assert (again.seed, again.policy_id, again.status) == (run.seed, run.policy_id, RetroRunStatus.QUEUED)


@pytest.mark.parametrize("percent", ["101", "-5", "abc"])
def test_the_nightly_sample_percent_is_validated_in_the_admin(manager, percent):
    response = staff(manager).post(
        "/admin/retro/retroschedule/1/change/", {"enabled": "on", "sample_percent": percent, "first_run_days": "7"}
    )
    assert response.status_code == 200
    assert "sample_percent" in response.context["adminform"].form.errors
    assert RetroSchedule.objects.get().sample_percent == Decimal("5.00")


def test_a_manager_changes_the_nightly_sample_percent(manager):
    response = staff(manager).post(
        "/admin/retro/retroschedule/1/change/", {"enabled": "on", "sample_percent": "2.5", "first_run_days": "3"}
    )
    assert response.status_code == 302
    row = RetroSchedule.objects.get()
    assert (row.sample_percent, row.first_run_days, row.updated_by) == (Decimal("2.50"), 3, manager)


def test_an_editor_cannot_reach_the_runs(editor):
    assert staff(editor).get("/admin/retro/retrorun/").status_code == 403
