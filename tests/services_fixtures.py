"""Support for tests that need PostgreSQL, Redis and a real Celery worker.

Mark such a test `@pytest.mark.services`. It runs only when the settings point at PostgreSQL
(DATABASE_URL) and a broker (CELERY_BROKER_URL) and both answer. Otherwise it skips with the
reason, except under CI=true, where a missing service is a failure: CI must not go green by
skipping the very tests that prove the real worker path.

`celery_worker_process` starts `celery worker` as a subprocess against the *test* database, on
a queue unique to this test session, so a developer's own worker (or a parallel run) on the
same Redis never steals the test's tasks. Use it with
`@pytest.mark.django_db(transaction=True, serialized_rollback=True)`: the worker only sees
committed rows, and the serialized rollback restores the migrations' reference data (roles,
deadline rules, the fact catalogue) that the flush after a transactional test removes.

When a broker is configured, every test *not* marked `services` still runs its tasks in-process
(as on the embedded default), so only the `services` tests depend on a worker.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import quote

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
WORKER_START_TIMEOUT = 60.0
WORKER_STOP_TIMEOUT = 20.0

_problem_cache: dict[str, str | None] = {}


def _ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes", "on"}


def _tcp_problem(what: str, host: str, port: int) -> str | None:
    try:
        with socket.create_connection((host, port), timeout=3):
            return None
    except OSError as exc:
        return f"{what} at {host}:{port} is not reachable ({exc})"


def services_problem() -> str | None:
    """Why the service-backed tests cannot run here, or None when they can. Cached per session."""
    if "problem" not in _problem_cache:
        _problem_cache["problem"] = _find_services_problem()
    return _problem_cache["problem"]


def _find_services_problem() -> str | None:
    from django.conf import settings

    database = settings.DATABASES["default"]
    if "postgresql" not in database["ENGINE"]:
        return "needs PostgreSQL: set DATABASE_URL=postgres://... (this run uses the embedded SQLite database)"
    if not settings.CELERY_BROKER_URL:
        return "needs a Celery broker: set CELERY_BROKER_URL=redis://... (this run executes tasks in-process)"
    problem = _tcp_problem("PostgreSQL", database.get("HOST") or "127.0.0.1", int(database.get("PORT") or 5432))
    if problem:
        return problem
    from casemgmt.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=3)
    except Exception as exc:
        return f"the Celery broker at {settings.CELERY_BROKER_URL} is not reachable ({type(exc).__name__}: {exc})"
    return None


def unavailable(reason: str) -> NoReturn:
    """A test needs something this machine lacks: skip with the reason, or fail under CI=true.

    CI has every service and Chromium, so there a missing one is a broken build, not a skip.
    """
    if _ci():
        pytest.fail(f"CI=true, and this test cannot run: {reason}", pytrace=False)
    else:
        pytest.skip(reason)


def require_postgresql(why: str = "") -> None:
    """Skip the current test unless the settings point at PostgreSQL (fail under CI); `why`
    says what the test needs of it, for the reason."""
    from django.conf import settings

    engine = settings.DATABASES["default"]["ENGINE"]
    if "postgresql" not in engine:
        unavailable(f"needs PostgreSQL{why} (set DATABASE_URL=postgres://...); this run uses {engine}")


def require_services() -> None:
    """Skip the current test when PostgreSQL, Redis or the broker are missing (fail under CI)."""
    problem = services_problem()
    if problem is not None:
        unavailable(f"needs PostgreSQL, Redis and a Celery worker: {problem}")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    # Before any fixture is set up, so a missing service never half-starts a worker.
    if item.get_closest_marker("services") is not None:
        require_services()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed:  # dump the worker's log under the failure
        worker = getattr(item, "funcargs", {}).get("celery_worker_process")
        if isinstance(worker, CeleryWorker):
            report.sections.append((f"celery worker log ({worker.log_path})", worker.log_text()))
    return report


# --- the queue ----------------------------------------------------------------------------


def _route_default_queue(queue: str) -> None:
    """Send this process's tasks to `queue`: settings, the Celery config, and Celery's caches."""
    from django.conf import settings

    from casemgmt.celery import app

    settings.CELERY_TASK_DEFAULT_QUEUE = queue
    app.conf.task_default_queue = queue
    amqp = app.amqp
    for cached in ("queues", "default_queue", "router"):
        amqp.__dict__.pop(cached, None)
    setattr(amqp, "_rtable", None)  # the router's cached route table
    if amqp.default_queue.name != queue:  # pragma: no cover - a Celery upgrade changed its caching
        raise RuntimeError(f"could not route tasks to {queue}; Celery still uses {amqp.default_queue.name}")


@pytest.fixture(scope="session", autouse=True)
def _session_task_queue() -> Iterator[str | None]:
    """With a broker configured, every task this session sends goes to a queue of its own.

    Without that, a test that enqueues (a publish whose on_commit fires) would leave messages in
    the shared default queue, where a developer's `make worker` on the same Redis would run
    them against the wrong database. The queue is emptied and forgotten at the end.
    """
    from django.conf import settings

    if not settings.CELERY_BROKER_URL:
        yield None
        return
    original = settings.CELERY_TASK_DEFAULT_QUEUE
    queue = f"casemgmt-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    _route_default_queue(queue)
    try:
        yield queue
    finally:
        _route_default_queue(original)
        try:
            _purge(queue, forget=True)
        except Exception as exc:  # the broker went away: nothing to clean
            print(f"could not clean up test queue {queue}: {exc}", file=sys.stderr)


@pytest.fixture(scope="session")
def celery_test_queue(_session_task_queue: str | None) -> str:
    """The queue unique to this test session; the default for tasks sent from this process."""
    require_services()
    assert _session_task_queue is not None
    return _session_task_queue


@contextmanager
def eager_tasks() -> Iterator[None]:
    from casemgmt.celery import app

    saved = (app.conf.task_always_eager, app.conf.task_eager_propagates)
    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    try:
        yield
    finally:
        app.conf.task_always_eager, app.conf.task_eager_propagates = saved


@pytest.fixture
def celery_eager() -> Iterator[None]:
    """Run tasks in-process for this test, even when a broker is configured."""
    with eager_tasks():
        yield


@pytest.fixture(autouse=True)
def _tasks_in_process_unless_services(request: pytest.FixtureRequest) -> Iterator[None]:
    """Only `services` tests send tasks to the broker; every other test runs them in-process.

    A test about what a task does (say, with `django_capture_on_commit_callbacks(execute=True)`)
    then behaves the same in both CI passes, instead of leaving its task in a queue no worker
    reads. Delivery through Redis to a real worker is what the `services` tests are for.
    """
    from django.conf import settings

    if not settings.CELERY_BROKER_URL or request.node.get_closest_marker("services") is not None:
        yield
        return
    with eager_tasks():
        yield


# --- the worker ---------------------------------------------------------------------------


@dataclass
class CeleryWorker:
    """A running `celery worker` subprocess, with helpers to wait for the work it does."""

    process: subprocess.Popen[bytes]
    nodename: str
    queue: str
    log_path: Path
    _log_file: Any = field(repr=False, default=None)

    def log_text(self, tail: int = 20000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-tail:]
        except OSError as exc:
            return f"(could not read the worker log: {exc})"

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL the worker and its pool at once, as a crash or an OOM kill would: no warm
        shutdown, no acknowledgement, open transactions left for the database to roll back."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=WORKER_STOP_TIMEOUT)
        if self._log_file is not None:
            self._log_file.close()

    def tasks_accepted(self, task_name: str) -> int:
        """How many `task_name` tasks this worker has started since it began (from its stats)."""
        from casemgmt.celery import app

        stats: dict[str, Any] = app.control.inspect(destination=[self.nodename], timeout=2).stats() or {}
        return int(stats.get(self.nodename, {}).get("total", {}).get(task_name, 0))

    def busy(self) -> bool:
        from casemgmt.celery import app

        inspect = app.control.inspect(destination=[self.nodename], timeout=2)
        active = (inspect.active() or {}).get(self.nodename)
        reserved = (inspect.reserved() or {}).get(self.nodename)
        return active is None or reserved is None or bool(active) or bool(reserved)

    def wait_for_tasks(self, task_name: str, count: int, timeout: float = 30.0) -> None:
        """Wait until the worker has started `count` tasks named `task_name` and is idle again."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                pytest.fail(f"the Celery worker exited with {self.process.returncode}:\n{self.log_text()}")
            if self.tasks_accepted(task_name) >= count and not self.busy():
                return
            time.sleep(0.3)
        pytest.fail(f"the Celery worker did not finish {count} x {task_name} within {timeout:.0f}s")

    def wait_until(self, condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
        """Poll `condition` (e.g. a database query) until it holds; fail with the worker log if not."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            if not self.alive():
                pytest.fail(f"the Celery worker exited with {self.process.returncode}:\n{self.log_text()}")
            time.sleep(0.25)
        pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")


def _test_database_url() -> str:
    from django.db import connection

    db = connection.settings_dict  # after django_db_setup this names the test database
    user = quote(db.get("USER") or "", safe="")
    password = quote(str(db.get("PASSWORD") or ""), safe="")
    credentials = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{credentials}{host}:{port}/{quote(db['NAME'], safe='')}"


def _purge(queue: str, *, forget: bool = False) -> None:
    """Empty the queue; with `forget`, also drop the Redis keys kombu keeps for it."""
    from casemgmt.celery import app

    with app.connection_for_write() as conn:
        channel: Any = conn.default_channel
        channel.queue_purge(queue)
        client = getattr(channel, "client", None)  # the redis client, on the Redis transport
        if forget and client is not None:
            for key in list(client.scan_iter(match=f"*{queue}*")):
                client.delete(key)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    # SIGTERM is Celery's warm shutdown: it finishes the running task, then exits with its pool.
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=WORKER_STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=WORKER_STOP_TIMEOUT)


def start_celery_worker(
    queue: str, log_path: Path, *, extra_env: dict[str, str] | None = None, concurrency: int = 1
) -> CeleryWorker:
    """Start a real `celery worker` (prefork) on the test database and `queue`; wait for its ping.

    `extra_env` adds settings for this worker only (say RETRO_CHUNK_SIZE). The caller stops it
    with `stop_celery_worker` (or kills it with `CeleryWorker.kill`).
    """
    require_services()
    from django.conf import settings

    from casemgmt.celery import app

    nodename = f"casemgmt-test-{uuid.uuid4().hex[:8]}@{socket.gethostname()}"
    env = {
        **os.environ,
        "DATABASE_URL": _test_database_url(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "CELERY_QUEUE": queue,
        "SECRET_KEY": settings.SECRET_KEY,
        "DJANGO_SETTINGS_MODULE": "casemgmt.settings",
        "PYTHONUNBUFFERED": "1",
        **(extra_env or {}),
    }
    for name in ("SECRET_KEY_FILE", "DEBUG"):
        env.pop(name, None)
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "casemgmt",
        "worker",
        "-l",
        "info",
        "--pool=prefork",
        "-c",
        str(concurrency),
        "-Q",
        queue,
        "-n",
        nodename,
        "--without-gossip",
        "--without-mingle",
    ]
    log_file = log_path.open("wb")
    process = subprocess.Popen(
        command,
        cwd=PROJECT_ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    worker = CeleryWorker(process=process, nodename=nodename, queue=queue, log_path=log_path, _log_file=log_file)
    deadline = time.monotonic() + WORKER_START_TIMEOUT
    while True:
        if process.poll() is not None:
            log_file.close()
            pytest.fail(f"the Celery worker exited at start with {process.returncode}:\n{worker.log_text()}")
        if app.control.ping(destination=[nodename], timeout=1):
            return worker
        if time.monotonic() > deadline:
            stop_celery_worker(worker)
            pytest.fail(
                f"the Celery worker did not answer a ping within {WORKER_START_TIMEOUT:.0f}s:\n{worker.log_text()}"
            )


def stop_celery_worker(worker: CeleryWorker) -> None:
    _stop(worker.process)
    if worker._log_file is not None:
        worker._log_file.close()


@pytest.fixture(scope="module")
def celery_worker_process(
    django_db_setup: None, celery_test_queue: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CeleryWorker]:
    """A real `celery worker` (prefork, one process) on the test database and the session's queue."""
    require_services()
    _purge(celery_test_queue)
    worker = start_celery_worker(celery_test_queue, tmp_path_factory.mktemp("celery") / "worker.log")
    try:
        yield worker
    finally:
        stop_celery_worker(worker)
        _purge(celery_test_queue, forget=True)
