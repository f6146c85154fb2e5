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
import os
import random
import secrets
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
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
TARGET_LOAD_S = 300.0


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


# The indexes the work list's sort orders use (selectors.QUEUE_SORTS), partial on the open
# statuses like case_open_due_idx: each is written only for open cases. Migration 0024 creates
# them; the bench drops them for the load and builds each once after it, which is faster than
# keeping them up row by row. --no-sort-indexes measures without them.
OPEN = "status IN ('received', 'in_review', 'pended', 'physician_review')"
SORT_INDEXES = {
    "case_open_received_idx": f"casemgmt_case (received_at, id) WHERE {OPEN}",
    "case_open_member_idx": f"casemgmt_case (member_last_name, member_first_name, id) WHERE {OPEN}",
    "case_open_provider_idx": f"casemgmt_case (requesting_provider_name, id) WHERE {OPEN}",
    "case_open_type_due_idx": f"casemgmt_case (review_type, due_at, id) WHERE {OPEN}",
    # The flag filter ("any current flag of this kind"): an index-only semi-join, where
    # flag_case_current_idx would read every candidate flag's row for its kind.
    "flag_current_kind_idx": "casemgmt_flag (kind, case_id) WHERE superseded_at IS NULL",
}

SURNAMES = [
    "Adams",
    "Baker",
    "Carter",
    "Diaz",
    "Evans",
    "Foster",
    "Garcia",
    "Hughes",
    "Ito",
    "Jones",
    "Khan",
    "Lopez",
    "Miller",
    "Nguyen",
    "Ortiz",
    "Patel",
    "Quinn",
    "Reyes",
    "Smith",
    "Tanaka",
    "Usman",
    "Vargas",
    "Walker",
    "Xu",
    "Young",
    "Zhang",
    "Brown",
    "Clark",
    "Davis",
    "Hill",
    "King",
    "Lee",
    "Moore",
    "Nash",
    "Owen",
    "Price",
    "Ross",
    "Scott",
    "Turner",
    "Wood",
]
GIVEN = [
    "Ada",
    "Ben",
    "Cara",
    "Dev",
    "Eli",
    "Fay",
    "Gus",
    "Hana",
    "Ivan",
    "Jo",
    "Kai",
    "Lena",
    "Max",
    "Nia",
    "Omar",
    "Pia",
    "Raj",
    "Sara",
    "Tom",
    "Uma",
    "Vic",
    "Wen",
    "Yara",
    "Zoe",
]
CLINICS = [
    f"{place} {kind}"
    for place in ("Harbor", "Lakeside", "Summit", "Valley", "Riverside")
    for kind in ("Spine Clinic", "Orthopedics", "Imaging Center", "Pain Management")
]
CODES = (("CPT", "62330"), ("CPT", "62331"), ("CPT", "22840"), ("CPT", "72148"), ("HCPCS", "G0276"), ("CPT", "0274T"))


def _sql_array(values: Any) -> str:
    return "ARRAY[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def _h(expr: str, salt: int) -> str:
    """A deterministic spread of an integer expression over 0..2^31 (no random(): the same data each run)."""
    return f"(hashint4(({expr})::int + {salt}) & 2147483647)"


