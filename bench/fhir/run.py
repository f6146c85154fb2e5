"""Benchmark of `POST /fhir/r4/Claim/$submit` beside `POST /api/v1/cases` of the same request.

Run from the project root:  .venv/bin/python bench/fhir/run.py [--peak-seconds S] [--help]

What it does (see bench/fhir/README.md):

1. Prepares one PostgreSQL database like bench/intake (a name ending in `_bench`, dropped and
   created afresh, migrated, `load_demo`, a v1 token for the demo integration client `portal`),
   and registers a SMART backend client for that same account (`manage.py fhir_client_register`,
   a throwaway EC P-384 key, line of business commercial).
2. Starts one gunicorn (2 sync workers, bench/intake/settings.py).
3. Sends the same 3-line request both ways: bench/intake's v1 body (for a new member each time),
   and the PAS Request Bundle made from it (Claim with three items, Patient, Coverage, requesting
   and insurer Organizations).
   Before every round and phase it gets a FHIR access token from /fhir/r4/auth/token with an
   ES384-signed client assertion, as an EHR does. Peak throughput in alternating rounds (v1,
   then FHIR), then open loop at half each peak rate, then the CPU one request costs the
   workers, the database's backends (sampled, as Django recycles connections) and the load.
   Every FHIR answer must be 201 with a Bundle whose first entry is a ClaimResponse; every v1
   answer 201 with a case number.
4. Profiles --profile-requests submits in one process through Django's test client against the
   bench database (cProfile), to show where the time of one $submit goes.
5. Prints the tables and PASS/FAIL per target, drops the database; exits 1 when a target is missed.

Targets (issue 18): $submit keeps at least 50% of the v1 intake's throughput, and its p99 at half
its peak rate is under 200 ms.
"""

from __future__ import annotations

import argparse
import dataclasses
import http.client
import json
import os
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

ROOT = Path(__file__).resolve().parents[2]
if __package__ in (None, ""):
    sys.path.insert(0, str(ROOT))

import jwt  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402

from bench.common.db import db_name, drop_database  # noqa: E402
from bench.intake import run as intake  # noqa: E402
from casemgmt.fhir.codes import CLIENT_ASSERTION_TYPE_JWT, FHIR_JSON, GRANT_CLIENT_CREDENTIALS, Ext, System  # noqa: E402

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/casemgmt_fhir_bench"
SUBMIT_PATH = "/fhir/r4/Claim/$submit"
TOKEN_PATH = "/fhir/r4/auth/token"
SCOPE = "system/Claim.write"
V1_NAME = "POST /api/v1/cases (3 lines)"
FHIR_NAME = "POST /fhir/r4/Claim/$submit (3 items)"
CLIENT_NAME = "bench/fhir EHR"
CLIENT_USERNAME = "portal"  # the demo's integration client: its v1 token and its FHIR client act alike
CLIENT_LINE_OF_BUSINESS = "commercial"  # the v1 body's; the demo has no eligibility row for its member
KEY_ID = "bench-fhir-1"
EHR_BASE = "http://ehr.bench.example/fhir"
EHR_BUNDLE_SYSTEM = "urn:bench:fhir:bundle"
EHR_TRN_SYSTEM = "urn:bench:fhir:trn"

TARGET_RATIO = 0.50
TARGET_P99_MS = 200.0
# A 2xx answer whose body is not what the endpoint must answer, counted as a failure.
BAD_BODY = -1


# --- the request, both ways -----------------------------------------------------------------


def concept(system: str, code: str, display: str = "") -> dict[str, Any]:
    coding = {"system": system, "code": code, **({"display": display} if display else {})}
    return {"coding": [coding]}


