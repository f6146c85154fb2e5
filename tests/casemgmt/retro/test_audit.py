"""Every change retrospective review makes is in the audit log, written in the transaction that
makes it: runs asked for, their status moves, what each chunk wrote, review items worked by
reviewers, and the nightly settings. Delivery bookkeeping (leases, re-sends) is not recorded."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from casemgmt.audit.models import AuditAction, AuditChannel, AuditEvent, AuditObject
from casemgmt.audit.recording import AuditedAdminMixin
from casemgmt.audit.selectors import case_access_history
from casemgmt.cases.services import decisions as decisions_services
from casemgmt.kernel.errors import InvalidTransition, PermissionDeniedError
from casemgmt.retro import services
from casemgmt.retro.models import (
    RetroChunk,
    RetroItemStatus,
    RetroOrigin,
    RetroReviewItem,
    RetroRun,
    RetroRunStatus,
    RetroSchedule,
    RetroTrigger,
)
from casemgmt.retro.tasks import retro_nightly_task
from casemgmt.security import services as services_services
from tests.casemgmt.audit.conftest import api, only, rows
from tests.casemgmt.retro.conftest import Library, days_ago, decided_case, publish_replacements

pytestmark = pytest.mark.django_db


def change(event: AuditEvent, field: str) -> tuple[Any, Any]:
    value = event.changes[field]
    return value["old"], value["new"]


def run_rows(run: RetroRun, **filters: Any) -> list[AuditEvent]:
    return rows(object_type=AuditObject.RETRO_RUN, object_id=str(run.pk), **filters)


def on_demand(library: Library, user: User | None, origin: str = RetroOrigin.API) -> RetroRun:
    """An on-demand run over RA.01's cases of the last 60 days, queued (not planned)."""
    return services.retro_run_request(
        user=user,
        request=services.RunRequest(policy_id=library.a1.policy_id, date_from=days_ago(60), date_to=days_ago(1)),
        origin=origin,
    )


def staff(user: User) -> Client:
    services_services.roles_sync_permissions()
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    client = Client(REMOTE_ADDR="10.4.4.4")
    client.force_login(user)
    return client


@pytest.fixture
def discrepant(library, editor, nurse, integration_client):
    """Three approved 62330 services that the version now in effect (A2) calls investigational."""
    cases = [
        decided_case(integration_client, nurse, code="62330", dos=days_ago(50), cite=[library.a1]) for _ in range(3)
    ]
    publish_replacements(library, editor)
    return cases


@pytest.fixture
def item(discrepant, manager, library, django_capture_on_commit_callbacks) -> RetroReviewItem:
    """One open review item, opened by an on-demand run."""
    with django_capture_on_commit_callbacks(execute=True):
        on_demand(library, manager)
    return RetroReviewItem.objects.order_by("pk").first()  # type: ignore[return-value]


# --- runs asked for -------------------------------------------------------------------------


def test_a_run_started_over_the_api_is_recorded_with_its_parameters(library, manager):
    body = {
        "policy_id": library.a1.policy_id,
        "date_from": str(days_ago(60)),
        "date_to": str(days_ago(1)),
        "line_of_business": "commercial",
        "sample_percent": "12.5",
    }
    response = api(manager, ip="198.51.100.9").post("/api/v1/retro/runs", body, format="json")
    assert response.status_code == 201
    event = only(action=AuditAction.CREATE, object_type=AuditObject.RETRO_RUN, object_id=str(response.json()["id"]))
    assert (event.actor, event.roles, event.channel, event.ip) == (manager, "manager", AuditChannel.API, "198.51.100.9")
    assert change(event, "policy") == (None, library.a1.policy_id)
    assert change(event, "date_from") == (None, days_ago(60).isoformat())
    assert change(event, "line_of_business") == (None, "commercial")
    assert change(event, "sample_percent") == (None, "12.50")
    assert change(event, "status") == (None, RetroRunStatus.QUEUED)
    assert change(event, "trigger") == (None, RetroTrigger.ON_DEMAND)
    assert change(event, "seed") == (None, RetroRun.objects.get(pk=event.object_id).seed)


