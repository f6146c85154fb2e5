from __future__ import annotations

from celery import shared_task

from casemgmt import services


@shared_task(acks_late=True)
def case_flags_refresh_task(case_id: int) -> bool:
    """Re-evaluate one case's flags against the current library."""
    return services.case_flags_refresh(case_id=case_id)
