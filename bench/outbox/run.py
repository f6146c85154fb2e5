"""Benchmark of the task outbox: how fast the relay sends, and what the outbox costs intake.

Run from the project root:  .venv/bin/python bench/outbox/run.py [--tasks N] [--batch N]

What it does (see bench/outbox/README.md):

1. Drops and creates its own PostgreSQL database (default
   postgres://postgres@127.0.0.1:5432/casemgmt_outbox_bench; the name must end in _bench),
   migrates it and loads the demo policies and users (`manage.py load_demo`). Tasks go to a
   Redis queue of its own (default redis://127.0.0.1:6379/12), emptied and removed at the end;
   no worker reads it, so only sending is measured.
2. Relay: writes --tasks outbox rows (default 20,000; not timed), then times relay passes of
   --batch rows (the relay's default, 500) until none is left, and checks that every row is
   marked sent and every message is in the queue. Baseline, in the same run: bare `apply_async`
   of the same task, --tasks times, without the outbox.
3. Intake (an in-process timing loop, not bench/intake's gunicorn load): `POST /api/v1/cases`
   through the whole Django stack (Django's test client: middleware, bearer token, DRF, the
   services, PostgreSQL) by a client with one webhook, so each submission queues one delivery
   task, sent to Redis after commit. In alternating rounds, with the outbox and with the send
   it replaced (`transaction.on_commit(task.delay)`, no row). Submissions per second of each,
   one at a time.
4. Prints the figures and PASS/FAIL: the relay at least 2,000 tasks/s; the outbox costing
   intake at most 10% of its submissions per second. Exits 1 on a miss.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import secrets
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if __package__ in (None, ""):
    sys.path.insert(0, str(ROOT))

from bench.common import db as common_db  # noqa: E402

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/casemgmt_outbox_bench"
DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/12"
TASK = "casemgmt.tasks.case_flags_refresh_task"
TARGET_RELAY_TASKS_PER_SECOND = 2000.0
TARGET_INTAKE_COST = 0.10


def configure_django(database_url: str, broker_url: str, queue: str) -> None:
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "casemgmt.settings",
            "DATABASE_URL": database_url,
            "CELERY_BROKER_URL": broker_url,
            "CELERY_QUEUE": queue,
            "SECRET_KEY": os.environ.get("SECRET_KEY") or "bench-" + secrets.token_urlsafe(32),
            "DEBUG": "0",
            "LOG_LEVEL": "WARNING",
            "ALLOWED_HOSTS": "testserver",
            "SECURE_SSL_REDIRECT": "0",
            "API_RATE_LIMIT": "1000000/min",
            # The webhook's host is never called (no worker reads the queue); skip its DNS check.
            "WEBHOOK_ALLOW_PRIVATE_NETWORKS": "1",
        }
    )
    for name in ("CACHE_URL", "SECRET_KEY_FILE", "DATABASE_URL_FILE", "CELERY_BROKER_URL_FILE"):
        os.environ.pop(name, None)
    import django

    django.setup()


def setup_application() -> None:
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    call_command("load_demo", stdout=io.StringIO())


def queue_length(queue: str) -> int:
    from casemgmt.celery import app

    with app.connection_for_write() as conn:
        channel: Any = conn.default_channel
        return int(channel.client.llen(queue))


def drop_queue(queue: str) -> None:
    from casemgmt.celery import app

    with app.connection_for_write() as conn:
        channel: Any = conn.default_channel
        channel.queue_purge(queue)
        for key in list(channel.client.scan_iter(match=f"*{queue}*")):
            channel.client.delete(key)


# --- the relay ----------------------------------------------------------------------------------


def write_rows(count: int) -> None:
    from django.db import transaction

    from casemgmt.outbox.services import outbox_tasks_add

    for start in range(0, count, 5000):
        with transaction.atomic():
            outbox_tasks_add(name=TASK, args_list=([i] for i in range(start, min(count, start + 5000))))


def relay_all(batch: int) -> tuple[int, float, int]:
    """Relay passes until nothing is due: (tasks sent, seconds, passes)."""
    from casemgmt.outbox.services import outbox_relay

    sent = passes = 0
    started = time.perf_counter()
    while True:
        result = outbox_relay(limit=batch)
        if result.error:
            raise SystemExit(f"the relay met a broker error: {result.error}")
        passes += 1
        sent += result.sent
        if result.sent == 0:
            return sent, time.perf_counter() - started, passes


def bare_apply_async(count: int) -> float:
    from celery import current_app

    task = current_app.tasks[TASK]
    started = time.perf_counter()
    for i in range(count):
        task.apply_async((i,))
    return time.perf_counter() - started


# --- intake -------------------------------------------------------------------------------------

_counter = iter(range(1, 10**9))
RUN_ID = uuid.uuid4().hex[:8]


def intake_body() -> str:
    """A submission of 3 service lines, two of them governed by a seed policy (as bench/intake)."""
    dos = (date.today() + timedelta(days=14)).isoformat()
    lines = [
        {"code_system": "CPT", "code": code, "units": 1, "date_of_service": dos, "description": text}
        for code, text in (("62330", "mild, L4-L5"), ("62331", "add. level"), ("72148", "MRI lumbar"))
    ]
    return json.dumps(
        {
            "external_id": f"OUTBOX-{RUN_ID}-{next(_counter)}",
            "urgency": "standard",
            "line_of_business": "commercial",
            "member": {
                "member_id": "W100200300",
                "first_name": "Bench",
                "last_name": "Member",
                "birth_date": "1961-03-14",
            },
            "requesting_provider": {"npi": "1234567893", "name": "Bench Spine Clinic"},
            "diagnosis_codes": ["M48.062", "M54.16"],
            "service_lines": lines,
            "clinical_notes": "Lumbar stenosis with neurogenic claudication; 12 weeks of physical therapy failed.",
        }
    )


def intake_client() -> Any:
    from django.contrib.auth.models import User
    from django.test import Client

    from casemgmt.cases.services.webhooks import webhook_subscribe
    from casemgmt.security.services import api_token_create

    portal = User.objects.get(username="portal")
    webhook_subscribe(client=portal, url="https://hooks.example.org/casemgmt-bench")
    _, raw = api_token_create(user=portal, label="bench/outbox")
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


def enqueue_without_outbox(name: str, args_list: Iterable[Sequence[int]]) -> None:
    """What sending a task was before the outbox: no row, `delay` on commit."""
    from celery import current_app
    from django.db import transaction

    task = current_app.tasks[name]
    args_list = list(args_list)

    def send() -> None:
        for args in args_list:
            task.delay(*args)

    transaction.on_commit(send, robust=True)


def _process_cpu_s(pid: int) -> float:
    """utime + stime of a process from /proc, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def backend_pid() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return int(cursor.fetchone()[0])


