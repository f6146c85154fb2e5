"""Reading the audit log: the auditor's filters and a case's own access history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import Q, QuerySet
from django.utils import timezone

from casemgmt.audit.models import AuditAction, AuditEvent

CASE_HISTORY_LIMIT = 200


@dataclass(frozen=True)
class AuditFilters:
    actor: str = ""
    role: str = ""
    action: str = ""
    object_type: str = ""
    object_id: str = ""
    channel: str = ""
    date_from: date | None = None
    date_to: date | None = None  # inclusive
    ip: str = ""

    def as_dict(self) -> dict[str, str]:
        """The filters that are set, as text: what an export or a browse records about itself."""
        return {
            name: value.isoformat() if isinstance(value, date) else str(value)
            for name, value in self.__dict__.items()
            if value not in ("", None)
        }


def _token(column: str, value: str) -> Q:
    """`value` is one of the space-separated words in `column`."""
    return (
        Q(**{column: value})
        | Q(**{f"{column}__startswith": value + " "})
        | Q(**{f"{column}__endswith": " " + value})
        | Q(**{f"{column}__contains": f" {value} "})
    )


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def audit_events(filters: AuditFilters) -> QuerySet[AuditEvent]:
    """Rows matching every filter that is set, newest first.

    `object_id` finds a case or object however it was touched: as the object itself, as the
    case a decision, letter or attachment belongs to, or among the case numbers a list showed.
    """
    events = AuditEvent.objects.all()
    if filters.actor:
        events = events.filter(actor_username__icontains=filters.actor.strip())
    if filters.role:
        events = events.filter(_token("roles", filters.role))
    if filters.action:
        events = events.filter(action=filters.action)
    if filters.object_type:
        events = events.filter(object_type=filters.object_type)
    if filters.object_id:
        ident = filters.object_id.strip()
        events = events.filter(Q(object_id=ident) | Q(case_number=ident.upper()) | _token("object_ids", ident.upper()))
    if filters.channel:
        events = events.filter(channel=filters.channel)
    if filters.date_from:
        events = events.filter(at__gte=_day_start(filters.date_from))
    if filters.date_to:
        events = events.filter(at__lt=_day_start(filters.date_to + timedelta(days=1)))
    if filters.ip:
        events = events.filter(ip=filters.ip.strip())
    return events.order_by("-at", "-id")


def case_access_history(case_number: str, *, limit: int = CASE_HISTORY_LIMIT) -> list[AuditEvent]:
    """Who viewed or changed one case (its decisions, letters and attachments included), newest first.

    Appearances in a list (the work queue, the API's case list) are left out: they show the
    case's number, not its contents, and would drown the rest. The auditor's search has them.
    """
    return list(
        AuditEvent.objects.filter(case_number=case_number)
        .exclude(action=AuditAction.LIST)
        .order_by("-at", "-id")[:limit]
    )