def pas_bundle(v1: dict[str, Any]) -> dict[str, Any]:
    """The PAS Request Bundle of a v1 request body: the same member, requesting provider,
    diagnoses, lines (code, units, date, description) and notes; its Claim.identifier is the v1
    external_id, and the Bundle gets an identifier of its own."""
    now = datetime.now(UTC).isoformat()
    member = v1["member"]
    provider = v1["requesting_provider"]
    priority = "stat" if v1["urgency"] == "expedited" else "normal"
    claim = {
        "resourceType": "Claim",
        "id": "request",
        "identifier": [{"system": EHR_TRN_SYSTEM, "value": v1["external_id"]}],
        "status": "active",
        "type": concept(System.CLAIM_TYPE, "professional"),
        "use": "preauthorization",
        "patient": {"reference": "Patient/member"},
        "created": now,
        "insurer": {"reference": "Organization/insurer"},
        "provider": {"reference": "Organization/requester"},
        "priority": concept(System.PROCESS_PRIORITY, priority),
        "insurance": [{"sequence": 1, "focal": True, "coverage": {"reference": "Coverage/coverage"}}],
        "diagnosis": [
            {"sequence": i, "diagnosisCodeableConcept": concept(System.ICD10CM, code)}
            for i, code in enumerate(v1["diagnosis_codes"], start=1)
        ],
        "supportingInfo": [
            {
                "sequence": 1,
                "category": concept(System.PAS_TEMP, "freeFormMessage"),
                "valueString": v1["clinical_notes"],
            }
        ],
        "item": [
            {
                "extension": [
                    {
                        "url": Ext.SERVICE_ITEM_REQUEST_TYPE,
                        "valueCodeableConcept": concept(System.SERVICE_ITEM_REQUEST_TYPE, "HS"),
                    },
                    {"url": Ext.CERTIFICATION_TYPE, "valueCodeableConcept": concept(System.CERTIFICATION_TYPE, "I")},
                    {
                        "url": Ext.ITEM_TRACE_NUMBER,
                        "valueIdentifier": {"system": EHR_TRN_SYSTEM, "value": f"{v1['external_id']}-{i}"},
                    },
                ],
                "sequence": i,
                "category": concept(System.SERVICE_TYPE, "1"),
                "productOrService": concept(System.CPT, line["code"], line.get("description", "")),
                "servicedDate": line["date_of_service"],
                "quantity": {"value": line["units"]},
            }
            for i, line in enumerate(v1["service_lines"], start=1)
        ],
    }
    return {
        "resourceType": "Bundle",
        "identifier": {"system": EHR_BUNDLE_SYSTEM, "value": uuid.uuid4().hex},
        "type": "collection",
        "timestamp": now,
        "entry": [
            {"fullUrl": f"{EHR_BASE}/Claim/request", "resource": claim},
            {
                "fullUrl": f"{EHR_BASE}/Patient/member",
                "resource": {
                    "resourceType": "Patient",
                    "id": "member",
                    "name": [{"family": member["last_name"], "given": [member["first_name"]]}],
                    "birthDate": member["birth_date"],
                },
            },
            {
                "fullUrl": f"{EHR_BASE}/Coverage/coverage",
                "resource": {
                    "resourceType": "Coverage",
                    "id": "coverage",
                    "status": "active",
                    "subscriberId": member["member_id"],
                    "beneficiary": {"reference": "Patient/member"},
                    "payor": [{"reference": "Organization/insurer"}],
                },
            },
            {
                "fullUrl": f"{EHR_BASE}/Organization/requester",
                "resource": {
                    "resourceType": "Organization",
                    "id": "requester",
                    "name": provider["name"],
                    "identifier": [{"system": System.NPI, "value": provider["npi"]}],
                },
            },
            {
                "fullUrl": f"{EHR_BASE}/Organization/insurer",
                "resource": {"resourceType": "Organization", "id": "insurer", "name": "Demo Health Plan"},
            },
        ],
    }


def v1_request() -> dict[str, Any]:
    """bench/intake's 3-line request (a new external_id each time) for a member of its own.

    bench/intake sends one member every time, so each case repeats all the open ones before it:
    its duplicate flag lists every earlier case, and a request costs more the longer the run."""
    request: dict[str, Any] = json.loads(intake.intake_body())
    number = int(request["external_id"].rsplit("-", 1)[1])
    request["member"]["member_id"] = f"W{number:09d}"
    return request


def v1_body() -> bytes:
    return json.dumps(v1_request()).encode()


def fhir_body() -> bytes:
    """The same request as a PAS Request Bundle."""
    return json.dumps(pas_bundle(v1_request())).encode()


