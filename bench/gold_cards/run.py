"""Benchmark of the gold-card evaluation over 1,000,000 decided lines and 20,000 providers in PostgreSQL.

Run from the project root:  .venv/bin/python bench/gold_cards/run.py [--cases N] [--providers N]

What it does:

1. Drops and creates the database named by DATABASE_URL (default
   postgres://postgres@127.0.0.1:5432/casemgmt_bench_gold_cards; the name must end in
   _bench_gold_cards) and migrates it.
2. Loads --cases decided initial requests (default 500,000) of two lines each (1,000,000 decided
   lines) from --providers requesting providers (default 20,000), with INSERT ... SELECT over
   generate_series: first determined over the last twelve months, 80% commercial and 20% Medicare
   Advantage, twenty codes, a quarter of the providers approving about 98.5% of lines and the rest
   about 80%; one request in twenty was reopened (its first decision superseded, with its own
   lines) and one in twenty approved automatically at intake (not counted). Two commercial
   programmes (a code range; a policy's codes, at least 3 requests), and 2,000 evaluated
   exemptions held by providers who may no longer qualify.
3. Times, in the same run: the baseline, a bare `SELECT requesting_provider_npi, count(*) ...
   GROUP BY` over the same lines for each programme (psycopg, no ORM); `gold_cards_evaluate`
   (its first run, which earns and ends exemptions and writes their audit rows); and its second
   run (idempotent: nothing to change).
4. Prints the figures, the ratio to the baseline and the peak RSS of this process before and after
   the evaluation (resource.getrusage); PASS/FAIL against the target; exits 1 when missed.

Target (issue 17, Performance): under 60 s on 2 cores, memory flat (the evaluation reads one
aggregate row per provider, never the lines, so its memory does not grow with them).
"""

from __future__ import annotations

import argparse
import os
import resource
import secrets
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[2]
if __package__ in (None, ""):
    sys.path.insert(0, str(ROOT))

from bench.common import db as common_db  # noqa: E402

SUFFIX = "_bench_gold_cards"
DEFAULT_DATABASE_URL = f"postgres://postgres@127.0.0.1:5432/casemgmt{SUFFIX}"
TARGET_S = 60.0
# Memory is flat when the evaluation adds less than this to the process's peak.
FLAT_RSS_MB = 100.0
CODES = [
    "62320", "62321", "62322", "62323", "62324", "62325", "62326", "62327", "64483", "64490",
    "64493", "64633", "64635", "72148", "73721", "97110", "97112", "97140", "E0601", "G0283",
]  # fmt: skip
ENDING = 2_000


def configure_django(url: str) -> None:
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "casemgmt.settings",
            "DATABASE_URL": url,
            "SECRET_KEY": os.environ.get("SECRET_KEY") or "bench-" + secrets.token_urlsafe(32),
            "DEBUG": "0",
            "ALLOWED_HOSTS": "testserver",
            "SECURE_COOKIES": "0",
            "SECURE_SSL_REDIRECT": "0",
            "LOG_LEVEL": "WARNING",
        }
    )
    for name in ("CELERY_BROKER_URL", "CACHE_URL", "SECRET_KEY_FILE"):
        os.environ.pop(name, None)
    import django

    django.setup()


def rss_mb() -> float:
    # ru_maxrss is in kilobytes on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- the data -------------------------------------------------------------------------------

# Case g (1..n) has lines 2g-1 and 2g and its decision of record g. Provider, line of business,
# codes and outcomes are drawn by hashes of g or the line (independent of each other); dates by a
# multiplicative hash of g.
NPI_SQL = "'1' || lpad((abs(hashtext(g::text || 'p')) % {providers})::text, 9, '0')"
PROVIDER_SQL = "(abs(hashtext(g::text || 'p')) % {providers})"
LOB_SQL = "CASE WHEN abs(hashtext(g::text || 'lob')) % 5 = 0 THEN 'medicare_advantage' ELSE 'commercial' END"
DETERMINED_SQL = "now() - ((g::bigint * 104729 % 365) || ' days')::interval - interval '1 hour'"
CODE_SQL = f"(ARRAY{CODES!r})[1 + abs(hashtext(l::text || 'c')) % {len(CODES)}]"
# A quarter of the providers approve 97% of the time, the rest 80%; the rest denied or partial.
OUTCOME_SQL = (
    "CASE WHEN abs(hashtext(l::text)) % 1000 < (CASE WHEN {provider} % 4 = 0 THEN 985 ELSE 800 END) "
    "THEN 'approved' WHEN l % 3 = 0 THEN 'partially_approved' ELSE 'denied' END"
)


