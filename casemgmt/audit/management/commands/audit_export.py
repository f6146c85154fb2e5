"""Export audit rows of a period as CSV, for archiving or an investigation. The export is recorded."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from casemgmt.audit.context import command_scope
from casemgmt.audit.export import as_of_now, csv_lines
from casemgmt.audit.models import AuditAction, AuditObject
from casemgmt.audit.selectors import AuditFilters, audit_events
from casemgmt.audit.services import audit_record


def _date(name: str, raw: str | None) -> date | None:
    if raw is None:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise CommandError(f"--{name}: {raw!r} is not a date (YYYY-MM-DD)") from exc


class Command(BaseCommand):
    help = "Write the audit rows of a period (dates inclusive) as CSV, oldest first, to a file or stdout."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--from", dest="date_from", help="First day (YYYY-MM-DD), in TIME_ZONE.")
        parser.add_argument("--to", dest="date_to", help="Last day, included (YYYY-MM-DD).")
        parser.add_argument("--case", default="", help="Only rows about this case number (or object id).")
        parser.add_argument("--output", help="File to write; it must not exist. Default: standard output.")

    def handle(self, *args: Any, **options: Any) -> None:
        filters = AuditFilters(
            date_from=_date("from", options["date_from"]),
            date_to=_date("to", options["date_to"]),
            object_id=options["case"],
        )
        if filters.date_from and filters.date_to and filters.date_to < filters.date_from:
            raise CommandError("--to: must not be before --from")
        output = Path(options["output"]) if options["output"] else None
        if output is not None and output.exists():
            raise CommandError(f"--output: {output} exists; choose a new file (an archive is never overwritten)")
        events = as_of_now(audit_events(filters).order_by("at", "id"))
        with command_scope("audit_export"):
            count = events.count()
            audit_record(
                action=AuditAction.EXPORT,
                object_type=AuditObject.AUDIT_LOG,
                detail={"filters": filters.as_dict(), "rows": count, "output": str(output or "stdout")},
            )
        if output is None:
            for line in csv_lines(events):
                self.stdout.write(line, ending="")
        else:
            with output.open("x", encoding="utf-8", newline="") as handle:
                for line in csv_lines(events):
                    handle.write(line)
        (sys.stderr if output is None else self.stdout).write(f"{count} audit rows exported\n")