def v1_answer_ok(document: Any) -> bool:
    return isinstance(document, dict) and bool(document.get("case_number"))


def fhir_answer_ok(document: Any) -> bool:
    """A PAS Response Bundle: a Bundle whose first entry is the ClaimResponse, outcome complete."""
    if not isinstance(document, dict) or document.get("resourceType") != "Bundle":
        return False
    entries = document.get("entry") or [{}]
    first = entries[0].get("resource") or {}
    return first.get("resourceType") == "ClaimResponse" and first.get("outcome") == "complete"


def counted(status: int, raw: bytes, answer_ok: Callable[[Any], bool]) -> int:
    """What an answer counts as (bench/intake's Target.answer): 201 when its body passes the
    check, BAD_BODY for a 201 that fails it and for any other 2xx (a 200 from $submit would be a
    replay, not a new request), else its status."""
    if status != 201:
        return status if status not in range(200, 300) else BAD_BODY
    try:
        return 201 if answer_ok(json.loads(raw)) else BAD_BODY
    except ValueError:
        return BAD_BODY


# --- SMART backend client -------------------------------------------------------------------


@dataclass
class SmartClient:
    """The bench's EHR: its signing key and, once registered, its client id."""

    key: ec.EllipticCurvePrivateKey = dataclasses.field(default_factory=lambda: ec.generate_private_key(ec.SECP384R1()))
    client_id: str = ""

    def jwks(self) -> dict[str, Any]:
        public = jwt.algorithms.ECAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        return {"keys": [{**public, "kid": KEY_ID, "alg": "ES384", "use": "sig"}]}

    def register(self, env: dict[str, str]) -> None:
        """`manage.py fhir_client_register`, as an operator registers an EHR."""
        with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="bench-fhir-jwks-") as file:
            json.dump(self.jwks(), file)
            file.flush()
            out = intake.manage(
                env,
                ROOT,
                "fhir_client_register",
                CLIENT_NAME,
                "--jwks",
                file.name,
                "--username",
                CLIENT_USERNAME,
                "--line-of-business",
                CLIENT_LINE_OF_BUSINESS,
            )
        self.client_id = out.strip().splitlines()[0].strip()

    def access_token(self, port: int) -> str:
        """A fresh access token from the token endpoint (SMART Backend Services, ES384 assertion)."""
        audience = f"http://127.0.0.1:{port}{TOKEN_PATH}"
        now = int(time.time())
        assertion = jwt.encode(
            {"iss": self.client_id, "sub": self.client_id, "aud": audience, "exp": now + 240, "jti": uuid.uuid4().hex},
            self.key,
            algorithm="ES384",
            headers={"kid": KEY_ID},
        )
        form = urlencode(
            {
                "grant_type": GRANT_CLIENT_CREDENTIALS,
                "client_assertion_type": CLIENT_ASSERTION_TYPE_JWT,
                "client_assertion": assertion,
                "scope": SCOPE,
            }
        )
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=intake.REQUEST_TIMEOUT_S)
        try:
            conn.request("POST", TOKEN_PATH, body=form, headers={"Content-Type": "application/x-www-form-urlencoded"})
            response = conn.getresponse()
            raw = response.read()
        finally:
            conn.close()
        if response.status != 200:
            raise SystemExit(f"the token endpoint answered {response.status}: {raw.decode(errors='replace')}")
        return str(json.loads(raw)["access_token"])


# --- load -----------------------------------------------------------------------------------


