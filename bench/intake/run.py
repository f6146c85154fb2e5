"""Benchmark of `POST /api/v1/cases` served by gunicorn on PostgreSQL, beside a baseline endpoint.

Run from the project root:  .venv/bin/python bench/intake/run.py [--compare-tree PATH] [--peak-seconds S]

What it does (see bench/intake/README.md):

1. Prepares a PostgreSQL database (DATABASE_URL, default
   postgres://postgres@127.0.0.1:5432/casemgmt_bench): a database whose name ends in `_bench`
   is dropped and created afresh; any other is refused unless --reuse-db. Migrates it, loads the
   two seed policies and demo users (`manage.py load_demo`), issues a token for the demo
   integration client (`manage.py create_api_token portal`) and creates the baseline's table.
2. Starts gunicorn, 2 sync workers, on 127.0.0.1 and a free port, with bench/intake/settings.py:
   the product's settings plus `POST /bench/baseline`, which runs the same stack (middleware,
   bearer token, throttle, JSON, strict validation) and inserts one row. The per-client rate
   limit is raised (API_RATE_LIMIT=1000000/min) so the load is not throttled.
   With --compare-tree PATH (another checkout of the project, e.g. a git worktree of an older
   commit), the same is done for that tree in a database of its own (`<name>_compare_bench`)
   and a second gunicorn serves its intake, so one run measures both versions side by side.
3. Drives every endpoint from this process over loopback (threads, http.client; every request
   bounded by count and time):
   - peak: closed loop, --clients requests in flight, alternating the endpoints in rounds so
     all see the same machine; sustained req/s and p50/p99 latency.
   - half: open loop at half of each endpoint's peak rate, requests sent on a fixed schedule and
     latency measured from the scheduled time (so a stall is not hidden by sending less).
   - CPU: --cpu-requests requests per endpoint, one at a time, and the CPU each cost gunicorn's
     workers, PostgreSQL's backends and this process (from /proc): a figure that other work on
     the machine moves far less than req/s.
4. Prints the tables, the throughput ratios, PASS/FAIL per target; exits 1 when a target is missed.

Targets (issue 14), for this tree's intake: throughput >= 50% of the baseline's; p99 < 50 ms at
half its peak rate. Any non-2xx answer in a measured phase is also a failure.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import partial
from pathlib import Path
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parents[2]
if __package__ in (None, ""):
    sys.path.insert(0, str(ROOT))

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/casemgmt_bench"
SETTINGS_MODULE = "bench.intake.settings"
WORKERS = 2
INTAKE_PATH = "/api/v1/cases"
BASELINE_PATH = "/bench/baseline"

# The baseline's table: bench-only, created with raw SQL (no model, no migration).
TABLE_DDL = """
CREATE TABLE IF NOT EXISTS bench_baseline (
    id bigserial PRIMARY KEY,
    client_id bigint NOT NULL,
    external_id varchar(100) NOT NULL,
    code varchar(10) NOT NULL,
    units integer NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
)
"""

TARGET_RATIO = 0.50
TARGET_P99_MS = 50.0
MAX_REQUESTS_PER_PHASE = 100_000
REQUEST_TIMEOUT_S = 10.0
SERVER_START_TIMEOUT_S = 60.0


# --- the database and the server ------------------------------------------------------------


def _db_name(url: str) -> str:
    return unquote(urlsplit(url).path.lstrip("/"))


def _admin_conninfo(url: str) -> str:
    """The same server, database `postgres`: where CREATE/DROP DATABASE are run."""
    parts = urlsplit(url)
    return parts._replace(path="/postgres").geturl()


def prepare_database(url: str, *, reuse: bool) -> None:
    import psycopg
    from psycopg import sql

    name = _db_name(url)
    if not name:
        raise SystemExit(f"DATABASE_URL names no database: {url}")
    fresh = name.endswith("_bench")
    if not fresh and not reuse:
        raise SystemExit(
            f"refusing to benchmark in database {name!r}: use a name ending in _bench (dropped and created "
            "afresh each run), or pass --reuse-db to run on it as it is"
        )
    with psycopg.connect(_admin_conninfo(url), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if fresh and exists:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
            exists = None
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def compare_database_url(url: str) -> str:
    """The compare tree's database: the same server, a name of its own that ends in _bench."""
    name = _db_name(url)
    stem = name.removesuffix("_bench")
    parts = urlsplit(url)
    return parts._replace(path=f"/{stem}_compare_bench").geturl()


