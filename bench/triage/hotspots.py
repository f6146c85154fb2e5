"""Where a triage-on intake request's time goes: in-process, one request at a time, no gunicorn.

Run from the project root after a run of bench/triage/run.py has left its databases:

    .venv/bin/python bench/triage/hotspots.py [--database-url URL] [--eligibility 0|1] [--requests N]

Sends the benchmark's request mix through Django's test client (the whole stack: middleware,
token, DRF, intake) against the database, times every SQL statement by its shape (statement text
with the literals taken out), and prints the costliest statements and a cProfile of the Python
side. Not a benchmark: it is for reading the figures of bench/triage/run.py.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import re
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if __package__ in (None, ""):
    sys.path.insert(0, str(ROOT))

from bench.intake.run import manage, server_env  # noqa: E402
from bench.triage.run import KINDS, ON_DATABASE_URL, RequestMix, bench_members  # noqa: E402

_LITERALS = re.compile(r"'(?:[^']|'')*'|\b\d+\b")


class QueryTimer:
    """A connection.execute_wrapper: wall time of every statement, by shape."""

    def __init__(self) -> None:
        self.by_shape: dict[str, list[float]] = defaultdict(list)

    def __call__(self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.by_shape[_LITERALS.sub("?", sql)[:240]].append(time.perf_counter() - started)


def by_kind(mix: RequestMix, post: Callable[[], None], connection: Any, requests: int) -> None:
    """Per kind of request, without the profiler: CPU of this process, statements and their wall time."""
    print(f"{'kind':<8} {'cpu ms':>7} {'wall ms':>8} {'statements':>10} {'sql ms':>7}")
    everything = mix.choices
    for kind in KINDS:
        mix.choices = [kind]
        timer = QueryTimer()
        cpu, wall = time.process_time(), time.perf_counter()
        with connection.execute_wrapper(timer):
            for _ in range(requests):
                post()
        cpu_ms = (time.process_time() - cpu) / requests * 1000
        wall_ms = (time.perf_counter() - wall) / requests * 1000
        statements = sum(len(v) for v in timer.by_shape.values()) / requests
        sql_ms = sum(sum(v) for v in timer.by_shape.values()) / requests * 1000
        print(f"{kind.name:<8} {cpu_ms:>7.2f} {wall_ms:>8.2f} {statements:>10.1f} {sql_ms:>7.2f}")
    mix.choices = everything


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--database-url", default=ON_DATABASE_URL)
    parser.add_argument("--eligibility", default="1", choices=["0", "1"])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--coverage-rows", type=int, default=1_000_000, help="as given to run.py")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--kind", choices=[kind.name for kind in KINDS], help="send only this kind of request")
    parser.add_argument(
        "--by-kind", action="store_true", help="per kind of request, --requests each, without the profiler"
    )
    args = parser.parse_args(argv)

    env = {**server_env(args.database_url), "ELIGIBILITY_CHECK": args.eligibility}
    token = manage(env, ROOT, "create_api_token", "portal", "--label", "bench/triage profile").strip().splitlines()[-1]
    os.environ.update(env)
    import django

    django.setup()
    from django.db import connection
    from django.test import Client

    client = Client(SERVER_NAME="127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {token}")
    mix = RequestMix(bench_members(args.coverage_rows), seed=os.getpid())
    if args.kind:
        mix.choices = [kind for kind in KINDS if kind.name == args.kind]

    def post() -> None:
        response = client.post("/api/v1/cases", data=mix.body(), content_type="application/json")
        if response.status_code != 201:
            raise SystemExit(f"{response.status_code}: {response.content[:500]!r}")

    for _ in range(30):  # warm: imports, the policy and requirement indexes, connections
        post()
    if args.by_kind:
        by_kind(mix, post, connection, args.requests)
        return 0
    timer = QueryTimer()
    profiler = cProfile.Profile()
    started = time.perf_counter()
    cpu = time.process_time()
    with connection.execute_wrapper(timer):
        profiler.enable()
        for _ in range(args.requests):
            post()
        profiler.disable()
    wall = (time.perf_counter() - started) / args.requests * 1000
    cpu_ms = (time.process_time() - cpu) / args.requests * 1000
    sql_ms = sum(sum(v) for v in timer.by_shape.values()) / args.requests * 1000
    statements = sum(len(v) for v in timer.by_shape.values()) / args.requests
    print(f"{args.database_url.rsplit('/', 1)[-1]}, ELIGIBILITY_CHECK={args.eligibility}, {args.requests} requests")
    print(
        f"per request: {wall:.2f} ms wall (profiled), {cpu_ms:.2f} ms CPU of this process, "
        f"{statements:.1f} statements taking {sql_ms:.2f} ms wall"
    )
    print()
    print(f"{'ms/request':>10} {'calls/req':>9} {'ms/call':>8}  statement")
    ranked = sorted(timer.by_shape.items(), key=lambda item: -sum(item[1]))
    for shape, times in ranked[: args.top]:
        print(
            f"{sum(times) / args.requests * 1000:>10.3f} {len(times) / args.requests:>9.2f} "
            f"{sum(times) / len(times) * 1000:>8.3f}  {shape[:200]}"
        )
    print()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    # The project's own functions: where intake and triage spend it, beside Django's and DRF's.
    stats.sort_stats("cumulative").print_stats(r"casemgmt|policies_app", args.top * 2)
    print(out.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
