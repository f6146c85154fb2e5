"""The drill: the product as deployed, a client submitting cases, and faults, on a timeline.

    setup     its own PostgreSQL and Redis (AOF on), migrate, seed, gunicorn (2 workers),
              a Celery worker with beat (-B), the outbox relay, under a supervisor
    t=4s      Redis stopped for 20 s (SIGTERM: a clean stop, AOF flushed), then started again
    t=30s     PostgreSQL stopped for 8 s (`pg_ctl -m immediate`: a crash), then started again; the
              clients send as fast as they can for the 2 s before, so requests are in flight
    t=42s     a manager starts a retrospective run; once a chunk is done, the worker (its pool and
              beat) is SIGKILLed in the middle of the next ones, and started again 2 s later
    t=60s     the client stops submitting; the drill waits (bounded) for every notification and
              for the run, lets the sweepers run once more, then resends every acknowledged
              request with its Idempotency-Key and reads the database.

Every wait is bounded; `Drill.run` stops everything it started, whatever happens.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
import requests

from tests.reliability.faults.client import ApiClient, Call, IntakeLoad, Phase, replay_all
from tests.reliability.faults.lab import (
    PostgresCluster,
    Service,
    Supervisor,
    Tools,
    free_port,
    port_open,
    tail,
)
from tests.reliability.faults.receiver import WebhookReceiver, refused_first

PROJECT_ROOT = Path(__file__).resolve().parents[3]

# The timeline (seconds from the first request) and the load.
REDIS_DOWN_AT, REDIS_DOWN_FOR = 4.0, 20.0
POSTGRES_DOWN_AT, POSTGRES_DOWN_FOR = 30.0, 8.0
BURST_BEFORE = 2.0  # the clients stop pacing themselves this long before the crash
RETRO_AT = 42.0
WORKER_RESTART_AFTER = 2.0
LOAD_UNTIL = 60.0
CLIENTS = 3
PER_SECOND = 6.0  # per client
REPLAY_EVERY = 7  # every 7th case is resent at once, as after a lost answer
MAX_PER_CLIENT = 2000
# Recovery: how long the drill waits for every notification and for the run, then how long it
# leaves the sweepers to send a duplicate if they were going to.
RECOVERY_TIMEOUT = 120.0
SETTLE = 12.0
# The retrospective run: decided cases, chunk size, and the pause each chunk holds its
# transaction open (RETRO_CHUNK_PAUSE_SECONDS, a drill setting) so the kill lands inside one.
DECIDED_CASES = 24
RETRO_CHUNK_SIZE = 4
RETRO_CHUNK_PAUSE = 2
# Beat's interval tasks (the sweepers) run this often in the drill instead of every few minutes.
BEAT_SECONDS = 10
# Timing settings brought down so the sweepers resend a stalled chunk or delivery within the
# drill; they keep the product's own rule that the visibility timeout and the retrospective
# stall time exceed the task time limit.
TIMING_ENV = {
    "CELERY_TASK_TIME_LIMIT": "30",
    "CELERY_VISIBILITY_TIMEOUT": "120",
    "RETRO_STALL_SECONDS": "35",
    "WEBHOOK_STALL_SECONDS": "30",
}
FINISHED = ("completed", "cancelled", "failed")
# Variables of the caller's environment that would point the drill's processes elsewhere.
_INHERITED_NOT = re.compile(
    r"^(DATABASE_URL|CELERY_|CACHE_URL|SECRET_KEY|DEBUG|RETRO_|OUTBOX_|WEBHOOK_|API_|DJANGO_|PYTEST_|SQLITE_PATH|MEDIA_ROOT|STATIC_ROOT)"
)


@dataclass
class Outcome:
    """Everything the drill saw: the clients' calls, the receiver's counts, the database."""

    seed: dict[str, Any] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    resends: list[tuple[Call, Call]] = field(default_factory=list)  # (first call, resend with its key)
    client_problems: list[str] = field(default_factory=list)
    faults: list[str] = field(default_factory=list)
    received: Counter[tuple[str, str]] = field(default_factory=Counter)
    receiver_posts: int = 0
    receiver_refused: int = 0
    receiver_bad: list[str] = field(default_factory=list)
    database: dict[str, Any] = field(default_factory=dict)
    retro_run_id: int | None = None
    retro_call: Call | None = None
    recovery_seconds: float = 0.0
    recovered: bool = False
    notified_at: float | None = None  # when every acknowledged case had its notification (s into the drill)
    run_done_at: float | None = None  # when the retrospective run had ended
    process_notes: list[str] = field(default_factory=list)
    log_findings: dict[str, list[str]] = field(default_factory=dict)
    health_after: Any = None  # /healthz's answer once recovered
    log_dir: Path | None = None
    setup_seconds: float = 0.0
    elapsed: float = 0.0

    @property
    def acknowledged(self) -> dict[str, Call]:
        """Case number -> the call a 201 acknowledged it with."""
        return {call.answer["case_number"]: call for call in self.calls if call.status == 201}


def _base_env(db_url: str, broker_url: str, work: Path) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not _INHERITED_NOT.match(name)}
    env.update(
        DATABASE_URL=db_url,
        CELERY_BROKER_URL=broker_url,
        DJANGO_SETTINGS_MODULE="casemgmt.settings",
        SECRET_KEY="fault-drill-only-" + uuid.uuid4().hex,
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="0",
        SECURE_COOKIES="0",
        WEBHOOK_ALLOW_HTTP="1",
        WEBHOOK_ALLOW_PRIVATE_NETWORKS="1",
        API_RATE_LIMIT="1000000/min",
        MEDIA_ROOT=str(work / "media"),
        STATIC_ROOT=str(work / "static"),
        RETRO_CHUNK_SIZE=str(RETRO_CHUNK_SIZE),
        LOG_LEVEL="INFO",
        PYTHONPATH=str(PROJECT_ROOT),
        PYTHONDONTWRITEBYTECODE="1",
        PYTHONUNBUFFERED="1",
        **TIMING_ENV,
    )
    return env


def _django(command: str, options: dict[str, Any], env: dict[str, str], cwd: Path, log: Path) -> dict[str, Any]:
    with log.open("ab") as stderr:
        result = subprocess.run(
            [sys.executable, "-m", "tests.reliability.faults.django_side", command, json.dumps(options)],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=stderr,
            timeout=180,
            check=False,
        )
    if result.returncode != 0:
        raise RuntimeError(f"{command} exited {result.returncode}:\n{tail(log)}")
    answer: dict[str, Any] = json.loads(result.stdout.decode().strip().splitlines()[-1])
    return answer


def _health(port: int) -> Any:
    try:
        response = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
        return {"http": response.status_code, **response.json()}
    except (requests.RequestException, ValueError) as exc:
        return f"unreadable: {type(exc).__name__}"


def _healthy(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def _worker_ready(service: Service) -> bool:
    return " ready." in service.log_since_start()


def _up_for_two_seconds(service: Service) -> bool:
    return time.monotonic() - service.started_at >= 2.0


class Drill:
    def __init__(self, tools: Tools) -> None:
        self.tools = tools
        self.outcome = Outcome()
        self.work = Path(tempfile.mkdtemp(prefix="casemgmt-faults-"))
        self.work.chmod(0o755)  # the postgres account must reach its directories inside
        self.logs = self.work / "logs"
        self.logs.mkdir()
        self.phase = Phase()

    # --- the whole run ---------------------------------------------------------------------

    def run(self) -> Outcome:
        began = time.monotonic()
        with contextlib.ExitStack() as stack:
            stack.callback(self._clean_up)
            self._run(stack)
        self.outcome.elapsed = time.monotonic() - began
        return self.outcome

    def _clean_up(self) -> None:
        """Data always goes; the logs stay (their path is in the report) only if the drill found
        something, for whoever reads the failure."""
        for name in ("pgdata", "pgsock", "redis", "media", "static"):
            shutil.rmtree(self.work / name, ignore_errors=True)
        if verdicts(self.outcome):
            self.outcome.log_dir = self.logs
            with contextlib.suppress(OSError):
                shutil.copy2(self.work / "pglog" / "postgresql.log", self.logs / "postgresql.log")
            shutil.rmtree(self.work / "pglog", ignore_errors=True)
        else:
            shutil.rmtree(self.work, ignore_errors=True)

    def _run(self, stack: contextlib.ExitStack) -> None:
        out = self.outcome
        began = time.monotonic()
        receiver = stack.enter_context(WebhookReceiver())
        pg = PostgresCluster(self.tools, self.work, free_port())
        stack.callback(pg.destroy)
        pg.init()
        pg.start()
        redis_server = self._redis()
        stack.callback(redis_server.stop)
        redis_server.start(ready_timeout=20)

        env = _base_env(pg.create_database("casemgmt"), f"redis://127.0.0.1:{redis_server.port}/0", self.work)
        self._migrate(env)
        out.seed = _django(
            "seed",
            {"receiver_url": receiver.url, "decided_cases": DECIDED_CASES, "beat_seconds": BEAT_SECONDS},
            {k: v for k, v in env.items() if k != "CELERY_BROKER_URL"},  # set up with tasks in-process
            self.work,
            self.logs / "django_side.log",
        )
        receiver.secret = out.seed["webhook_secret"]

        web_port = free_port()
        gunicorn, worker, relay = self._product(env, web_port)
        for service in (gunicorn, worker, relay):
            stack.callback(service.stop)
        gunicorn.start()
        worker.start()
        try:
            relay.start()
        except RuntimeError as exc:
            relay.gave_up = True
            out.process_notes.append(f"the outbox relay (`manage.py outbox_relay`) did not start: {exc}")
        out.setup_seconds = time.monotonic() - began

        with Supervisor([gunicorn, worker, relay]):
            self._drive(f"http://127.0.0.1:{web_port}", receiver, pg, redis_server, worker)
            out.health_after = _health(web_port)
        for service in (gunicorn, worker, relay):
            out.process_notes.extend(service.unexpected_exits)
        self._read_logs([gunicorn, worker, relay])
        out.database = _django(
            "probe",
            {"external_id_prefix": self._prefix, "run_id": out.retro_run_id},
            env,
            self.work,
            self.logs / "django_side.log",
        )

    def _redis(self) -> Service:
        port = free_port()
        data = self.work / "redis"
        data.mkdir()
        return Service(
            name="redis",
            argv=[
                self.tools.redis_server,
                "--save",
                "",
                *f"--port {port} --bind 127.0.0.1 --appendonly yes --dir {data}".split(),
            ],
            env=dict(os.environ),
            cwd=self.work,
            log_path=self.logs / "redis.log",
            ready=lambda service: _redis_answers(port),
            port=port,
        )

    def _product(self, env: dict[str, str], web_port: int) -> tuple[Service, Service, Service]:
        """gunicorn, the worker with beat, the relay: as docs/operations.md runs them."""
        python = sys.executable
        web_options = f"-b 127.0.0.1:{web_port} --workers 2 --timeout 30 --graceful-timeout 5 --access-logfile - --error-logfile -"
        gunicorn = Service(
            name="gunicorn",
            argv=[python, "-m", "gunicorn", "casemgmt.wsgi", *web_options.split()],
            env=env,
            cwd=self.work,
            log_path=self.logs / "gunicorn.log",
            ready=lambda service: _healthy(web_port),
        )
        worker = Service(
            name="worker",
            argv=[python, "-m", "celery", "-A", "casemgmt", "worker", "-B", "-l", "info", "-c", "2", "-n", "drill@%h"],
            env={**env, "RETRO_CHUNK_PAUSE_SECONDS": str(RETRO_CHUNK_PAUSE)},
            cwd=self.work,
            log_path=self.logs / "worker.log",
            ready=_worker_ready,
        )
        relay = Service(
            name="relay",
            argv=[python, str(PROJECT_ROOT / "manage.py"), "outbox_relay"],
            env=env,
            cwd=self.work,
            log_path=self.logs / "relay.log",
            ready=_up_for_two_seconds,
        )
        return gunicorn, worker, relay

    def _migrate(self, env: dict[str, str]) -> None:
        with (self.logs / "migrate.log").open("ab") as log:
            result = subprocess.run(
                [sys.executable, str(PROJECT_ROOT / "manage.py"), "migrate", "--no-input"],
                cwd=self.work,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=180,
                check=False,
            )
        if result.returncode != 0:
            raise RuntimeError(f"migrate exited {result.returncode}:\n{tail(self.logs / 'migrate.log')}")

    @property
    def _prefix(self) -> str:
        return f"DRILL-{self.work.name[-8:]}-"

    # --- load, faults, recovery -----------------------------------------------------------

    def _at(self, second: float) -> None:
        time.sleep(max(0.0, second - self.phase.now()))

    def _enter(self, name: str) -> None:
        self.phase.name = name

    def _drive(
        self, base_url: str, receiver: WebhookReceiver, pg: PostgresCluster, redis_server: Service, worker: Service
    ) -> None:
        out = self.outcome
        procedure = (out.seed["procedure"][0], out.seed["procedure"][1])
        self.phase = Phase()
        load = IntakeLoad(
            base_url=base_url,
            token=out.seed["client_token"],
            phase=self.phase,
            procedure=procedure,
            prefix=self._prefix,
            clients=CLIENTS,
            per_second=PER_SECOND,
            replay_every=REPLAY_EVERY,
            max_per_client=MAX_PER_CLIENT,
        )
        manager = ApiClient(base_url, out.seed["manager_token"], self.phase, load.note)
        try:
            with load:
                self._at(REDIS_DOWN_AT)
                self._enter("redis down")
                redis_server.stop()
                out.faults.append(f"Redis stopped (SIGTERM) at {self.phase.now():.0f}s for {REDIS_DOWN_FOR:.0f}s")
                time.sleep(REDIS_DOWN_FOR)
                redis_server.start(ready_timeout=20)
                self._enter("after redis")

                # The crash comes at peak load, so requests are caught inside their transactions.
                self._at(POSTGRES_DOWN_AT - BURST_BEFORE)
                load.burst.set()
                self._at(POSTGRES_DOWN_AT)
                self._enter("postgres down")
                pg.stop("immediate")
                load.burst.clear()
                out.faults.append(
                    f"PostgreSQL stopped (immediate: a crash) at {self.phase.now():.0f}s for {POSTGRES_DOWN_FOR:.0f}s"
                )
                time.sleep(POSTGRES_DOWN_FOR)
                pg.start()
                self._enter("after postgres")

                self._at(RETRO_AT)
                self._start_retro_run(manager)
                self._kill_worker_mid_run(manager, worker)
                self._at(LOAD_UNTIL)
                self._enter("load stopping")
            out.calls = list(load.calls)
            out.resends = list(load.replays)
            self._enter("recovery")
            self._recover(manager, receiver)
            self._enter("resending")
            out.resends += replay_all(
                [call for call in out.calls if call.status == 201],
                base_url=base_url,
                token=out.seed["client_token"],
                phase=self.phase,
                threads=CLIENTS,
                notes=load.note,
            )
        finally:
            manager.close()
            out.client_problems = list(load.problems)
        out.received, out.receiver_posts = receiver.snapshot()
        out.receiver_refused = sum(receiver.refused.values())
        out.receiver_bad = list(receiver.bad)

    def _start_retro_run(self, manager: ApiClient) -> None:
        out = self.outcome
        self._enter("retro starting")
        call = manager.call(
            "POST",
            "/api/v1/retro/runs",
            {"policy_id": out.seed["policy_id"], "date_from": out.seed["retro_from"], "date_to": out.seed["retro_to"]},
        )
        out.retro_call = call
        if call.status == 201:
            out.retro_run_id = int(call.answer["id"])

    def _retro_state(self, manager: ApiClient) -> dict[str, Any]:
        if self.outcome.retro_run_id is None:
            return {}
        try:
            response = manager.get(f"/api/v1/retro/runs/{self.outcome.retro_run_id}")
        except requests.RequestException:
            return {}
        return response.json() if response.status_code == 200 else {}

    def _kill_worker_mid_run(self, manager: ApiClient, worker: Service) -> None:
        """Once a chunk is done and the run still running, SIGKILL the worker (chunks in flight
        hold their transactions open RETRO_CHUNK_PAUSE seconds), then start it again."""
        out = self.outcome
        deadline = time.monotonic() + 30
        state: dict[str, Any] = {}
        while time.monotonic() < deadline:
            state = self._retro_state(manager)
            if state.get("status") == "running" and state.get("chunks_done", 0) >= 1:
                break
            time.sleep(0.2)
        self._enter("worker killed")
        worker.kill()
        out.faults.append(
            f"Celery worker (pool and beat) SIGKILLed at {self.phase.now():.0f}s with the retrospective run "
            f"{state.get('status', 'not yet running')}, {state.get('chunks_done', 0)}/{state.get('chunk_count', '?')} "
            f"chunks done; started again {WORKER_RESTART_AFTER:.0f}s later"
        )
        time.sleep(WORKER_RESTART_AFTER)
        worker.start()
        self._enter("after kill")

    def _recover(self, manager: ApiClient, receiver: WebhookReceiver) -> None:
        """Wait (bounded) until every acknowledged case's notification arrived and the run ended;
        then give the sweepers SETTLE seconds to send anything twice."""
        out = self.outcome
        wanted = {(number, "received") for number in out.acknowledged}
        began = time.monotonic()
        while time.monotonic() - began < RECOVERY_TIMEOUT:
            received, _ = receiver.snapshot()
            if out.notified_at is None and all(received[key] >= 1 for key in wanted):
                out.notified_at = self.phase.now()
            if out.run_done_at is None and (
                out.retro_run_id is None or self._retro_state(manager).get("status") in FINISHED
            ):
                out.run_done_at = self.phase.now()
            if out.notified_at is not None and out.run_done_at is not None:
                out.recovered = True
                break
            time.sleep(1.0)
        out.recovery_seconds = time.monotonic() - began
        time.sleep(SETTLE)

    def _read_logs(self, services: list[Service]) -> None:
        """Error lines of the product's processes, each distinct one once (with its count)."""
        for service in services:
            lines = Counter[str]()
            for line in tail(service.log_path, 5_000_000).splitlines():
                if re.search(r"\b(ERROR|CRITICAL)\b|Unrecoverable|WorkerLostError", line):
                    line = _TIMESTAMP.sub("", line)
                    line = _TASK_ID.sub("<id>", line)
                    lines[line[:240]] += 1
            if lines:
                self.outcome.log_findings[service.name] = [f"{n} x {line}" for line, n in lines.most_common(15)]


