"""Benchmark of intake with triage on against intake with triage off, on gunicorn and PostgreSQL.

Run from the project root:  .venv/bin/python bench/triage/run.py [--peak-seconds S] [--help]

What it does (see bench/triage/README.md):

1. Prepares two PostgreSQL databases, each dropped and created afresh (names ending in `_bench`),
   migrated and seeded like bench/intake (`load_demo`, a token for the demo integration client):
   - **off**: the product after `load_demo`, eligibility checking off (ELIGIBILITY_CHECK=0),
     automatic approval off, no requirement rules or coverage, and the same 1,000,000 earlier
     cases as "on" (a plan's history is there whether or not it triages; `--bare-off` leaves
     them out, as the first measurement did);
   - **on**: the same plus 10,000 published requirement rules, 1,000,000 member coverage rows and
     1,000,000 earlier cases with their service lines (bulk-loaded with COPY, not measured), a
     version of the demo's facet denervation policy that allows approval when its criteria are
     met (published through the product's services), automatic approval switched on
     (IntakeSettings) and ELIGIBILITY_CHECK=1.
2. Starts one gunicorn (2 sync workers, bench/intake/settings.py) per database.
3. Sends both servers the same mix of 3-line requests (bench/intake's load functions: peak in
   alternating rounds, then open loop at half each peak rate, then CPU per request), checks what
   triage made of the requests in the "on" database, and prints PASS/FAIL per target.

Target (issue 17): intake with triage on keeps at least 80% of the throughput of intake with
triage off, and its p99 stays under 50 ms at half its peak rate. Exits 1 when one is missed.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg

ROOT = Path(__file__).resolve().parents[2]
if __package__ in (None, ""):
    sys.path.insert(0, str(ROOT))

from bench.intake.run import (  # noqa: E402
    INTAKE_PATH,
    SETTINGS_MODULE,
    WORKERS,
    CpuCost,
    Result,
    Target,
    cpu_per_request,
    free_port,
    gunicorn,
    manage,
    measure,
    prepare_database,
    report_cpu,
    server_env,
    setup_application,
)

OFF_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/casemgmt_triage_off_bench"
ON_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/casemgmt_triage_on_bench"
OFF_NAME = "triage off (3 lines)"
ON_NAME = "triage on (3 lines)"

TARGET_RATIO = 0.80
TARGET_P99_MS = 50.0

# Every bench request is for the demo's commercial plan. The provider is not the demo's (a
# well-formed NPI of no real provider): one without a gold card, whatever load_demo grants, so
# the gold-card look-up runs and finds nothing, and the required lines go to a person.
LOB = "commercial"
PLAN_ID = "GRP-40021"
NPI = "1679576722"
DAYS_AHEAD = 14  # the bench requests' date of service: today + 14 days, like bench/intake's
COVERAGE_PER_MEMBER = 2
# Members k with k % 50 == INELIGIBLE saw their commercial coverage end 60 days ago; members
# k = 50 j + DUPLICATE (j < DUPLICATE_MEMBERS) have an open earlier case for CPT 72148 on the
# bench's date of service. Members with k % 10 >= 8 are covered under another line of business.
INELIGIBLE = 3
DUPLICATE = 7
DUPLICATE_MEMBERS = 2000
OTHER_LOBS = ("medicaid", "medicare_advantage")

# The facet denervation facts that meet every criterion (casemgmt/demo/management/commands/load_demo.py).
CRITERIA_MET = {
    "medial_branch_blocks_80_relief": 2,
    "symptom_duration_months": 9,
    "conservative_therapy_weeks": 12,
    "facet_denervation_within_6_months": False,
}
AUTO_APPROVE_VERSION = "2025-01-auto"


# --- the requirement rules the requests hit -------------------------------------------------


@dataclass(frozen=True)
class RuleSpec:
    code_system: str
    code_start: str
    code_end: str
    line_of_business: str
    requirement: str
    diagnoses: tuple[str, ...] = ()


# Rules for the codes the bench sends; the rest of the 10,000 are random and never more specific
# than these for those codes (no random single rule names them, no random range holds them).
BENCH_RULES = (
    RuleSpec("CPT", "62330", "", "", "required"),
    RuleSpec("CPT", "62331", "", "", "required"),
    RuleSpec("CPT", "64635", "", "", "required"),
    RuleSpec("CPT", "72148", "", "commercial", "required"),
    RuleSpec("CPT", "72148", "", "medicaid", "not_required"),
    RuleSpec("CPT", "99202", "99215", "", "not_required"),
    RuleSpec("CPT", "97110", "", "commercial", "not_required"),
    RuleSpec("CPT", "97110", "", "", "required"),
    RuleSpec("CPT", "20610", "", "", "not_required"),
    RuleSpec("CPT", "20610", "", "", "required", ("M17.11", "M17.12")),
    RuleSpec("HCPCS", "G0283", "", "", "not_required"),
)
RESERVED = {
    ("CPT", "62330"),
    ("CPT", "62331"),
    ("CPT", "64635"),
    ("CPT", "72148"),
    ("CPT", "97110"),
    ("CPT", "20610"),
    ("HCPCS", "G0283"),
    *(("CPT", str(c)) for c in range(99202, 99216)),
}
LINES_OF_BUSINESS = ("commercial", "medicare_advantage", "medicaid", "chip", "exchange")
DIAGNOSES = ("M17.11", "M54.16", "M48.062", "M47.816", "M51.16", "G89.29", "M25.561", "S83.511A")
HCPCS_LETTERS = "ABCEGHJKLMPQRSTV"


# --- the requests ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    """One kind of request in the mix, and what triage on should make of it."""

    name: str
    weight: int
    codes: tuple[tuple[str, str], ...]
    diagnoses: tuple[str, ...]
    expect: str


KINDS = (
    Kind(
        "review",
        35,
        (("CPT", "62330"), ("CPT", "62331"), ("CPT", "72148")),
        ("M48.062", "M54.16"),
        "every line required: a person reviews it",
    ),
    Kind(
        "na",
        25,
        (("CPT", "99213"), ("CPT", "97110"), ("CPT", "20610")),
        ("M54.16",),
        "every line not required: answered NA at once, case closed",
    ),
    Kind(
        "auto",
        20,
        (("CPT", "64635"), ("CPT", "99214"), ("HCPCS", "G0283")),
        ("M47.816",),
        "criteria met: approved, the other lines NA, case decided",
    ),
    Kind(
        "dup",
        10,
        (("CPT", "72148"), ("CPT", "99213"), ("CPT", "97110")),
        ("M54.16",),
        "72148 repeats an open earlier case: flagged, reviewed; the rest NA",
    ),
    Kind(
        "inelig",
        10,
        (("CPT", "64635"), ("CPT", "99213"), ("CPT", "97110")),
        ("M47.816",),
        "coverage ended: every line flagged; 64635 reviewed, the rest NA",
    ),
)


def bench_members(coverage_rows: int) -> int:
    """Members with coverage rows (two each); the bench's requests and earlier cases are theirs."""
    return max(50, coverage_rows // COVERAGE_PER_MEMBER)


def duplicate_members(members: int) -> int:
    return min(DUPLICATE_MEMBERS, members // 50)


def member_id(k: int) -> str:
    return f"M{k:07d}"


def member_lob(k: int) -> str:
    return LOB if k % 10 < 8 else OTHER_LOBS[k % 2]


def member_birth_date(k: int) -> date:
    return date(1950 + k % 50, 1 + k % 12, 1 + k % 28)


class RequestMix:
    """The bodies both servers are sent: the same kinds, in the same proportions."""

    def __init__(self, members: int, seed: int) -> None:
        self.members = members
        self.random = random.Random(seed)
        self.lock = threading.Lock()
        self.counter = 0
        self.run = f"{seed}-{os.getpid()}-{int(time.time())}"
        self.choices = [kind for kind in KINDS for _ in range(kind.weight)]

    def _member(self, kind: Kind) -> int:
        r = self.random
        if kind.name == "dup":
            return 50 * r.randrange(duplicate_members(self.members)) + DUPLICATE
        if kind.name == "inelig":
            return 50 * r.randrange(self.members // 50) + INELIGIBLE
        while True:  # covered under commercial, neither ineligible nor in the duplicate pool
            k = r.randrange(self.members)
            if k % 10 < 8 and k % 50 not in (INELIGIBLE, DUPLICATE):
                return k

    def body(self) -> bytes:
        with self.lock:
            self.counter += 1
            n = self.counter
            kind = self.random.choice(self.choices)
            k = self._member(kind)
        dos = (date.today() + timedelta(days=DAYS_AHEAD)).isoformat()
        facts = CRITERIA_MET if kind.name in ("auto", "inelig") else {}
        return json.dumps(
            {
                "external_id": f"TRIAGE-{kind.name}-{self.run}-{n}",
                "urgency": "standard",
                "line_of_business": LOB,
                "plan_id": PLAN_ID,
                "member": {
                    "member_id": member_id(k),
                    "first_name": "Bench",
                    "last_name": "Member",
                    "birth_date": member_birth_date(k).isoformat(),
                },
                "requesting_provider": {"npi": NPI, "name": "Bench Spine Clinic"},
                "diagnosis_codes": list(kind.diagnoses),
                "service_lines": [
                    {"code_system": system, "code": code, "units": 1, "date_of_service": dos}
                    for system, code in kind.codes
                ],
                "clinical_facts": facts,
                "clinical_notes": "Chronic low back pain for 9 months; 12 weeks of physical therapy without relief.",
            }
        ).encode()


# --- bulk data for the "on" database --------------------------------------------------------


def _text(value: str | None) -> str:
    """A value in COPY's text format."""
    if value is None:
        return "\\N"
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _random_code(r: random.Random) -> tuple[str, str]:
    pick = r.random()
    if pick < 0.7:
        return "CPT", f"{r.randint(10004, 99499):05d}"
    if pick < 0.8:
        return "CPT", f"{r.randint(1, 999):04d}T"
    return "HCPCS", f"{r.choice(HCPCS_LETTERS)}{r.randint(0, 9999):04d}"


def _holds_reserved(system: str, first: str, last: str) -> bool:
    return any(s == system and len(c) == len(first) and first <= c <= last for s, c in RESERVED)


def _random_rule(r: random.Random) -> RuleSpec:
    requirement = r.choices(("required", "not_required", "notification_only", "not_covered"), (40, 45, 10, 5))[0]
    lob = "" if r.random() < 0.6 else r.choice(LINES_OF_BUSINESS)
    while True:
        system, code = _random_code(r)
        end = ""
        shape = r.random()
        if shape < 0.10:  # a narrow range, expanded into the index's per-code dict
            width = r.randint(2, 60)
        elif shape < 0.105:  # a wide one, searched by bisection
            width = r.randint(200, 3000)
        else:
            width = 0
        if width:
            digits = code.rstrip("T")[-4:] if system == "HCPCS" or code.endswith("T") else code
            number = int(digits) + width
            if system == "HCPCS":
                end = f"{code[0]}{number:04d}" if number <= 9999 else ""
            elif code.endswith("T"):
                end = f"{number:04d}T" if number <= 999 else ""
            else:
                end = f"{number:05d}" if number <= 99499 else ""
        if (system, code) not in RESERVED and not _holds_reserved(system, code, end or code):
            break
    diagnoses = tuple(r.sample(DIAGNOSES, r.randint(1, 2))) if not end and r.random() < 0.04 else ()
    return RuleSpec(system, code, end, lob, requirement, diagnoses)


def rule_rows(count: int, r: random.Random, published_by: int, now: str) -> Iterator[str]:
    """`count` published rules: the bench's, a plan-wide default, and random ones."""
    specs = [*BENCH_RULES, RuleSpec("", "", "", "", "required")]
    specs += [_random_rule(r) for _ in range(max(0, count - len(specs)))]
    for spec in specs:
        start = date(2020, 1, 1) + timedelta(days=r.randint(0, 1800))
        end = None
        if spec not in BENCH_RULES and spec.code_start and r.random() < 0.1:
            end = (start + timedelta(days=r.randint(30, 900))).isoformat()
        if spec in BENCH_RULES:
            start = date(2024, 1, 1)
        yield (
            "\t".join(
                [
                    spec.code_system,
                    spec.code_start,
                    spec.code_end,
                    _text(json.dumps(list(spec.diagnoses))),
                    spec.line_of_business,
                    spec.requirement,
                    start.isoformat(),
                    _text(end),
                    "published",
                    "1",
                    "",
                    "bench/triage",
                    now,
                    now,
                    str(published_by),
                    str(published_by),
                ]
            )
            + "\n"
        )


RULE_COLUMNS = (
    "code_system, code_start, code_end, diagnosis_codes, line_of_business, requirement, effective_start, "
    "effective_end, status, version, source_text, note, created_at, published_at, published_by_id, created_by_id"
)


def coverage_rows(members: int, today: date, now: str) -> Iterator[str]:
    """Two periods a member: an old closed one and the current one (ended for the ineligible)."""
    ended = (today - timedelta(days=60)).isoformat()
    for k in range(members):
        lob = member_lob(k)
        plan = PLAN_ID if lob == LOB else ("H1234" if lob == "medicare_advantage" else "IA")
        mid = member_id(k)
        old_start = (date(2019, 1, 1) + timedelta(days=k % 700)).isoformat()
        current_end = ended if k % 50 == INELIGIBLE else "\\N"
        yield (
            f"{mid}\t{lob}\t{plan}\t{old_start}\t2024-12-31\t{now}\n{mid}\t{lob}\t{plan}\t2025-01-01\t{current_end}\t{now}\n"
        )


def _hot_codes() -> list[tuple[str, str]]:
    return sorted({code for kind in KINDS for code in kind.codes})


def case_and_line_rows(
    cases: int, members: int, first_case_id: int, first_line_id: int, template: str, r: random.Random, today: date
) -> tuple[list[str], list[str]]:
    """Earlier cases (COPY text lines, the varying columns then the template's) and their lines.

    The first DUPLICATE_MEMBERS are open cases for CPT 72148 on the bench's date of service for
    the duplicate pool's members; the rest are for random members (about two cases a member),
    15% still open, with 1-3 lines on dates from 400 days ago to 60 days ahead, half of them for
    the codes the bench sends.
    """
    hot = _hot_codes()
    bench_day = today + timedelta(days=DAYS_AHEAD)
    now = datetime.now(UTC)
    case_out: list[str] = []
    line_out: list[str] = []
    line_id = first_line_id
    dups = duplicate_members(members)
    for i in range(cases):
        case_id = first_case_id + i
        if i < dups:
            k = 50 * i + DUPLICATE
            status = "received"
            lines = [("CPT", "72148", bench_day)]
        else:
            k = r.randrange(members)
            status = r.choices(("received", "in_review", "decided", "closed"), (10, 5, 70, 15))[0]
            lines = []
            for _ in range(r.choice((1, 2, 2, 3))):
                system, code = r.choice(hot) if r.random() < 0.5 else _random_code(r)
                lines.append((system, code, today + timedelta(days=r.randint(-400, 60))))
        received = now - timedelta(days=r.randint(1, 400), seconds=r.randint(0, 86399))
        due = received + timedelta(days=14)
        decided = "\\N" if status in ("received", "in_review") else (received + timedelta(days=3)).isoformat()
        case_out.append(
            f"{case_id}\tPA-H{i:07d}\t{status}\t{member_id(k)}\t{member_lob(k)}\t"
            f"{member_birth_date(k).isoformat()}\t{received.isoformat()}\t{due.isoformat()}\t{decided}\t"
            f"{received.isoformat()}\t{template}\n"
        )
        for seq, (system, code, dos) in enumerate(lines, start=1):
            line_out.append(f"{line_id}\t{seq}\t{system}\t{code}\t[]\t1\t{dos.isoformat()}\t\t{case_id}\t\\N\n")
            line_id += 1
    return case_out, line_out


CASE_VARYING = (
    "id",
    "case_number",
    "status",
    "member_id",
    "line_of_business",
    "member_birth_date",
    "received_at",
    "due_at",
    "decided_at",
    "updated_at",
)
# External ids are unique per client when set: the earlier cases came by other channels (none).
CASE_OVERRIDDEN = {"external_id": ""}
LINE_COLUMNS = "id, sequence, code_system, code, modifiers, units, date_of_service, description, case_id, origin_id"


def _copy(conn: psycopg.Connection[Any], statement: str, rows: Iterable[str]) -> None:
    """COPY text-format rows, sent in blocks of 20,000."""
    with conn.cursor() as cursor, cursor.copy(statement) as copy:
        block = io.StringIO()
        size = 0
        for row in rows:
            block.write(row)
            size += 1
            if size >= 20000:
                copy.write(block.getvalue())
                block = io.StringIO()
                size = 0
        copy.write(block.getvalue())


def load_data(
    url: str, *, rules: int, coverage: int, cases: int, seed: int, triage_data: bool = True
) -> dict[str, float]:
    """Bulk-load the earlier cases and, with `triage_data`, the rules and coverage rows (the "on"
    database); seconds each. `coverage` also sets the bench's members, whose cases these are."""
    import psycopg

    r = random.Random(seed)
    today = date.today()
    now = datetime.now(UTC).isoformat()
    members = bench_members(coverage)
    timings: dict[str, float] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT id FROM auth_user WHERE username = 'editor2'").fetchone()
        assert row is not None, "load_demo made no editor2"
        publisher = int(row[0])

        if triage_data:
            started = time.monotonic()
            with conn.transaction():
                _copy(
                    conn,
                    f"COPY policies_app_requirementrule ({RULE_COLUMNS}) FROM STDIN",
                    rule_rows(rules, r, publisher, now),
                )
            timings["rules"] = time.monotonic() - started

            started = time.monotonic()
            with conn.transaction():
                _copy(
                    conn,
                    "COPY casemgmt_membercoverage (member_id, line_of_business, plan_id, coverage_start, "
                    "coverage_end, loaded_at) FROM STDIN",
                    coverage_rows(coverage // COVERAGE_PER_MEMBER, today, now),
                )
            timings["coverage"] = time.monotonic() - started

        started = time.monotonic()
        columns = [
            name
            for (name,) in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'casemgmt_case' "
                "ORDER BY ordinal_position"
            ).fetchall()
        ]
        constant = [c for c in columns if c not in CASE_VARYING]
        template_id = conn.execute(
            "SELECT id FROM casemgmt_case WHERE external_id = 'DEMO-1' AND review_type = 'prospective'"
        ).fetchone()
        assert template_id is not None, "load_demo made no DEMO-1 case"
        selected = ", ".join(f'"{c}"::text' for c in constant)
        values = conn.execute(f"SELECT {selected} FROM casemgmt_case WHERE id = %s", [template_id[0]]).fetchone()
        assert values is not None
        template = "\t".join(_text(CASE_OVERRIDDEN.get(c, v)) for c, v in zip(constant, values, strict=True))
        (max_case,) = conn.execute("SELECT coalesce(max(id), 0) FROM casemgmt_case").fetchone() or (0,)
        (max_line,) = conn.execute("SELECT coalesce(max(id), 0) FROM casemgmt_serviceline").fetchone() or (0,)
        case_text, line_text = case_and_line_rows(
            cases, members, int(max_case) + 1000, int(max_line) + 1000, template, r, today
        )
        timings["generate cases"] = time.monotonic() - started
        started = time.monotonic()
        case_columns = ", ".join(f'"{c}"' for c in (*CASE_VARYING, *constant))
        with conn.transaction():
            _copy(conn, f"COPY casemgmt_case ({case_columns}) FROM STDIN", case_text)
            del case_text
            _copy(conn, f"COPY casemgmt_serviceline ({LINE_COLUMNS}) FROM STDIN", line_text)
            lines = len(line_text)
            del line_text
            for table in ("casemgmt_case", "casemgmt_serviceline"):
                conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        timings["copy cases"] = time.monotonic() - started
        timings["lines"] = lines

        started = time.monotonic()
        # A long-lived database has been vacuumed and analysed: plans as production would get them.
        for table in (
            "policies_app_requirementrule",
            "casemgmt_membercoverage",
            "casemgmt_case",
            "casemgmt_serviceline",
        ):
            conn.execute(f"VACUUM (ANALYZE) {table}")
        timings["vacuum analyze"] = time.monotonic() - started
    return timings


CONFIGURE = """
import sys
import django
django.setup()
from bench.triage.run import configure_triage
configure_triage(on=sys.argv[1] == "on")
"""


def configure_triage(*, on: bool) -> None:
    """Through the product's services, in a Django process (`CONFIGURE`), before the bulk data:
    retire the requirement rules `load_demo` published (the "on" database gets the benchmark's
    own 10,000, the "off" one none, so every line needs a person), and switch automatic approval
    on or off. For "on", make sure a version of the demo's facet denervation policy in effect
    allows approval when its criteria are met (a new version, drafted by editor and published by
    editor2, when load_demo's does not)."""
    from django.contrib.auth.models import User

    from casemgmt.cases.services.triage import intake_settings_update
    from casemgmt.demo.facet_policy import FACET_DENERVATION, FACET_POLICY_NUMBER
    from policies_app.models import PolicyVersion, PolicyVersionStatus, RequirementRule, RequirementRuleStatus
    from policies_app.requirement_rules import requirement_rule_retire
    from policies_app.services import policy_seed

    users = {u.username: u for u in User.objects.filter(username__in=["editor", "editor2", "manager"])}
    for rule_id in RequirementRule.objects.filter(status=RequirementRuleStatus.PUBLISHED).values_list("pk", flat=True):
        requirement_rule_retire(user=users["editor"], rule_id=rule_id)
    intake_settings_update(user=users["manager"], automatic_approval=on)
    if not on:
        return
    current = (
        PolicyVersion.objects.filter(policy__number=FACET_POLICY_NUMBER, status=PolicyVersionStatus.PUBLISHED)
        .order_by("-effective_start")
        .first()
    )
    if current is None or not current.auto_approve_when_met:
        data = {
            **FACET_DENERVATION,
            "version_label": AUTO_APPROVE_VERSION,
            "effective_start": date(2025, 1, 1),
            "revised_date": date(2025, 1, 1),
            "auto_approve_when_met": True,
        }
        policy_seed(data=data, user=users["editor"], publisher=users["editor2"])


def configure(env: dict[str, str], *, on: bool) -> None:
    result = subprocess.run(
        [sys.executable, "-c", CONFIGURE, "on" if on else "off"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if result.returncode != 0:
        raise SystemExit(f"configuring triage failed:\n{result.stdout}\n{result.stderr}")


# --- checking what the requests became ------------------------------------------------------


def triage_mix(url: str) -> list[tuple[str, str, int]]:
    """(kind, what happened, count) for the bench's cases in a database."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        statuses = conn.execute(
            "SELECT split_part(external_id, '-', 2), 'case ' || status, count(*) FROM casemgmt_case "
            "WHERE external_id LIKE 'TRIAGE-%%' GROUP BY 1, 2"
        ).fetchall()
        outcomes = conn.execute(
            "SELECT split_part(c.external_id, '-', 2), 'line ' || dl.outcome, count(*) FROM casemgmt_decisionline dl "
            "JOIN casemgmt_decision d ON d.id = dl.decision_id JOIN casemgmt_case c ON c.id = d.case_id "
            "WHERE c.external_id LIKE 'TRIAGE-%%' GROUP BY 1, 2"
        ).fetchall()
        flags = conn.execute(
            "SELECT split_part(c.external_id, '-', 2), 'flag ' || f.kind, count(*) FROM casemgmt_flag f "
            "JOIN casemgmt_case c ON c.id = f.case_id WHERE c.external_id LIKE 'TRIAGE-%%' "
            "AND f.kind IN ('duplicate_request', 'member_not_eligible', 'not_covered') GROUP BY 1, 2"
        ).fetchall()
    return sorted((str(k), str(w), int(n)) for k, w, n in [*statuses, *outcomes, *flags])


def report_mix(mix: list[tuple[str, str, int]], title: str) -> None:
    print(title)
    expect = {kind.name: kind.expect for kind in KINDS}
    for name in [kind.name for kind in KINDS]:
        rows = [f"{what} {n}" for k, what, n in mix if k == name]
        print(f"  {name:<7} {', '.join(rows) or 'none'}   (expected: {expect[name]})")
    print()


# --- the run --------------------------------------------------------------------------------


def report(results: list[Result], round_ratios: dict[str, list[float]]) -> bool:
    width = max(len(r.target.name) for r in results)
    header = (
        f"{'server':<{width}} {'phase':<6} {'offered/s':>9} {'req/s':>8} {'ok':>7} {'errors':>7} "
        f"{'p50 ms':>8} {'p99 ms':>8}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        offered = f"{r.offered_rate:.0f}" if r.offered_rate is not None else "max"
        print(
            f"{r.target.name:<{width}} {r.phase:<6} {offered:>9} {r.rate:>8.1f} {r.ok:>7} {sum(r.errors.values()):>7} "
            f"{r.median_ms:>8.1f} {r.percentile_ms(99):>8.1f}"
        )
    print()

    def find(name: str, phase: str) -> Result:
        return next(r for r in results if r.target.name == name and r.phase == phase)

    off_peak, on_peak = find(OFF_NAME, "peak"), find(ON_NAME, "peak")
    off_half, on_half = find(OFF_NAME, "half"), find(ON_NAME, "half")
    ratio = on_peak.rate / off_peak.rate if off_peak.rate else 0.0
    spread = sorted(round_ratios[ON_NAME])
    print(
        f"triage on: {on_peak.rate:.1f} req/s, {ratio:.2f} of triage off's {off_peak.rate:.1f} "
        f"(per round: median {statistics.median(spread):.2f}, lowest {spread[0]:.2f}, highest {spread[-1]:.2f}); "
        f"p99 at half rate: on {on_half.percentile_ms(99):.1f} ms ({on_half.offered_rate:.0f} req/s offered), "
        f"off {off_half.percentile_ms(99):.1f} ms ({off_half.offered_rate:.0f} req/s offered)"
    )
    print()
    p99 = on_half.percentile_ms(99)
    error_detail = {r.target.name + " " + r.phase: r.errors for r in results if r.errors}
    checks = [
        (
            f"triage on keeps {ratio:.0%} of triage off's throughput ({on_peak.rate:.1f} of {off_peak.rate:.1f} req/s; "
            f"target >= {TARGET_RATIO:.0%})",
            ratio >= TARGET_RATIO,
        ),
        (
            f"triage on p99 at half its peak rate ({on_half.offered_rate:.0f} req/s offered) is {p99:.1f} ms "
            f"(target < {TARGET_P99_MS:.0f} ms)",
            p99 < TARGET_P99_MS,
        ),
        (f"every measured request answered 2xx (non-2xx by status: {error_detail or 'none'})", not error_detail),
    ]
    for text, passed in checks:
        print(f"{'PASS' if passed else 'FAIL'}  {text}")
    return all(passed for _, passed in checks)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--off-database-url", default=OFF_DATABASE_URL, help="dropped and created afresh (*_bench)")
    parser.add_argument("--on-database-url", default=ON_DATABASE_URL, help="dropped and created afresh (*_bench)")
    parser.add_argument(
        "--no-setup",
        action="store_true",
        help="use both databases as a previous run left them (only a new token is issued): for profiling",
    )
    parser.add_argument("--rules", type=int, default=10_000, help="published requirement rules (default 10,000)")
    parser.add_argument("--coverage-rows", type=int, default=1_000_000, help="member coverage rows (default 1,000,000)")
    parser.add_argument("--earlier-cases", type=int, default=1_000_000, help="earlier cases (default 1,000,000)")
    parser.add_argument(
        "--bare-off",
        action="store_true",
        help='leave the earlier cases out of the "off" database (the first measurement\'s baseline)',
    )
    parser.add_argument("--seed", type=int, default=20261205)
    parser.add_argument("--clients", type=int, default=4, help="requests in flight in the peak phase (default 4)")
    parser.add_argument("--warmup-seconds", type=float, default=3.0)
    parser.add_argument("--peak-seconds", type=float, default=30.0, help="per server, split over --rounds")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--half-seconds", type=float, default=20.0, help="per server")
    parser.add_argument(
        "--cpu-requests", type=int, default=200, help="requests per server, one at a time, for the CPU per request"
    )
    return parser.parse_args(argv)


def _setup(url: str, env: dict[str, str], *, on: bool) -> str:
    prepare_database(url, reuse=False)
    token = setup_application(env)
    started = time.monotonic()
    configure(env, on=on)
    print(f"configured triage {'on' if on else 'off'} in {time.monotonic() - started:.0f}s")
    return token


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    off_url, on_url = args.off_database_url, args.on_database_url
    off_env = {**server_env(off_url), "ELIGIBILITY_CHECK": "0"}
    on_env = {**server_env(on_url), "ELIGIBILITY_CHECK": "1"}
    print(f"databases: off {off_url.rsplit('/', 1)[-1]}, on {on_url.rsplit('/', 1)[-1]} (PostgreSQL)")
    print(f"gunicorn: {WORKERS} sync workers per server; settings: {SETTINGS_MODULE}")
    if args.no_setup:
        tokens = [
            manage(env, ROOT, "create_api_token", "portal", "--label", "bench/triage").strip().splitlines()[-1]
            for env in (off_env, on_env)
        ]
    else:
        with ThreadPoolExecutor(2) as pool:
            futures = [
                pool.submit(_setup, url, env, on=on)
                for url, env, on in ((off_url, off_env, False), (on_url, on_env, True))
            ]
            tokens = [f.result() for f in futures]
        print(f"migrated and seeded both databases in {time.monotonic() - started:.0f}s")
        timings = load_data(
            on_url, rules=args.rules, coverage=args.coverage_rows, cases=args.earlier_cases, seed=args.seed
        )
        lines = int(timings.pop("lines"))
        if not args.bare_off:
            off_timings = load_data(
                off_url,
                rules=0,
                coverage=args.coverage_rows,
                cases=args.earlier_cases,
                seed=args.seed,
                triage_data=False,
            )
            print(
                f"loaded into the off database: the same {args.earlier_cases:,} earlier cases ({off_timings['copy cases']:.1f}s)"
            )
        print(
            f"loaded into the on database: {args.rules:,} rules, {args.coverage_rows:,} coverage rows, "
            f"{args.earlier_cases:,} earlier cases with {lines:,} lines ("
            + ", ".join(f"{k} {v:.1f}s" for k, v in timings.items())
            + "); automatic approval on"
        )
    members = bench_members(args.coverage_rows)
    mix = RequestMix(members, args.seed)
    tmp = Path(os.environ.get("TMPDIR", "/tmp"))
    off_port = free_port()
    on_port = free_port()
    while on_port == off_port:
        on_port = free_port()
    off = Target(OFF_NAME, INTAKE_PATH, mix.body, off_port, tokens[0], off_url)
    on = Target(ON_NAME, INTAKE_PATH, mix.body, on_port, tokens[1], on_url)
    logs = {port: tmp / f"bench-triage-{name}-{os.getpid()}.log" for port, name in ((off_port, "off"), (on_port, "on"))}
    print(f"setup done in {time.monotonic() - started:.0f}s; gunicorn logs {', '.join(str(p) for p in logs.values())}")
    print(
        "requests: 3 service lines, "
        + ", ".join(f"{k.weight}% {k.name} ({' '.join(c for _, c in k.codes)})" for k in KINDS)
    )
    print(
        f"load: closed loop, {args.clients} in flight, {args.peak_seconds:.0f}s per server in {args.rounds} rounds; "
        f"then open loop at half each peak rate for {args.half_seconds:.0f}s"
    )
    print()
    costs: list[CpuCost] = []
    with ExitStack() as stack:
        pids = {
            port: stack.enter_context(gunicorn(env, port, logs[port])).pid
            for env, port in ((off_env, off_port), (on_env, on_port))
        }
        results, round_ratios = measure([off, on], args)
        if args.cpu_requests:
            costs = [cpu_per_request(t, pids[t.port], args.cpu_requests) for t in (off, on)]
    passed = report(results, round_ratios)
    if costs:
        print()
        report_cpu(costs)
    report_mix(triage_mix(on_url), "what triage made of the requests (on database):")
    report_mix(triage_mix(off_url), "the same requests with triage off (off database):")
    print(f"total time {time.monotonic() - started:.0f}s")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