def bulk_load(url: str, n_cases: int, seed: Seed, rng: random.Random) -> dict[str, float]:
    """INSERT ... SELECT over generate_series: n_cases cases (70% open), 1-3 lines each, 0-3
    current flags per line (plus superseded ones), two timeline events per case; then analyze.
    Returns the rows written per table and the seconds each step took."""
    import psycopg
    from psycopg.types.json import Jsonb

    from casemgmt.cases.models import Case, CaseEvent, Flag, ServiceLine

    del rng  # the data comes from hashes of the row number, so it is the same on every run
    with psycopg.connect(url) as conn:
        case0 = int(conn.execute('SELECT coalesce(max(id), 0) FROM "casemgmt_case"').fetchone()[0])
    # Five independent spreads of the row number, computed once per row.
    h1, h2, h3, h4, h5 = "h1", "h2", "h3", "h4", "h5"
    hashes = ", ".join(f"{_h('g', salt)} AS h{i}" for i, salt in enumerate((11, 23, 37, 41, 53), 1))
    status = f"""CASE WHEN {h1} % 100 < 35 THEN 'received' WHEN {h1} % 100 < 55 THEN 'in_review'
        WHEN {h1} % 100 < 65 THEN 'pended' WHEN {h1} % 100 < 70 THEN 'physician_review'
        WHEN {h1} % 100 < 92 THEN 'decided' WHEN {h1} % 100 < 95 THEN 'cancelled' ELSE 'closed' END"""
    lob = f"""CASE WHEN {h2} % 20 < 10 THEN 'commercial' WHEN {h2} % 20 < 14 THEN 'medicare_advantage'
        WHEN {h2} % 20 < 17 THEN 'medicaid' WHEN {h2} % 20 < 18 THEN 'chip' ELSE 'exchange' END"""
    reviewers = "ARRAY[" + ", ".join(str(pk) for pk in seed.reviewer_ids) + "]"
    cases_sql = f"""
        SELECT {case0} + g AS id, 'PA-Z' || lpad(g::text, 9, '0') AS case_number, {seed.client_id} AS submitted_by_id,
            'BENCH-' || g AS external_id, CASE WHEN {h3} % 5 = 0 THEN 'expedited' ELSE 'standard' END AS urgency,
            {lob} AS line_of_business, CASE WHEN {h4} % 10 = 0 THEN 'retrospective' ELSE 'prospective' END AS review_type,
            {status} AS status, 'M' || lpad(({h5} % 500000)::text, 8, '0') AS member_id,
            ({_sql_array(GIVEN)})[1 + {h2} % {len(GIVEN)}] AS member_first_name,
            ({_sql_array(SURNAMES)})[1 + {h3} % {len(SURNAMES)}] AS member_last_name,
            DATE '1940-01-01' + ({h4} % 21900)::int AS member_birth_date, '1234567893' AS requesting_provider_npi,
            ({_sql_array(CLINICS)})[1 + {h5} % {len(CLINICS)}] AS requesting_provider_name,
            now() - ({h4} % 1728000) * interval '1 second' AS received_at
        FROM (SELECT g, {hashes} FROM generate_series(1, {n_cases}) g) hashed"""
    steps: list[tuple[str, str]] = [
        (
            "cases",
            f"""INSERT INTO casemgmt_case (id, case_number, submitted_by_id, external_id, urgency, line_of_business,
                review_type, status, member_id, member_first_name, member_last_name, member_birth_date,
                requesting_provider_npi, requesting_provider_name, servicing_provider_npi, servicing_provider_name,
                diagnosis_codes, clinical_facts, clinical_notes, plan_id, appeal_requested_by, appeal_reason,
                late_filing_reason, received_at, due_at, decided_at, assignee_id, row_version, updated_at,
                outcome, first_determination_extended, determined_automatically)
            SELECT c.id, c.case_number, c.submitted_by_id, c.external_id, c.urgency, c.line_of_business, c.review_type,
                c.status, c.member_id, c.member_first_name, c.member_last_name, c.member_birth_date,
                c.requesting_provider_npi, c.requesting_provider_name, '', '', '["M48.062"]'::jsonb,
                '{{"conservative_therapy_weeks": 12}}'::jsonb, 'Lumbar spinal stenosis with neurogenic claudication.',
                '', '', '', '', c.received_at, d.due_at,
                CASE WHEN c.status = 'decided' THEN d.due_at - interval '1 hour' END,
                CASE WHEN c.status IN ('in_review', 'pended', 'physician_review')
                    THEN ({reviewers})[1 + (c.id % {len(seed.reviewer_ids)})] END,
                CASE WHEN c.status IN ('in_review', 'pended', 'physician_review') THEN 2 ELSE 1 END, c.received_at,
                '', false, false
            FROM ({cases_sql}) c,
            LATERAL (SELECT c.received_at + CASE WHEN c.urgency = 'expedited' THEN interval '72 hours'
                WHEN c.line_of_business IN ('commercial', 'exchange') THEN interval '360 hours'
                ELSE interval '168 hours' END AS due_at) d""",
        ),
        (
            "lines",
            f"""INSERT INTO casemgmt_serviceline (case_id, sequence, code_system, code, modifiers, units,
                date_of_service, description)
            SELECT c.id, s, (ARRAY[{", ".join(f"'{sys}'" for sys, _ in CODES)}])[1 + (c.id + s) % {len(CODES)}],
                (ARRAY[{", ".join(f"'{code}'" for _, code in CODES)}])[1 + (c.id + s) % {len(CODES)}], '[]'::jsonb, 1,
                (c.received_at + interval '14 days')::date,
                CASE WHEN (c.id + s) % 2 = 0 THEN 'Requested service ' || s ELSE '' END
            FROM casemgmt_case c,
            LATERAL generate_series(1, CASE WHEN {_h("c.id", 61)} % 6 < 3 THEN 1
                WHEN {_h("c.id", 61)} % 6 < 5 THEN 2 ELSE 3 END) s
            WHERE c.id > {case0}""",
        ),
        (
            "flags",
            f"""INSERT INTO casemgmt_flag (case_id, service_line_id, kind, severity, message, policy_version_id,
                citation, details, created_at, superseded_at)
            SELECT l.case_id, l.id, t.kind, t.severity, t.message, t.policy_version_id, t.citation, t.details,
                c.received_at, CASE WHEN k = 0 THEN c.received_at END
            FROM casemgmt_serviceline l JOIN casemgmt_case c ON c.id = l.case_id
            CROSS JOIN LATERAL generate_series(CASE WHEN {_h("l.id", 71)} % 10 = 0 THEN 0 ELSE 1 END,
                (ARRAY[0, 1, 1, 2, 3])[1 + {_h("l.id", 73)} % 5]) k
            JOIN bench_flag_template t ON t.i = {_h("l.id + k", 79)} % {len(seed.flag_templates)}
            WHERE l.case_id > {case0}""",
        ),
        (
            "events",
            f"""INSERT INTO casemgmt_caseevent (case_id, kind, actor_id, at, detail)
            SELECT c.id, e.kind, CASE WHEN e.kind = 'received' THEN {seed.client_id} END, c.received_at,
                CASE WHEN e.kind = 'received' THEN '{{}}'::jsonb ELSE '{{"flags": 1}}'::jsonb END
            FROM casemgmt_case c, (VALUES ('received'), ('flagged')) e(kind)
            WHERE c.id > {case0}""",
        ),
    ]
    timings: dict[str, float] = {}
    counts: dict[str, float] = {}
    with psycopg.connect(url) as conn:
        conn.execute(
            "CREATE TEMP TABLE bench_flag_template (i int, kind text, severity text, message text, "
            "policy_version_id bigint, citation jsonb, details jsonb)"
        )
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO bench_flag_template VALUES (%s, %s, %s, %s, %s, %s, %s)",
                [
                    (
                        i,
                        t["kind"],
                        t["severity"],
                        t["message"],
                        t["policy_version_id"],
                        Jsonb(t["citation"]) if t["citation"] is not None else None,
                        Jsonb(t["details"]),
                    )
                    for i, t in enumerate(seed.flag_templates)
                ],
            )
        # Indexes that back no constraint are dropped for the load and built again after it (in
        # the same transaction), as a bulk load does: one sorted build per index instead of a
        # million random insertions into each.
        tables = [model._meta.db_table for model in (Case, ServiceLine, Flag, CaseEvent)]
        secondary = conn.execute(
            """SELECT i.indexname, i.indexdef FROM pg_indexes i
            WHERE i.tablename = ANY(%s) AND NOT EXISTS (
                SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)""",
            [tables],
        ).fetchall()
        for index_name, _definition in secondary:
            conn.execute(f'DROP INDEX "{index_name}"')
        # Django's foreign keys are DEFERRABLE INITIALLY DEFERRED: millions of row-by-row checks
        # queued until COMMIT (minutes). Every id the load writes comes from rows it has just
        # written, so the per-row checks are off for this transaction (a superuser setting, as a
        # bulk load is) and the references are checked once, set-wise, below.
        conn.execute("SET LOCAL session_replication_role = replica")
        for name, statement in steps:
            start = time.perf_counter()
            counts[name] = conn.execute(statement).rowcount
            timings[name] = time.perf_counter() - start
        start = time.perf_counter()
        for _index_name, definition in secondary:
            conn.execute(definition)
        timings["indexes"] = time.perf_counter() - start
        start = time.perf_counter()
        dangling = conn.execute(
            f"""SELECT (SELECT count(*) FROM casemgmt_serviceline l LEFT JOIN casemgmt_case c ON c.id = l.case_id
                    WHERE l.case_id > {case0} AND c.id IS NULL)
                + (SELECT count(*) FROM casemgmt_flag f LEFT JOIN casemgmt_serviceline l ON l.id = f.service_line_id
                    WHERE f.case_id > {case0} AND l.id IS NULL)
                + (SELECT count(*) FROM casemgmt_case c LEFT JOIN auth_user u ON u.id = c.assignee_id
                    WHERE c.id > {case0} AND c.assignee_id IS NOT NULL AND u.id IS NULL)"""
        ).fetchone()[0]
        if dangling:
            raise SystemExit(f"the load wrote {dangling} rows referring to rows that do not exist")
        conn.execute("SET LOCAL session_replication_role = origin")
        timings["reference check"] = time.perf_counter() - start
        for model in (Case, ServiceLine, Flag, CaseEvent):
            table = model._meta.db_table
            conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        conn.commit()
    start = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    timings["vacuum analyze"] = time.perf_counter() - start
    return {**counts, **{f"{k} s": v for k, v in timings.items()}}


