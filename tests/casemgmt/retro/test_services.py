"""Runs end to end on the embedded default: selection, chunks, results, review items, counters."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from casemgmt.kernel.errors import InvalidTransition, PermissionDeniedError, ValidationFailed
from casemgmt.retro import services
from casemgmt.retro.models import (
    RetroChunk,
    RetroChunkStatus,
    RetroItemStatus,
    RetroOrigin,
    RetroOutcome,
    RetroResult,
    RetroReviewItem,
    RetroRun,
    RetroRunStatus,
    RetroTrigger,
)
from tests.casemgmt.retro.conftest import days_ago, decided_case, publish_replacements

pytestmark = pytest.mark.django_db


def nightly_run_now(django_capture_on_commit_callbacks, percent: str = "100") -> RetroRun:
    """Tonight's run as if it were tomorrow, sampling `percent` of the cases outside retro policies."""
    from casemgmt.retro.models import RetroSchedule

    RetroSchedule.objects.update_or_create(pk=1, defaults={"sample_percent": Decimal(percent)})
    with django_capture_on_commit_callbacks(execute=True):
        run = services.retro_run_nightly(today=timezone.localdate() + timedelta(days=1))
    assert run is not None
    run.refresh_from_db()
    return run


def rules_by_case(run: RetroRun) -> dict[int, list[str]]:
    return {
        r.case_id: r.rules
        for r in RetroResult.objects.filter(run=run, outcome=RetroOutcome.DISCREPANCY).order_by("case_id")
    }


def test_a_run_over_several_policies_and_dates_finds_exactly_the_expected_discrepancies(
    library, editor, nurse, physician, integration_client, small_chunks, django_capture_on_commit_callbacks
):
    c = integration_client
    agrees = [
        decided_case(c, nurse, code="62330", dos=days_ago(300), cite=[library.a1]),
        decided_case(c, physician, code="62330", dos=days_ago(50), outcome="denied", cite=[library.a1]),
        decided_case(c, nurse, code="22840", dos=days_ago(40), facts={"conservative_therapy_weeks": 14}),
        decided_case(c, nurse, code="22840", dos=days_ago(40)),  # criteria unknown: not a discrepancy
        decided_case(c, nurse, code="99213", dos=days_ago(40)),  # no policy governs it
    ]
    approved_now_investigational = decided_case(c, nurse, code="62330", dos=days_ago(50), cite=[library.a1])
    approved_criteria_not_met = decided_case(
        c, nurse, code="22840", dos=days_ago(30), facts={"conservative_therapy_weeks": 4}, cite=[library.b1]
    )
    denied_now_covered = decided_case(
        c,
        physician,
        code="22840",
        dos=days_ago(30),
        outcome="denied",
        facts={"conservative_therapy_weeks": 14},
        cite=[library.b1],
    )
    no_version = decided_case(c, nurse, code="63030", dos=days_ago(100))
    denied_basis_withdrawn = decided_case(
        c, physician, code="0275T", dos=days_ago(60), outcome="denied", cite=[library.e1]
    )
    partial_investigational = decided_case(
        c, physician, code="62330", dos=days_ago(20), outcome="partially_approved", cite=[library.a1]
    )
    publish_replacements(library, editor)

    run = nightly_run_now(django_capture_on_commit_callbacks)

    assert run.status == RetroRunStatus.COMPLETED
    assert (run.selected, run.evaluated, run.discrepancies, run.failed) == (11, 11, 6, 0)
    assert run.chunk_count == 4 and run.chunks_done == 4
    assert rules_by_case(run) == {
        approved_now_investigational.pk: ["approved_investigational", "governing_version_differs"],
        approved_criteria_not_met.pk: ["approved_criteria_not_met"],
        denied_now_covered.pk: ["adverse_now_covered"],
        no_version.pk: ["no_version_in_effect"],
        denied_basis_withdrawn.pk: ["adverse_basis_withdrawn"],
        partial_investigational.pk: ["approved_investigational", "governing_version_differs"],
    }
    assert set(RetroResult.objects.filter(run=run, outcome=RetroOutcome.AGREES).values_list("case_id", flat=True)) == {
        case.pk for case in agrees
    }
    items = RetroReviewItem.objects.filter(run=run)
    assert set(items.values_list("case_id", flat=True)) == set(rules_by_case(run))
    item = items.get(case=approved_now_investigational)
    assert item.status == RetroItemStatus.OPEN
    assert item.due_at - item.opened_at == timedelta(days=30)
    assert [c["version"] for c in item.original_citations] == ["A1"]
    assert [c["version"] for c in item.new_citations] == ["A2"]
    assert item.lines[0]["outcome"] == "approved" and item.lines[0]["flags"][0]["kind"] == "investigational"


