from __future__ import annotations

from celery import Task, shared_task

from casemgmt.cases.services.flags import case_flags_refresh
from casemgmt.cases.services.webhooks import WEBHOOK_MAX_ATTEMPTS, webhook_deliver


@shared_task(acks_late=True)
def case_flags_refresh_task(case_id: int) -> bool:
    """Re-evaluate one case's flags against the current library."""
    return case_flags_refresh(case_id=case_id)


@shared_task(bind=True, acks_late=True, max_retries=WEBHOOK_MAX_ATTEMPTS)
def webhook_deliver_task(self: Task, delivery_id: int) -> str:
    """POST one status notification, retrying with exponential backoff on failure."""
    outcome = webhook_deliver(delivery_id=delivery_id)
    # In-process (no broker) there is no one to retry later; the delivery stays pending.
    if outcome == "retry" and not self.request.is_eager:
        raise self.retry(countdown=min(3600, 2 ** (self.request.retries + 2)))
    return outcome
