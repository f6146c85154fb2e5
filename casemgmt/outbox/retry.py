"""Celery task options shared by the app's tasks: what a transient database error does."""

from __future__ import annotations

from typing import Any

from django.db import InterfaceError, OperationalError

# A task that meets a database outage, a dropped connection, a deadlock or a serialization
# failure is retried with exponential backoff (2, 4, 8 ... seconds, at most a minute, jittered)
# instead of being acknowledged and dropped. The tasks are idempotent, so a retry after a
# partial run is harmless; the sweepers catch whatever outlasts the retries.
DATABASE_RETRY: dict[str, Any] = {
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": 2,
    "retry_backoff_max": 60,
    "max_retries": 8,
}
