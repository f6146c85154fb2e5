"""Benchmark of a retrospective review run over 100,000 decided cases, two Celery workers on Redis.

Run from the project root:  .venv/bin/python bench/retro/run.py [--cases N] [--workers N]

What it does (see bench/retro/README.md):

1. Drops and creates its own PostgreSQL database (default
   postgres://postgres@127.0.0.1:5432/casemgmt_bench_retro; the name must end in _bench_retro),
   migrates it, loads the demo policies and users (`manage.py load_demo`) and publishes one
   criteria policy of its own.
2. Loads --cases decided cases (default 100,000) with their service lines, decisions, decision
   lines and frozen citations through PostgreSQL COPY, and analyzes.
3. Starts --workers `celery worker` processes (default 2, one pool process each) on a Redis
   queue of its own, queues tonight's scheduled run (every case eligible, sample 100%) and waits
   for it to complete, sampling each worker's resident memory (its process tree) as it goes.
4. Measures the baseline in the same run: reading the same rows of every chunk with the same
   queries (casemgmt.retro.services._chunk_data) and nothing else, in this one process.
5. Prints cases per second end to end (trigger to completed run), the baseline, their ratio,
   memory per worker by quarter of the run, and PASS/FAIL against the targets; exits 1 on a miss.

Targets (issue 6): at least 2,000 cases/s end to end on this 2-core machine; memory per worker
flat as the run grows (the last quarter's peak within 64 MiB of the first quarter's).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[2]
if __package__ in (None, ""):
    sys.path.insert(0, str(ROOT))

from bench.common import db as common_db  # noqa: E402
from bench.common.copy_rows import bench_case_number, copy_rows  # noqa: E402

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/casemgmt_bench_retro"
DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/11"
TARGET_CASES_PER_SECOND = 2000.0
TARGET_RSS_GROWTH_MIB = 64.0


# --- the database ---------------------------------------------------------------------------


def recreate_database(url: str) -> None:
    common_db.recreate_database(url, suffix="_bench_retro")


def configure_django(url: str, broker: str, queue: str, chunk_size: int) -> dict[str, str]:
    env = {
        "DJANGO_SETTINGS_MODULE": "casemgmt.settings",
        "DATABASE_URL": url,
        "CELERY_BROKER_URL": broker,
        "CELERY_QUEUE": queue,
        "RETRO_CHUNK_SIZE": str(chunk_size),
        "SECRET_KEY": os.environ.get("SECRET_KEY") or "bench-" + secrets.token_urlsafe(32),
        "DEBUG": "0",
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    for name in ("CACHE_URL", "SECRET_KEY_FILE", "RETRO_CHUNK_PAUSE_SECONDS"):
        os.environ.pop(name, None)
    import django

    django.setup()
    return env


# --- synthetic decided cases ----------------------------------------------------------------


@dataclass(frozen=True)
class Library:
    client_id: int
    nurse_id: int
    physician_id: int
    investigational: Any  # the Wellmark seed version (investigational)
    criteria: Any  # the benchmark's own criteria version


def seed_library() -> Library:
    """The demo library plus a policy approving CPT 22840 after six weeks of conservative therapy."""
    from django.contrib.auth.models import User

    from policies_app.models import Criterion, FactDefinition, Policy, PolicyCode, PolicyVersion
    from policies_app.services import policy_version_publish, policy_version_submit_for_review

    editor = User.objects.get(username="editor")
    policy = Policy.objects.create(
        payer="Bench Health Plan",
        number="BENCH.01",
        title="Lumbar fusion",
        lines_of_business=["commercial", "exchange", "medicaid", "medicare_advantage", "chip"],
    )
    version = PolicyVersion.objects.create(
        policy=policy,
        version_label="2024-01",
        coverage_position="medically_necessary_with_criteria",
        effective_start=date(2023, 1, 1),
        statement="Lumbar fusion is medically necessary after six weeks of failed conservative therapy.",
    )
    PolicyCode.objects.create(version=version, system="CPT", code="22840")
    root = Criterion.objects.create(version=version, node_type="all_of", label="All of the following")
    Criterion.objects.create(
        version=version,
        parent=root,
        node_type="leaf",
        label="At least 6 weeks of conservative therapy",
        fact=FactDefinition.objects.get(key="conservative_therapy_weeks"),
        operator="gte",
        value=6,
    )
    # One editor submits, a second publishes (POLICY_PUBLISH_NEEDS_SECOND_EDITOR), as in load_demo.
    policy_version_submit_for_review(version_id=version.pk, user=editor)
    criteria = policy_version_publish(version_id=version.pk, user=User.objects.get(username="editor2"))
    wellmark = PolicyVersion.objects.select_related("policy").get(policy__number="07.01.89", status="published")
    return Library(
        client_id=User.objects.get(username="portal").pk,
        nurse_id=User.objects.get(username="nurse").pk,
        physician_id=User.objects.get(username="physician").pk,
        investigational=wellmark,
        criteria=PolicyVersion.objects.select_related("policy").get(pk=criteria.pk),
    )


def _citation(decision_id: int, version: Any) -> dict[str, Any]:
    return {
        "decision_id": decision_id,
        "policy_version_id": version.pk,
        "policy_number": version.policy.number,
        "policy_title": version.policy.title,
        "payer": version.policy.payer,
        "version_label": version.version_label,
        "effective_start": version.effective_start,
        "effective_end": version.effective_end,
        "coverage_position": version.coverage_position,
        "criterion": version.statement[:500],
        "content_sha256": version.content_sha256,
    }


def bulk_load(url: str, n_cases: int, lib: Library, rng: random.Random) -> dict[str, int]:
    """COPY decided cases with lines, decisions, decision lines and citations, in one transaction.

    Every case became reviewable in the last week (decided 1 to 6 days ago, services rendered
    before): tonight's run takes them all. A third of the lines are Wellmark's investigational
    codes (nine in ten denied, the approved rest are discrepancies), a third the criteria policy's code
    with 4-30 weeks of therapy (mostly approved, so criteria not met is a discrepancy), a third codes
    no policy governs.
    """
    import psycopg

    from casemgmt.cases.models import Case, Citation, Decision, DecisionLine, ServiceLine

    now = datetime.now().astimezone()
    lobs = ["commercial"] * 6 + ["exchange"] * 2 + ["medicaid", "medicare_advantage"]
    investigational_codes = [("CPT", "62330"), ("CPT", "62331"), ("CPT", "0274T"), ("HCPCS", "G0276")]
    free_codes = [("CPT", "72148"), ("CPT", "97110"), ("CPT", "99213")]
    counts = {"cases": 0, "lines": 0, "decisions": 0, "decision_lines": 0, "citations": 0}

    def next_id(conn: Any, table: str) -> int:
        return int(conn.execute(f'SELECT coalesce(max(id), 0) FROM "{table}"').fetchone()[0]) + 1

    with psycopg.connect(url) as conn:
        case_id = next_id(conn, Case._meta.db_table)
        line_id = next_id(conn, ServiceLine._meta.db_table)
        decision_id = next_id(conn, Decision._meta.db_table)
        cases: list[dict[str, Any]] = []
        lines: list[dict[str, Any]] = []
        decisions: list[dict[str, Any]] = []
        decision_lines: list[dict[str, Any]] = []
        citations: list[dict[str, Any]] = []
        for i in range(n_cases):
            decided_at = now - timedelta(days=rng.uniform(1.0, 6.5))
            received = decided_at - timedelta(days=rng.uniform(0.5, 10))
            dos = (received - timedelta(days=rng.randint(1, 300))).date()
            weeks = rng.randint(4, 30)
            cases.append(
                {
                    "id": case_id,
                    "case_number": bench_case_number(case_id),
                    "submitted_by_id": lib.client_id,
                    "external_id": f"RETRO-{case_id}",
                    "urgency": "standard",
                    "line_of_business": rng.choice(lobs),
                    "review_type": "retrospective",
                    "status": "decided" if rng.random() < 0.9 else "closed",
                    "member_id": f"M{rng.randrange(10**8):08d}",
                    "member_first_name": "Bench",
                    "member_last_name": f"Member{i}",
                    "member_birth_date": date(1940, 1, 1) + timedelta(days=rng.randrange(365 * 60)),
                    "requesting_provider_npi": "1234567893",
                    "requesting_provider_name": "Bench Spine Clinic",
                    "servicing_provider_npi": "",
                    "servicing_provider_name": "",
                    "diagnosis_codes": '["M48.062"]',
                    "clinical_facts": json.dumps({"conservative_therapy_weeks": weeks}),
                    "clinical_notes": "Lumbar spinal stenosis with neurogenic claudication.",
                    "received_at": received,
                    "due_at": received + timedelta(days=30),
                    "deadline_rule_id": None,
                    "decided_at": decided_at,
                    "assignee_id": None,
                    "row_version": 3,
                    "updated_at": decided_at,
                }
            )
            adverse = False
            cited: dict[int, Any] = {}
            line_outcomes = []
            for seq in range(1, 1 + rng.choice((1, 1, 2, 2, 3))):
                kind = rng.random()
                if kind < 0.33:
                    system, code = rng.choice(investigational_codes)
                    outcome = "denied" if rng.random() < 0.9 else "approved"
                    cited[lib.investigational.pk] = lib.investigational
                elif kind < 0.66:
                    system, code = "CPT", "22840"
                    outcome = "approved" if rng.random() < 0.85 else "denied"
                    cited[lib.criteria.pk] = lib.criteria
                else:
                    system, code = rng.choice(free_codes)
                    outcome = "approved"
                adverse |= outcome == "denied"
                lines.append(
                    {
                        "id": line_id,
                        "case_id": case_id,
                        "sequence": seq,
                        "code_system": system,
                        "code": code,
                        "modifiers": "[]",
                        "units": 1,
                        "date_of_service": dos,
                        "description": "",
                    }
                )
                line_outcomes.append((line_id, outcome))
                line_id += 1
            decisions.append(
                {
                    "id": decision_id,
                    "case_id": case_id,
                    "decided_by_id": lib.physician_id if adverse else lib.nurse_id,
                    "decided_role": "physician_reviewer" if adverse else "nurse_reviewer",
                    "decided_at": decided_at,
                    "rationale": "Reviewed against the policy in effect.",
                    "supersedes_id": None,
                }
            )
            for lid, outcome in line_outcomes:
                decision_lines.append(
                    {
                        "decision_id": decision_id,
                        "service_line_id": lid,
                        "outcome": outcome,
                        "approved_units": 1 if outcome == "approved" else None,
                        "reason": "Not supported by the cited policy." if outcome == "denied" else "",
                    }
                )
            citations.extend(_citation(decision_id, v) for v in cited.values())
            case_id += 1
            decision_id += 1

        with conn.cursor() as cur:
            counts["cases"] = copy_rows(cur, Case, iter(cases), set(cases[0]))
            counts["lines"] = copy_rows(cur, ServiceLine, iter(lines), set(lines[0]))
            counts["decisions"] = copy_rows(cur, Decision, iter(decisions), set(decisions[0]))
            counts["decision_lines"] = copy_rows(
                cur, DecisionLine, iter(decision_lines), set(decision_lines[0]), with_id=False
            )
            counts["citations"] = copy_rows(cur, Citation, iter(citations), set(citations[0]), with_id=False)
            for model in (Case, ServiceLine, Decision):
                table = model._meta.db_table
                cur.execute(
                    f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), (SELECT max(id) FROM \"{table}\"))"
                )
        conn.commit()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return counts


# --- workers and their memory ---------------------------------------------------------------


def _tree_rss_kib(pid: int) -> int:
    """Resident memory of a process and its descendants (the worker and its pool), in KiB."""
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        try:
            with open(f"/proc/{current}/status") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        break
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as children:
                    stack.extend(int(c) for c in children.read().split())
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    nodename: str
    samples: list[tuple[float, int]] = field(default_factory=list)  # (fraction done, RSS KiB)


def start_workers(n: int, env: dict[str, str], queue: str, log_dir: Path) -> list[Worker]:
    from casemgmt.celery import app

    workers = []
    for i in range(n):
        nodename = f"bench-retro-{i}-{uuid.uuid4().hex[:6]}@{socket.gethostname()}"
        log = (log_dir / f"worker-{i}.log").open("wb")
        command = [sys.executable, "-m", "celery", "-A", "casemgmt", "worker", "-l", "warning", "--pool=prefork"]
        command += [
            "-c",
            "1",
            "-Q",
            queue,
            "-n",
            nodename,
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
        process = subprocess.Popen(
            command, cwd=ROOT, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        workers.append(Worker(process, nodename))
    deadline = time.monotonic() + 60
    for worker in workers:
        while not app.control.ping(destination=[worker.nodename], timeout=1):
            if worker.process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"worker {worker.nodename} did not start; see {log_dir}")
    return workers


def stop_workers(workers: list[Worker]) -> None:
    for worker in workers:
        if worker.process.poll() is None:
            os.killpg(worker.process.pid, signal.SIGTERM)
    for worker in workers:
        try:
            worker.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(worker.process.pid, signal.SIGKILL)


def purge(queue: str) -> None:
    from casemgmt.celery import app

    with app.connection_for_write() as conn:
        channel: Any = conn.default_channel
        channel.queue_purge(queue)
        client = getattr(channel, "client", None)
        if client is not None:
            for key in list(client.scan_iter(match=f"*{queue}*")):
                client.delete(key)


# --- the run --------------------------------------------------------------------------------


@dataclass
class Figures:
    loaded: dict[str, int]
    load_s: float
    selected: int = 0
    chunks: int = 0
    discrepancies: int = 0
    failed: int = 0
    plan_s: float = 0.0
    run_s: float = 0.0
    baseline_s: float = 0.0
    workers: list[Worker] = field(default_factory=list)
    load_before: tuple[float, float, float] = (0.0, 0.0, 0.0)

    @property
    def rate(self) -> float:
        return self.selected / self.run_s if self.run_s else 0.0

    @property
    def baseline_rate(self) -> float:
        return self.selected / self.baseline_s if self.baseline_s else 0.0


def run(database_url: str, broker: str, n_cases: int, n_workers: int, chunk_size: int, seed: int) -> Figures:
    from django.core.management import call_command

    queue = f"bench-retro-{uuid.uuid4().hex[:8]}"
    recreate_database(database_url)
    env = configure_django(database_url, broker, queue, chunk_size)
    with open(os.devnull, "w") as quiet:
        call_command("migrate", verbosity=0, stdout=quiet)
        # load_demo publishes (so queues publish runs): run its tasks here, in-process.
        from casemgmt.celery import app

        app.conf.task_always_eager = True
        call_command("load_demo", stdout=quiet)
        library = seed_library()
        app.conf.task_always_eager = False
    t0 = time.perf_counter()
    figures = Figures(bulk_load(database_url, n_cases, library, random.Random(seed)), 0.0)
    figures.load_s = time.perf_counter() - t0

    from casemgmt.retro import services
    from casemgmt.retro.models import RetroChunk, RetroRun, RetroRunStatus, RetroSchedule

    RetroSchedule.objects.update_or_create(pk=1, defaults={"sample_percent": 100, "first_run_days": 7})
    log_dir = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-retro-{queue}"
    log_dir.mkdir(parents=True, exist_ok=True)
    purge(queue)
    workers = start_workers(n_workers, env, queue, log_dir)
    figures.workers = workers
    progress = {"fraction": 0.0}
    sampling = threading.Event()

    def sample_memory() -> None:
        while not sampling.is_set():
            for worker in workers:
                worker.samples.append((progress["fraction"], _tree_rss_kib(worker.process.pid)))
            sampling.wait(0.2)

    sampler = threading.Thread(target=sample_memory, daemon=True)
    sampler.start()
    try:
        figures.load_before = os.getloadavg()
        start = time.perf_counter()
        tonight = services.retro_run_nightly()
        assert tonight is not None
        planned = None
        while True:
            current = RetroRun.objects.get(pk=tonight.pk)
            if planned is None and current.status != RetroRunStatus.QUEUED:
                planned = time.perf_counter() - start
            if current.selected:
                progress["fraction"] = current.processed / current.selected
            if current.is_finished:
                break
            if time.perf_counter() - start > 1800:
                raise SystemExit("the run did not finish within 30 minutes")
            time.sleep(0.1)
        figures.run_s = time.perf_counter() - start
        figures.plan_s = planned or 0.0
    finally:
        sampling.set()
        sampler.join()
        stop_workers(workers)
        purge(queue)
    if current.status != RetroRunStatus.COMPLETED:
        raise SystemExit(f"the run ended {current.status}: {current.error}")
    figures.selected, figures.chunks = current.selected, current.chunk_count
    figures.discrepancies, figures.failed = current.discrepancies, current.failed

    # The baseline: the same rows, read with the same queries, chunk by chunk, and nothing else.
    from casemgmt.retro.services import _chunk_data

    chunks = list(RetroChunk.objects.filter(run=current).order_by("sequence").values_list("case_ids", flat=True))
    start = time.perf_counter()
    for case_ids in chunks:
        _chunk_data(list(case_ids))
    figures.baseline_s = time.perf_counter() - start
    return figures


def _quarters(samples: list[tuple[float, int]]) -> list[int]:
    """Peak RSS (KiB) in each quarter of the run's progress."""
    peaks = [0, 0, 0, 0]
    for fraction, rss in samples:
        q = min(3, int(fraction * 4))
        peaks[q] = max(peaks[q], rss)
    return peaks