def measure(
    v1: intake.Target,
    fhir: intake.Target,
    refreshed: Callable[[intake.Target], intake.Target],
    args: argparse.Namespace,
) -> tuple[list[intake.Result], list[float]]:
    """Peak and half-rate results of both, and $submit's throughput over v1's in every round.
    `refreshed` gives the FHIR endpoint a new access token: one before every round and phase,
    so no token (300 s) runs out mid-phase."""
    intake.closed_loop(v1, args.warmup_seconds, args.clients, "warmup")
    intake.closed_loop(refreshed(fhir), args.warmup_seconds, args.clients, "warmup")
    peaks = {v1.name: intake.Result(v1, "peak"), fhir.name: intake.Result(fhir, "peak")}
    ratios = []
    rounds = max(1, args.rounds)
    for k in range(rounds):
        # Alternate: v1 then FHIR, the reverse every other round, so a drift weighs on both alike.
        order = [v1, refreshed(fhir)]
        if k % 2:
            order.reverse()
        this_round = {e.name: intake.closed_loop(e, args.peak_seconds / rounds, args.clients, "peak") for e in order}
        for name, result in this_round.items():
            peaks[name].merge(result)
        base = this_round[v1.name].rate
        ratios.append(this_round[fhir.name].rate / base if base else 0.0)
    halves = [
        intake.open_loop(v1, args.half_seconds, max(1.0, peaks[v1.name].rate / 2), "half"),
        intake.open_loop(refreshed(fhir), args.half_seconds, max(1.0, peaks[fhir.name].rate / 2), "half"),
    ]
    return [*peaks.values(), *halves], ratios


# --- CPU per request -------------------------------------------------------------------------


class BackendCpu:
    """The CPU of PostgreSQL's backends for one database over a phase. Django closes a worker's
    connection after CONN_MAX_AGE (60 s) and opens a new backend, so the backends are sampled
    every SAMPLE_S: one that ends counts up to its last sample, one that starts counts whole."""

    SAMPLE_S = 0.05

    def __init__(self, url: str) -> None:
        self.url = url
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.stop = threading.Event()
        self.started = threading.Event()
        self.thread = threading.Thread(target=self.watch, daemon=True)

    def sample(self, conn: Any, *, starting: bool) -> None:
        rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", [db_name(self.url)]).fetchall()
        for (pid,) in rows:
            used = intake.process_cpu_s(int(pid))
            if not used:  # gone (or no CPU yet): its last sample stands
                continue
            self.first.setdefault(int(pid), used if starting else 0.0)
            self.last[int(pid)] = used

    def watch(self) -> None:
        import psycopg

        admin = urlsplit(self.url)._replace(path="/postgres").geturl()
        with psycopg.connect(admin, autocommit=True) as conn:
            self.sample(conn, starting=True)
            self.started.set()
            while not self.stop.wait(self.SAMPLE_S):
                self.sample(conn, starting=False)
            self.sample(conn, starting=False)

    def __enter__(self) -> BackendCpu:
        self.thread.start()
        self.started.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()

    @property
    def seconds(self) -> float:
        return sum(self.last[pid] - self.first[pid] for pid in self.last)


def cpu_per_request(endpoint: intake.Target, server_pid: int, requests: int) -> intake.CpuCost:
    """The CPU one request costs gunicorn's workers, PostgreSQL's backends for the bench database
    and this process, over `requests` sent one at a time (the answers checked as in the load)."""
    workers = intake.child_pids(server_pid)

    def workers_s() -> float:
        return sum(intake.process_cpu_s(pid) for pid in workers)

    with BackendCpu(endpoint.database_url) as backends:
        before = (workers_s(), time.process_time())
        for _ in range(requests):
            status = intake.send(endpoint)
            if status != 201:
                raise SystemExit(f"{endpoint.name} answered {status} in the CPU phase")
        after = (workers_s(), time.process_time())
    return intake.CpuCost(
        endpoint,
        requests,
        (after[0] - before[0]) / requests * 1000,
        backends.seconds / requests * 1000,
        (after[1] - before[1]) / requests * 1000,
    )


def report_cpu(costs: list[intake.CpuCost]) -> None:
    width = max(len(c.target.name) for c in costs)
    header = f"{'ms of CPU per request':<{width}} {'workers':>8} {'database':>9} {'load':>6} {'total':>7} {'x v1':>6}"
    print(header)
    print("-" * len(header))
    for c in costs:
        print(
            f"{c.target.name:<{width}} {c.workers_ms:>8.2f} {c.database_ms:>9.2f} {c.load_ms:>6.2f} "
            f"{c.total_ms:>7.2f} {c.total_ms / costs[0].total_ms:>6.2f}"
        )
    print(f"({costs[0].requests} requests each, one at a time; load: this process, building and checking them)")


# --- what the requests became ---------------------------------------------------------------