def server_env(database_url: str, root: Path = ROOT) -> dict[str, str]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": SETTINGS_MODULE,
        "DATABASE_URL": database_url,
        "SECRET_KEY": "bench-" + secrets.token_urlsafe(32),
        "DEBUG": "0",
        "SECURE_SSL_REDIRECT": "0",  # the benchmark's clients speak plain HTTP to gunicorn
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "API_RATE_LIMIT": "1000000/min",
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(root),
        "PYTHONUNBUFFERED": "1",
    }
    # Tasks in-process (no webhooks are registered, so none run); throttle counts per worker.
    for name in ("CELERY_BROKER_URL", "CACHE_URL", "SECRET_KEY_FILE"):
        env.pop(name, None)
    return env


def manage(env: dict[str, str], root: Path, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, str(root / "manage.py"), *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if result.returncode != 0:
        raise SystemExit(f"{root}/manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def setup_application(env: dict[str, str], root: Path = ROOT) -> str:
    """Migrate, seed, create the baseline table; return the integration client's token."""
    manage(env, root, "migrate", "--noinput")
    manage(env, root, "load_demo")
    token = manage(env, root, "create_api_token", "portal", "--label", "bench/intake").strip().splitlines()[-1]
    import psycopg

    with psycopg.connect(env["DATABASE_URL"], autocommit=True) as conn:
        conn.execute(TABLE_DDL)
    return token


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def gunicorn(env: dict[str, str], port: int, log_path: Path, root: Path = ROOT) -> Iterator[subprocess.Popen[bytes]]:
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "casemgmt.wsgi:application",
        "--workers",
        str(WORKERS),
        "--bind",
        f"127.0.0.1:{port}",
        "--backlog",
        "2048",
        "--timeout",
        "60",
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            wait_until_ready(process, port, log_path)
            yield process
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=20)


def wait_until_ready(process: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"gunicorn exited with {process.returncode}:\n{log_path.read_text(errors='replace')}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                conn.close()
                return
            conn.close()
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"gunicorn did not answer /healthz within {SERVER_START_TIMEOUT_S:.0f}s")


# --- requests -------------------------------------------------------------------------------

RUN_ID = uuid.uuid4().hex[:8]
_counter = iter(range(1, 10**12))
_counter_lock = threading.Lock()


def _next_external_id(prefix: str) -> str:
    with _counter_lock:
        n = next(_counter)
    return f"{prefix}-{RUN_ID}-{n}"


def intake_body() -> bytes:
    """A realistic submission with 3 service lines, two of them governed by a seed policy."""
    dos = (date.today() + timedelta(days=14)).isoformat()
    return json.dumps(
        {
            "external_id": _next_external_id("BENCH"),
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
            "service_lines": [
                {
                    "code_system": "CPT",
                    "code": "62330",
                    "units": 1,
                    "date_of_service": dos,
                    "description": "mild, L4-L5",
                },
                {
                    "code_system": "CPT",
                    "code": "62331",
                    "units": 1,
                    "date_of_service": dos,
                    "description": "add. level",
                },
                {
                    "code_system": "CPT",
                    "code": "72148",
                    "units": 1,
                    "date_of_service": dos,
                    "description": "MRI lumbar",
                },
            ],
            "clinical_notes": "Lumbar stenosis with neurogenic claudication; 12 weeks of physical therapy failed.",
        }
    ).encode()


def baseline_body() -> bytes:
    return json.dumps({"external_id": _next_external_id("BASE"), "code": "62330", "units": 1}).encode()


@dataclass(frozen=True)
class Target:
    """An endpoint, and the server (port) and token that reach it. An answer counts as its status,
    or as what `answer` makes of its status and body (e.g. a failure for a 2xx whose body is wrong)."""

    name: str
    path: str
    body: Callable[[], bytes]
    port: int = 0
    token: str = ""
    database_url: str = ""
    content_type: str = "application/json"
    answer: Callable[[int, bytes], int] | None = None


BASELINE_NAME = "baseline (validate + 1 row)"
INTAKE_NAME = "POST /api/v1/cases (3 lines)"
COMPARED_NAME = "compare tree's POST /api/v1/cases"


def send(target: Target) -> int:
    """One request on a new connection (gunicorn's sync workers close it after each answer)."""
    body = target.body()
    conn = http.client.HTTPConnection("127.0.0.1", target.port, timeout=REQUEST_TIMEOUT_S)
    try:
        conn.request(
            "POST",
            target.path,
            body=body,
            headers={"Authorization": f"Bearer {target.token}", "Content-Type": target.content_type},
        )
        response = conn.getresponse()
        raw = response.read()
        return target.answer(response.status, raw) if target.answer else response.status
    except OSError:
        return 0
    finally:
        conn.close()


@dataclass
class Result:
    target: Target
    phase: str
    elapsed: float = 0.0
    latencies: list[float] = field(default_factory=list)  # seconds, successful requests only
    errors: dict[int, int] = field(default_factory=dict)  # status (0: connection error) -> count
    offered_rate: float | None = None

    def add(self, status: int, latency: float) -> None:
        if 200 <= status < 300:
            self.latencies.append(latency)
        else:
            self.errors[status] = self.errors.get(status, 0) + 1

    def merge(self, other: Result) -> None:
        self.elapsed += other.elapsed
        self.latencies.extend(other.latencies)
        for status, count in other.errors.items():
            self.errors[status] = self.errors.get(status, 0) + count

    @property
    def ok(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.ok / self.elapsed if self.elapsed else 0.0

    def percentile_ms(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))
        return ordered[index] * 1000

    @property
    def median_ms(self) -> float:
        return statistics.median(self.latencies) * 1000 if self.latencies else float("nan")


def closed_loop(target: Target, seconds: float, clients: int, phase: str) -> Result:
    """`clients` requests in flight at all times, until the time or the request budget runs out."""
    result = Result(target, phase)
    lock = threading.Lock()
    budget = [MAX_REQUESTS_PER_PHASE]
    start = time.perf_counter()
    deadline = start + seconds

    def client() -> None:
        while time.perf_counter() < deadline:
            with lock:
                if budget[0] <= 0:
                    return
                budget[0] -= 1
            t0 = time.perf_counter()
            status = send(target)
            latency = time.perf_counter() - t0
            with lock:
                result.add(status, latency)

    run_threads(client, clients)
    result.elapsed = time.perf_counter() - start
    return result


def open_loop(target: Target, seconds: float, rate: float, phase: str) -> Result:
    """Requests sent on a fixed schedule at `rate`/s; latency counted from the scheduled time.

    Enough sender threads are kept that a slow answer does not hold the schedule back; if the
    senders still fall behind, the wait shows in the latency (no coordinated omission).
    """
    result = Result(target, phase, offered_rate=rate)
    total = min(MAX_REQUESTS_PER_PHASE, max(1, int(rate * seconds)))
    lock = threading.Lock()
    next_index = [0]
    start = time.perf_counter() + 0.05

    def sender() -> None:
        while True:
            with lock:
                i = next_index[0]
                if i >= total:
                    return
                next_index[0] += 1
            scheduled = start + i / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            status = send(target)
            latency = time.perf_counter() - scheduled
            with lock:
                result.add(status, latency)

    senders = max(4, min(64, int(rate * 0.1) + 4))  # about 100 ms of requests may be in flight
    run_threads(sender, senders)
    result.elapsed = time.perf_counter() - start
    return result


def run_threads(function: Callable[[], None], count: int) -> None:
    threads = [threading.Thread(target=function, daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


# --- CPU per request ------------------------------------------------------------------------


@dataclass
class CpuCost:
    target: Target
    requests: int
    workers_ms: float
    database_ms: float
    load_ms: float

    @property
    def total_ms(self) -> float:
        return self.workers_ms + self.database_ms + self.load_ms


def process_cpu_s(pid: int) -> float:
    """utime + stime of a process from /proc, in seconds (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def child_pids(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
                continue
            if parent == pid:
                found.append(int(entry.name))
    return found


def _database_backends(url: str) -> list[int]:
    import psycopg

    with psycopg.connect(_admin_conninfo(url), autocommit=True) as conn:
        rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", [_db_name(url)]).fetchall()
    return [int(pid) for (pid,) in rows]


def cpu_per_request(target: Target, server_pid: int, requests: int) -> CpuCost:
    """The CPU one request costs the server's workers, PostgreSQL's backends for its database and
    this process, over `requests` sent one at a time. Other work on the machine moves it far
    less than the req/s of the load phases: it delays these processes more than it costs them."""
    workers = child_pids(server_pid)
    backends = _database_backends(target.database_url)
    before = [sum(process_cpu_s(p) for p in workers), sum(process_cpu_s(p) for p in backends), time.process_time()]
    for _ in range(requests):
        status = send(target)
        if not 200 <= status < 300:
            raise SystemExit(f"{target.name} answered {status} in the CPU phase")
    after = [sum(process_cpu_s(p) for p in workers), sum(process_cpu_s(p) for p in backends), time.process_time()]
    workers_ms, database_ms, load_ms = ((b - a) / requests * 1000 for a, b in zip(before, after, strict=True))
    return CpuCost(target, requests, workers_ms, database_ms, load_ms)


def report_cpu(costs: list[CpuCost]) -> None:
    width = max(len(c.target.name) for c in costs)
    header = f"{'ms of CPU per request':<{width}} {'workers':>8} {'database':>9} {'load':>6} {'total':>7} {'ratio':>6}"
    print(header)
    print("-" * len(header))
    base = costs[0].total_ms
    for c in costs:
        print(
            f"{c.target.name:<{width}} {c.workers_ms:>8.2f} {c.database_ms:>9.2f} {c.load_ms:>6.2f} "
            f"{c.total_ms:>7.2f} {base / c.total_ms:>6.2f}"
        )
    print(f"(ratio: the baseline's total over the endpoint's; {costs[0].requests} requests each, one at a time)")
    print()


# --- the run --------------------------------------------------------------------------------


def measure(targets: list[Target], args: argparse.Namespace) -> tuple[list[Result], dict[str, list[float]]]:
    """The peak and half-rate results, and each endpoint's throughput over the baseline's in
    every round of the peak (by endpoint name; targets[0] is the baseline)."""
    for target in targets:  # warm every worker: imports, connections, the policy index
        closed_loop(target, args.warmup_seconds, args.clients, "warmup")

    peaks = {target.name: Result(target, "peak") for target in targets}
    round_ratios: dict[str, list[float]] = {target.name: [] for target in targets[1:]}
    rounds = max(1, args.rounds)
    for k in range(rounds):
        # Alternate, so a drift on the machine affects all alike: each round starts with the next
        # endpoint, and every other round runs them in the reverse order.
        shift = k % len(targets)
        order = targets[shift:] + targets[:shift]
        if k % 2:
            order.reverse()
        this_round = {}
        for target in order:
            this_round[target.name] = closed_loop(target, args.peak_seconds / rounds, args.clients, "peak")
            peaks[target.name].merge(this_round[target.name])
        base = this_round[targets[0].name].rate
        for target in targets[1:]:
            round_ratios[target.name].append(this_round[target.name].rate / base if base else 0.0)

    halves = [open_loop(target, args.half_seconds, max(1.0, peaks[target.name].rate / 2), "half") for target in targets]
    return [*peaks.values(), *halves], round_ratios


def report_table(results: list[Result]) -> None:
    width = max(len(r.target.name) for r in results)
    header = (
        f"{'endpoint':<{width}} {'phase':<6} {'offered/s':>9} {'req/s':>8} {'ok':>7} {'errors':>7} "
        f"{'p50 ms':>8} {'p99 ms':>8}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        offered = f"{r.offered_rate:.0f}" if r.offered_rate is not None else "max"
        errors = sum(r.errors.values())
        print(
            f"{r.target.name:<{width}} {r.phase:<6} {offered:>9} {r.rate:>8.1f} {r.ok:>7} {errors:>7} "
            f"{r.median_ms:>8.1f} {r.percentile_ms(99):>8.1f}"
        )
    print()


def result_of(results: list[Result], name: str, phase: str) -> Result:
    return next(r for r in results if r.target.name == name and r.phase == phase)


def round_spread(ratios: list[float]) -> str:
    spread = sorted(ratios)
    return f"per round: median {statistics.median(spread):.2f}, lowest {spread[0]:.2f}, highest {spread[-1]:.2f}"


def report(results: list[Result], round_ratios: dict[str, list[float]]) -> bool:
    report_table(results)
    find = partial(result_of, results)
    base_peak = find(BASELINE_NAME, "peak")
    for name, ratios in round_ratios.items():
        peak, half = find(name, "peak"), find(name, "half")
        ratio = peak.rate / base_peak.rate if base_peak.rate else 0.0
        print(
            f"{name}: {peak.rate:.1f} req/s, {ratio:.2f} of the baseline's {base_peak.rate:.1f} "
            f"({round_spread(ratios)}); "
            f"p99 at half rate ({half.offered_rate:.0f} req/s offered) {half.percentile_ms(99):.1f} ms"
        )
    print()

    intake_peak, intake_half = find(INTAKE_NAME, "peak"), find(INTAKE_NAME, "half")
    ratio = intake_peak.rate / base_peak.rate if base_peak.rate else 0.0
    p99 = intake_half.percentile_ms(99)
    error_detail = {r.target.name + " " + r.phase: r.errors for r in results if r.errors}
    checks = [
        (
            f"intake throughput {intake_peak.rate:.1f} req/s is {ratio:.0%} of the baseline's "
            f"{base_peak.rate:.1f} req/s (target >= {TARGET_RATIO:.0%})",
            ratio >= TARGET_RATIO,
        ),
        (
            f"intake p99 at half its peak rate ({intake_half.offered_rate:.0f} req/s offered) is {p99:.1f} ms "
            f"(target < {TARGET_P99_MS:.0f} ms)",
            p99 < TARGET_P99_MS,
        ),
        (f"every measured request answered 2xx (non-2xx by status: {error_detail or 'none'})", not error_detail),
    ]
    for text, passed in checks:
        print(f"{'PASS' if passed else 'FAIL'}  {text}")
    return all(passed for _, passed in checks)


def add_load_arguments(parser: argparse.ArgumentParser) -> None:
    """The load's options, as `measure` reads them."""
    parser.add_argument("--clients", type=int, default=4, help="requests in flight in the peak phase (default 4)")
    parser.add_argument("--warmup-seconds", type=float, default=3.0)
    parser.add_argument("--peak-seconds", type=float, default=30.0, help="per endpoint, split over --rounds")
    # Many short rounds: the VM's speed drifts over tens of seconds, and alternating often spreads
    # a drift over both endpoints alike.
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--half-seconds", type=float, default=20.0, help="per endpoint")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL)
    parser.add_argument("--reuse-db", action="store_true", help="run on a database not named *_bench, as it is")
    add_load_arguments(parser)
    parser.add_argument(
        "--cpu-requests",
        type=int,
        default=300,
        help="requests per endpoint, one at a time, for the CPU per request (Linux /proc; 0 skips it)",
    )
    parser.add_argument("--log", type=Path, default=None, help="gunicorn's log (default: a temporary file)")
    parser.add_argument(
        "--compare-tree",
        type=Path,
        default=None,
        help="another checkout of the project (e.g. a git worktree of an older commit) whose intake is "
        "served by a second gunicorn and measured in the same rounds",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    database_url = args.database_url
    compare_root = args.compare_tree.resolve() if args.compare_tree else None
    if compare_root is not None and not (compare_root / "manage.py").is_file():
        raise SystemExit(f"--compare-tree {compare_root} has no manage.py")
    started = time.monotonic()
    print(
        f"database: {_db_name(database_url)} (PostgreSQL); gunicorn: {WORKERS} sync workers; settings: {SETTINGS_MODULE}"
    )
    prepare_database(database_url, reuse=args.reuse_db)
    env = server_env(database_url)
    token = setup_application(env)
    tmp = Path(os.environ.get("TMPDIR", "/tmp"))
    log_path = args.log or tmp / f"bench-intake-gunicorn-{os.getpid()}.log"
    port = free_port()
    targets = [
        Target(BASELINE_NAME, BASELINE_PATH, baseline_body, port, token, database_url),
        Target(INTAKE_NAME, INTAKE_PATH, intake_body, port, token, database_url),
    ]
    servers = [(env, port, log_path, ROOT)]
    if compare_root is not None:
        compare_url = compare_database_url(database_url)
        print(f"compare tree: {compare_root}, database {_db_name(compare_url)}")
        prepare_database(compare_url, reuse=False)
        compare_env = server_env(compare_url, compare_root)
        compare_token = setup_application(compare_env, compare_root)
        compare_port = free_port()
        while compare_port == port:
            compare_port = free_port()
        compare_log = log_path.with_name(log_path.stem + "-compare" + log_path.suffix)
        targets.append(Target(COMPARED_NAME, INTAKE_PATH, intake_body, compare_port, compare_token, compare_url))
        servers.append((compare_env, compare_port, compare_log, compare_root))
    print(
        f"setup done in {time.monotonic() - started:.0f}s; "
        + "; ".join(f"{root} served on 127.0.0.1:{p}, log {log}" for _, p, log, root in servers)
    )
    print(
        f"load: closed loop, {args.clients} in flight, {args.peak_seconds:.0f}s per endpoint in {args.rounds} rounds; "
        f"then open loop at half each peak rate for {args.half_seconds:.0f}s"
    )
    print()
    with ExitStack() as stack:
        pids = {server[1]: stack.enter_context(gunicorn(*server)).pid for server in servers}
        results, round_ratios = measure(targets, args)
        costs = [cpu_per_request(t, pids[t.port], args.cpu_requests) for t in targets] if args.cpu_requests else []
    passed = report(results, round_ratios)
    if costs:
        print()
        report_cpu(costs)
    print(f"\ntotal time {time.monotonic() - started:.0f}s")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
