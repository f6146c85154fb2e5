"""Processes the fault suite starts, stops, kills and restarts: all its own, all on free ports.

Nothing here touches the machine's PostgreSQL (5432) or Redis (6379): the suite runs its own
cluster and its own Redis, so stopping them disturbs no other test and no other user.
PostgreSQL refuses to run as root, so as root its programs run as the `postgres` account.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

PG_START_TIMEOUT = 30
PROCESS_STOP_TIMEOUT = 20.0
RESTART_DELAY = 1.0  # as systemd's RestartSec
MAX_RESTARTS = 10  # per process: a process that keeps dying is given up, not restarted for ever


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def tail(path: Path, chars: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError as exc:
        return f"(cannot read {path}: {exc})"


# --- what this machine has -----------------------------------------------------------------


@dataclass(frozen=True)
class Tools:
    pg_bin: Path  # the directory with initdb, pg_ctl, createdb
    redis_server: str
    run_as_postgres: tuple[str, ...]  # the prefix that runs a PostgreSQL program as its account


def find_tools() -> Tools | str:
    """The programs the suite needs, or why it cannot run here."""
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if candidates:
        pg_bin = candidates[-1].parent
    elif shutil.which("initdb") and shutil.which("pg_ctl"):
        pg_bin = Path(shutil.which("pg_ctl") or "").parent
    else:
        return "PostgreSQL's server programs (initdb, pg_ctl) are not installed"
    for program in ("initdb", "pg_ctl", "createdb"):
        if not (pg_bin / program).exists():
            return f"{pg_bin / program} is missing"
    redis_server = shutil.which("redis-server")
    if redis_server is None:
        return "redis-server is not installed"
    prefix: tuple[str, ...] = ()
    if os.geteuid() == 0:
        runuser = shutil.which("runuser")
        if runuser is None:
            return "running as root, and runuser (to run PostgreSQL as its own account) is missing"
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root, and there is no postgres account to run PostgreSQL as"
        prefix = (runuser, "-u", "postgres", "--")
    return Tools(pg_bin=pg_bin, redis_server=redis_server, run_as_postgres=prefix)


def _owned_by_postgres(path: Path, tools: Tools) -> Path:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if tools.run_as_postgres:
        account = pwd.getpwnam("postgres")
        os.chown(path, account.pw_uid, account.pw_gid)
    return path


# --- PostgreSQL ----------------------------------------------------------------------------


class PostgresCluster:
    """A throwaway cluster in `base`, listening on 127.0.0.1:`port` only, trusting local users."""

    def __init__(self, tools: Tools, base: Path, port: int) -> None:
        self.tools = tools
        self.port = port
        self.data = _owned_by_postgres(base / "pgdata", tools)
        self.sockets = _owned_by_postgres(base / "pgsock", tools)
        self.log_path = _owned_by_postgres(base / "pglog", tools) / "postgresql.log"
        self.cwd = base
        self.initialised = False

    def _run(self, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.tools.run_as_postgres, *argv],
            cwd=self.cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def _checked(self, *argv: str, timeout: float = 60) -> None:
        result = self._run(*argv, timeout=timeout)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} exited {result.returncode}: {result.stderr[-2000:]}")

    def init(self) -> None:
        self._checked(
            str(self.tools.pg_bin / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        )
        self.initialised = True

    def start(self) -> None:
        options = f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1"
        pg_ctl = str(self.tools.pg_bin / "pg_ctl")
        self._checked(
            pg_ctl,
            "-D",
            str(self.data),
            "-l",
            str(self.log_path),
            "-o",
            options,
            "-w",
            "-t",
            str(PG_START_TIMEOUT),
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        """`immediate` is a crash: every backend is killed, and the next start recovers from WAL."""
        self._checked(str(self.tools.pg_bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "30", "stop")

    def running(self) -> bool:
        return self._run(str(self.tools.pg_bin / "pg_ctl"), "-D", str(self.data), "status").returncode == 0

    def create_database(self, name: str) -> str:
        self._checked(
            str(self.tools.pg_bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name
        )
        return f"postgres://postgres@127.0.0.1:{self.port}/{name}"

    def destroy(self) -> None:
        """Stop it however it is (even half-started) and leave nothing running."""
        if not self.initialised:
            return
        with contextlib.suppress(Exception):
            if self.running():
                self.stop("immediate")
        pid_file = self.data / "postmaster.pid"
        with contextlib.suppress(OSError, ValueError, IndexError):
            os.kill(int(pid_file.read_text().splitlines()[0]), signal.SIGKILL)


# --- processes of our own ------------------------------------------------------------------


@dataclass
class Service:
    """A long-running child process in a session of its own, logging to a file (appended to
    across restarts). `down_on_purpose` tells the supervisor that an exit is the suite's doing."""

    name: str
    argv: list[str]
    env: dict[str, str]
    cwd: Path
    log_path: Path
    ready: Callable[[Service], bool] = field(default=lambda service: True)
    port: int = 0  # the port it listens on, for those that listen
    process: subprocess.Popen[bytes] | None = None
    down_on_purpose: bool = False
    starts: int = 0
    started_at: float = 0.0
    unexpected_exits: list[str] = field(default_factory=list)
    gave_up: bool = False
    lock: threading.RLock = field(default_factory=threading.RLock)
    _log: IO[bytes] | None = None

    def start(self, ready_timeout: float = 60.0) -> None:
        with self.lock:
            # Whatever the last start left (a pool orphaned by a crashed leader) goes first.
            self._signal_group(signal.SIGKILL)
            self._close_log()
            self._log = self.log_path.open("ab")
            self._log.write(f"\n=== start {self.starts + 1} of {self.name} at {time.strftime('%H:%M:%S')}\n".encode())
            self._log.flush()
            self.process = subprocess.Popen(
                self.argv,
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            self.starts += 1
            self.started_at = time.monotonic()
            self.down_on_purpose = False
        deadline = time.monotonic() + ready_timeout
        while not self.ready(self):
            if not self.alive():
                raise RuntimeError(f"{self.name} exited at start with {self.exit_code()}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name} was not ready within {ready_timeout:.0f}s:\n{self.log_tail()}")
            time.sleep(0.2)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def exit_code(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def _signal_group(self, sig: int) -> None:
        if self.process is not None:
            # The group outlives its leader when children linger (a Celery pool, gunicorn's workers).
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, sig)

    def kill(self) -> None:
        """SIGKILL the whole group at once, as the kernel's OOM killer or a lost node would."""
        with self.lock:
            self.down_on_purpose = True
            self._signal_group(signal.SIGKILL)
            if self.process is not None:
                self.process.wait(timeout=PROCESS_STOP_TIMEOUT)

    def stop(self) -> None:
        """SIGTERM (each program's graceful stop), then SIGKILL for whatever is left."""
        with self.lock:
            self.down_on_purpose = True
            if self.process is not None:
                self._signal_group(signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.process.wait(timeout=PROCESS_STOP_TIMEOUT)
                self._signal_group(signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.process.wait(timeout=PROCESS_STOP_TIMEOUT)
            self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, chars: int = 4000) -> str:
        return tail(self.log_path, chars)

    def log_since_start(self) -> str:
        """The log of the current start only."""
        text = tail(self.log_path, 200_000)
        return text[text.rfind("\n=== start ") :]


class Supervisor:
    """Restarts a process that exits without the suite asking, as systemd's Restart=always would,
    and notes each such exit (with the end of its log) for the report."""

    def __init__(self, services: list[Service], interval: float = 0.5) -> None:
        self.services = services
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="supervisor", daemon=True)

    def __enter__(self) -> Supervisor:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            for service in self.services:
                self._check(service)

    def _check(self, service: Service) -> None:
        with service.lock:
            if service.down_on_purpose or service.gave_up or service.process is None or service.alive():
                return
            service.unexpected_exits.append(
                f"{service.name} exited on its own with {service.exit_code()} at {time.strftime('%H:%M:%S')}; "
                f"the end of its log:\n{service.log_tail(3000)}"
            )
            if len(service.unexpected_exits) > MAX_RESTARTS:
                service.gave_up = True
                return
        time.sleep(RESTART_DELAY)
        if self._stop.is_set():
            return
        try:
            service.start()
        except (RuntimeError, TimeoutError) as exc:
            with service.lock:
                service.unexpected_exits.append(f"{service.name} could not be restarted: {exc}")