def cases_made(url: str) -> list[tuple[str, int, str, float, float]]:
    """Per door: cases, their statuses, service lines and flags per case, for the bench's requests."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            """
            SELECT CASE WHEN s.id IS NULL THEN 'v1' ELSE 'FHIR' END AS door, c.id, c.status,
                   (SELECT count(*) FROM casemgmt_serviceline l WHERE l.case_id = c.id),
                   (SELECT count(*) FROM casemgmt_flag f WHERE f.case_id = c.id)
            FROM casemgmt_case c LEFT JOIN fhir_fhirsubmission s ON s.case_id = c.id
            WHERE c.external_id LIKE '%%BENCH-%%'
            """
        ).fetchall()
    summary = []
    for door in ("v1", "FHIR"):
        mine = [r for r in rows if r[0] == door]
        statuses: dict[str, int] = {}
        for r in mine:
            statuses[r[2]] = statuses.get(r[2], 0) + 1
        count = len(mine) or 1
        summary.append(
            (
                door,
                len(mine),
                ", ".join(f"{s} {n}" for s, n in sorted(statuses.items())),
                sum(r[3] for r in mine) / count,
                sum(r[4] for r in mine) / count,
            )
        )
    return summary


# --- where the time of one $submit goes -----------------------------------------------------


# (label, file, functions): cumulative time of these functions, which never nest in one another
# (the response's reads are taken out of the response's build below).
PROFILE_PARTS = (
    ("JSON body parsed (ApiJSONParser)", "casemgmt/kernel/json_input.py", ("parse",)),
    ("bundle validated into fhir.resources models", "casemgmt/fhir/parsing.py", ("resource_parse",)),
    ("PAS rules; bundle read into intake's request", "casemgmt/fhir/pas_in.py", ("pas_request_read",)),
    ("case_submit (the v1 intake service)", "casemgmt/cases/services/intake.py", ("case_submit",)),
    ("submission, items and documents stored", "casemgmt/fhir/submissions.py", ("_record", "_items", "_documents")),
    ("response: the case's state (from intake's answer)", "casemgmt/fhir/pas_out.py", ("intake_state",)),
    ("response: the case's state read back", "casemgmt/fhir/pas_out.py", ("submission_state",)),
    ("response: Bundle built (fhir.resources)", "casemgmt/fhir/pas_out.py", ("response_bundle",)),
    ("response: dumped and validated (resource_json)", "casemgmt/fhir/parsing.py", ("resource_json",)),
    ("response: JSON rendered", "rest_framework/renderers.py", ("render",)),
)


def submit_profile(*, requests: int, v1_token: str, client_id: str, dump: str = "") -> None:
    """In a Django process on the bench database: each door's time per request, one at a time
    through the test client, then where the time of a $submit goes under cProfile."""
    import cProfile
    import pstats

    from django.test import Client

    from casemgmt.fhir.auth import access_token_issue
    from casemgmt.fhir.models import FhirClient

    raw, _ = access_token_issue(client=FhirClient.objects.get(client_id=client_id), scopes=frozenset({SCOPE}))
    http_client = Client(SERVER_NAME="localhost")

    def post_v1() -> None:
        response = http_client.post(
            intake.INTAKE_PATH, data=v1_body(), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {v1_token}"
        )
        assert response.status_code == 201, response.content[:500]

    def post_fhir() -> None:
        response = http_client.post(
            SUBMIT_PATH, data=fhir_body(), content_type=FHIR_JSON, HTTP_AUTHORIZATION=f"Bearer {raw}"
        )
        assert response.status_code == 201 and fhir_answer_ok(json.loads(response.content)), response.content[:500]

    for _ in range(10):
        post_v1()
        post_fhir()
    # Each door's time per request without the profiler, in alternating halves.
    spent = {"v1": 0.0, "FHIR": 0.0}
    half = max(1, requests // 2)
    for name, post in (("v1", post_v1), ("FHIR", post_fhir), ("FHIR", post_fhir), ("v1", post_v1)):
        started = time.perf_counter()
        for _ in range(half):
            post()
        spent[name] += time.perf_counter() - started
    v1_ms, fhir_ms = (spent[name] / (2 * half) * 1000 for name in ("v1", "FHIR"))
    print(
        f"in one process, one at a time, {2 * half} each (no profiler): v1 {v1_ms:.1f} ms, "
        f"$submit {fhir_ms:.1f} ms per request (wall), {fhir_ms / v1_ms:.2f}x"
    )

    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(requests):
        post_fhir()
    profiler.disable()
    if dump:
        profiler.dump_stats(dump)
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    total = sum(tt for (_cc, _nc, tt, _ct, _callers) in stats.values())

    def cumulative(path: str, names: tuple[str, ...]) -> float:
        return sum(
            ct
            for (file, _line, function), (_cc, _nc, _tt, ct, _callers) in stats.items()
            if file.endswith(path) and function in names
        )

    parts = [(label, cumulative(path, names)) for label, path, names in PROFILE_PARTS]
    reads = dict(parts)["response: the case's state read back"]
    parts = [(label, t - reads if label == "response: Bundle built (fhir.resources)" else t) for label, t in parts]
    parts.append(("the rest: middleware, auth, audit, transaction, test client", total - sum(t for _, t in parts)))
    print(f"where the time of one $submit goes (cProfile, {requests} requests; the profiler slows all alike):")
    for label, seconds in parts:
        print(f"  {label:<62} {seconds / requests * 1000:>6.2f} ms {seconds / total:>5.0%}")
    print(f"  {'total':<62} {total / requests * 1000:>6.2f} ms")
    pydantic = sum(tt for (file, _l, _f), (_cc, _nc, tt, _ct, _c) in stats.items() if "pydantic" in file)
    fhir_models = sum(
        tt for (file, _l, _f), (_cc, _nc, tt, _ct, _c) in stats.items() if "fhir" in file and "site-packages" in file
    )
    print(
        f"  (own time in pydantic and pydantic-core: {pydantic / total:.0%}; in fhir.resources / fhir_core: "
        f"{fhir_models / total:.0%})"
    )


def profile(env: dict[str, str], requests: int, v1_token: str, client_id: str, dump: Path | None) -> str:
    """`submit_profile` in a Django process of its own (`manage.py shell`) on the bench database."""
    call = (
        "from bench.fhir.run import submit_profile; "
        f"submit_profile(requests={requests}, v1_token={v1_token!r}, client_id={client_id!r}, dump={str(dump or '')!r})"
    )
    return intake.manage(env, ROOT, "shell", "--no-imports", "-c", call)


# --- the run --------------------------------------------------------------------------------


def report(results: list[intake.Result], ratios: list[float]) -> bool:
    intake.report_table(results)
    find = partial(intake.result_of, results)
    v1_peak, fhir_peak = find(V1_NAME, "peak"), find(FHIR_NAME, "peak")
    v1_half, fhir_half = find(V1_NAME, "half"), find(FHIR_NAME, "half")
    ratio = fhir_peak.rate / v1_peak.rate if v1_peak.rate else 0.0
    p99 = fhir_half.percentile_ms(99)
    print(
        f"$submit: {fhir_peak.rate:.1f} req/s, {ratio:.2f} of v1's {v1_peak.rate:.1f} ({intake.round_spread(ratios)}); "
        f"p99 at half rate: $submit {p99:.1f} ms ({fhir_half.offered_rate:.0f} req/s offered), "
        f"v1 {v1_half.percentile_ms(99):.1f} ms ({v1_half.offered_rate:.0f} req/s offered)"
    )
    print()
    failures = {
        f"{r.target.name} {r.phase}": {
            ("201 but not the expected body" if s == BAD_BODY else s): n for s, n in r.errors.items()
        }
        for r in results
        if r.errors
    }
    checks = [
        (
            f"$submit keeps {ratio:.1%} of v1's throughput ({fhir_peak.rate:.1f} of {v1_peak.rate:.1f} req/s; "
            f"target >= {TARGET_RATIO:.0%})",
            ratio >= TARGET_RATIO,
        ),
        (
            f"$submit p99 at half its peak rate ({fhir_half.offered_rate:.0f} req/s offered) is {p99:.1f} ms "
            f"(target < {TARGET_P99_MS:.0f} ms)",
            p99 < TARGET_P99_MS,
        ),
        (
            "every measured request answered 201 with its door's answer (a PAS Response Bundle with the "
            f"ClaimResponse first; a v1 case) (failures: {failures or 'none'})",
            not failures,
        ),
    ]
    for text, passed in checks:
        print(f"{'PASS' if passed else 'FAIL'}  {text}")
    return all(passed for _, passed in checks)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--database-url",
        default=DEFAULT_DATABASE_URL,
        help="dropped and created afresh, and dropped at the end; its name must end in _bench",
    )
    parser.add_argument("--keep-db", action="store_true", help="leave the database in place at the end")
    intake.add_load_arguments(parser)
    parser.add_argument(
        "--cpu-requests", type=int, default=100, help="requests per endpoint, one at a time, for the CPU per request"
    )
    parser.add_argument(
        "--profile-requests", type=int, default=40, help="$submits profiled in one process (0 skips the profile)"
    )
    parser.add_argument(
        "--profile-out", type=Path, default=None, help="also write the profile there (pstats), for snakeviz or pstats"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    url = args.database_url
    if not db_name(url).endswith("_bench"):
        raise SystemExit(f"the database's name must end in _bench (it is dropped and created afresh): {db_name(url)}")
    started = time.monotonic()
    print(
        f"database: {db_name(url)} (PostgreSQL); gunicorn: {intake.WORKERS} sync workers; settings: {intake.SETTINGS_MODULE}"
    )
    try:
        return run(args, url, started)
    finally:
        if not args.keep_db:
            drop_database(url, suffix="_bench")


def run(args: argparse.Namespace, url: str, started: float) -> int:
    intake.prepare_database(url, reuse=False)
    env = intake.server_env(url)
    v1_token = intake.setup_application(env)
    ehr = SmartClient()
    ehr.register(env)
    port = intake.free_port()
    log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-fhir-gunicorn-{os.getpid()}.log"
    v1 = intake.Target(
        V1_NAME, intake.INTAKE_PATH, v1_body, port, v1_token, url, answer=partial(counted, answer_ok=v1_answer_ok)
    )
    fhir = intake.Target(
        FHIR_NAME, SUBMIT_PATH, fhir_body, port, "", url, FHIR_JSON, partial(counted, answer_ok=fhir_answer_ok)
    )
    print(f"setup done in {time.monotonic() - started:.0f}s; FHIR client {ehr.client_id}; gunicorn log {log_path}")
    print(
        "request: bench/intake's (CPT 62330, 62331, 72148; NPI 1234567893; 2 diagnoses; notes) for a new member "
        "each time, as v1 JSON and as a PAS Request Bundle (Claim, Patient, Coverage, 2 Organizations)"
    )
    print(
        f"load: closed loop, {args.clients} in flight, {args.peak_seconds:.0f}s per endpoint in {args.rounds} rounds "
        f"(v1, then $submit; reversed every other round); then open loop at half each peak rate for "
        f"{args.half_seconds:.0f}s; a new access token from {TOKEN_PATH} before every round and phase"
    )
    print()

    def refreshed(endpoint: intake.Target) -> intake.Target:
        return dataclasses.replace(endpoint, token=ehr.access_token(port))

    costs: list[intake.CpuCost] = []
    with intake.gunicorn(env, port, log_path) as server:
        results, ratios = measure(v1, fhir, refreshed, args)
        if args.cpu_requests:
            costs = [cpu_per_request(e, server.pid, args.cpu_requests) for e in (v1, refreshed(fhir))]
    passed = report(results, ratios)
    if costs:
        print()
        report_cpu(costs)
        print()
    print("what the requests became (cases of the bench's requests, by door):")
    for door, count, statuses, lines, flags in cases_made(url):
        print(f"  {door:<5} {count:>6} cases ({statuses}); {lines:.1f} service lines and {flags:.1f} flags per case")
    print()
    if args.profile_requests:
        print(profile(env, args.profile_requests, v1_token, ehr.client_id, args.profile_out))
    print(f"total time {time.monotonic() - started:.0f}s")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
