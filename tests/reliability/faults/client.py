"""An integration client as the API documentation tells one to behave.

Each request carries an Idempotency-Key. On a 503 it waits the Retry-After and sends the same
request with the same key; on a lost connection, a timeout, any other 5xx (which it notes: the
API documents none), or a 409 "still being processed", it waits a moment and does the same. Any
other answer is final. Every attempt is recorded with the phase of the drill it was sent in.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import requests

REQUEST_TIMEOUT = 15.0
RETRY_AFTER_CAP = 10.0  # seconds: a Retry-After above this is itself a finding
MAX_ATTEMPTS = 200  # per request; with the waits below, well over a minute of trying
GIVE_UP_AFTER = 120.0  # seconds per request: the client then reports it unanswered
STILL_RUNNING = "still being processed"


@dataclass
class Attempt:
    at: float  # seconds since the drill began
    phase: str
    status: int | None  # None: no HTTP answer (connection refused or reset, timeout)
    note: str = ""


@dataclass
class Call:
    """One logical request (one Idempotency-Key) and every attempt at it."""

    key: str
    method: str
    path: str
    body: dict[str, Any] | None
    attempts: list[Attempt] = field(default_factory=list)
    status: int | None = None  # the final answer's status
    answer: Any = None  # the final answer's JSON
    replayed: bool = False  # the final answer carried Idempotent-Replayed: true
    unanswered: str = ""  # why the client gave up without a final answer
    last_body: Any = None  # the last answer's JSON, final or not


class Phase:
    """What the drill is doing now ("steady", "redis down", ...), read by the clients."""

    def __init__(self) -> None:
        self.name = "steady"
        self.started = time.monotonic()

    def now(self) -> float:
        return time.monotonic() - self.started


class ApiClient:
    """Bearer-token JSON calls with the retry rules above; one per thread (a requests.Session)."""

    def __init__(self, base_url: str, token: str, phase: Phase, notes: Callable[[str], None]) -> None:
        self.base_url = base_url
        self.token = token
        self.phase = phase
        self.note_problem = notes
        self.session = requests.Session()

    def close(self) -> None:
        self.session.close()

    def get(self, path: str) -> requests.Response:
        return self.session.get(
            self.base_url + path, headers={"Authorization": f"Bearer {self.token}"}, timeout=REQUEST_TIMEOUT
        )

    def call(self, method: str, path: str, body: dict[str, Any] | None, key: str | None = None) -> Call:
        call = Call(key=key or str(uuid.uuid4()), method=method, path=path, body=body)
        self.send(call)
        return call

    def send(self, call: Call) -> None:
        """Send `call` (again) until it has a final answer, or give up after GIVE_UP_AFTER."""
        data = json.dumps(call.body).encode() if call.body is not None else None
        headers = {
            "Authorization": f"Bearer {self.token}",
            "Idempotency-Key": call.key,
            "Content-Type": "application/json",
        }
        deadline = time.monotonic() + GIVE_UP_AFTER
        for _ in range(MAX_ATTEMPTS):
            if time.monotonic() > deadline:
                break
            phase, at = self.phase.name, self.phase.now()
            try:
                response = self.session.request(
                    call.method, self.base_url + call.path, data=data, headers=headers, timeout=REQUEST_TIMEOUT
                )
            except requests.RequestException as exc:
                call.attempts.append(Attempt(at, phase, None, type(exc).__name__))
                time.sleep(1.0)
                continue
            wait = self._retry_wait(call, response, Attempt(at, phase, response.status_code))
            if wait is None:
                call.status = response.status_code
                call.answer = _json(response)
                call.replayed = response.headers.get("Idempotent-Replayed") == "true"
                return
            time.sleep(wait)
        call.unanswered = f"no final answer after {len(call.attempts)} attempts"

    def _retry_wait(self, call: Call, response: requests.Response, attempt: Attempt) -> float | None:
        """Seconds to wait before sending again, or None when this answer is final."""
        call.attempts.append(attempt)
        code = response.status_code
        body = call.last_body = _json(response)
        if code == 503:
            retry_after = response.headers.get("Retry-After", "")
            is_json = response.headers.get("Content-Type", "").startswith("application/json")
            if not (is_json and retry_after.isdigit()):
                attempt.note = "undocumented 503"
                self.note_problem(
                    f"{call.method} {call.path} [{attempt.phase}]: 503 without JSON and Retry-After: "
                    f"{response.headers.get('Content-Type')!r}, Retry-After={retry_after!r}, {response.text[:200]!r}"
                )
                return 1.0
            return min(float(retry_after), RETRY_AFTER_CAP)
        if code >= 500:
            attempt.note = "undocumented 5xx"
            self.note_problem(f"{call.method} {call.path} [{attempt.phase}]: HTTP {code}: {response.text[:300]!r}")
            return 1.0
        if code == 409 and isinstance(body, dict) and STILL_RUNNING in str(body.get("detail", "")):
            return 1.0
        return None


def _json(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def case_body(external_id: str, procedure: tuple[str, str], n: int) -> dict[str, Any]:
    """A valid standard request for the drill's procedure, ten days out, member numbered `n`."""
    dos = (date.today() + timedelta(days=10)).isoformat()
    return {
        "external_id": external_id,
        "urgency": "standard",
        "line_of_business": "commercial",
        "member": {
            "member_id": f"FM{n:06d}",
            "first_name": "Drill",
            "last_name": f"Member{n}",
            "birth_date": "1960-05-01",
        },
        "requesting_provider": {"npi": "1234567893", "name": "Spine Clinic"},
        "diagnosis_codes": ["M48.062"],
        "service_lines": [{"code_system": procedure[0], "code": procedure[1], "units": 1, "date_of_service": dos}],
        "clinical_notes": "Lumbar stenosis.",
    }


