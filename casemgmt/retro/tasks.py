"""Celery tasks of retrospective review: ids in, a service call, nothing else.

Every task is acknowledged late and rejected (so redelivered) when its worker dies; the
services make a repeated delivery harmless. CELERY_TASK_TIME_LIMIT bounds each one, below the
broker's visibility timeout (checked in settings).
"""

from __future__ import annotations

from celery import shared_task

from casemgmt.retro import services


@shared_task(acks_late=True, reject_on_worker_lost=True)
def retro_run_plan_task(run_id: int) -> int:
    """Select a queued run's cases and queue its chunks."""
    return services.retro_run_plan(run_id=run_id)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def retro_chunk_process_task(chunk_id: int) -> str:
    """Re-evaluate one chunk of a run's cases."""
    return services.retro_chunk_process(chunk_id=chunk_id)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def retro_nightly_task() -> int | None:
    """Queue tonight's retrospective review (beat: "retro: nightly review")."""
    run = services.retro_run_nightly()
    return run.pk if run is not None else None


@shared_task(acks_late=True, reject_on_worker_lost=True)
def retro_sweep_task() -> dict[str, int]:
    """Send again the chunks and runs whose messages were lost (beat: "retro: sweeper")."""
    return services.retro_sweep().__dict__
