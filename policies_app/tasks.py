from __future__ import annotations

from celery import shared_task

from casemgmt.cases.services.flags import cases_reflag_for_version


@shared_task(acks_late=True)
def policy_version_reflag_open_cases_task(version_id: int) -> int:
    """Re-flag the open cases a newly published version may govern."""
    return cases_reflag_for_version(version_id=version_id)