def test_a_run_started_by_the_command_is_recorded_as_the_system_on_the_command_channel(library):
    call_command(
        "retro_review",
        "--policy",
        library.a1.policy.number,
        "--from",
        str(days_ago(60)),
        "--to",
        str(days_ago(1)),
        "--no-wait",
        stdout=open("/dev/null", "w"),  # noqa: SIM115
    )
    run = RetroRun.objects.get(trigger=RetroTrigger.ON_DEMAND)
    event = run_rows(run, action=AuditAction.CREATE)[0]
    assert (event.actor, event.actor_username, event.channel) == (None, "system", AuditChannel.COMMAND)
    assert change(event, "requested_via") == (None, RetroOrigin.COMMAND)


def test_running_again_records_the_new_run_and_the_run_it_repeats(library, manager):
    old = on_demand(library, manager)
    services.retro_run_cancel(run_id=old.pk, user=manager)
    again = services.retro_run_again(run_id=old.pk, user=manager)
    event = only(action=AuditAction.CREATE, object_type=AuditObject.RETRO_RUN, object_id=str(again.pk))
    assert event.detail["repeats"] == old.pk
    assert change(event, "seed") == (None, old.seed)


def test_a_run_a_publish_calls_for_is_recorded_as_started_by_the_editor(library, editor):
    a2, _ = publish_replacements(library, editor)
    run = RetroRun.objects.get(trigger=RetroTrigger.PUBLISH, policy_version=a2)
    event = run_rows(run, action=AuditAction.CREATE)[0]
    assert (event.actor, event.roles) == (editor, "policy_editor")
    assert change(event, "policy_version") == (None, a2.pk)


def test_the_nightly_run_is_recorded_as_the_system_on_the_task_channel(library):
    RetroSchedule.objects.update_or_create(pk=1, defaults={"sample_percent": Decimal(10)})
    run_id = retro_nightly_task.apply().get()
    assert run_id is not None
    event = run_rows(RetroRun.objects.get(pk=run_id), action=AuditAction.CREATE)[0]
    assert (event.actor_username, event.channel) == ("system", AuditChannel.TASK)
    assert event.detail["task"] == "casemgmt.retro.tasks.retro_nightly_task"
    assert change(event, "sample_percent") == (None, "10.00")


def test_a_refused_start_leaves_no_row(library, nurse):
    with pytest.raises(PermissionDeniedError):
        on_demand(library, nurse)
    assert not RetroRun.objects.filter(trigger=RetroTrigger.ON_DEMAND).exists()
    assert rows(object_type=AuditObject.RETRO_RUN, actor=nurse) == []


# --- run status -----------------------------------------------------------------------------


def test_planning_records_the_run_running_with_its_selection(discrepant, library, manager, small_chunks):
    run = on_demand(library, manager)
    services.retro_run_plan(run_id=run.pk)
    event = run_rows(run, action=AuditAction.CHANGE)[0]
    assert event.actor_username == "system"
    assert change(event, "status") == (RetroRunStatus.QUEUED, RetroRunStatus.RUNNING)
    assert change(event, "selected") == (0, 3)
    assert change(event, "chunk_count") == (0, 1)


def test_a_selection_that_fails_records_the_run_failed(library, manager, monkeypatch):
    run = on_demand(library, manager)

    def broken(run: RetroRun) -> set[int]:
        raise RuntimeError("selection broke")

    monkeypatch.setitem(services._SELECTIONS, RetroTrigger.ON_DEMAND, broken)
    services.retro_run_plan(run_id=run.pk)
    event = run_rows(run, action=AuditAction.CHANGE)[0]
    assert change(event, "status") == (RetroRunStatus.QUEUED, RetroRunStatus.FAILED)
    assert change(event, "error") == ("", "RuntimeError")


