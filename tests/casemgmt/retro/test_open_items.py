"""One open review item per case and policy: a later run adds its finding to the open item."""

from __future__ import annotations

from datetime import timedelta
from importlib import import_module
from typing import Any

import pytest
from django.apps import apps
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from casemgmt.audit.models import AuditEvent
from casemgmt.retro import services
from casemgmt.retro.models import RetroItemStatus, RetroResolution, RetroResult, RetroReviewItem, RetroRun
from tests.casemgmt.retro.conftest import days_ago, decided_case, publish_replacements

pytestmark = pytest.mark.django_db

fold = import_module("casemgmt.retro.migrations.0003_item_policy_and_findings").fold_open_duplicates


def on_demand_run(library: Any, manager: Any, capture: Any) -> RetroRun:
    with capture(execute=True):
        run = services.retro_run_request(
            user=manager,
            request=services.RunRequest(policy_id=library.a1.policy_id, date_from=days_ago(60), date_to=days_ago(1)),
        )
    run.refresh_from_db()
    return run


@pytest.fixture
def discrepant_case(library, editor, nurse, integration_client):
    """Approved under A1; A2, published since, calls the service investigational."""
    case = decided_case(integration_client, nurse, code="62330", dos=days_ago(50), cite=[library.a1])
    publish_replacements(library, editor)
    return case


def test_a_later_run_adds_its_finding_to_the_open_item(
    library, discrepant_case, manager, django_capture_on_commit_callbacks
):
    first = on_demand_run(library, manager, django_capture_on_commit_callbacks)
    second = on_demand_run(library, manager, django_capture_on_commit_callbacks)

    item = RetroReviewItem.objects.get(case=discrepant_case)
    assert item.run_id == first.pk and item.policy_id == library.a1.policy_id
    assert [finding["run"] for finding in item.findings] == [first.pk, second.pk]
    assert item.findings[1]["result"] == RetroResult.objects.get(run=second, case=discrepant_case).pk
    assert item.rules == ["approved_investigational", "governing_version_differs"]
    assert item.row_version == 2
    assert second.discrepancies == 1


def test_adding_a_finding_to_an_open_item_is_audited(
    library, discrepant_case, manager, django_capture_on_commit_callbacks
):
    on_demand_run(library, manager, django_capture_on_commit_callbacks)
    second = on_demand_run(library, manager, django_capture_on_commit_callbacks)
    item = RetroReviewItem.objects.get(case=discrepant_case)

    row = AuditEvent.objects.get(object_type="retro_review", object_id=str(item.pk), action="change")
    assert row.case_number == discrepant_case.case_number
    assert row.detail["run"] == second.pk
    assert row.changes["findings"] == {"old": 1, "new": 2}


def test_a_run_after_the_item_closed_opens_a_new_one(
    library, discrepant_case, nurse, manager, django_capture_on_commit_callbacks
):
    on_demand_run(library, manager, django_capture_on_commit_callbacks)
    closed = RetroReviewItem.objects.get(case=discrepant_case)
    services.retro_item_claim(item_id=closed.pk, user=nurse)
    services.retro_item_resolve(item_id=closed.pk, user=nurse, note="Approved on the records sent.")

    later = on_demand_run(library, manager, django_capture_on_commit_callbacks)

    reopened = RetroReviewItem.objects.get(case=discrepant_case, status=RetroItemStatus.OPEN)
    assert reopened.pk != closed.pk and reopened.run_id == later.pk
    assert len(reopened.findings) == 1


def test_the_database_refuses_a_second_open_item_for_a_case_and_policy(
    library, discrepant_case, manager, django_capture_on_commit_callbacks
):
    on_demand_run(library, manager, django_capture_on_commit_callbacks)
    item = RetroReviewItem.objects.get(case=discrepant_case)
    second = on_demand_run(library, manager, django_capture_on_commit_callbacks)
    copy = RetroReviewItem(
        run=second,
        case=item.case,
        result=RetroResult.objects.get(run=second, case=discrepant_case),
        decision=item.decision,
        policy=item.policy,
        rules=item.rules,
        opened_at=timezone.now(),
        due_at=timezone.now() + timedelta(days=30),
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        copy.save()


def _constraint() -> Any:
    return next(c for c in RetroReviewItem._meta.constraints if c.name == "retroitem_one_open_per_case_policy")


def test_the_migration_folds_duplicate_open_items_into_the_one_being_worked(
    library, discrepant_case, nurse, manager, django_capture_on_commit_callbacks
):
    """Items opened before the constraint: three runs, three open items of one case and policy."""
    editor = connection.schema_editor()
    with connection.cursor() as cursor:  # as before migration 0004 (rolled back with the test)
        cursor.execute(str(_constraint().remove_sql(RetroReviewItem, editor)))
    runs = []
    for _ in range(3):
        run = on_demand_run(library, manager, django_capture_on_commit_callbacks)
        result = RetroResult.objects.get(run=run, case=discrepant_case)
        assert result.decision_id is not None
        RetroReviewItem.objects.filter(run=run).delete()
        now = timezone.now()
        RetroReviewItem.objects.create(
            run=run,
            case=discrepant_case,
            result=result,
            decision_id=result.decision_id,
            rules=result.rules,
            opened_at=now,
            due_at=now + timedelta(days=30),
        )
        runs.append(run)
    worked = RetroReviewItem.objects.get(run=runs[1])
    services.retro_item_claim(item_id=worked.pk, user=nurse)

    fold(apps, None)

    items = RetroReviewItem.objects.filter(case=discrepant_case).order_by("id")
    open_items = [item for item in items if item.is_open]
    assert [item.pk for item in open_items] == [worked.pk]
    kept = open_items[0]
    assert kept.status == RetroItemStatus.IN_REVIEW and kept.policy_id == library.a1.policy_id
    assert [finding["run"] for finding in kept.findings] == [run.pk for run in runs]
    for item in items:
        if item.pk != kept.pk:
            assert item.status == RetroItemStatus.CLOSED and item.resolution == RetroResolution.MERGED
            assert str(kept.pk) in item.resolution_note
    assert AuditEvent.objects.filter(object_type="retro_review", detail__migration__isnull=False).count() == 3
    with connection.cursor() as cursor:  # the constraint can now be built
        if connection.vendor == "postgresql":  # no index on a table with deferred checks pending
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(str(_constraint().create_sql(RetroReviewItem, editor)))


def test_the_item_page_lists_each_runs_finding(
    library, discrepant_case, nurse, manager, django_capture_on_commit_callbacks
):
    from django.test import Client

    first = on_demand_run(library, manager, django_capture_on_commit_callbacks)
    second = on_demand_run(library, manager, django_capture_on_commit_callbacks)
    item = RetroReviewItem.objects.get(case=discrepant_case)
    browser = Client()
    browser.force_login(nurse)

    html = browser.get(f"/queue/retro/{item.pk}/").content.decode()

    assert '<table class="grid retro-findings">' in html
    assert f"<tr><td>{first.pk}</td>" in html and f"<tr><td>{second.pk}</td>" in html
    assert "Policy RA.01 Lumbar decompression." in html
