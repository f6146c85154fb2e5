"""`manage.py outbox_check`: is a relay alive and is the outbox keeping up? Exit 1 if not."""

from __future__ import annotations

import json
from typing import Any

from celery import current_app
from django.core.management.base import BaseCommand, CommandError, CommandParser

from casemgmt.outbox.selectors import outbox_status


class Command(BaseCommand):
    help = (
        "Print the outbox's figures (unsent and overdue rows, the oldest overdue row's age, the "
        "latest relay heartbeat's age) as JSON; exit 1 when no relay has beaten within "
        "--max-heartbeat-age seconds (with a broker) or a row has been overdue longer than "
        "--max-overdue seconds. --ping-workers also requires a Celery worker to answer a ping."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--max-heartbeat-age", type=float, default=60.0)
        parser.add_argument("--max-overdue", type=float, default=300.0)
        parser.add_argument("--ping-workers", action="store_true", help="Also ping the Celery workers (5 s).")

    def handle(
        self, *args: Any, max_heartbeat_age: float, max_overdue: float, ping_workers: bool, **options: Any
    ) -> None:
        in_process = bool(current_app.conf.task_always_eager)
        status = outbox_status(relay_alive_seconds=int(max_heartbeat_age))
        report: dict[str, Any] = {**status.as_dict(), "in_process": in_process}
        problems = []
        heartbeat = status.relay_heartbeat_seconds
        if not in_process and (heartbeat is None or heartbeat > max_heartbeat_age):
            problems.append(f"no outbox relay has reported within {max_heartbeat_age:g}s")
        overdue = status.oldest_overdue_seconds
        if overdue is not None and overdue > max_overdue:
            problems.append(f"a task has been due for {overdue:g}s (limit {max_overdue:g}s)")
        if ping_workers:
            if in_process:
                report["workers"] = 0
            else:
                answers = current_app.control.ping(timeout=5.0) or []
                report["workers"] = len(answers)
                if not answers:
                    problems.append("no Celery worker answered a ping within 5s")
        report["problems"] = problems
        self.stdout.write(json.dumps(report, sort_keys=True))
        if problems:
            raise CommandError("; ".join(problems))
