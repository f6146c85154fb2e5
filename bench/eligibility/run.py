"""Benchmark of `manage.py load_eligibility` over a 1,000,000-row coverage file on PostgreSQL.

Run from the project root:  .venv/bin/python bench/eligibility/run.py [--rows N]

1. Drops and creates the database named by BENCH_ELIGIBILITY_DATABASE_URL (default
   postgres://postgres@127.0.0.1:5432/casemgmt_bench_eligibility; the name must end in
   _bench_eligibility) and migrates it.
2. Writes a CSV file of --rows coverage periods (default 1,000,000) in a temporary folder: one
   member in two with two periods, every line of business, one in three open-ended.
3. Baseline, in the same run: PostgreSQL's own `COPY ... FROM STDIN (FORMAT csv)` of the same
   file into the same table (loaded_at given a default for the while). The table is then
   emptied.
4. Times `load_eligibility FILE` (the command as an operator runs it: checked, streamed, in one
   transaction), then the same file again (every period unchanged).
5. Drops the database and the file. Prints the times, the ratio and PASS/FAIL; exits 1 when
   the target is missed.

Target (issue 17, "Performance"): `load_eligibility` of 1,000,000 rows under 60 s.
"""

from __future__ import annotations

import argparse
import csv
import os
import secrets
import sys
import tempfile
import time
from io import StringIO
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if __package__ in (None, ""):
    sys.path.insert(0, str(ROOT))

from bench.common import db as common_db  # noqa: E402

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/casemgmt_bench_eligibility"
TARGET_SECONDS = 60.0
LINES_OF_BUSINESS = ("commercial", "medicare_advantage", "medicaid", "chip", "exchange")
PLANS = {
    "commercial": "CB-0001",
    "medicare_advantage": "H1234-001",
    "medicaid": "IA",
    "chip": "IA-CHIP",
    "exchange": "EX-2026",
}


def write_file(path: Path, rows: int) -> None:
    """`rows` periods: member i // 2, the even row a closed period of 2025, the odd one a 2026
    period, open-ended for one member in three."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("member_id", "line_of_business", "plan_id", "coverage_start", "coverage_end"))
        for i in range(rows):
            member = i // 2
            lob = LINES_OF_BUSINESS[member % len(LINES_OF_BUSINESS)]
            if i % 2 == 0:
                writer.writerow((f"M{member:08d}", lob, PLANS[lob], f"2025-{1 + member % 6:02d}-01", "2025-12-31"))
            else:
                end = "" if member % 3 == 0 else "2026-12-31"
                writer.writerow((f"M{member:08d}", lob, PLANS[lob], "2026-01-01", end))


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


def copy_baseline(path: Path) -> tuple[float, int]:
    """PostgreSQL's COPY of the file into the coverage table; (seconds, rows)."""
    from django.db import connection, transaction

    from casemgmt.cases.models import MemberCoverage

    table = connection.ops.quote_name(MemberCoverage._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {table} ALTER COLUMN loaded_at SET DEFAULT now()")
    started = time.perf_counter()
    statement = (
        f"COPY {table} (member_id, line_of_business, plan_id, coverage_start, coverage_end) "
        "FROM STDIN (FORMAT csv, HEADER true)"
    )
    with (
        transaction.atomic(),
        connection.cursor() as cursor,
        path.open("rb") as handle,
        cursor.copy(statement) as copy,
    ):
        while block := handle.read(1 << 20):
            copy.write(block)
    seconds = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table}")
        (count,) = cursor.fetchone()
        cursor.execute(f"ALTER TABLE {table} ALTER COLUMN loaded_at DROP DEFAULT")
        cursor.execute(f"TRUNCATE {table}")
        cursor.execute("CHECKPOINT")
    return seconds, count


def command(path: Path) -> tuple[float, str]:
    from django.core.management import call_command

    out = StringIO()
    started = time.perf_counter()
    call_command("load_eligibility", str(path), stdout=out, stderr=StringIO())
    # The command's line without the file's (temporary) name.
    return time.perf_counter() - started, out.getvalue().strip().partition(": ")[2]


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    url = os.environ.get("BENCH_ELIGIBILITY_DATABASE_URL", DEFAULT_DATABASE_URL)
    common_db.recreate_database(url, suffix="_bench_eligibility")
    with tempfile.TemporaryDirectory(prefix="bench-eligibility-") as folder:
        path = Path(folder) / "coverage.csv"
        started = time.perf_counter()
        write_file(path, args.rows)
        written = time.perf_counter() - started
        size = path.stat().st_size
        try:
            configure_django(url)
            from django.core.management import call_command
            from django.db import connection

            from casemgmt.cases.models import MemberCoverage

            call_command("migrate", verbosity=0)
            baseline, copied = copy_baseline(path)
            load_time, load_report = command(path)
            loaded = MemberCoverage.objects.count()
            again_time, again_report = command(path)
            connection.close()
        finally:
            if not args.keep:
                from django.db import connections

                connections.close_all()
                common_db.drop_database(url, suffix="_bench_eligibility")
    ratio = load_time / baseline if baseline else float("inf")
    print(f"wrote {args.rows:,} rows ({size / 1e6:.0f} MB) in {written:.1f} s")
    print(f"{'':40} {'seconds':>9}")
    print(f"{'baseline: PostgreSQL COPY of the file':40} {baseline:9.2f}   ({copied:,} rows)")
    print(f"{'load_eligibility':40} {load_time:9.2f}   ({loaded:,} rows; {load_report})")
    print(f"{'load_eligibility again (all unchanged)':40} {again_time:9.2f}   ({again_report})")
    print(f"{'ratio load_eligibility / COPY':40} {ratio:9.1f}")
    ok = load_time < TARGET_SECONDS and loaded == args.rows
    print(f"{'PASS' if ok else 'FAIL'}: load_eligibility {load_time:.1f} s (target under {TARGET_SECONDS:.0f} s)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