def test_a_redelivered_chunk_adds_nothing_twice(
    library, nurse, integration_client, small_chunks, django_capture_on_commit_callbacks, editor
):
    cases = [decided_case(integration_client, nurse, code="62330", dos=days_ago(50)) for _ in range(4)]
    publish_replacements(library, editor)
    run = nightly_run_now(django_capture_on_commit_callbacks)
    before = (RetroResult.objects.count(), RetroReviewItem.objects.count())
    assert before == (4, 4)

    for chunk in RetroChunk.objects.filter(run=run):
        assert services.retro_chunk_process(chunk_id=chunk.pk) == "already finished"

    run.refresh_from_db()
    assert (RetroResult.objects.count(), RetroReviewItem.objects.count()) == before
    assert (run.selected, run.evaluated, run.discrepancies, run.chunks_done) == (4, 4, 4, 2)
    assert {r.case_id for r in RetroResult.objects.all()} == {c.pk for c in cases}


def test_the_sweeper_resends_a_stalled_chunk_and_the_run_completes(
    library, nurse, integration_client, small_chunks, settings, editor, django_capture_on_commit_callbacks
):
    for _ in range(5):
        decided_case(integration_client, nurse, code="62330", dos=days_ago(50))
    publish_replacements(library, editor)
    from casemgmt.retro.models import RetroSchedule

    RetroSchedule.objects.update_or_create(pk=1, defaults={"sample_percent": Decimal(100)})
    # The broker "lost" every chunk message: plan without running the chunk tasks.
    run = services.retro_run_nightly(today=timezone.localdate() + timedelta(days=1))
    assert run is not None
    services.retro_run_plan(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == RetroRunStatus.RUNNING and run.chunk_count == 2
    first = RetroChunk.objects.filter(run=run).order_by("sequence").first()
    assert first is not None
    # A worker started the first chunk, then died: its lease stays, nothing was written.
    RetroChunk.objects.filter(pk=first.pk).update(attempts=1, leased_at=timezone.now())

    assert services.retro_sweep().chunks_resent == 0, "nothing is stalled yet"
    later = timezone.now() + timedelta(seconds=settings.RETRO_STALL_SECONDS + 1)
    with django_capture_on_commit_callbacks(execute=True):
        report = services.retro_sweep(now=later)

    assert report.chunks_resent == 2
    run.refresh_from_db()
    assert run.status == RetroRunStatus.COMPLETED
    assert (run.selected, run.evaluated, run.discrepancies) == (5, 5, 5)
    assert RetroResult.objects.filter(run=run).count() == 5
    assert RetroChunk.objects.get(pk=first.pk).attempts == 2


def test_the_sweeper_gives_up_a_chunk_that_keeps_failing_and_the_run_ends_failed(
    library, nurse, integration_client, small_chunks, settings
):
    for _ in range(2):
        decided_case(integration_client, nurse, code="62330", dos=days_ago(50))
    run = services.retro_run_request(
        user=None,
        request=services.RunRequest(policy_id=library.a1.policy_id, date_from=days_ago(60), date_to=days_ago(1)),
        origin=RetroOrigin.COMMAND,
    )
    services.retro_run_plan(run_id=run.pk)
    RetroChunk.objects.filter(run=run).update(
        attempts=settings.RETRO_CHUNK_MAX_ATTEMPTS, leased_at=timezone.now() - timedelta(days=1)
    )
    services.retro_sweep(now=timezone.now() + timedelta(seconds=settings.RETRO_STALL_SECONDS + 1))
    run.refresh_from_db()
    assert run.status == RetroRunStatus.FAILED
    assert (run.selected, run.evaluated, run.failed) == (2, 0, 2)
    assert RetroChunk.objects.get(run=run).status == RetroChunkStatus.FAILED


def test_the_sweeper_replans_a_run_whose_planning_message_was_lost(
    library, nurse, integration_client, settings, django_capture_on_commit_callbacks
):
    decided_case(integration_client, nurse, code="62330", dos=days_ago(50))
    run = services.retro_run_request(
        user=None,
        request=services.RunRequest(policy_id=library.a1.policy_id, date_from=days_ago(60), date_to=days_ago(1)),
        origin=RetroOrigin.COMMAND,
    )
    queued = RetroRun.objects.filter(status=RetroRunStatus.QUEUED).count()  # the library's publish runs too
    with django_capture_on_commit_callbacks(execute=True):
        report = services.retro_sweep(now=timezone.now() + timedelta(seconds=settings.RETRO_STALL_SECONDS + 1))
    assert report.runs_resent == queued
    run.refresh_from_db()
    assert run.status == RetroRunStatus.COMPLETED and run.evaluated == 1


def test_cancelling_a_run_skips_its_pending_chunks(
    library, nurse, integration_client, small_chunks, manager, django_capture_on_commit_callbacks
):
    for _ in range(7):
        decided_case(integration_client, nurse, code="62330", dos=days_ago(50))
    run = services.retro_run_request(
        user=manager,
        request=services.RunRequest(policy_id=library.a1.policy_id, date_from=days_ago(60), date_to=days_ago(1)),
    )
    services.retro_run_plan(run_id=run.pk)
    first, *rest = RetroChunk.objects.filter(run=run).order_by("sequence")
    services.retro_chunk_process(chunk_id=first.pk)

    services.retro_run_cancel(run_id=run.pk, user=manager)
    for chunk in rest:
        assert services.retro_chunk_process(chunk_id=chunk.pk) == "skipped"

    run.refresh_from_db()
    assert run.status == RetroRunStatus.CANCELLED and run.finished_at is not None
    assert (run.selected, run.evaluated, run.chunks_done) == (7, 3, 1)
    assert RetroResult.objects.filter(run=run).count() == 3
    assert set(RetroChunk.objects.filter(run=run).values_list("status", flat=True)) == {"done", "skipped"}
    with pytest.raises(InvalidTransition):
        services.retro_run_cancel(run_id=run.pk, user=manager)


def test_only_a_manager_cancels_a_run(library, nurse, manager):
    run = services.retro_run_request(
        user=manager,
        request=services.RunRequest(policy_id=library.a1.policy_id, date_from=days_ago(60), date_to=days_ago(1)),
    )
    with pytest.raises(PermissionDeniedError):
        services.retro_run_cancel(run_id=run.pk, user=nurse)
    run.refresh_from_db()
    assert run.status == RetroRunStatus.QUEUED


def test_a_run_with_no_cases_completes_at_once(library, manager, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        run = services.retro_run_request(
            user=manager,
            request=services.RunRequest(policy_id=library.a1.policy_id, date_from=days_ago(60), date_to=days_ago(1)),
        )
    run.refresh_from_db()
    assert (run.status, run.selected, run.chunk_count) == (RetroRunStatus.COMPLETED, 0, 0)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"policy_id": 999_999}, "policy"),
        ({"date_to": "before"}, "date_to"),
        ({"line_of_business": "medicare_part_z"}, "line_of_business"),
        ({"sample_percent": Decimal("0")}, "sample_percent"),
        ({"sample_percent": Decimal("100.5")}, "sample_percent"),
        ({"sample_percent": Decimal("1.234")}, "sample_percent"),
    ],
)
def test_bad_run_parameters_name_the_field_and_create_nothing(library, manager, change, field):
    values = {"policy_id": library.a1.policy_id, "date_from": days_ago(60), "date_to": days_ago(1)}
    if change.get("date_to") == "before":
        change = {"date_to": days_ago(61)}
    values.update(change)
    with pytest.raises(ValidationFailed) as refused:
        services.retro_run_request(user=manager, request=services.RunRequest(**values))
    assert field in refused.value.errors
    assert not RetroRun.objects.filter(trigger=RetroTrigger.ON_DEMAND).exists()


def test_a_nurse_cannot_start_a_run(library, nurse):
    with pytest.raises(PermissionDeniedError):
        services.retro_run_request(
            user=nurse,
            request=services.RunRequest(policy_id=library.a1.policy_id, date_from=days_ago(60), date_to=days_ago(1)),
        )


def test_rerunning_repeats_the_selection_with_the_same_seed(
    library, nurse, integration_client, manager, django_capture_on_commit_callbacks
):
    for _ in range(20):
        decided_case(integration_client, nurse, code="62330", dos=days_ago(50))
    with django_capture_on_commit_callbacks(execute=True):
        first = services.retro_run_request(
            user=manager,
            request=services.RunRequest(
                policy_id=library.a1.policy_id,
                date_from=days_ago(60),
                date_to=days_ago(1),
                sample_percent=Decimal(40),
            ),
        )
    with django_capture_on_commit_callbacks(execute=True):
        again = services.retro_run_again(run_id=first.pk, user=manager)
    sampled = set(RetroResult.objects.filter(run=first).values_list("case_id", flat=True))
    assert 0 < len(sampled) < 20
    assert set(RetroResult.objects.filter(run=again).values_list("case_id", flat=True)) == sampled
    assert again.seed == first.seed