@dataclass
class Round:
    submissions: int
    seconds: float
    cpu_s: float  # this process (Django, DRF, the services, the Redis client) + its PostgreSQL backend

    @property
    def rate(self) -> float:
        return self.submissions / self.seconds


def submit(client: Any, count: int, backend: int) -> Round:
    cpu_before = time.process_time() + _process_cpu_s(backend)
    started = time.perf_counter()
    for _ in range(count):
        response = client.post("/api/v1/cases", intake_body(), content_type="application/json")
        if response.status_code != 201:
            raise SystemExit(f"intake answered {response.status_code}: {response.content[:300]!r}")
    seconds = time.perf_counter() - started
    return Round(count, seconds, time.process_time() + _process_cpu_s(backend) - cpu_before)


def measure_intake(client: Any, rounds: int, per_round: int) -> dict[str, list[Round]]:
    from django.db import connection

    from casemgmt.cases.services import webhooks

    # One connection for the whole loop (not renewed after CONN_MAX_AGE), so its backend's CPU
    # can be read from /proc throughout.
    connection.close()
    connection.settings_dict["CONN_MAX_AGE"] = None
    with_outbox = webhooks.tasks_enqueue_on_commit
    variants: dict[str, Callable[..., None]] = {"with outbox": with_outbox, "without": enqueue_without_outbox}
    results: dict[str, list[Round]] = {name: [] for name in variants}
    backend = backend_pid()
    submit(client, 30, backend)  # warm-up: the engine index, caches
    for round_no in range(rounds):
        order = list(variants) if round_no % 2 == 0 else list(reversed(variants))
        for name in order:
            webhooks.tasks_enqueue_on_commit = variants[name]
            try:
                results[name].append(submit(client, per_round, backend))
            finally:
                webhooks.tasks_enqueue_on_commit = with_outbox
    if backend_pid() != backend:
        raise SystemExit("the database connection changed during the intake loop: its CPU figures are wrong")
    return results