def load(url: str, cases: int, providers: int, *, client_id: int, physician_id: int, robot_id: int) -> float:
    import psycopg
    from django.db.models import NOT_PROVIDED

    npi = NPI_SQL.format(providers=providers)
    provider = PROVIDER_SQL.format(providers=providers)
    outcome = OUTCOME_SQL.format(provider=provider.replace("(g::", "(c.g::"))
    superseded = cases // 20
    steps: list[tuple[str, list[str], str]] = [
        (
            "casemgmt_case",
            [
                "id",
                "case_number",
                "submitted_by_id",
                "external_id",
                "urgency",
                "line_of_business",
                "review_type",
                "status",
                "member_id",
                "member_first_name",
                "member_last_name",
                "member_birth_date",
                "requesting_provider_npi",
                "requesting_provider_name",
                "received_at",
                "due_at",
                "decided_at",
                "first_determined_at",
                "first_determination_due_at",
                "outcome",
                "determined_automatically",
                "updated_at",
            ],
            f"""SELECT g, 'PA-G' || lpad(g::text, 9, '0'), {client_id}, '', 'standard', {LOB_SQL}, 'prospective',
            'decided', 'M' || lpad((g % 300000)::text, 8, '0'), 'Bench', 'Member', DATE '1960-01-01' + (g % 20000),
            {npi}, 'Bench Clinic', {DETERMINED_SQL} - interval '2 days', {DETERMINED_SQL} + interval '5 days',
            {DETERMINED_SQL}, {DETERMINED_SQL}, {DETERMINED_SQL} + interval '5 days', 'approved', g % 20 = 7, now()
        FROM generate_series(1, {cases}) g""",
        ),
        (
            "casemgmt_serviceline",
            ["id", "case_id", "sequence", "code_system", "code", "units", "date_of_service"],
            f"""SELECT l, (l + 1) / 2, 2 - l % 2, CASE WHEN {CODE_SQL} ~ '^[0-9]' THEN 'CPT' ELSE 'HCPCS' END,
            {CODE_SQL}, 2, current_date
        FROM generate_series(1, {2 * cases}) l""",
        ),
        # Decisions 1..n are the decisions of record; n+1.. the superseded first decisions of
        # the reopened requests (every twentieth), each superseded by its case's decision of record.
        (
            "casemgmt_decision",
            ["id", "case_id", "decided_by_id", "decided_role", "decided_at", "rationale", "supersedes_id"],
            f"""SELECT g, g, CASE WHEN g % 20 = 7 THEN {robot_id} ELSE {physician_id} END,
            CASE WHEN g % 20 = 7 THEN 'automated' ELSE 'physician_reviewer' END, {DETERMINED_SQL}, '',
            CASE WHEN g % 20 = 3 THEN {cases} + g / 20 + 1 END
        FROM generate_series(1, {cases}) g
        UNION ALL
        SELECT {cases} + k + 1, 20 * k + 3, {physician_id}, 'physician_reviewer', now() - interval '400 days', '',
            NULL::bigint
        FROM generate_series(0, {superseded - 1}) k""",
        ),
        (
            "casemgmt_decisionline",
            ["id", "decision_id", "service_line_id", "outcome", "approved_units", "reason"],
            f"""SELECT l, (l + 1) / 2, l, o.outcome, CASE WHEN o.outcome = 'partially_approved' THEN 1 END,
            CASE WHEN o.outcome = 'approved' THEN '' ELSE 'Criteria not met.' END
        FROM generate_series(1, {2 * cases}) l, LATERAL (SELECT (l + 1) / 2 AS g) c,
        LATERAL (SELECT {outcome} AS outcome) o
        UNION ALL
        SELECT {2 * cases} + 2 * k + s, {cases} + k + 1, 2 * (20 * k + 3) - 2 + s, 'denied', NULL::int, 'Not met.'
        FROM generate_series(0, {superseded - 1}) k, generate_series(1, 2) s""",
        ),
    ]
    start = time.perf_counter()
    with psycopg.connect(url) as conn:
        for table, columns, select in steps:
            # Columns not named here get the field's default, or the database's own.
            rest = [
                (f.column, _default(f))
                for f in _model(table)._meta.concrete_fields
                if f.column not in columns and f.db_default is NOT_PROVIDED
            ]
            names = ", ".join([*columns, *(column for column, _ in rest)])
            values = ", ".join(["q.*", *("%s" for _ in rest)])
            statement = f"INSERT INTO {table} ({names}) SELECT {values} FROM ({select.replace('%', '%%')}) q"
            conn.execute(statement, [value for _, value in rest])
        for table, _columns, _select in steps:
            conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        conn.commit()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return time.perf_counter() - start


