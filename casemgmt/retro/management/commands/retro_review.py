"""Start an on-demand retrospective review and show its progress until it finishes.

    manage.py retro_review --policy 07.01.89 --from 2025-01-01 --to 2025-06-30 \
        [--line-of-business commercial] [--sample-percent 10] [--no-wait]

--policy takes the policy's id or its number. With tasks in-process (no CELERY_BROKER_URL) the
run is done by the time it is queued; with a broker the workers do it and this command waits.
"""

from __future__ import annotations

import time
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from casemgmt.kernel.errors import DomainError, ValidationFailed
from casemgmt.retro import services
from casemgmt.retro.models import RetroOrigin, RetroRun
from policies_app.models import Policy

OPTION_OF_FIELD = {
    "policy": "--policy",
    "date_from": "--from",
    "date_to": "--to",
    "line_of_business": "--line-of-business",
    "sample_percent": "--sample-percent",
}
BAR_WIDTH = 40


def progress_bar(run: RetroRun) -> str:
    filled = BAR_WIDTH * run.percent_done // 100
    return (
        f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {run.percent_done:3d}%  "
        f"{run.processed:,}/{run.selected:,} cases, {run.discrepancies:,} discrepancies, "
        f"{run.failed:,} failed  ({run.status})"
    )


class Command(BaseCommand):
    help = "Re-evaluate a policy's decided cases dated in a window; print progress until the run finishes."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--policy", required=True, help="Policy id or number")
        parser.add_argument("--from", dest="date_from", required=True, help="First date of service, YYYY-MM-DD")
        parser.add_argument("--to", dest="date_to", required=True, help="Last date of service, YYYY-MM-DD")
        parser.add_argument("--line-of-business", default="", help="Only this line of business")
        parser.add_argument("--sample-percent", default=None, help="Review a random sample of this percent")
        parser.add_argument("--no-wait", action="store_true", help="Queue the run and return at once")
        parser.add_argument("--interval", type=float, default=1.0, help="Seconds between progress updates")

    def handle(self, *args: Any, **options: Any) -> None:
        request = services.RunRequest(
            policy_id=self._policy(options["policy"]),
            date_from=self._date("--from", options["date_from"]),
            date_to=self._date("--to", options["date_to"]),
            line_of_business=options["line_of_business"],
            sample_percent=self._percent(options["sample_percent"]),
        )
        try:
            run = services.retro_run_request(user=None, request=request, origin=RetroOrigin.COMMAND)
        except ValidationFailed as exc:
            raise CommandError(
                "; ".join(f"{OPTION_OF_FIELD.get(k, k)}: {' '.join(v)}" for k, v in exc.errors.items())
            ) from exc
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"retrospective run {run.pk} queued (seed {run.seed})")
        if options["no_wait"]:
            return
        self._follow(run, max(0.1, options["interval"]))

    def _follow(self, run: RetroRun, interval: float) -> None:
        tty = hasattr(self.stdout, "isatty") and self.stdout.isatty()
        last = ""
        while True:
            run.refresh_from_db()
            line = progress_bar(run)
            if line != last:
                self.stdout.write(("\r" + line) if tty else line, ending="" if tty else "\n")
                self.stdout.flush()
                last = line
            if run.is_finished:
                break
            time.sleep(interval)
        if tty:
            self.stdout.write("")
        summary = (
            f"run {run.pk} {run.status}: {run.selected:,} selected, {run.evaluated:,} evaluated, "
            f"{run.discrepancies:,} discrepancies (review items opened), {run.failed:,} failed"
        )
        if run.status == "completed":
            self.stdout.write(self.style.SUCCESS(summary))
        else:
            raise CommandError(summary)

    def _policy(self, raw: str) -> int:
        raw = raw.strip()
        if raw.isdigit() and Policy.objects.filter(pk=int(raw)).exists():
            return int(raw)
        matches = list(Policy.objects.filter(number=raw).values_list("pk", flat=True)[:2])
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise CommandError(f"--policy: several payers have a policy numbered {raw!r}; give its id")
        raise CommandError(f"--policy: no policy with id or number {raw!r}")

    def _date(self, option: str, raw: str) -> date:
        try:
            return date.fromisoformat(raw)
        except ValueError as exc:
            raise CommandError(f"{option}: {raw!r} is not a date (YYYY-MM-DD)") from exc

    def _percent(self, raw: str | None) -> Decimal | None:
        if raw is None:
            return None
        try:
            return Decimal(raw)
        except InvalidOperation as exc:
            raise CommandError(f"--sample-percent: {raw!r} is not a number") from exc