# --- the run ------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL)
    parser.add_argument("--broker-url", default=DEFAULT_BROKER_URL)
    parser.add_argument("--tasks", type=int, default=20_000, help="rows to relay (and baseline sends)")
    parser.add_argument("--batch", type=int, default=500, help="rows per relay pass")
    parser.add_argument("--rounds", type=int, default=6, help="intake rounds per variant, alternating")
    parser.add_argument("--per-round", type=int, default=150, help="submissions per intake round")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    common_db.recreate_database(args.database_url, suffix="_bench")
    queue = f"casemgmt-outbox-bench-{RUN_ID}"
    configure_django(args.database_url, args.broker_url, queue)
    setup_application()
    print(f"database {common_db.db_name(args.database_url)}, broker {args.broker_url}, queue {queue}")
    try:
        from casemgmt.outbox.models import OutboxTask

        drop_queue(queue)  # what load_demo's publishes queued (their rows are not due)
        first = (OutboxTask.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1
        write_rows(args.tasks)
        sent, seconds, passes = relay_all(args.batch)
        unsent = OutboxTask.objects.filter(pk__gte=first, sent_at__isnull=True).count()
        in_queue = queue_length(queue)
        if sent != args.tasks or unsent or in_queue != args.tasks:
            raise SystemExit(f"relay sent {sent} of {args.tasks}, {unsent} unsent, {in_queue} messages in the queue")
        drop_queue(queue)
        baseline_seconds = bare_apply_async(args.tasks)
        drop_queue(queue)
        relay_rate, baseline_rate = sent / seconds, args.tasks / baseline_seconds

        client = intake_client()
        rounds = measure_intake(client, args.rounds, args.per_round)
    finally:
        drop_queue(queue)

    print()
    print(f"relay: {args.tasks:,} tasks in {passes} passes of up to {args.batch}")
    print(f"  outbox relay           {relay_rate:8.0f} tasks/s  ({seconds:.2f} s)")
    print(f"  bare apply_async       {baseline_rate:8.0f} tasks/s  ({baseline_seconds:.2f} s), no outbox")
    print(f"  relay / bare           {relay_rate / baseline_rate:8.2f}")
    print()
    print(
        f"intake, in-process timing loop (Django test client, one submission at a time, a client with "
        f"one webhook; {args.rounds} rounds of {args.per_round} per variant, alternating):"
    )
    cpu_ms: dict[str, float] = {}
    for name, results in rounds.items():
        cpu_ms[name] = sum(r.cpu_s for r in results) / sum(r.submissions for r in results) * 1000
        spread = ", ".join(f"{r.rate:.0f}" for r in results)
        print(
            f"  {name:<12} {cpu_ms[name]:6.2f} ms CPU per submission (this process + its PostgreSQL backend); "
            f"{statistics.median(r.rate for r in results):6.1f} submissions/s median (rounds: {spread})"
        )
    # On a machine whose CPUs the load saturates, throughput goes as 1 / CPU per submission; the
    # CPU is also what other work on the machine moves least (it delays the loop, it costs it little).
    cost = 1 - cpu_ms["without"] / cpu_ms["with outbox"]
    wall_cost = 1 - statistics.median(r.rate for r in rounds["with outbox"]) / statistics.median(
        r.rate for r in rounds["without"]
    )
    print(f"  cost of the outbox: {cost * 100:.1f} % of throughput by CPU ({wall_cost * 100:.1f} % by wall-clock rate)")

    relay_ok = relay_rate >= TARGET_RELAY_TASKS_PER_SECOND
    intake_ok = cost <= TARGET_INTAKE_COST
    print()
    print(f"{'PASS' if relay_ok else 'FAIL'}  relay >= {TARGET_RELAY_TASKS_PER_SECOND:,.0f} tasks/s")
    print(f"{'PASS' if intake_ok else 'FAIL'}  outbox costs intake <= {TARGET_INTAKE_COST:.0%} (by CPU per submission)")
    return 0 if relay_ok and intake_ok else 1


if __name__ == "__main__":
    sys.exit(main())
