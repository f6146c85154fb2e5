"""Celery tasks of retrospective review: ids in, a service call, nothing else.

Every task is acknowledged late and rejected (so redelivered) when its worker dies, and retried
with backoff when it meets a transient database error; the services make a repeated delivery
harmless. CELERY_TASK_TIME_LIMIT bounds each one, below the
broker's visibility timeout (checked in settings).

Each task's name is part of the stored data (beat's schedule in the database, messages waiting
in the broker, the audit log's task column), so it is written out and never changes.
"""

from __future__ import annotations

from celery import shared_task

from casemgmt.outbox.retry import DATABASE_RETRY
from casemgmt.retro import services


@shared_task(name=services.RETRO_RUN_PLAN_TASK, acks_late=True, reject_on_worker_lost=True, **DATABASE_RETRY)
def retro_run_plan_task(run_id: int) -> int:
    """Select a queued run's cases and queue its chunks."""
    return services.retro_run_plan(run_id=run_id)


@shared_task(name=services.RETRO_CHUNK_PROCESS_TASK, acks_late=True, reject_on_worker_lost=True, **DATABASE_RETRY)
def retro_chunk_process_task(chunk_id: int) -> str:
    """Re-evaluate one chunk of a run's cases."""
    return services.retro_chunk_process(chunk_id=chunk_id)


# Beat's rows (migration 0002_schedule, editable in the admin) name these two.
@shared_task(
    name="casemgmt.retro.tasks.retro_nightly_task", acks_late=True, reject_on_worker_lost=True, **DATABASE_RETRY
)
def retro_nightly_task() -> int | None:
    """Queue tonight's retrospective review (beat: "retro: nightly review")."""
    run = services.retro_run_nightly()
    return run.pk if run is not None else None


@shared_task(name="casemgmt.retro.tasks.retro_sweep_task", acks_late=True, reject_on_worker_lost=True, **DATABASE_RETRY)
def retro_sweep_task() -> dict[str, int]:
    """Send again the chunks and runs whose messages were lost (beat: "retro: sweeper")."""
    return services.retro_sweep().__dict__