class IntakeLoad:
    """`clients` threads, each submitting cases one after another at about `per_second` (as fast
    as they can while `burst` is set), until stopped; every `replay_every`-th case is sent a
    second time with its key at once, as a client whose first answer was lost would."""

    def __init__(
        self,
        *,
        base_url: str,
        token: str,
        phase: Phase,
        procedure: tuple[str, str],
        prefix: str,
        clients: int,
        per_second: float,
        replay_every: int,
        max_per_client: int,
    ) -> None:
        self.base_url = base_url
        self.token = token
        self.phase = phase
        self.procedure = procedure
        self.prefix = prefix
        self.per_second = per_second
        self.replay_every = replay_every
        self.max_per_client = max_per_client
        self.stop = threading.Event()
        self.burst = threading.Event()
        self.lock = threading.Lock()
        self.calls: list[Call] = []
        self.replays: list[tuple[Call, Call]] = []  # (the first call, its resend)
        self.problems: list[str] = []
        self.threads = [
            threading.Thread(target=self._run, args=(i,), name=f"intake-{i}", daemon=True) for i in range(clients)
        ]

    def note(self, problem: str) -> None:
        with self.lock:
            self.problems.append(problem)

    def __enter__(self) -> IntakeLoad:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=GIVE_UP_AFTER + REQUEST_TIMEOUT + 10)

    def _run(self, client_no: int) -> None:
        api = ApiClient(self.base_url, self.token, self.phase, self.note)
        try:
            for i in range(self.max_per_client):
                if self.stop.is_set():
                    return
                began = time.monotonic()
                n = client_no * self.max_per_client + i
                call = api.call("POST", "/api/v1/cases", case_body(f"{self.prefix}{n:06d}", self.procedure, n))
                with self.lock:
                    self.calls.append(call)
                if call.status == 201 and self.replay_every and n % self.replay_every == 0:
                    again = Call(key=call.key, method=call.method, path=call.path, body=call.body)
                    api.send(again)
                    with self.lock:
                        self.replays.append((call, again))
                if not self.burst.is_set():
                    self.stop.wait(max(0.0, 1.0 / self.per_second - (time.monotonic() - began)))
        finally:
            api.close()


def replay_all(
    calls: list[Call],
    *,
    base_url: str,
    token: str,
    phase: Phase,
    threads: int,
    notes: Callable[[str], None],
    budget: float = 180.0,
) -> list[tuple[Call, Call]]:
    """Send every call that was answered 201 once more with its key; pairs of (first, resend).
    What is not resent within `budget` seconds is paired with an unanswered resend."""
    todo = [call for call in calls if call.status == 201]
    pairs: list[tuple[Call, Call]] = []
    lock = threading.Lock()
    deadline = time.monotonic() + budget

    def work(share: list[Call]) -> None:
        api = ApiClient(base_url, token, phase, notes)
        try:
            for call in share:
                again = Call(key=call.key, method=call.method, path=call.path, body=call.body)
                if time.monotonic() < deadline:
                    api.send(again)
                else:
                    again.unanswered = f"not resent: the {budget:.0f}s given to resending ran out"
                with lock:
                    pairs.append((call, again))
        finally:
            api.close()

    workers = [threading.Thread(target=work, args=(todo[i::threads],), daemon=True) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=budget + GIVE_UP_AFTER + REQUEST_TIMEOUT)
    return pairs
