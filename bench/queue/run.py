"""Benchmark of the work queue page and the case page with 100,000 cases in PostgreSQL.

Run from the project root:  .venv/bin/python bench/queue/run.py [--cases N] [--requests N]

What it does (see bench/queue/README.md):

1. Drops and creates the database named by DATABASE_URL (default
   postgres://postgres@127.0.0.1:5432/casemgmt_bench_queue; the name must end in _bench_queue),
   migrates it and loads the demo policies, users and cases (`manage.py load_demo`).
2. Counts the queue page's queries with those few cases, then loads --cases cases (default
   100,000) with their service lines, flags and events through PostgreSQL COPY, and analyzes.
3. Serves pages in-process with Django's test Client, signed in as a nurse (and a manager, whose
   rows carry a reassign menu): the queue (default, with filters, a later page, the htmx
   fragment), a case page, and the baseline page (bench/queue/baseline.py) that renders the
   same first rows with none of the page's work. Each is warmed, then timed over --requests
   requests; query counts are captured on separate requests so capturing costs no time.
4. Prints a table and PASS/FAIL per target; exits 1 when a target is missed.

Targets (issue 5): queue p95 under 150 ms; at most 12 queries per page at any size.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[2]
if __package__ in (None, ""):
    sys.path.insert(0, str(ROOT))

from bench.common import db as common_db  # noqa: E402

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/casemgmt_bench_queue"
SETTINGS_MODULE = "bench.queue.settings"
TARGET_QUEUE_P95_MS = 150.0
TARGET_MAX_QUERIES = 12
WARMUP_REQUESTS = 20
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


# --- the database ---------------------------------------------------------------------------


def recreate_database(url: str) -> None:
    common_db.recreate_database(url, suffix="_bench_queue")


def configure_django(url: str) -> None:
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": SETTINGS_MODULE,
            "DATABASE_URL": url,
            "SECRET_KEY": os.environ.get("SECRET_KEY") or "bench-" + secrets.token_urlsafe(32),
            "DEBUG": "0",  # production template caching and no debug query log
            "ALLOWED_HOSTS": "testserver",
            "SECURE_COOKIES": "0",
            "SECURE_SSL_REDIRECT": "0",  # the test client speaks plain HTTP
            "LOG_LEVEL": "WARNING",
        }
    )
    for name in ("CELERY_BROKER_URL", "CACHE_URL", "SECRET_KEY_FILE"):
        os.environ.pop(name, None)
    import django

    django.setup()


# --- synthetic cases ------------------------------------------------------------------------


@dataclass(frozen=True)
class Seed:
    client_id: int
    reviewer_ids: list[int]
    flag_templates: list[dict[str, Any]]


def seed_people_and_templates() -> Seed:
    """Demo users and policies are there (load_demo); add reviewers so assignees vary."""
    from django.contrib.auth.models import Group, User

    from casemgmt.cases.models import Flag, FlagKind, FlagSeverity
    from casemgmt.kernel.roles import Role

    reviewers = list(User.objects.filter(groups__name__in=[Role.NURSE.value, Role.PHYSICIAN.value]))
    for i in range(24):
        role = Role.PHYSICIAN if i % 5 == 0 else Role.NURSE
        user = User.objects.create(username=f"bench.reviewer{i}", first_name="Bench", last_name=f"Reviewer {i}")
        user.set_unusable_password()
        user.save(update_fields=["password"])
        user.groups.add(Group.objects.get(name=role.value))
        reviewers.append(user)
    # Real flags from the demo cases (with their citations and checklists) as templates, plus one
    # of each kind the engine raises, so the flag-kind filter has every value to find.
    templates = [
        {k: getattr(f, k) for k in ("kind", "severity", "message", "policy_version_id", "citation", "details")}
        for f in Flag.objects.all()
    ]
    severities = {
        FlagKind.INVESTIGATIONAL: FlagSeverity.CRITICAL,
        FlagKind.NOT_MEDICALLY_NECESSARY: FlagSeverity.CRITICAL,
        FlagKind.COSMETIC: FlagSeverity.CRITICAL,
        FlagKind.CRITERIA_NOT_MET: FlagSeverity.CRITICAL,
        FlagKind.CRITERIA_INCOMPLETE: FlagSeverity.WARNING,
        FlagKind.NO_VERSION_IN_EFFECT: FlagSeverity.WARNING,
        FlagKind.POSITION_UNDETERMINED: FlagSeverity.WARNING,
    }
    for kind in FlagKind:
        templates.append(
            {
                "kind": kind.value,
                "severity": severities.get(kind, FlagSeverity.INFO).value,
                "message": f"{kind.label} (synthetic flag for the benchmark).",
                "policy_version_id": None,
                "citation": None,
                "details": {},
            }
        )
    client = User.objects.get(username="portal")
    return Seed(client.pk, [u.pk for u in reviewers], templates)


def _case_number(i: int) -> str:
    digits = []
    for _ in range(7):
        i, r = divmod(i, 32)
        digits.append(CROCKFORD[r])
    # Starts with "Z": demo case numbers are random, this keeps the two sets apart in practice.
    return "PA-Z" + "".join(reversed(digits))


def _columns(model: Any) -> list[str]:
    return [f.column for f in model._meta.concrete_fields]


def _defaults(model: Any, known: set[str]) -> dict[str, Any]:
    """Columns this script does not fill (added to the model later) get the field's default."""
    from django.db import connection

    out = {}
    for f in model._meta.concrete_fields:
        if f.column not in known:
            value = f.get_db_prep_save(f.get_default(), connection)
            out[f.column] = json.dumps(value) if isinstance(value, (dict, list)) else value
    return out