_TIMESTAMP = re.compile(r"^\[?\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+:? ?")
_TASK_ID = re.compile(r"\[[0-9a-f-]{36}\]|\boutbox-\d+\b")


def _redis_answers(port: int) -> bool:
    if not port_open(port):
        return False
    try:
        with redis.Redis(port=port, socket_timeout=1) as client:
            return bool(client.ping())
    except redis.RedisError:
        return False


# --- what the drill proves ----------------------------------------------------------------


def verdicts(out: Outcome) -> dict[str, list[str]]:
    """Each property the drill checks, with what broke it (an empty dict: nothing did)."""
    found = {
        "acknowledged cases exist exactly once": cases_problems(out),
        "a retry with its Idempotency-Key gets the first answer": retry_problems(out),
        "every notification is delivered exactly once": delivery_problems(out),
        "no 5xx but the documented 503": list(out.client_problems),
        "the retrospective run evaluates each case once": retro_problems(out),
    }
    return {name: problems for name, problems in found.items() if problems}


def cases_problems(out: Outcome) -> list[str]:
    if not out.database:
        return ["the drill did not get as far as reading the database"]
    stored: dict[str, list[str]] = out.database["cases"]
    problems = []
    for number, call in out.acknowledged.items():
        external_id = call.body["external_id"] if call.body else ""
        found = stored.get(external_id, [])
        if found != [number]:
            problems.append(f"{external_id}: acknowledged as {number}, stored as {found or 'nothing'}")
    return problems