def _model(table: str) -> Any:
    from django.apps import apps

    return next(m for m in apps.get_models() if m._meta.db_table == table)


def _default(field: Any) -> Any:
    from django.db import connection
    from psycopg.types.json import Jsonb

    value = field.get_db_prep_save(field.get_default(), connection)
    return Jsonb(value) if isinstance(value, (dict, list)) else value


def programmes(manager: Any, editors: tuple[Any, Any]) -> list[Any]:
    """A code-range programme and a policy programme (at least 3 requests), both commercial, defined
    through the services, and ENDING evaluated exemptions of providers who do not qualify."""
    from django.utils import timezone

    from casemgmt.cases.models import GoldCardExemption, GoldCardSource
    from casemgmt.cases.services.gold_cards import gold_card_programme_create
    from policies_app.models import Policy, PolicyCode, PolicyVersion
    from policies_app.services import policy_version_publish, policy_version_submit_for_review

    policy = Policy.objects.create(
        payer="Bench", number="B.01", title="Bench injections", lines_of_business=["commercial"]
    )
    version = PolicyVersion.objects.create(
        policy=policy,
        version_label="1",
        coverage_position="medically_necessary",
        effective_start=date(2020, 1, 1),
        statement="Bench procedures are medically necessary.",
    )
    PolicyCode.objects.create(version=version, system="CPT", code="64483", code_end="64493")
    PolicyCode.objects.create(version=version, system="CPT", code="64633")
    policy_version_submit_for_review(version_id=version.pk, user=editors[0])
    policy_version_publish(version_id=version.pk, user=editors[1])
    by_range = gold_card_programme_create(
        user=manager, name="Epidural injections", line_of_business="commercial", code_system="CPT",
        code_start="62320", code_end="62327",
    )  # fmt: skip
    by_policy = gold_card_programme_create(
        user=manager, name="Facet procedures", line_of_business="commercial", policy_id=policy.pk, min_requests=3
    )
    # Providers p % 4 != 0 approve about 80%: their evaluated exemptions end.
    today = timezone.localdate()
    GoldCardExemption.objects.bulk_create(
        GoldCardExemption(
            programme=by_range,
            provider_npi="1" + str(4 * k + 1).zfill(9),
            source=GoldCardSource.EVALUATED,
            period_start=today,
            period_end=today,
            decided_count=5,
            approved_count=5,
            approval_rate=100,
            granted_at=timezone.now(),
        )
        for k in range(ENDING)
    )
    return [by_range, by_policy]


def baseline(url: str, programme_filters: list[tuple[str, str, str]]) -> tuple[float, int]:
    """A bare GROUP BY of the same lines by provider, one statement per programme."""
    import psycopg

    start = time.perf_counter()
    groups = 0
    with psycopg.connect(url) as conn:
        for lob, since, codes in programme_filters:
            rows = conn.execute(
                "SELECT c.requesting_provider_npi, count(*) FROM casemgmt_decisionline dl "
                "JOIN casemgmt_decision d ON d.id = dl.decision_id JOIN casemgmt_case c ON c.id = d.case_id "
                "JOIN casemgmt_serviceline sl ON sl.id = dl.service_line_id "
                f"WHERE c.line_of_business = %s AND c.first_determined_at >= %s AND ({codes}) GROUP BY 1",
                [lob, since],
            ).fetchall()
            groups += len(rows)
    return time.perf_counter() - start, groups


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL)
    parser.add_argument("--cases", type=int, default=500_000, help="decided requests, two lines each")
    parser.add_argument("--providers", type=int, default=20_000)
    parser.add_argument("--keep", action="store_true", help="keep the benchmark's database afterwards")
    args = parser.parse_args(argv)
    url = args.database_url
    if not common_db.db_name(url).endswith(SUFFIX):
        url = urlsplit(url)._replace(path=f"/casemgmt{SUFFIX}").geturl()
        print(f"using database casemgmt{SUFFIX} on the DATABASE_URL server")
    try:
        return run(url, args)
    finally:
        if not args.keep:
            from django.db import connections

            connections.close_all()
            common_db.drop_database(url, suffix=SUFFIX)