def drop_sort_indexes(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        for name in SORT_INDEXES:
            conn.execute(f"DROP INDEX IF EXISTS {name}")


def create_sort_indexes(url: str) -> float:
    import psycopg

    start = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        for name, definition in SORT_INDEXES.items():
            conn.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {definition}")
        conn.execute("ANALYZE casemgmt_case")
        conn.execute("ANALYZE casemgmt_flag")
    return time.perf_counter() - start


# --- measuring ------------------------------------------------------------------------------


@dataclass
class Result:
    name: str
    group: str  # "queue", "case" or "baseline": which target applies
    samples_ms: list[float]
    queries: int
    rows: str = ""
    # This process's CPU time per request (Python: middleware, view, template), apart from the
    # database server's work and from time spent waiting for a CPU on a busy machine.
    cpu_ms: list[float] = field(default_factory=list)

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
    statements = [query["sql"] for query in queries.captured_queries]
    # The session's periodic save (BEGIN, UPDATE, COMMIT once every twentieth of the idle window,
    # casemgmt/security/sessions.py) falls on whichever request comes first after it is due: the
    # same on every page at any size, so it is left out of the page's count.
    if any(sql.startswith('UPDATE "django_session"') for sql in statements):
        return len(statements) - 3
    return len(statements)


def measure(
    name: str, group: str, client: Any, urls: list[str], n: int, warmup: int = WARMUP_REQUESTS, **headers: str
) -> Result:
    def get(url: str) -> Any:
        response = client.get(url, **headers)
        if response.status_code != 200:
            raise SystemExit(f"{name}: GET {url} answered {response.status_code}")
        return response

    for i in range(warmup):
        get(urls[i % len(urls)])
    samples = []
    cpu = []
    for i in range(n):
        url = urls[i % len(urls)]
        start, start_cpu = time.perf_counter(), time.process_time()
        get(url)
        samples.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
    # Query counts on separate requests: capturing them slows the request being captured.
    queries = max(count_queries(lambda u=url: get(u)) for url in dict.fromkeys(urls))  # type: ignore[misc]
    return Result(name, group, samples, queries, f"{len(dict.fromkeys(urls))} URL(s)", cpu)


def signed_in(username: str) -> Any:
    from django.contrib.auth.models import User
    from django.test import Client

    client = Client()
    client.force_login(User.objects.get(username=username))
    return client


def run(
    database_url: str, n_cases: int, n_requests: int, seed_value: int, sort_indexes: bool = True
) -> tuple[list[Result], dict[str, Any]]:
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

    # "At most 12 queries at any size": every page with the demo's few cases first, each
    # requested once before it is counted (the first request also saves the session), as the
    # timed pages are warmed.
    def small_counts() -> dict[str, int]:
        from casemgmt.cases.models import OPEN_STATUSES, Case

        # Every open demo case (each state a reviewer meets), since the timed case pages' count
        # is the most any of their 200 cases takes.
        numbers = list(Case.objects.filter(status__in=OPEN_STATUSES).values_list("case_number", flat=True))
        pages = {
            "queue (nurse)": (nurse, "/queue/", {}),
            "queue (manager)": (manager, "/queue/", {}),
            "queue, sorted": (nurse, "/queue/?sort=member", {}),
            "queue, filtered": (nurse, "/queue/?urgency=expedited&lob=commercial", {}),
            "queue, htmx poll": (nurse, "/queue/", {"HTTP_HX_REQUEST": "true"}),
            "dashboard": (manager, "/dashboard/", {}),
        }
        out = {}
        for name, (client, url, headers) in pages.items():
            client.get(url, **headers)
            out[name] = count_queries(lambda c=client, u=url, h=headers: c.get(u, **h))  # type: ignore[misc]
        case_pages = []
        for number in numbers:
            nurse.get(f"/cases/{number}/")
            case_pages.append(count_queries(lambda u=f"/cases/{number}/": nurse.get(u)))  # type: ignore[misc]
        out["case page"] = max(case_pages)
        return out

    small = small_counts()
    info["setup_s"] = time.perf_counter() - t0

    drop_sort_indexes(database_url)
    t1 = time.perf_counter()
    info["loaded"] = bulk_load(database_url, n_cases, seed, rng)
    info["load_s"] = time.perf_counter() - t1
    info["index_s"] = create_sort_indexes(database_url) if sort_indexes else 0.0
    info["sort_indexes"] = sort_indexes

    from casemgmt.cases.models import OPEN_STATUSES, Case

    sample = list(
        Case.objects.filter(status__in=OPEN_STATUSES, case_number__startswith="PA-Z")
        .order_by("id")
        .values_list("case_number", "member_id")[:: max(1, n_cases // 400)][:200]
    )
    info["open_cases"] = Case.objects.filter(status__in=OPEN_STATUSES).count()
    info["cases"] = Case.objects.count()
    filtered = [
        "/queue/?urgency=expedited",
        "/queue/?status=in_review&lob=medicaid",
        "/queue/?flag=investigational",
        "/queue/?flag=cosmetic&urgency=standard",
        "/queue/?assigned=unassigned&lob=commercial",
        "/queue/?assigned=mine",
        "/queue/?review=retrospective&urgency=expedited",
        "/queue/?status=pended&urgency=expedited&lob=medicare_advantage&flag=criteria_incomplete",
        *[f"/queue/?q={member}" for _number, member in sample[:10]],
        *[f"/queue/?q={number}" for number, _member in sample[10:20]],
    ]
    sorted_pages = [
        "/queue/?sort=member",
        "/queue/?sort=-member",
        "/queue/?sort=-received",
        "/queue/?sort=received",
        "/queue/?sort=provider",
        "/queue/?sort=type",
        "/queue/?sort=case",
        "/queue/?sort=status",
        "/queue/?sort=-due",
        "/queue/?urgency=expedited&sort=-received",
    ]
    # The deepest a page goes: the count stops at COUNT_LIMIT (20 pages of 50).
    deep_pages = [
        "/queue/?page=10",
        "/queue/?page=20",
        "/queue/?sort=member&page=20",
        "/queue/?sort=-received&page=15",
        "/queue/?lob=commercial&page=20",
    ]
    cases_timed = [f"/cases/{number}/" for number, _m in sample]
    results = [
        measure("baseline (same rows, bare)", "baseline", nurse, ["/bench/queue-baseline"], n_requests),
        measure("queue, page 1 (nurse)", "queue", nurse, ["/queue/"], n_requests),
        measure("queue, page 1 (manager)", "queue", manager, ["/queue/"], n_requests),
        measure("queue, sorted", "queue", nurse, sorted_pages, n_requests),
        measure("queue, filtered, search", "queue", nurse, filtered, n_requests),
        measure("queue, deep pages", "queue", nurse, deep_pages, n_requests),
        measure(
            "queue, htmx poll", "queue", nurse, filtered[:8] + sorted_pages[:4], n_requests, HTTP_HX_REQUEST="true"
        ),
        measure("case page", "case", nurse, cases_timed, n_requests),
        # Timed like the others: once the snapshot is older than DASHBOARD_MAX_AGE_SECONDS a view asks
        # for a refresh, which without a broker runs in that request (one in many).
        measure("dashboard (manager)", "dashboard", manager, ["/dashboard/"], n_requests),
    ]
    info["small_queries"] = small
    info["total_s"] = time.perf_counter() - t0
    return results, info


def explain(url: str) -> list[str]:
    """The plans of the queue's count and page queries for the first page, to say where time goes."""
    import psycopg
    from django.contrib.auth.models import User

    from casemgmt.cases import selectors
    from casemgmt.workspace.queue import COUNT_LIMIT, PAGE_SIZE

    nurse = User.objects.get(username="nurse")
    out = []
    for label, sort, filters in (
        ("first page", "", {}),
        ("sorted by member", "member", {}),
        ("filtered: unassigned commercial", "", {"assigned": "unassigned", "line_of_business": "commercial"}),
        # The two rare filters of the "filtered" set: a rare flag kind among standard cases, and
        # a combination with fewer matches than the count's cap.
        ("filtered: cosmetic flag, standard", "", {"flag_kind": "cosmetic", "urgency": "standard"}),
        (
            "filtered: pended, expedited, MA, incomplete",
            "",
            {
                "status": "pended",
                "urgency": "expedited",
                "line_of_business": "medicare_advantage",
                "flag_kind": "criteria_incomplete",
            },
        ),
    ):
        cases = selectors.queue_cases(nurse, sort=sort, **filters)
        count = cases.order_by()[: COUNT_LIMIT + 1]
        for what, qs in (("count", count), ("page", selectors.queue_rows(cases[:PAGE_SIZE], sort=sort))):
            sql, params = qs.query.sql_with_params()
            if what == "count":
                sql = f"SELECT count(*) FROM ({sql}) q"
            with psycopg.connect(url) as conn:
                plan = conn.execute(f"EXPLAIN (ANALYZE, BUFFERS OFF, TIMING OFF, SUMMARY ON) {sql}", params).fetchall()
            total = next((row[0] for row in plan if row[0].startswith("Execution Time")), "")
            out.append(f"{label:<44} {what:<6} {total}")
    return out


def report(results: list[Result], info: dict[str, Any]) -> bool:
    loaded = info["loaded"]
    print(
        f"data: {info['cases']:,} cases ({info['open_cases']:,} open), {int(loaded['lines']):,} lines, "
        f"{int(loaded['flags']):,} flags, {int(loaded['events']):,} events"
    )
    steps = ", ".join(f"{k.removesuffix(' s')} {v:.1f} s" for k, v in loaded.items() if k.endswith(" s"))
    print(
        f"loaded in {info['load_s']:.1f} s ({steps}); sort indexes "
        + (f"built in {info['index_s']:.1f} s" if info["sort_indexes"] else "NOT built (--no-sort-indexes)")
    )
    print(f"load average: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print()
    header = (
        f"{'page':<28} {'requests':>8} {'median ms':>10} {'p95 ms':>8} {'cpu med':>8} {'cpu p95':>8} "
        f"{'queries':>8}  {'vs baseline':>11}"
    )
    print(header)
    print("-" * len(header))
    base = next(r for r in results if r.group == "baseline")
    for r in results:
        ratio = r.median / base.median if base.median else float("nan")
        cpu = sorted(r.cpu_ms)
        cpu_med, cpu_p95 = statistics.median(cpu), statistics.quantiles(cpu, n=20, method="inclusive")[18]
        print(
            f"{r.name:<28} {len(r.samples_ms):>8} {r.median:>10.1f} {r.p95:>8.1f} {cpu_med:>8.1f} {cpu_p95:>8.1f} "
            f"{r.queries:>8}  {ratio:>10.1f}x"
        )
    print()
    print("where the database time goes (EXPLAIN ANALYZE, first page):")
    for line in info.get("explain", []):
        print("  " + line)
    print()
    small = info["small_queries"]
    print("queries with the demo's few cases: " + ", ".join(f"{k} {v}" for k, v in small.items()))
    print()
    ok = True
    for r in results:
        if r.group != "baseline":
            passed = r.p95 < TARGET_QUEUE_P95_MS
            ok &= passed
            print(f"{'PASS' if passed else 'FAIL'}  {r.name}: p95 {r.p95:.1f} ms < {TARGET_QUEUE_P95_MS:.0f} ms")
    for r in results:
        if r.group != "baseline":
            passed = r.queries <= TARGET_MAX_QUERIES
            ok &= passed
            print(f"{'PASS' if passed else 'FAIL'}  {r.name}: {r.queries} queries <= {TARGET_MAX_QUERIES}")
    pairs = {
        "queue (nurse)": "queue, page 1 (nurse)",
        "queue (manager)": "queue, page 1 (manager)",
        "queue, sorted": "queue, sorted",
        "queue, filtered": "queue, filtered, search",
        "queue, htmx poll": "queue, htmx poll",
        "case page": "case page",
        "dashboard": "dashboard (manager)",
    }
    for name, q in small.items():
        big = next((r.queries for r in results if r.name == pairs[name]), None)
        passed = q <= TARGET_MAX_QUERIES and big is not None and big <= q
        ok &= passed
        print(
            f"{'PASS' if passed else 'FAIL'}  {name}: {q} queries with the demo's cases, {big} with {info['cases']:,}"
        )
    passed = info["load_s"] < TARGET_LOAD_S
    ok &= passed
    print(
        f"{'PASS' if passed else 'FAIL'}  loading {info['cases']:,} cases: {info['load_s']:.0f} s < {TARGET_LOAD_S:.0f} s"
    )
    print(f"\ntotal run time {info['total_s']:.0f} s")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL)
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument(
        "--no-sort-indexes", action="store_true", help="measure without the sort orders' indexes (SORT_INDEXES)"
    )
    parser.add_argument("--requests", type=int, default=200, help="timed requests per page (after warm-up)")
    parser.add_argument("--seed", type=int, default=20260305)
    args = parser.parse_args(argv)
    if common_db.db_name(args.database_url) and not common_db.db_name(args.database_url).endswith("_bench_queue"):
        # DATABASE_URL set for the product (or another benchmark) must not be dropped by this one:
        # same server, the benchmark's own database.
        args.database_url = urlsplit(args.database_url)._replace(path="/casemgmt_bench_queue").geturl()
        print("using database casemgmt_bench_queue on the DATABASE_URL server")
    results, info = run(args.database_url, args.cases, args.requests, args.seed, not args.no_sort_indexes)
    info["explain"] = explain(args.database_url)
    return 0 if report(results, info) else 1


if __name__ == "__main__":
    sys.exit(main())