def test_the_last_chunk_records_the_run_completed(discrepant, library, manager, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        run = on_demand(library, manager)
    statuses = [change(e, "status") for e in run_rows(run, action=AuditAction.CHANGE)]
    assert statuses == [
        (RetroRunStatus.QUEUED, RetroRunStatus.RUNNING),
        (RetroRunStatus.RUNNING, RetroRunStatus.COMPLETED),
    ]
    assert {e.channel for e in run_rows(run, action=AuditAction.CHANGE)} == {AuditChannel.TASK}


def test_cancelling_records_the_status_change_by_the_manager(library, manager):
    run = on_demand(library, manager)
    client = api(manager)
    assert client.post(f"/api/v1/retro/runs/{run.pk}/cancel").status_code == 200
    event = only(action=AuditAction.CHANGE, object_type=AuditObject.RETRO_RUN)
    assert (event.actor, event.channel, event.path) == (
        manager,
        AuditChannel.API,
        f"/api/v1/retro/runs/{run.pk}/cancel",
    )
    assert change(event, "status") == (RetroRunStatus.QUEUED, RetroRunStatus.CANCELLED)
    assert change(event, "cancelled_by") == (None, manager.get_username())


def test_a_refused_cancel_leaves_no_row(library, manager):
    run = on_demand(library, manager)
    services.retro_run_cancel(run_id=run.pk, user=manager)
    with pytest.raises(InvalidTransition):
        services.retro_run_cancel(run_id=run.pk, user=manager)
    assert len(run_rows(run, action=AuditAction.CHANGE)) == 1


# --- what a chunk writes --------------------------------------------------------------------


def test_a_chunk_records_its_results_in_one_row_listing_the_cases(
    discrepant, library, manager, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        run = on_demand(library, manager)
    event = only(action=AuditAction.CREATE, object_type=AuditObject.RETRO_RESULT)
    assert (event.object_id, event.actor_username, event.channel) == (str(run.pk), "system", AuditChannel.TASK)
    assert event.detail["task"] == "casemgmt.retro.tasks.retro_chunk_process_task"
    assert set(event.object_ids.split()) == {case.case_number for case in discrepant}
    assert {k: event.detail[k] for k in ("chunk", "evaluated", "discrepancies", "failed", "review_items")} == {
        "chunk": 1,
        "evaluated": 3,
        "discrepancies": 3,
        "failed": 0,
        "review_items": 3,
    }


def test_each_review_item_a_chunk_opens_is_recorded_with_its_case(item, discrepant):
    opened = rows(action=AuditAction.CREATE, object_type=AuditObject.RETRO_REVIEW)
    items = {str(i.pk): i for i in RetroReviewItem.objects.select_related("case")}
    assert {e.object_id for e in opened} == set(items)
    event = next(e for e in opened if e.object_id == str(item.pk))
    assert (event.case_number, event.actor_username) == (item.case.case_number, "system")
    assert change(event, "status") == (None, RetroItemStatus.OPEN)
    assert change(event, "rules") == (None, item.rules)
    assert change(event, "decision") == (None, item.decision_id)
    assert change(event, "run") == (None, item.run_id)


def test_an_opened_item_is_in_its_cases_access_history(item):
    history = case_access_history(item.case.case_number)
    assert any(e.object_type == AuditObject.RETRO_REVIEW and e.object_id == str(item.pk) for e in history)


def test_a_chunks_audit_rows_are_inserted_in_one_statement(discrepant, library, manager):
    run = on_demand(library, manager)
    services.retro_run_plan(run_id=run.pk)
    chunk = RetroChunk.objects.get(run=run)
    with CaptureQueriesContext(connection) as queries:
        assert services.retro_chunk_process(chunk_id=chunk.pk) == "done"
    inserts = [q["sql"] for q in queries.captured_queries if q["sql"].startswith('INSERT INTO "audit_auditevent"')]
    # One multi-row statement for the results and the three items; the run's completion is its own.
    chunk_inserts = [sql for sql in inserts if "retro_review" in sql or "retro_result" in sql]
    assert len(chunk_inserts) == 1
    assert len(rows(object_type__in=[AuditObject.RETRO_RESULT, AuditObject.RETRO_REVIEW])) == 4


def test_a_redelivered_chunk_records_nothing_more(discrepant, library, manager, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        run = on_demand(library, manager)
    before = AuditEvent.objects.count()
    for chunk in RetroChunk.objects.filter(run=run):
        assert services.retro_chunk_process(chunk_id=chunk.pk) == "already finished"
    assert AuditEvent.objects.count() == before


def test_a_chunk_skipped_after_a_cancel_records_nothing(discrepant, library, manager):
    run = on_demand(library, manager)
    services.retro_run_plan(run_id=run.pk)
    services.retro_run_cancel(run_id=run.pk, user=manager)
    before = AuditEvent.objects.count()
    assert services.retro_chunk_process(chunk_id=RetroChunk.objects.get(run=run).pk) == "skipped"
    assert AuditEvent.objects.count() == before


# --- the sweeper ----------------------------------------------------------------------------


def test_re_sending_a_stalled_chunk_is_not_recorded(discrepant, library, manager, settings):
    run = on_demand(library, manager)
    services.retro_run_plan(run_id=run.pk)
    before = AuditEvent.objects.count()
    later = timezone.now() + timedelta(seconds=settings.RETRO_STALL_SECONDS + 1)
    assert services.retro_sweep(now=later).chunks_resent == 1
    assert AuditEvent.objects.count() == before


def test_a_chunk_the_sweeper_gives_up_is_recorded_with_its_cases_and_the_run_failed(
    discrepant, library, manager, settings
):
    run = on_demand(library, manager)
    services.retro_run_plan(run_id=run.pk)
    RetroChunk.objects.filter(run=run).update(
        attempts=settings.RETRO_CHUNK_MAX_ATTEMPTS, leased_at=timezone.now() - timedelta(days=1)
    )
    services.retro_sweep(now=timezone.now() + timedelta(seconds=settings.RETRO_STALL_SECONDS + 1))
    given_up, failed = run_rows(run, action=AuditAction.CHANGE)[1:]
    assert given_up.detail["event"] == "chunk_given_up"
    assert change(given_up, "failed") == (0, 3)
    assert change(given_up, "chunks_done") == (0, 1)
    assert set(given_up.object_ids.split()) == {case.case_number for case in discrepant}
    assert change(failed, "status") == (RetroRunStatus.RUNNING, RetroRunStatus.FAILED)


# --- review items -----------------------------------------------------------------------------


def test_a_claim_on_the_page_records_status_and_assignee_on_the_web_channel(item, nurse):
    client = Client(REMOTE_ADDR="10.7.7.7")
    client.force_login(nurse)
    assert client.post(f"/queue/retro/{item.pk}/claim").status_code == 302
    event = only(action=AuditAction.CHANGE, object_type=AuditObject.RETRO_REVIEW)
    assert (event.object_id, event.case_number) == (str(item.pk), item.case.case_number)
    assert (event.actor, event.channel, event.ip) == (nurse, AuditChannel.WEB, "10.7.7.7")
    assert change(event, "status") == (RetroItemStatus.OPEN, RetroItemStatus.IN_REVIEW)
    assert change(event, "assignee") == (None, nurse.get_username())


def test_a_refused_claim_leaves_no_row(item, nurse, physician):
    services.retro_item_claim(item_id=item.pk, user=physician)
    with pytest.raises(InvalidTransition):
        services.retro_item_claim(item_id=item.pk, user=nurse)
    assert [e.actor for e in rows(action=AuditAction.CHANGE, object_type=AuditObject.RETRO_REVIEW)] == [physician]


def test_resolving_records_the_closure_and_its_reason(item, nurse):
    services.retro_item_resolve(item_id=item.pk, user=nurse, note="The file documents 14 weeks of therapy.")
    event = only(action=AuditAction.CHANGE, object_type=AuditObject.RETRO_REVIEW)
    assert change(event, "status") == (RetroItemStatus.OPEN, RetroItemStatus.CLOSED)
    assert change(event, "resolution") == ("", "decision_stands")
    assert change(event, "resolution_note") == ("", "The file documents 14 weeks of therapy.")
    assert change(event, "assignee") == (None, nurse.get_username())
    assert event.detail["event"] == "resolved"


def test_referring_records_the_status_the_note_and_the_assignee_released(item, nurse):
    services.retro_item_claim(item_id=item.pk, user=nurse)
    services.retro_item_refer(item_id=item.pk, user=nurse, note="Investigational on that date.")
    event = rows(action=AuditAction.CHANGE, object_type=AuditObject.RETRO_REVIEW)[-1]
    assert change(event, "status") == (RetroItemStatus.IN_REVIEW, RetroItemStatus.REFERRED)
    assert change(event, "referral_note") == ("", "Investigational on that date.")
    assert change(event, "assignee") == (nurse.get_username(), None)


def test_correcting_records_the_item_closed_by_the_new_decision(item, nurse, physician):
    services.retro_item_refer(item_id=item.pk, user=nurse, note="Deny: investigational.")
    new_version = item.new_citations[0]["policy_version_id"]
    corrected = services.retro_item_correct(
        item_id=item.pk,
        user=physician,
        lines=[decisions_services.DecisionLineInput(service_line=1, outcome="denied", reason="Investigational.")],
        citations=[decisions_services.CitationInput(policy_version_id=new_version)],
        rationale="Retrospective review: investigational.",
    )
    event = rows(action=AuditAction.CHANGE, object_type=AuditObject.RETRO_REVIEW)[-1]
    assert (event.actor, event.detail["event"]) == (physician, "corrected")
    assert change(event, "status") == (RetroItemStatus.REFERRED, RetroItemStatus.CLOSED)
    assert change(event, "corrected_decision") == (None, corrected.corrected_decision_id)
    # The new decision is recorded by decision_record, on the same case.
    decision = only(action=AuditAction.CREATE, object_type=AuditObject.DECISION, actor=physician)
    assert (decision.object_id, decision.case_number) == (str(corrected.corrected_decision_id), item.case.case_number)


# --- the nightly settings and the admin ---------------------------------------------------------


def test_editing_the_nightly_settings_in_the_admin_records_one_row_with_old_and_new_values(manager):
    response = staff(manager).post(
        "/admin/retro/retroschedule/1/change/", {"enabled": "on", "sample_percent": "2.5", "first_run_days": "3"}
    )
    assert response.status_code == 302
    event = only(object_type=AuditObject.RETRO_SCHEDULE)
    assert (event.action, event.object_id, event.actor) == (AuditAction.CHANGE, "1", manager)
    assert (event.channel, event.ip, event.path) == (
        AuditChannel.ADMIN,
        "10.4.4.4",
        "/admin/retro/retroschedule/1/change/",
    )
    assert change(event, "sample_percent") == ("5.00", "2.50")
    assert change(event, "first_run_days") == (7, 3)
    assert "enabled" not in event.changes
    assert rows(object_type="retro.retroschedule") == [], "the admin adds no second row for the same edit"


def test_a_refused_settings_edit_leaves_no_row(manager):
    response = staff(manager).post(
        "/admin/retro/retroschedule/1/change/", {"enabled": "on", "sample_percent": "101", "first_run_days": "3"}
    )
    assert response.status_code == 200
    assert rows(object_type=AuditObject.RETRO_SCHEDULE) == []


def test_a_run_started_in_the_admin_is_recorded_once_on_the_admin_channel(library, manager):
    response = staff(manager).post(
        "/admin/retro/retrorun/add/",
        {"policy": library.a1.policy_id, "date_from": str(days_ago(60)), "date_to": str(days_ago(1))},
    )
    assert response.status_code == 302
    run = RetroRun.objects.get(trigger=RetroTrigger.ON_DEMAND)
    event = only(action=AuditAction.CREATE, actor=manager)
    assert (event.object_type, event.object_id, event.channel) == (
        AuditObject.RETRO_RUN,
        str(run.pk),
        AuditChannel.ADMIN,
    )


def test_cancelling_in_the_admin_is_recorded_once(library, manager):
    run = on_demand(library, manager)
    staff(manager).post("/admin/retro/retrorun/", {"action": "cancel_runs", "_selected_action": [run.pk]})
    event = only(action=AuditAction.CHANGE, actor=manager)
    assert (event.object_type, event.object_id, event.channel) == (
        AuditObject.RETRO_RUN,
        str(run.pk),
        AuditChannel.ADMIN,
    )


def test_saving_a_runs_page_unchanged_records_nothing(library, manager):
    run = on_demand(library, manager)
    client = staff(manager)
    changes = AuditEvent.objects.filter(action__in=[AuditAction.CREATE, AuditAction.CHANGE])
    before = changes.count()
    assert client.post(f"/admin/retro/retrorun/{run.pk}/change/", {}).status_code == 302
    assert changes.count() == before


def test_every_retrospective_review_admin_is_audited():
    from django.contrib import admin

    retro = [model_admin for model, model_admin in admin.site._registry.items() if model._meta.app_label == "retro"]
    assert len(retro) == 3
    assert all(isinstance(model_admin, AuditedAdminMixin) for model_admin in retro)


def test_the_review_items_admin_list_is_recorded_with_the_case_numbers_shown(item, manager, discrepant):
    assert staff(manager).get("/admin/retro/retroreviewitem/").status_code == 200
    event = only(action=AuditAction.LIST, object_type=AuditObject.RETRO_REVIEW)
    assert set(event.object_ids.split()) == {case.case_number for case in discrepant}
    assert (event.actor, event.channel) == (manager, AuditChannel.ADMIN)


def test_a_review_items_admin_page_is_recorded_as_a_view_of_its_case(item, manager):
    assert staff(manager).get(f"/admin/retro/retroreviewitem/{item.pk}/change/").status_code == 200
    event = only(action=AuditAction.VIEW, object_type=AuditObject.RETRO_REVIEW)
    assert (event.object_id, event.case_number, event.actor) == (str(item.pk), item.case.case_number, manager)
