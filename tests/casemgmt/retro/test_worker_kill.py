"""A worker SIGKILLed in the middle of a run: the run still completes with exact counts.

In a module of its own: the module-scoped `celery_worker_process` of test_worker.py must not be
consuming the same queue while this test starts and kills workers of its own.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from casemgmt.retro import services
from casemgmt.retro.models import (
    RetroChunk,
    RetroChunkStatus,
    RetroResult,
    RetroReviewItem,
    RetroRunStatus,
    RetroSchedule,
)
from tests.casemgmt.retro.conftest import days_ago, decided_case, publish_replacements
from tests.services_fixtures import CeleryWorker, _purge, start_celery_worker, stop_celery_worker

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

CASES = 12
CHUNK = 3  # four chunks: enough to kill one in the middle of a run


@pytest.fixture
def worker_queue(celery_test_queue: str) -> Iterator[str]:
    """The session queue, emptied before and after: this test starts and kills workers of its own."""
    _purge(celery_test_queue)
    yield celery_test_queue
    _purge(celery_test_queue)


def _started_worker(queue: str, tmp_path, name: str, **env: str) -> CeleryWorker:
    return start_celery_worker(queue, tmp_path / f"{name}.log", extra_env={"RETRO_CHUNK_SIZE": str(CHUNK), **env})


def test_a_worker_killed_mid_chunk_loses_nothing_and_duplicates_nothing(
    worker_queue, tmp_path, library, editor, nurse, integration_client, settings
):
    settings.RETRO_CHUNK_SIZE = CHUNK
    cases = {decided_case(integration_client, nurse, code="62330", dos=days_ago(50)).pk for _ in range(CASES)}
    # A2 is published before any worker runs: its own publish run waits in the queue with the rest.
    publish_replacements(library, editor)
    RetroSchedule.objects.update_or_create(pk=1, defaults={"sample_percent": Decimal(100)})
    # Only tonight's run is of interest here: drop the publish runs' planning messages.
    _purge(worker_queue)
    # Each chunk of the first worker holds its transaction open for a while before committing,
    # so the kill below lands inside one (RETRO_CHUNK_PAUSE_SECONDS, a drill setting).
    first = _started_worker(worker_queue, tmp_path, "first", RETRO_CHUNK_PAUSE_SECONDS="4")
    second = None
    try:
        run = services.retro_run_nightly(today=timezone.localdate() + timedelta(days=1))
        assert run is not None

        def one_done_and_one_in_flight() -> bool:
            chunks = RetroChunk.objects.filter(run=run)
            done = chunks.filter(status=RetroChunkStatus.DONE).exists()
            return done and chunks.filter(status=RetroChunkStatus.QUEUED, attempts__gte=1).exists()

        first.wait_until(one_done_and_one_in_flight, "one chunk done and the next one started", timeout=90)
        first.kill()

        in_flight = RetroChunk.objects.get(run=run, status=RetroChunkStatus.QUEUED, attempts__gte=1)
        assert not RetroResult.objects.filter(run=run, case_id__in=in_flight.case_ids).exists(), (
            "the killed chunk's transaction must have rolled back"
        )
        run.refresh_from_db()
        assert run.status == RetroRunStatus.RUNNING and run.evaluated < CASES

        second = _started_worker(worker_queue, tmp_path, "second")
        # The killed chunk's message is unacknowledged: Redis would hand it over only after the
        # visibility timeout. The sweeper (beat runs it every 5 minutes) sends it again now.
        stalled = timezone.now() + timedelta(seconds=settings.RETRO_STALL_SECONDS + 1)
        assert services.retro_sweep(now=stalled).chunks_resent >= 1

        def completed() -> bool:
            run.refresh_from_db()
            return run.status == RetroRunStatus.COMPLETED

        second.wait_until(completed, "the run to complete on the second worker", timeout=90)
        assert (run.selected, run.evaluated, run.discrepancies, run.failed) == (CASES, CASES, CASES, 0)
        assert (run.chunk_count, run.chunks_done) == (CASES // CHUNK, CASES // CHUNK)
        results = list(RetroResult.objects.filter(run=run).values_list("case_id", flat=True))
        assert sorted(results) == sorted(cases), "one result per case, none missing, none twice"
        items = list(RetroReviewItem.objects.filter(run=run).values_list("case_id", flat=True))
        assert sorted(items) == sorted(cases)
        assert RetroChunk.objects.get(pk=in_flight.pk).attempts >= 2
        assert "WorkerLostError" not in second.log_text()
    finally:
        for worker in (first, second):
            if worker is not None and worker.alive():
                stop_celery_worker(worker)
        assert os.environ.get("RETRO_CHUNK_PAUSE_SECONDS") is None