def run(url: str, args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    common_db.recreate_database(url, suffix=SUFFIX)
    configure_django(url)
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command
    from django.utils import timezone

    with open(os.devnull, "w") as quiet:
        call_command("migrate", verbosity=0, stdout=quiet)

    from casemgmt.cases.models import GoldCardExemption, GoldCardStatus
    from casemgmt.cases.services.gold_cards import gold_cards_evaluate, months_before
    from casemgmt.kernel.roles import Role

    def account(username: str, role: Role | None) -> User:
        user = User.objects.create(username=username)
        if role is not None:
            user.groups.add(Group.objects.get_or_create(name=role.value)[0])
        return user

    client = account("bench.portal", Role.INTEGRATION_CLIENT)
    physician = account("bench.physician", Role.PHYSICIAN)
    manager = account("bench.manager", Role.MANAGER)
    robot = account("bench.automated", None)
    # Before the requests: publishing the policy re-checks open cases and plans a retrospective
    # run over the cases it governs, which is not what is measured here.
    by_range, by_policy = programmes(
        manager, (account("bench.editor", Role.POLICY_EDITOR), account("bench.editor2", Role.POLICY_EDITOR))
    )
    load_s = load(url, args.cases, args.providers, client_id=client.pk, physician_id=physician.pk, robot_id=robot.pk)
    print(
        f"data: {args.cases:,} decided requests, {2 * args.cases:,} decided lines of record "
        f"(+{2 * (args.cases // 20):,} superseded), {args.providers:,} providers; loaded in {load_s:.1f} s"
    )

    now = timezone.now()
    since = months_before(now, 6)
    base_s, groups = baseline(
        url,
        [
            ("commercial", since.isoformat(), "sl.code BETWEEN '62320' AND '62327'"),
            ("commercial", since.isoformat(), "sl.code BETWEEN '64483' AND '64493' OR sl.code = '64633'"),
        ],
    )
    rss_before = rss_mb()
    start = time.perf_counter()
    first = gold_cards_evaluate(now=now)
    first_s = time.perf_counter() - start
    rss_after_first = rss_mb()
    start = time.perf_counter()
    second = gold_cards_evaluate(now=now)
    second_s = time.perf_counter() - start
    rss_after = rss_mb()

    active = GoldCardExemption.objects.filter(status=GoldCardStatus.ACTIVE).count()
    print(f"load average: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print()
    print(f"{'step':<52} {'seconds':>8} {'vs baseline':>12}")
    print("-" * 74)
    print(f"{'baseline: bare GROUP BY provider, both programmes':<52} {base_s:>8.2f} {'1.0x':>12}")
    print(f"{'gold_cards_evaluate, first run':<52} {first_s:>8.2f} {first_s / base_s:>11.1f}x")
    print(f"{'gold_cards_evaluate, second run (nothing to change)':<52} {second_s:>8.2f} {second_s / base_s:>11.1f}x")
    print()
    for result in first.programmes:
        print(
            f"programme {result.programme_id}: {result.providers:,} providers with decided requests, "
            f"{result.qualifying:,} qualify, {len(result.granted):,} earned, {len(result.ended):,} ended"
        )
    print(f"baseline groups: {groups:,}; active exemptions after: {active:,}")
    print(f"second run: {second.granted} earned, {second.ended} ended")
    print(
        f"peak RSS: {rss_before:.0f} MB before, {rss_after_first:.0f} MB after the first run, "
        f"{rss_after:.0f} MB after the second"
    )
    print()
    ok = True
    for name, seconds in (("first run", first_s), ("second run", second_s)):
        passed = seconds < TARGET_S
        ok &= passed
        print(f"{'PASS' if passed else 'FAIL'}  {name}: {seconds:.1f} s < {TARGET_S:.0f} s")
    flat = rss_after - rss_before < FLAT_RSS_MB
    ok &= flat
    print(f"{'PASS' if flat else 'FAIL'}  memory: +{rss_after - rss_before:.0f} MB peak RSS < {FLAT_RSS_MB:.0f} MB")
    idempotent = (second.granted, second.ended) == (0, 0)
    ok &= idempotent
    print(f"{'PASS' if idempotent else 'FAIL'}  idempotent: the second run changed nothing")
    exercised = (
        first.granted > 0
        and first.ended > 0
        and {p.programme_id for p in first.programmes}
        == {
            by_range.pk,
            by_policy.pk,
        }
    )
    ok &= exercised
    print(f"{'PASS' if exercised else 'FAIL'}  both programmes evaluated, exemptions earned and ended")
    print(f"\ntotal run time {time.perf_counter() - t0:.0f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