def report(f: Figures, n_workers: int, chunk_size: int) -> bool:
    mib = 1024.0
    loaded = f.loaded
    print(
        f"data: {loaded['cases']:,} decided cases, {loaded['lines']:,} lines, {loaded['decisions']:,} decisions, "
        f"{loaded['decision_lines']:,} decision lines, {loaded['citations']:,} citations; loaded in {f.load_s:.1f} s"
    )
    before = ", ".join(f"{x:.2f}" for x in f.load_before)
    print(
        f"load average: {before} before the run, {', '.join(f'{x:.2f}' for x in os.getloadavg())} after ({os.cpu_count()} CPUs)"
    )
    print(
        f"run: {f.selected:,} cases in {f.chunks} chunks of {chunk_size}, {n_workers} workers; "
        f"{f.discrepancies:,} discrepancies, {f.failed} failed"
    )
    print()
    header = f"{'measure':<44} {'seconds':>8} {'cases/s':>9}"
    print(header)
    print("-" * len(header))
    print(f"{'run, trigger to completed (end to end)':<44} {f.run_s:>8.1f} {f.rate:>9,.0f}")
    print(f"{'  of which planning (selection, chunks)':<44} {f.plan_s:>8.1f}")
    print(f"{'baseline: read the same rows, 1 process':<44} {f.baseline_s:>8.1f} {f.baseline_rate:>9,.0f}")
    ratio = f.rate / f.baseline_rate if f.baseline_rate else float("nan")
    print(f"{'ratio run / baseline':<44} {ratio:>18.2f}")
    print()
    print("worker RSS (process and pool), peak per quarter of the run, MiB:")
    flat = True
    for i, worker in enumerate(f.workers):
        q = _quarters(worker.samples)
        growth = (q[3] - q[0]) / mib if q[0] and q[3] else 0.0
        flat &= growth < TARGET_RSS_GROWTH_MIB
        print(
            f"  worker {i}: "
            + "  ".join(f"Q{n + 1} {v / mib:6.1f}" for n, v in enumerate(q))
            + f"   peak {max(q) / mib:6.1f}   growth Q1->Q4 {growth:+.1f}"
        )
    print()
    fast = f.rate >= TARGET_CASES_PER_SECOND
    print(f"{'PASS' if fast else 'FAIL'}  throughput: {f.rate:,.0f} cases/s >= {TARGET_CASES_PER_SECOND:,.0f}")
    print(
        f"{'PASS' if flat else 'FAIL'}  memory flat: each worker's Q4 peak within {TARGET_RSS_GROWTH_MIB:.0f} MiB of Q1"
    )
    return fast and flat


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL)
    parser.add_argument("--broker-url", default=os.environ.get("BENCH_RETRO_BROKER_URL") or DEFAULT_BROKER_URL)
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--chunk-size", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=20260306)
    args = parser.parse_args(argv)
    if not common_db.db_name(args.database_url).endswith("_bench_retro"):
        args.database_url = urlsplit(args.database_url)._replace(path="/casemgmt_bench_retro").geturl()
        print("using database casemgmt_bench_retro on the DATABASE_URL server")
    figures = run(args.database_url, args.broker_url, args.cases, args.workers, args.chunk_size, args.seed)
    return 0 if report(figures, args.workers, args.chunk_size) else 1


if __name__ == "__main__":
    sys.exit(main())