def _copy(cursor: Any, model: Any, rows: Iterator[dict[str, Any]], known: set[str]) -> int:
    columns = _columns(model)
    fill = _defaults(model, known)
    names = ", ".join(f'"{c}"' for c in columns)
    count = 0
    with cursor.copy(f'COPY "{model._meta.db_table}" ({names}) FROM STDIN') as copy:
        for row in rows:
            row.update(fill)
            copy.write_row([row[c] for c in columns])
            count += 1
    return count


def bulk_load(url: str, n_cases: int, seed: Seed, rng: random.Random) -> dict[str, int]:
    """COPY n_cases cases with lines, flags (current and superseded) and events, in one transaction."""
    import psycopg

    from casemgmt.cases.models import Case, CaseEvent, Flag, ServiceLine

    now = datetime.now().astimezone()
    statuses = (
        (["received"] * 35 + ["in_review"] * 20 + ["pended"] * 10 + ["physician_review"] * 5)
        + ["decided"] * 22
        + ["cancelled"] * 3
        + ["closed"] * 5
    )
    lobs = ["commercial"] * 50 + ["medicare_advantage"] * 20 + ["medicaid"] * 15 + ["chip"] * 5 + ["exchange"] * 10
    hours = {("expedited", ""): 72, ("standard", "commercial"): 360, ("standard", "exchange"): 360}
    codes = [
        ("CPT", "62330"),
        ("CPT", "62331"),
        ("CPT", "22840"),
        ("CPT", "72148"),
        ("HCPCS", "G0276"),
        ("CPT", "0274T"),
    ]
    members = [f"M{rng.randrange(10**8):08d}" for _ in range(n_cases // 2)]
    counts = {"cases": 0, "lines": 0, "flags": 0, "events": 0}

    def ids(table: str, conn: Any) -> int:
        return int(conn.execute(f'SELECT coalesce(max(id), 0) FROM "{table}"').fetchone()[0])

    with psycopg.connect(url) as conn:
        case_id0 = ids(Case._meta.db_table, conn)
        line_id0 = ids(ServiceLine._meta.db_table, conn)
        plan: list[tuple[int, str, datetime, list[int]]] = []
        case_rows: list[dict[str, Any]] = []
        line_rows: list[dict[str, Any]] = []
        line_id = line_id0
        for i in range(n_cases):
            case_id = case_id0 + 1 + i
            urgency = "expedited" if rng.random() < 0.2 else "standard"
            lob = rng.choice(lobs)
            status = rng.choice(statuses)
            received = now - timedelta(days=rng.uniform(0, 20))
            due = received + timedelta(hours=hours.get((urgency, ""), hours.get((urgency, lob), 168)))
            assignee = rng.choice(seed.reviewer_ids) if status in ("in_review", "pended", "physician_review") else None
            decided = due - timedelta(hours=1) if status == "decided" else None
            case_rows.append(
                {
                    "id": case_id,
                    "case_number": _case_number(case_id),
                    "submitted_by_id": seed.client_id,
                    "external_id": f"BENCH-{case_id}",
                    "urgency": urgency,
                    "line_of_business": lob,
                    "review_type": "prospective" if rng.random() < 0.9 else "retrospective",
                    "status": status,
                    "member_id": rng.choice(members),
                    "member_first_name": "Bench",
                    "member_last_name": f"Member{i}",
                    "member_birth_date": date(1940, 1, 1) + timedelta(days=rng.randrange(365 * 60)),
                    "requesting_provider_npi": "1234567893",
                    "requesting_provider_name": "Bench Spine Clinic",
                    "servicing_provider_npi": "",
                    "servicing_provider_name": "",
                    "diagnosis_codes": '["M48.062"]',
                    "clinical_facts": '{"conservative_therapy_weeks": 12}',
                    "clinical_notes": "Lumbar spinal stenosis with neurogenic claudication.",
                    "received_at": received,
                    "due_at": due,
                    "deadline_rule_id": None,
                    "decided_at": decided,
                    "assignee_id": assignee,
                    "row_version": 1 if assignee is None else 2,
                    "updated_at": received,
                }
            )
            line_ids = []
            for seq in range(1, 1 + rng.choice((1, 1, 1, 2, 2, 3))):
                line_id += 1
                system, code = rng.choice(codes)
                line_rows.append(
                    {
                        "id": line_id,
                        "case_id": case_id,
                        "sequence": seq,
                        "code_system": system,
                        "code": code,
                        "modifiers": "[]",
                        "units": 1,
                        "date_of_service": (received + timedelta(days=14)).date(),
                        "description": "",
                    }
                )
                line_ids.append(line_id)
            plan.append((case_id, status, received, line_ids))

        def flag_rows() -> Iterator[dict[str, Any]]:
            for case_id, _status, received, line_ids in plan:
                for lid in line_ids:
                    # 0-3 current flags per line; one line in ten also has an older, superseded one.
                    for _ in range(rng.choice((0, 1, 1, 2, 3))):
                        t = rng.choice(seed.flag_templates)
                        yield _flag(t, case_id, lid, received, None)
                    if rng.random() < 0.1:
                        yield _flag(rng.choice(seed.flag_templates), case_id, lid, received, received)

        def event_rows() -> Iterator[dict[str, Any]]:
            for case_id, _status, received, _lines in plan:
                yield {
                    "case_id": case_id,
                    "kind": "received",
                    "actor_id": seed.client_id,
                    "at": received,
                    "detail": "{}",
                }
                yield {
                    "case_id": case_id,
                    "kind": "flagged",
                    "actor_id": None,
                    "at": received,
                    "detail": '{"flags": 1}',
                }

        with conn.cursor() as cur:
            counts["cases"] = _copy(cur, Case, iter(case_rows), set(case_rows[0]))
            counts["lines"] = _copy(cur, ServiceLine, iter(line_rows), set(line_rows[0]))
            flag_known = set(_columns(Flag)) - {"id"}
            counts["flags"] = _copy_without_id(cur, Flag, flag_rows(), flag_known)
            event_known = {"case_id", "kind", "actor_id", "at", "detail"}
            counts["events"] = _copy_without_id(cur, CaseEvent, event_rows(), event_known)
            for model in (Case, ServiceLine):
                table = model._meta.db_table
                cur.execute(
                    f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), (SELECT max(id) FROM \"{table}\"))"
                )
        conn.commit()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return counts


def _flag(
    t: dict[str, Any], case_id: int, line_id: int, created: datetime, superseded: datetime | None
) -> dict[str, Any]:
    return {
        "case_id": case_id,
        "service_line_id": line_id,
        "kind": t["kind"],
        "severity": t["severity"],
        "message": t["message"],
        "policy_version_id": t["policy_version_id"],
        "citation": json.dumps(t["citation"]) if t["citation"] is not None else None,
        "details": json.dumps(t["details"]),
        "created_at": created,
        "superseded_at": superseded,
    }


def _copy_without_id(cursor: Any, model: Any, rows: Iterator[dict[str, Any]], known: set[str]) -> int:
    """COPY letting the id sequence number the rows."""
    columns = [c for c in _columns(model) if c != "id"]
    fill = {k: v for k, v in _defaults(model, known | {"id"}).items() if k != "id"}
    names = ", ".join(f'"{c}"' for c in columns)
    count = 0
    with cursor.copy(f'COPY "{model._meta.db_table}" ({names}) FROM STDIN') as copy:
        for row in rows:
            row.update(fill)
            copy.write_row([row[c] for c in columns])
            count += 1
    return count


# --- measuring ------------------------------------------------------------------------------


@dataclass
class Result:
    name: str
    group: str  # "queue", "case" or "baseline": which target applies
    samples_ms: list[float]
    queries: int
    rows: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.samples_ms)

    @property
    def p95(self) -> float:
        return statistics.quantiles(self.samples_ms, n=20, method="inclusive")[18]


def count_queries(get: Callable[[], Any]) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        get()
    return len(queries)


def measure(name: str, group: str, client: Any, urls: list[str], n: int, **headers: str) -> Result:
    def get(url: str) -> Any:
        response = client.get(url, **headers)
        if response.status_code != 200:
            raise SystemExit(f"{name}: GET {url} answered {response.status_code}")
        return response

    for i in range(WARMUP_REQUESTS):
        get(urls[i % len(urls)])
    samples = []
    for i in range(n):
        url = urls[i % len(urls)]
        start = time.perf_counter()
        get(url)
        samples.append((time.perf_counter() - start) * 1000)
    # Query counts on separate requests: capturing them slows the request being captured.
    queries = max(count_queries(lambda u=url: get(u)) for url in dict.fromkeys(urls))  # type: ignore[misc]
    return Result(name, group, samples, queries, f"{len(dict.fromkeys(urls))} URL(s)")


def signed_in(username: str) -> Any:
    from django.contrib.auth.models import User
    from django.test import Client

    client = Client()
    client.force_login(User.objects.get(username=username))
    return client


def run(database_url: str, n_cases: int, n_requests: int, seed_value: int) -> tuple[list[Result], dict[str, Any]]:
    from django.core.management import call_command

    rng = random.Random(seed_value)
    info: dict[str, Any] = {}
    t0 = time.perf_counter()
    recreate_database(database_url)
    configure_django(database_url)
    with open(os.devnull, "w") as quiet:
        call_command("migrate", verbosity=0, stdout=quiet)
        call_command("load_demo", stdout=quiet)
    seed = seed_people_and_templates()
    nurse, manager = signed_in("nurse"), signed_in("manager")

    # "At most 12 queries at any size": the same pages with the five demo cases first, each
    # requested once before it is counted (the first request also saves the session), as the
    # timed pages are warmed.
    nurse.get("/queue/")
    manager.get("/queue/")
    small = {
        "queue (nurse)": count_queries(lambda: nurse.get("/queue/")),
        "queue (manager)": count_queries(lambda: manager.get("/queue/")),
    }
    info["setup_s"] = time.perf_counter() - t0

    t1 = time.perf_counter()
    info["loaded"] = bulk_load(database_url, n_cases, seed, rng)
    info["load_s"] = time.perf_counter() - t1

    from casemgmt.cases.models import OPEN_STATUSES, Case

    open_cases = list(
        Case.objects.filter(status__in=OPEN_STATUSES).order_by("?").values_list("case_number", "member_id")[:200]
    )
    info["open_cases"] = Case.objects.filter(status__in=OPEN_STATUSES).count()
    pages = max(1, info["open_cases"] // 50)
    filtered = [
        "/queue/?urgency=expedited",
        "/queue/?status=in_review&lob=medicaid",
        "/queue/?flag=investigational",
        "/queue/?flag=cosmetic&urgency=standard",
        "/queue/?assigned=unassigned&lob=commercial",
        "/queue/?assigned=mine",
        "/queue/?status=pended&urgency=expedited&lob=medicare_advantage&flag=criteria_incomplete",
        *[f"/queue/?q={member}" for _number, member in open_cases[:10]],
        *[f"/queue/?q={number}" for number, _member in open_cases[10:20]],
    ]
    later_pages = [f"/queue/?page={p}" for p in (2, 10, 100, pages // 2, pages)]
    results = [
        measure("baseline (same rows, bare)", "baseline", nurse, ["/bench/queue-baseline"], n_requests),
        measure("queue, page 1 (nurse)", "queue", nurse, ["/queue/"], n_requests),
        measure("queue, page 1 (manager)", "queue", manager, ["/queue/"], n_requests),
        measure("queue, filters and search", "queue", nurse, filtered, n_requests),
        measure("queue, later pages", "queue", nurse, later_pages, n_requests),
        measure("queue, htmx fragment", "queue", nurse, filtered[:7], n_requests, HTTP_HX_REQUEST="true"),
        measure("case page", "case", nurse, [f"/cases/{number}/" for number, _m in open_cases], n_requests),
    ]
    info["small_queries"] = small
    info["total_s"] = time.perf_counter() - t0
    return results, info


def report(results: list[Result], info: dict[str, Any]) -> bool:
    loaded = info["loaded"]
    print(
        f"data: {loaded['cases']:,} cases ({info['open_cases']:,} open), {loaded['lines']:,} lines, "
        f"{loaded['flags']:,} flags, {loaded['events']:,} events; loaded in {info['load_s']:.1f} s"
    )
    print(f"load average: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print()
    header = f"{'page':<28} {'requests':>8} {'median ms':>10} {'p95 ms':>8} {'queries':>8}  {'vs baseline':>11}"
    print(header)
    print("-" * len(header))
    base = next(r for r in results if r.group == "baseline")
    for r in results:
        ratio = r.median / base.median if base.median else float("nan")
        print(f"{r.name:<28} {len(r.samples_ms):>8} {r.median:>10.1f} {r.p95:>8.1f} {r.queries:>8}  {ratio:>10.1f}x")
    print()
    small = info["small_queries"]
    print("queries with the 5 demo cases: " + ", ".join(f"{k} {v}" for k, v in small.items()))
    print()
    ok = True
    for r in results:
        if r.group == "queue":
            passed = r.p95 < TARGET_QUEUE_P95_MS
            ok &= passed
            print(f"{'PASS' if passed else 'FAIL'}  {r.name}: p95 {r.p95:.1f} ms < {TARGET_QUEUE_P95_MS:.0f} ms")
    for r in results:
        if r.group != "baseline":
            passed = r.queries <= TARGET_MAX_QUERIES
            ok &= passed
            print(f"{'PASS' if passed else 'FAIL'}  {r.name}: {r.queries} queries <= {TARGET_MAX_QUERIES}")
    for name, q in small.items():
        big = next((r.queries for r in results if r.name == f"queue, page 1 ({name.split('(')[1]}"), None)
        passed = q <= TARGET_MAX_QUERIES and big == q
        ok &= passed
        print(f"{'PASS' if passed else 'FAIL'}  {name}: {q} queries with 5 cases, {big} with {loaded['cases']:,}")
    print(f"\ntotal run time {info['total_s']:.0f} s")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL)
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200, help="timed requests per page (after warm-up)")
    parser.add_argument("--seed", type=int, default=20260305)
    args = parser.parse_args(argv)
    if common_db.db_name(args.database_url) and not common_db.db_name(args.database_url).endswith("_bench_queue"):
        # DATABASE_URL set for the product (or another benchmark) must not be dropped by this one:
        # same server, the benchmark's own database.
        args.database_url = urlsplit(args.database_url)._replace(path="/casemgmt_bench_queue").geturl()
        print("using database casemgmt_bench_queue on the DATABASE_URL server")
    results, info = run(args.database_url, args.cases, args.requests, args.seed)
    return 0 if report(results, info) else 1


if __name__ == "__main__":
    sys.exit(main())