def retry_problems(out: Outcome) -> list[str]:
    problems = []
    for call in out.calls:
        name = call.body["external_id"] if call.body else call.key
        if call.unanswered:
            problems.append(f"{name}: {call.unanswered}; {_attempts(call)}; the last answer: {call.last_body}")
        elif call.status != 201:
            problems.append(f"{name}: final answer {call.status} {call.answer}; {_attempts(call)}")
    for first, again in out.resends:
        same = again.status == first.status and isinstance(again.answer, dict)
        if not (same and again.answer.get("case_number") == first.answer["case_number"] and again.replayed):
            problems.append(
                f"key {first.key}: first answered {first.status} {first.answer['case_number']}, "
                f"the resend {again.status} {again.answer if not isinstance(again.answer, dict) else again.answer.get('case_number', again.answer)} "
                f"(replayed={again.replayed}{', ' + again.unanswered if again.unanswered else ''})"
            )
    return problems


def _attempts(call: Call) -> str:
    """The attempts in order, runs of one answer folded: '503 (postgres down) x2, 409 (after postgres) x110'."""
    runs: list[list[Any]] = []
    for attempt in call.attempts:
        label = f"{'no answer' if attempt.status is None else attempt.status} ({attempt.phase}, from {attempt.at:.0f}s)"
        if runs and runs[-1][0].split(" (")[0] == label.split(" (")[0]:
            runs[-1][1] += 1
        else:
            runs.append([label, 1])
    return "attempts: " + ", ".join(f"{label} x{n}" for label, n in runs)


