"""Benchmark of the yearly CMS-0057-F report over 1,000,000 decided requests on PostgreSQL.

Run from the project root:  .venv/bin/python bench/report/run.py [--cases N] [--appeals N]

1. Drops and creates the database named by DATABASE_URL (default
   postgres://postgres@127.0.0.1:5432/casemgmt_bench_report; the name must end in
   _bench_report) and migrates it.
2. Loads --cases decided prior-authorization requests (default 1,000,000) and --appeals decided
   appeals of their denials (default 50,000) with INSERT ... SELECT generate_series, not the
   services: a year of requests over five lines of business and 40 plans, one or two lines
   each, approved, denied, partially approved and mixed; 2% pended for information first (a pend
   decision, then the determination, with a clock extension), 1% reopened and decided again;
   appeals overturned, partially overturned and upheld. Then ANALYZE.
3. Times `metrics.cms_report` for the year (the public table per line of business and plan) and,
   as the baseline in the same run, one COUNT(*) over the same decisions. Each is run once to
   warm the cache, then --runs times (default 3); the median is reported.
4. Drops the database. Prints both times, the ratio and PASS/FAIL; exits 1 when the target is
   missed.

Target (issue 16, "Performance"): the yearly report under 3 s.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if __package__ in (None, ""):
    sys.path.insert(0, str(ROOT))

from bench.common import db as common_db  # noqa: E402

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/casemgmt_bench_report"
TARGET_SECONDS = 3.0
YEAR = 2025

# Placeholders: %(n)s requests, %(a)s appeals, %(client)s and %(physician)s user ids.
LOAD_SQL = [
    # Requests: id i; every fifth expedited; five lines of business, eight plans each, one in
    # nine with no plan id. Received through the year, decided 0-96 hours later.
    """
    INSERT INTO casemgmt_case (
        id, case_number, external_id, urgency, line_of_business, review_type, status, member_id,
        member_first_name, member_last_name, member_birth_date, requesting_provider_npi,
        requesting_provider_name, servicing_provider_npi, servicing_provider_name, diagnosis_codes,
        clinical_facts, clinical_notes, received_at, due_at, decided_at, row_version, updated_at,
        submitted_by_id, appeal_reason, appeal_requested_by, late_filing_reason, plan_id)
    SELECT i, 'PA-B' || lpad(i::text, 9, '0'), 'ext-' || i,
        CASE WHEN i %% 5 = 0 THEN 'expedited' ELSE 'standard' END,
        (ARRAY['commercial','medicare_advantage','medicaid','chip','exchange'])[1 + i %% 5],
        'prospective', 'decided', 'M' || (i %% 200000), 'Bench', 'Member', DATE '1960-01-01',
        '1234567893', 'Dr Bench', '1234567893', 'Bench Clinic', '["M54.16"]', '{}', '',
        r.at, r.at + CASE WHEN i %% 5 = 0 THEN interval '72 hours' ELSE interval '7 days' END,
        r.at + (i %% 97) * interval '1 hour', 1, r.at, %(client)s, '', '',  '',
        CASE WHEN i %% 9 = 0 THEN '' ELSE 'P' || (i %% 5) || '-' || (i %% 8) END
    FROM generate_series(1, %(n)s) AS i,
        LATERAL (SELECT TIMESTAMPTZ '2025-01-01 00:00+00' + (i::float8 / %(n)s) * interval '360 days' AS at) r
    """,
    # Service lines: id i (sequence 1) for every request, id n + i (sequence 2) for one in four.
    """
    INSERT INTO casemgmt_serviceline (id, sequence, code_system, code, modifiers, units,
        date_of_service, description, case_id)
    SELECT i, 1, 'CPT', '64633', '[]'::jsonb, 4, DATE '2025-06-01', '', i FROM generate_series(1, %(n)s) AS i
    UNION ALL
    SELECT %(n)s + i, 2, 'CPT', '64635', '[]'::jsonb, 2, DATE '2025-06-01', '', i
    FROM generate_series(4, %(n)s, 4) AS i
    """,
    # The first decision of each request: a pend for one in fifty, a denial for the one in a
    # hundred later reopened, else the determination. Ids 1..n.
    """
    INSERT INTO casemgmt_decision (id, decided_role, decided_at, rationale, case_id, decided_by_id)
    SELECT i, 'physician_reviewer',
        TIMESTAMPTZ '2025-01-01 00:00+00' + (i::float8 / %(n)s) * interval '360 days'
            + CASE WHEN i %% 50 = 0 THEN interval '1 hour' ELSE (i %% 97) * interval '1 hour' END,
        '', i, %(physician)s
    FROM generate_series(1, %(n)s) AS i
    """,
    # The second decision of the pended and reopened requests: ids n + i, superseding the first.
    """
    INSERT INTO casemgmt_decision (id, decided_role, decided_at, rationale, case_id, decided_by_id,
        supersedes_id)
    SELECT %(n)s + i, 'physician_reviewer',
        TIMESTAMPTZ '2025-01-01 00:00+00' + (i::float8 / %(n)s) * interval '360 days'
            + (i %% 97 + 24) * interval '1 hour',
        '', i, %(physician)s, i
    FROM generate_series(1, %(n)s) AS i WHERE i %% 50 = 0 OR i %% 100 = 7
    """,
    # Lines of the first decisions: pended, denied (reopened), or by i %% 10: 0-5 approved,
    # 6-7 denied, 8 partially approved, 9 mixed (second line denied, or the only line denied).
    """
    INSERT INTO casemgmt_decisionline (id, outcome, approved_units, reason, decision_id, service_line_id)
    SELECT s.id, o.outcome, CASE o.outcome WHEN 'approved' THEN s.units WHEN 'partially_approved' THEN 1 END,
        CASE WHEN o.outcome IN ('approved', 'pended') THEN '' ELSE 'Criteria not met.' END,
        s.case_id, s.id
    FROM casemgmt_serviceline s,
        LATERAL (SELECT CASE
            WHEN s.case_id %% 50 = 0 THEN 'pended'
            WHEN s.case_id %% 100 = 7 THEN 'denied'
            WHEN s.case_id %% 10 < 6 THEN 'approved'
            WHEN s.case_id %% 10 < 8 THEN 'denied'
            WHEN s.case_id %% 10 = 8 THEN 'partially_approved'
            WHEN s.sequence = 1 AND s.case_id %% 4 = 0 THEN 'approved'
            ELSE 'denied' END AS outcome) o
    WHERE s.case_id <= %(n)s
    """,
    # Lines of the second decisions: approved.
    """
    INSERT INTO casemgmt_decisionline (id, outcome, approved_units, reason, decision_id, service_line_id)
    SELECT 3 * %(n)s + s.id, 'approved', s.units, '', d.id, s.id
    FROM casemgmt_decision d JOIN casemgmt_serviceline s ON s.case_id = d.case_id
    WHERE d.supersedes_id IS NOT NULL
    """,
    # Events: the information received (a 24 h clock extension) and the reopenings.
    """
    INSERT INTO casemgmt_caseevent (id, kind, at, detail, actor_id, case_id)
    SELECT i, 'information_received', c.received_at + interval '2 hours',
        '{"clock_extension_seconds": 86400}'::jsonb, %(client)s, i
    FROM generate_series(50, %(n)s, 50) AS i JOIN casemgmt_case c ON c.id = i
    UNION ALL
    SELECT %(n)s + i, 'reopened', c.decided_at + interval '1 hour',
        jsonb_build_object('previous_due_at', to_char(c.due_at AT TIME ZONE 'UTC',
            'YYYY-MM-DD"T"HH24:MI:SS"+00:00"'), 'reason', 'New information'),
        %(physician)s, i
    FROM generate_series(7, %(n)s, 100) AS i JOIN casemgmt_case c ON c.id = i
    """,
    # Appeals: of the first a requests denied outright (i %% 10 = 6), one line each.
    """
    CREATE TEMPORARY TABLE bench_appeal AS
    SELECT row_number() OVER (ORDER BY id) AS j, id AS original FROM casemgmt_case
    WHERE id %% 10 = 6 AND id %% 50 <> 0 ORDER BY id LIMIT %(a)s
    """,
    """
    INSERT INTO casemgmt_case (
        id, case_number, external_id, urgency, line_of_business, review_type, status, member_id,
        member_first_name, member_last_name, member_birth_date, requesting_provider_npi,
        requesting_provider_name, servicing_provider_npi, servicing_provider_name, diagnosis_codes,
        clinical_facts, clinical_notes, received_at, due_at, decided_at, row_version, updated_at,
        submitted_by_id, appeal_reason, appeal_requested_by, late_filing_reason, plan_id, appeal_of_id)
    SELECT %(n)s + a.j, 'PA-A' || lpad(a.j::text, 9, '0'), '', c.urgency, c.line_of_business,
        'appeal', 'decided', c.member_id, 'Bench', 'Member', DATE '1960-01-01', '1234567893',
        'Dr Bench', '1234567893', 'Bench Clinic', '["M54.16"]', '{}', '',
        c.decided_at + interval '5 days', c.decided_at + interval '35 days',
        c.decided_at + interval '10 days', 1, c.decided_at, %(client)s, 'Disagree', 'provider', '',
        c.plan_id, c.id
    FROM bench_appeal a JOIN casemgmt_case c ON c.id = a.original
    """,
    """
    INSERT INTO casemgmt_serviceline (id, sequence, code_system, code, modifiers, units,
        date_of_service, description, case_id, origin_id)
    SELECT 2 * %(n)s + a.j, 1, 'CPT', '64633', '[]'::jsonb, 4, DATE '2025-06-01', '', %(n)s + a.j, a.original
    FROM bench_appeal a
    """,
    """
    INSERT INTO casemgmt_decision (id, decided_role, decided_at, rationale, case_id, decided_by_id)
    SELECT 2 * %(n)s + a.j, 'physician_reviewer', c.decided_at, '', c.id, %(physician)s
    FROM bench_appeal a JOIN casemgmt_case c ON c.id = %(n)s + a.j
    """,
    """
    INSERT INTO casemgmt_decisionline (id, outcome, approved_units, reason, decision_id, service_line_id)
    SELECT 6 * %(n)s + a.j, o.outcome, CASE o.outcome WHEN 'overturned' THEN 4 WHEN 'partially_overturned' THEN 2 END,
        CASE WHEN o.outcome = 'overturned' THEN '' ELSE 'Criteria still not met.' END,
        2 * %(n)s + a.j, 2 * %(n)s + a.j
    FROM bench_appeal a,
        LATERAL (SELECT (ARRAY['overturned','partially_overturned','upheld','upheld'])[1 + a.j %% 4] AS outcome) o
    """,
    # What decision_record keeps on each case as it records a determination (the report reads
    # only these): the outcome of record, the first determination, its deadline then (the
    # reopening's previous_due_at) and whether a pend had extended it.
    """
    WITH det AS (
        SELECT d.id, d.case_id, d.decided_at, d.decided_role, bool_or(l.outcome = 'pended') AS pends,
            array_agg(DISTINCT CASE l.outcome WHEN 'overturned' THEN 'approved'
                WHEN 'partially_overturned' THEN 'partially_approved' WHEN 'upheld' THEN 'denied'
                WHEN 'modified' THEN 'partially_approved' ELSE l.outcome END) AS outs
        FROM casemgmt_decision d JOIN casemgmt_decisionline l ON l.decision_id = d.id
        GROUP BY d.id
    ), firsts AS (
        SELECT DISTINCT ON (case_id) case_id, decided_at FROM det WHERE NOT pends ORDER BY case_id, decided_at, id
    ), records AS (
        SELECT DISTINCT ON (case_id) case_id, outs, decided_role FROM det WHERE NOT pends
        ORDER BY case_id, decided_at DESC, id DESC
    )
    UPDATE casemgmt_case c SET
        first_determined_at = f.decided_at,
        first_determination_due_at = COALESCE(
            (SELECT (e.detail->>'previous_due_at')::timestamptz FROM casemgmt_caseevent e
             WHERE e.case_id = c.id AND e.kind = 'reopened' ORDER BY e.at, e.id LIMIT 1), c.due_at),
        first_determination_extended = EXISTS (
            SELECT 1 FROM casemgmt_caseevent e WHERE e.case_id = c.id AND e.kind = 'information_received'
            AND e.at <= f.decided_at AND (e.detail->>'clock_extension_seconds')::int > 0),
        outcome = CASE WHEN r.outs = ARRAY['approved']::varchar[] THEN 'approved' WHEN r.outs = ARRAY['denied']::varchar[] THEN 'denied'
            WHEN 'denied' = ANY (r.outs) THEN 'mixed' ELSE 'partially_approved' END,
        determined_automatically = r.decided_role NOT IN ('nurse_reviewer', 'physician_reviewer')
    FROM firsts f JOIN records r USING (case_id)
    WHERE c.id = f.case_id
    """,
    "ANALYZE",
]


def configure_django(url: str) -> None:
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "casemgmt.settings",
            "DATABASE_URL": url,
            "SECRET_KEY": os.environ.get("SECRET_KEY") or "bench-" + secrets.token_urlsafe(32),
            "DEBUG": "0",
            "LOG_LEVEL": "WARNING",
        }
    )
    for name in ("CELERY_BROKER_URL", "CACHE_URL", "SECRET_KEY_FILE"):
        os.environ.pop(name, None)
    import django

    django.setup()


def load(cases: int, appeals: int) -> float:
    from django.contrib.auth.models import User
    from django.db import connection, transaction

    client = User.objects.create(username="bench.client")
    physician = User.objects.create(username="bench.physician")
    params = {"n": cases, "a": appeals, "client": client.pk, "physician": physician.pk}
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        for statement in LOAD_SQL[:-1]:
            cursor.execute(statement % params)
    with connection.cursor() as cursor:
        cursor.execute(LOAD_SQL[-1])
    return time.perf_counter() - started


def timed(fn: Callable[[], object], runs: int) -> tuple[float, object]:
    result = fn()  # warm the cache and the plans
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        result = fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples), result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--appeals", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    url = os.environ.get("BENCH_REPORT_DATABASE_URL", DEFAULT_DATABASE_URL)
    common_db.recreate_database(url, suffix="_bench_report")
    try:
        configure_django(url)
        from django.core.management import call_command
        from django.db import connection

        call_command("migrate", verbosity=0)
        load_seconds = load(args.cases, args.appeals)

        from casemgmt.cases import metrics
        from casemgmt.cases.models import Case, ReviewType

        period = metrics.Period.calendar_year(YEAR)
        # The rows the report reads: the requests first determined in the year.
        year = Case.objects.filter(
            review_type=ReviewType.PROSPECTIVE,
            first_determined_at__gte=period.start_at,
            first_determined_at__lt=period.end_at,
        )
        baseline, decisions = timed(year.count, args.runs)
        report_time, report = timed(lambda: metrics.cms_report(period), args.runs)
        assert isinstance(report, metrics.CmsReport)
        requests = sum(row.standard.total + row.expedited.total for row in report.rows)
        appealed = sum(row.standard.after_appeal.appealed + row.expedited.after_appeal.appealed for row in report.rows)
        connection.close()
    finally:
        if not args.keep:
            from django.db import connections

            connections.close_all()
            common_db.drop_database(url, suffix="_bench_report")
    ratio = report_time / baseline if baseline else float("inf")
    print(f"loaded {args.cases:,} requests and {args.appeals:,} appeals in {load_seconds:.1f} s")
    print(f"{'':34} {'seconds':>9}")
    print(f"{'baseline: COUNT(*) of the requests':34} {baseline:9.3f}   ({decisions:,} rows)")
    print(
        f"{'yearly CMS-0057-F report':34} {report_time:9.3f}   ({len(report.rows)} plans, {requests:,} requests, {appealed:,} appealed)"
    )
    print(f"{'ratio report / baseline':34} {ratio:9.1f}")
    ok = report_time < TARGET_SECONDS
    print(f"{'PASS' if ok else 'FAIL'}: yearly report {report_time:.2f} s (target under {TARGET_SECONDS:.0f} s)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
