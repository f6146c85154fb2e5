"""Benchmark of the flagging engine over synthetic policy libraries.

Run:  .venv/bin/python bench/engine/run.py [--requests N] [--sizes 10,1000,10000] [--seed S]

Uses only policies_app.engine, which is pure, so no Django settings or database are needed.
For each library size it reports the index build time and the per-request evaluation median
and p99, beside a bare dict lookup of the same request codes measured in the same run, so the
figures can be read against the machine's own speed. Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    # Run as a script: make the project importable without installing it.
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from policies_app.engine import (
    CriterionNode,
    LineRequest,
    PolicyIndex,
    RequestData,
    VersionData,
    evaluate_request,
)

SIZES = (10, 1_000, 10_000)
REQUESTS = 10_000
SEED = 20260301

# Targets from issue 3, checked at the largest library.
TARGET_VERSIONS = 10_000
TARGET_MEDIAN_US = 50.0
TARGET_P99_US = 250.0
TARGET_BUILD_S = 2.0

POSITIONS = [
    ("medically_necessary_with_criteria", 40),
    ("investigational", 20),
    ("experimental_investigational", 10),
    ("not_medically_necessary", 10),
    ("cosmetic", 5),
    ("medically_necessary", 10),
    ("undetermined", 5),
]
LINES_OF_BUSINESS = ["commercial", "exchange", "medicare_advantage", "medicaid", "chip"]
FILLER_TEXT = (
    "patient reports chronic low back pain radiating to the left leg with numbness after walking two blocks "
    "physical therapy and nsaids failed over twelve weeks mri shows moderate central canal stenosis at l4 l5 "
    "no bowel or bladder symptoms surgeon recommends decompression and discussed risks and alternatives"
)
FILLER = FILLER_TEXT.split()
FACT_TYPES = {
    "member_age": "integer",
    "diagnosis_codes": "code_list",
    "conservative_therapy_weeks": "integer",
    "ligamentum_flavum_thickness_mm": "number",
    "imaging_confirms_stenosis": "boolean",
    "bmi": "number",
    "current_smoker": "boolean",
}
DIAGNOSES = ["M48.061", "M48.062", "M51.16", "M54.16", "M47.816", "M43.16", "G89.29", "M54.50"]


@dataclass(frozen=True, slots=True)
class Timing:
    """Per-request times in microseconds: CPU time of this thread, and wall-clock time."""

    cpu_median: float
    cpu_p99: float
    wall_median: float
    wall_p99: float


@dataclass(frozen=True, slots=True)
class Result:
    versions: int
    build_s: float
    engine: Timing
    baseline: Timing
    flags_per_request: float

    @property
    def ratio(self) -> float:
        return self.engine.cpu_median / self.baseline.cpu_median if self.baseline.cpu_median else float("inf")


# --- synthetic library ----------------------------------------------------------------------


class Catalogue:
    """The code and term vocabulary libraries and requests draw from, so requests hit policies."""

    def __init__(self, rng: random.Random) -> None:
        numeric = [f"{n:05d}" for n in rng.sample(range(10_000, 70_000), 40_000)]
        category_iii = [f"{n:04d}T" for n in range(1, 800)]
        hcpcs = [f"{letter}{n:04d}" for letter in "ACEGJLS" for n in rng.sample(range(10_000), 300)]
        self.cpt = numeric + category_iii
        self.hcpcs = hcpcs
        stems = ["dyna", "flex", "stabil", "iso", "neuro", "spin", "ortho", "cortex", "lumen", "axi"]
        endings = ["max", "fix", "bolt", "link", "gen", "rod", "loop", "sys", "core", "wave"]
        self.terms = sorted(
            {
                f"{rng.choice(stems)}{rng.choice(endings)}{rng.randrange(100)}"
                + (f" {rng.choice(['nz', 'ii', 'plus', 'system'])}" if rng.random() < 0.4 else "")
                for _ in range(4_000)
            }
        )

    def code(self, rng: random.Random) -> tuple[str, str]:
        if rng.random() < 0.8:
            return "CPT", rng.choice(self.cpt)
        return "HCPCS", rng.choice(self.hcpcs)


def _leaf(rng: random.Random, n: int) -> CriterionNode:
    fact = rng.choice(list(FACT_TYPES))
    fact_type = FACT_TYPES[fact]
    operator: str
    value: Any
    if fact_type == "boolean":
        operator, value = rng.choice(["is_true", "is_false"]), None
    elif fact_type == "code_list":
        operator, value = "any_in", rng.sample([d[:5] for d in DIAGNOSES], 2)
    else:
        operator = rng.choice(["gte", "gt", "lt", "lte"])
        value = {"member_age": 50, "conservative_therapy_weeks": 12, "bmi": 35.0}.get(fact, 2.5)
    return CriterionNode(
        node_type="leaf", label=f"criterion {n}: {fact} {operator} {value}", fact=fact, fact_type=fact_type,
        operator=operator, value=value,
    )  # fmt: skip


def _criteria(rng: random.Random) -> CriterionNode:
    """A tree of depth 3: a root group, subgroups, then leaves."""
    counter = iter(range(1, 100))
    subgroups = []
    for _ in range(rng.randint(2, 3)):
        leaves = tuple(_leaf(rng, next(counter)) for _ in range(rng.randint(2, 3)))
        kind = rng.choice(["all_of", "any_of", "at_least"])
        subgroups.append(
            CriterionNode(
                node_type=kind, label=f"{kind} group", children=leaves, min_met=2 if kind == "at_least" else None
            )
        )
    return CriterionNode(node_type="all_of", label="All of the following", children=tuple(subgroups))


def _codes(rng: random.Random, catalogue: Catalogue) -> tuple[tuple[str, str, str], ...]:
    codes: list[tuple[str, str, str]] = []
    for _ in range(rng.randint(1, 5)):
        system, code = catalogue.code(rng)
        codes.append((system, code, code))
    roll = rng.random()
    if roll < 0.3:
        start = rng.randrange(10_000, 69_000)
        codes.append(("CPT", f"{start:05d}", f"{start + rng.randint(2, 40):05d}"))
    elif roll < 0.4:
        start = rng.randrange(1, 700)
        codes.append(("CPT", f"{start:04d}T", f"{start + rng.randint(1, 20):04d}T"))
    elif roll < 0.402:
        # A few ranges too wide to expand, which the index keeps as ranges and scans.
        start = rng.randrange(10_000, 60_000)
        codes.append(("CPT", f"{start:05d}", f"{start + rng.randint(5_001, 9_000):05d}"))
    return tuple(codes)


def build_library(size: int, rng: random.Random, catalogue: Catalogue) -> list[VersionData]:
    """`size` published versions, one to four per policy, in consecutive date windows."""
    positions, weights = zip(*POSITIONS, strict=True)
    versions: list[VersionData] = []
    policy_id = 0
    while len(versions) < size:
        policy_id += 1
        count = min(rng.randint(1, 4), size - len(versions))
        lobs = frozenset(
            rng.sample(LINES_OF_BUSINESS, rng.randint(1, 3)) if rng.random() < 0.3 else ["commercial", "exchange"]
        )
        start: date | None = None if rng.random() < 0.1 else date(2016, 1, 1) + timedelta(days=rng.randrange(1_500))
        # Successive versions of a policy mostly keep its codes, terms and criteria; each
        # revision may drop a code and add another, or reword the criteria.
        codes = list(_codes(rng, catalogue))
        terms = tuple(rng.sample(catalogue.terms, rng.randint(1, 3))) if rng.random() < 0.3 else ()
        criteria = _criteria(rng)
        for n in range(count):
            if n > 0:
                if len(codes) > 1 and rng.random() < 0.5:
                    codes.pop(rng.randrange(len(codes)))
                if rng.random() < 0.5:
                    system, code = catalogue.code(rng)
                    codes.append((system, code, code))
                if rng.random() < 0.3:
                    criteria = _criteria(rng)
            last = n == count - 1
            length = timedelta(days=rng.randint(180, 900))
            if start is None:
                end: date | None = date(2019, 1, 1) + timedelta(days=rng.randrange(365))
            else:
                end = None if last and rng.random() < 0.7 else start + length
            position = rng.choices(positions, weights)[0]
            versions.append(
                VersionData(
                    version_id=len(versions) + 1,
                    policy_id=policy_id,
                    payer="Synthetic Health Plan",
                    policy_number=f"SYN.{policy_id:05d}",
                    policy_title=f"Synthetic policy {policy_id}",
                    version_label=f"v{n + 1}",
                    effective_start=start,
                    effective_end=end,
                    coverage_position=position,
                    statement=f"Synthetic statement for policy {policy_id} version {n + 1}.",
                    lines_of_business=lobs,
                    codes=tuple(codes),
                    terms=terms,
                    criteria=criteria if position == "medically_necessary_with_criteria" else None,
                )
            )
            if end is None:
                break
            start = end + timedelta(days=1)
    return versions


def build_requests(
    count: int, rng: random.Random, library: Sequence[VersionData], catalogue: Catalogue
) -> list[RequestData]:
    """Requests of 1-5 lines; most lines name a code of the library, some name any code."""
    library_codes = [(system, first) for v in library for system, first, _ in v.codes]
    requests: list[RequestData] = []
    for _ in range(count):
        day = date(2018, 1, 1) + timedelta(days=rng.randrange(3_300))
        lines = []
        for sequence in range(1, rng.randint(1, 5) + 1):
            system, code = rng.choice(library_codes) if rng.random() < 0.7 else catalogue.code(rng)
            description = " ".join(rng.sample(FILLER, 4)) if rng.random() < 0.2 else ""
            lines.append(LineRequest(sequence, system, code, day, description))
        notes = ""
        if rng.random() < 0.5:
            words = rng.sample(FILLER, rng.randint(20, 40))
            if rng.random() < 0.3:
                words.insert(rng.randrange(len(words)), rng.choice(catalogue.terms).upper() + "®")
            notes = " ".join(words).capitalize() + "."
        facts: dict[str, Any] = {}
        if rng.random() < 0.7:
            facts["conservative_therapy_weeks"] = rng.randint(0, 30)
        if rng.random() < 0.5:
            facts["ligamentum_flavum_thickness_mm"] = round(rng.uniform(1.5, 5.0), 1)
        if rng.random() < 0.5:
            facts["imaging_confirms_stenosis"] = rng.random() < 0.7
        if rng.random() < 0.4:
            facts["bmi"] = round(rng.uniform(18, 45), 1)
        if rng.random() < 0.3:
            facts["current_smoker"] = rng.random() < 0.2
        requests.append(
            RequestData(
                line_of_business=rng.choice(LINES_OF_BUSINESS) if rng.random() < 0.2 else "commercial",
                lines=tuple(lines),
                diagnosis_codes=tuple(rng.sample(DIAGNOSES, rng.randint(1, 3))),
                facts=facts,
                member_birth_date=date(1935, 1, 1) + timedelta(days=rng.randrange(25_000)),
                notes=notes,
            )
        )
    return requests


# --- measurement ----------------------------------------------------------------------------


def _samples(requests: Sequence[RequestData], evaluate: Callable[[RequestData], object]) -> tuple[list[int], list[int]]:
    """CPU and wall nanoseconds of each call. CPU time leaves out the time the scheduler gave
    other processes, which on a shared machine is most of the wall-clock tail."""
    cpu, wall = time.thread_time_ns, time.perf_counter_ns
    cpu_ns: list[int] = []
    wall_ns: list[int] = []
    for request in requests:
        w0 = wall()
        c0 = cpu()
        evaluate(request)
        c1 = cpu()
        w1 = wall()
        cpu_ns.append(c1 - c0)
        wall_ns.append(w1 - w0)
    return cpu_ns, wall_ns


def _p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[98]


def _timing(
    requests: Sequence[RequestData], evaluate: Callable[[RequestData], object], overhead: tuple[float, float]
) -> Timing:
    cpu_ns, wall_ns = _samples(requests, evaluate)
    # The clocks cost about a microsecond a read; subtract what timing an empty call costs.
    cpu_us = [max(0.0, (n - overhead[0]) / 1000) for n in cpu_ns]
    wall_us = [max(0.0, (n - overhead[1]) / 1000) for n in wall_ns]
    return Timing(statistics.median(cpu_us), _p99(cpu_us), statistics.median(wall_us), _p99(wall_us))


def _clock_overhead(requests: Sequence[RequestData]) -> tuple[float, float]:
    def nothing(request: RequestData) -> object:
        return request

    cpu_ns, wall_ns = _samples(requests, nothing)
    return statistics.median(cpu_ns), statistics.median(wall_ns)


def measure(size: int, requests_count: int, seed: int) -> Result:
    rng = random.Random(f"{seed}:{size}")
    catalogue = Catalogue(rng)
    library = build_library(size, rng, catalogue)
    requests = build_requests(requests_count, rng, library, catalogue)

    gc.collect()
    started = time.perf_counter()
    index = PolicyIndex(library)
    build_s = time.perf_counter() - started

    # The baseline: what any lookup at all costs, a dict from code to versions, nothing else.
    bare: dict[tuple[str, str], list[int]] = {}
    for version in library:
        for system, first, _ in version.codes:
            bare.setdefault((system, first), []).append(version.version_id)

    def baseline(request: RequestData) -> object:
        return [bare.get((line.code_system, line.code)) for line in request.lines]

    def engine(request: RequestData) -> object:
        return evaluate_request(index, request)

    # One full pass first: it warms the index's code cache the way a running server's is warm,
    # and counts the flags.
    flags = sum(len(evaluate_request(index, r)) for r in requests)
    # The library and requests live for the whole run, as a server's index does; freezing them
    # keeps the collector from rescanning them, which a server that preloads its index does too.
    gc.collect()
    gc.freeze()
    try:
        overhead = _clock_overhead(requests)
        engine_timing = _timing(requests, engine, overhead)
        baseline_timing = _timing(requests, baseline, overhead)
    finally:
        gc.unfreeze()
    return Result(
        versions=len(index),
        build_s=build_s,
        engine=engine_timing,
        baseline=baseline_timing,
        flags_per_request=flags / len(requests),
    )


def run(sizes: Sequence[int] = SIZES, requests_count: int = REQUESTS, seed: int = SEED) -> list[Result]:
    return [measure(size, requests_count, seed) for size in sizes]


def report(results: Sequence[Result], requests_count: int) -> tuple[str, bool]:
    """The table and the PASS/FAIL lines; also whether every target was met."""
    header = (
        f"{'versions':>9} {'build ms':>9} | {'engine cpu us':>17} {'engine wall us':>17} | "
        f"{'dict cpu us':>13} | {'ratio':>6} {'flags/req':>10}"
    )
    sub = (
        f"{'':>9} {'':>9} | {'median':>8} {'p99':>8} {'median':>8} {'p99':>8} | {'median':>6} {'p99':>6} | "
        f"{'median':>6} {'':>10}"
    )
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    lines = [
        f"flagging engine: {requests_count:,} requests of 1-5 lines per library; load average {load}",
        header,
        sub,
        "-" * len(header),
    ]
    for r in results:
        e, b = r.engine, r.baseline
        lines.append(
            f"{r.versions:>9,} {r.build_s * 1000:>9.1f} | {e.cpu_median:>8.1f} {e.cpu_p99:>8.1f} "
            f"{e.wall_median:>8.1f} {e.wall_p99:>8.1f} | {b.cpu_median:>6.2f} {b.cpu_p99:>6.2f} | "
            f"{r.ratio:>5.0f}x {r.flags_per_request:>10.2f}"
        )
    lines.append("")
    ok = True
    target = next((r for r in results if r.versions == TARGET_VERSIONS), None)
    if target is None:
        lines.append(f"targets not checked: no library of {TARGET_VERSIONS:,} versions was measured")
        return "\n".join(lines), ok
    checks = [
        (f"median per request < {TARGET_MEDIAN_US:.0f} us (cpu)", target.engine.cpu_median, TARGET_MEDIAN_US, "us"),
        (f"p99 per request < {TARGET_P99_US:.0f} us (cpu)", target.engine.cpu_p99, TARGET_P99_US, "us"),
        (f"index build < {TARGET_BUILD_S:.0f} s", target.build_s, TARGET_BUILD_S, "s"),
    ]
    for name, value, limit, unit in checks:
        passed = value < limit
        ok &= passed
        lines.append(f"{'PASS' if passed else 'FAIL'}  {name} at {TARGET_VERSIONS:,} versions: {value:.3g} {unit}")
    return "\n".join(lines), ok


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=REQUESTS, help="requests per library (default %(default)s)")
    parser.add_argument(
        "--sizes", default=",".join(map(str, SIZES)), help="library sizes in versions (default %(default)s)"
    )
    parser.add_argument("--seed", type=int, default=SEED, help="random seed (default %(default)s)")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    if hasattr(os, "sched_setaffinity"):
        # The target is per core: keep the run on one CPU so it is not spread across several.
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    text, ok = report(run(sizes, args.requests, args.seed), args.requests)
    print(text)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
