"""The audit log as CSV: one row per audit row, every column, JSON for changes and detail.

Used by the auditor's export page and by `manage.py audit_export` (archiving a period).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator

from django.db.models import QuerySet

from casemgmt.audit.models import AuditEvent

CSV_COLUMNS = (
    "id",
    "at",
    "actor_username",
    "roles",
    "channel",
    "action",
    "object_type",
    "object_id",
    "case_number",
    "object_ids",
    "ip",
    "user_agent",
    "method",
    "path",
    "status_code",
    "request_id",
    "changes",
    "detail",
)


def _csv_safe(value: object) -> object:
    """Spreadsheets run cells that begin with = + - @ as formulas; logged values are not trusted."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def csv_rows(events: QuerySet[AuditEvent]) -> Iterator[list[object]]:
    yield list(CSV_COLUMNS)
    for event in events.iterator(chunk_size=2000):
        yield [
            event.pk,
            event.at.isoformat(),
            _csv_safe(event.actor_username),
            event.roles,
            event.channel,
            event.action,
            _csv_safe(event.object_type),
            _csv_safe(event.object_id),
            _csv_safe(event.case_number),
            _csv_safe(event.object_ids),
            event.ip or "",
            _csv_safe(event.user_agent),
            event.method,
            _csv_safe(event.path),
            "" if event.status_code is None else event.status_code,
            event.request_id,
            _csv_safe(json.dumps(event.changes, sort_keys=True)),
            _csv_safe(json.dumps(event.detail, sort_keys=True)),
        ]


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_lines(events: QuerySet[AuditEvent]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    for row in csv_rows(events):
        yield writer.writerow(row)


def as_of_now(events: QuerySet[AuditEvent]) -> QuerySet[AuditEvent]:
    """The rows as they stand now: not the export's own row, nor any written while it streams,
    so the count recorded for the export is the number of rows in it."""
    ceiling = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
    return events.filter(id__lte=ceiling)