def delivery_problems(out: Outcome) -> list[str]:
    problems = []
    if not out.recovered:
        problems.append(f"not every notification (or the run) was done {RECOVERY_TIMEOUT:.0f}s after the load stopped")
    deliveries: dict[str, list[dict[str, Any]]] = out.database.get("deliveries", {})
    for number in out.acknowledged:
        count = out.received[(number, "received")]
        if count != 1:
            rows = deliveries.get(f"{number} received", [])
            problems.append(f"{number} received: delivered {count} times; its delivery rows: {rows}")
    acknowledged = set(out.acknowledged)
    for (number, event), count in out.received.items():
        if number in acknowledged and event != "received" and count != 1:
            problems.append(f"{number} {event}: delivered {count} times")
    problems += [f"the receiver refused a notification: {bad}" for bad in out.receiver_bad]
    return problems


def retro_problems(out: Outcome) -> list[str]:
    if out.retro_run_id is None:
        call = out.retro_call
        return [f"the run was not started: {call.status if call else None} {call.answer if call else ''}"]
    run = out.database.get("run") or {}
    decided = sorted(out.seed["decided_case_ids"])
    problems = []
    if run.get("status") != "completed":
        problems.append(f"the run ended {run.get('status')!r}, not completed: {run}")
    counts = (run.get("selected"), run.get("evaluated"), run.get("failed"))
    if counts != (len(decided), len(decided), 0):
        problems.append(f"selected, evaluated, failed = {counts}; expected {(len(decided), len(decided), 0)}")
    if sorted(run.get("result_case_ids", [])) != decided:
        results = Counter(run.get("result_case_ids", []))
        problems.append(
            f"results: {sorted(set(decided) - set(results))} missing, "
            f"{sorted(k for k, n in results.items() if n > 1)} twice, {sorted(set(results) - set(decided))} unexpected"
        )
    return problems


# --- the figures --------------------------------------------------------------------------


def figures(out: Outcome) -> str:
    attempts = [attempt for call in out.calls for attempt in call.attempts]
    resend_attempts = [attempt for _, again in out.resends for attempt in again.attempts]
    statuses = Counter(attempt.status for attempt in attempts)
    acknowledged = out.acknowledged
    stored: dict[str, list[str]] = out.database.get("cases", {})
    duplicates = sum(len(numbers) - 1 for numbers in stored.values() if len(numbers) > 1)
    lost_cases = len(cases_problems(out)) if out.database else len(acknowledged)
    delivered_once = sum(1 for number in acknowledged if out.received[(number, "received")] == 1)
    undelivered = sum(1 for number in acknowledged if out.received[(number, "received")] == 0)
    delivered_twice = sum(1 for number in acknowledged if out.received[(number, "received")] > 1)
    expected_refusals = sum(1 for number in acknowledged if refused_first(number))
    run = out.database.get("run") or {}
    lost_by_phase = Counter(
        call.attempts[-1].phase for number, call in acknowledged.items() if not out.received[(number, "received")]
    )
    lines = [
        "fault drill figures",
        f"  duration                {out.elapsed:.0f}s (setup {out.setup_seconds:.0f}s, recovery wait "
        f"{out.recovery_seconds:.0f}s, recovered={out.recovered}: every notification in by {_second(out.notified_at)}, "
        f"the run ended by {_second(out.run_done_at)} into the drill)",
        "  faults injected         " + "; ".join(out.faults),
        f"  intake requests         {len(attempts)} HTTP attempts for {len(out.calls)} cases "
        f"({len(attempts) - len(out.calls)} retries)",
        f"    answers               {_counts(statuses)}",
        "    by phase              " + _by_phase(attempts),
        f"  resends with the key    {len(out.resends)} ({len(resend_attempts)} attempts: "
        f"{_counts(Counter(a.status for a in resend_attempts))}); differing or missing answers: {len(retry_problems(out))}",
        f"  cases                   {len(acknowledged)} acknowledged (201), {sum(len(v) for v in stored.values())} "
        f"stored; duplicates {duplicates}; acknowledged but missing or different {lost_cases}",
        f"  notifications           {out.receiver_posts} POSTs to the receiver, {sum(out.received.values())} accepted, "
        f"{out.receiver_refused} refused on purpose (expected {expected_refusals}); per acknowledged case: "
        f"{delivered_once} once, {delivered_twice} more than once, {undelivered} never (lost)",
        "    lost, by the phase the case was acknowledged in: "
        + (", ".join(f"{phase} {n}" for phase, n in lost_by_phase.items()) or "none"),
        f"  undocumented 5xx        {len(out.client_problems)}",
        f"  retrospective run       {run.get('status')}: selected {run.get('selected')}, evaluated "
        f"{run.get('evaluated')}, failed {run.get('failed')}, results {len(run.get('result_case_ids', []))} "
        f"(distinct {len(set(run.get('result_case_ids', [])))}), chunk attempts {run.get('chunk_attempts')}",
        f"  /healthz afterwards     {out.health_after}",
        f"  processes               {len(out.process_notes)} notes (exits on their own, a relay that would not start)",
    ]
    for note in out.process_notes:
        lines.append("    " + note.splitlines()[0])
    for name, findings in out.log_findings.items():
        lines.append(f"  error lines in {name}'s log:")
        lines += [f"    {finding}" for finding in findings]
    if out.log_dir is not None:
        lines.append(f"  logs kept in {out.log_dir}")
    return "\n".join(lines)


def _second(at: float | None) -> str:
    return "never" if at is None else f"{at:.0f}s"


def _counts(counter: Counter[int | None]) -> str:
    return ", ".join(f"{'no answer' if code is None else code}: {n}" for code, n in sorted(counter.items(), key=str))


def _by_phase(attempts: list[Any]) -> str:
    phases: dict[str, Counter[int | None]] = {}
    for attempt in attempts:
        phases.setdefault(attempt.phase, Counter())[attempt.status] += 1
    return "; ".join(f"{phase} [{_counts(counter)}]" for phase, counter in phases.items())
