"""Quality and speed of the policy importer (issue 20) on a corpus of invented payer policies.

Run from the project root:  .venv/bin/python bench/importer/run.py [--set corpus|heldout|heldout2|heldout3|heldout4|heldout5|heldout6|heldout7|heldout8|heldout9|heldout10|heldout11|heldout12|heldout13|heldout14|all] [--documents N]
[--show FILE] [--misses]

The corpus (bench/importer/corpus/) holds 16 documents in 10 layouts, written for the project in
the style of real payers' policies: a national carrier's bulletin, a Blue plan with a numbered
header, a replaced-version banner in free text, a Medicare LCD, a Medicaid managed-care policy, a
regional commercial plan, a national carrier's web policy, and three written after the importer
was first measured (`ho-*`: a Blue plan web policy with a subject table, a coverage policy with
dotted leaders and lost bullets, a state Medicaid manual chapter); as text, saved web pages and
PDFs. The three PDFs are printed at set-up from their `.source.html` with the installed PDF
library (WeasyPrint, else ReportLab), as an editor's browser would print a page. Each
document's expected extraction is bench/importer/expected/<document>.json.

The corpus is also the importer's development set. The held-out set (bench/importer/heldout/, the
same layout of corpus/ and expected/) holds documents in layouts the corpus does not have, each
written with its expected extraction before the importer was run on it, and must not be used to
tune the importer: its figures are the honest estimate for a payer's document the importer has not
seen. `--set heldout` scores it, `--set all` scores every set and prints each set's figures separately.
A second held-out set (bench/importer/heldout2/, `--set heldout2`) was written without reading the
importer, after the first had been used to improve it; see its README.md.

It reports precision and recall per field group against the issue's targets, with PASS/FAIL, and
the time to read and extract the corpus and N documents (the corpus repeated; default 1,000),
beside a baseline measured in the same run: reading the same files into normalized text only.
Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "casemgmt.settings")

import django  # noqa: E402

django.setup()

from rapidfuzz import fuzz, utils  # noqa: E402

from policies_app.importing.extract import extract_document  # noqa: E402
from policies_app.importing.facts import FactSpec  # noqa: E402
from policies_app.importing.readers import read_document, read_html  # noqa: E402
from policies_app.importing.result import ImportResult  # noqa: E402
from policies_app.importing.terms import short_name  # noqa: E402

TARGETS = {
    "codes": 0.98,
    "dates": 0.98,
    "position": 0.95,
    "lines of business": 0.95,
    "devices/terms": 0.90,
    "criteria leaves": 0.85,
    "fact mappings": 0.75,
}
DATE_KINDS = ("effective_start", "effective_end", "original_effective", "last_review")


@dataclass
class Score:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, other: Score) -> None:
        self.tp, self.fp, self.fn = self.tp + other.tp, self.fp + other.fp, self.fn + other.fn

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


def multiset(expected: list[str], found: list[str]) -> Score:
    e, f = Counter(expected), Counter(found)
    tp = sum((e & f).values())
    return Score(tp, sum(f.values()) - tp, sum(e.values()) - tp)


def pairs(expected: list[str], found: list[Any], same: Any) -> tuple[Score, list[tuple[int, int]]]:
    """One-to-one matches, best first, between expected and found items under `same` (a score, or 0)."""
    candidates = sorted(((same(e, f), i, j) for i, e in enumerate(expected) for j, f in enumerate(found)), reverse=True)
    used_e: set[int] = set()
    used_f: set[int] = set()
    matched: list[tuple[int, int]] = []
    for score, i, j in candidates:
        if score and i not in used_e and j not in used_f:
            used_e.add(i)
            used_f.add(j)
            matched.append((i, j))
    return Score(len(matched), len(found) - len(matched), len(expected) - len(matched)), matched


def _norm(text: str) -> str:
    return utils.default_process(text)


def same_device(expected: str, found: tuple[str, str]) -> float:
    name, short = found
    scores = [fuzz.ratio(_norm(expected), _norm(name)), fuzz.ratio(_norm(short_name(expected)), _norm(short))]
    best = max(scores)
    return best if best >= 90 else 0


def same_label(expected: str, found: str) -> float:
    score = fuzz.ratio(_norm(expected), _norm(found))
    return score if score >= 85 else 0


def same_fact(expected: dict[str, Any] | None, found: dict[str, Any] | None) -> bool:
    if expected is None or found is None:
        return False
    if expected["key"] != found["key"] or expected["operator"] != found["operator"]:
        return False
    if isinstance(expected["value"], int | float) and isinstance(found["value"], int | float):
        return abs(float(expected["value"]) - float(found["value"])) < 1e-9
    return bool(expected["value"] == found["value"])


def score_document(expected: dict[str, Any], result: ImportResult) -> dict[str, Score]:
    data = result.as_json()
    fields = data["fields"]
    scores: dict[str, Score] = {}

    codes = [
        f"{c['value']['system']}:{c['value']['code']}"
        + (f"-{c['value']['code_end']}" if c["value"]["code_end"] else "")
        for c in fields.get("codes", [])
    ]
    scores["codes"] = multiset(expected["codes"], codes)

    want = [f"{k}={expected['dates'][k]}" for k in DATE_KINDS if expected["dates"].get(k)]
    want += [f"history={d}" for d in expected["dates"]["history"]]
    got = [f"{k}={fields[k]['value']}" for k in DATE_KINDS if k in fields]
    got += [f"history={row['value']['date']}" for row in fields.get("history", [])]
    scores["dates"] = multiset(want, got)

    scores["position"] = multiset(expected["positions"], [p["value"]["position"] for p in fields.get("positions", [])])

    lob = expected["lines_of_business"]
    scores["lines of business"] = multiset(
        [f"excluded:{v}" for v in lob["excluded"]] + [f"only:{v}" for v in lob["only"]],
        [f"excluded:{f['value']}" for f in fields.get("lines_of_business_excluded", [])]
        + [f"only:{f['value']}" for f in fields.get("lines_of_business_only", [])],
    )

    devices = [
        (t["value"]["name"], t["value"]["short"]) for t in fields.get("terms", []) if t["value"]["kind"] == "device"
    ]
    scores["devices/terms"], _ = pairs(expected["devices"], devices, same_device)

    leaves = [leaf for root in result.criteria for leaf in root.leaves()]
    found_leaves = [leaf.as_json() for leaf in leaves]
    expected_leaves = expected["criteria"]
    scores["criteria leaves"], matched = pairs(
        [e["label"] for e in expected_leaves], [f["label"] for f in found_leaves], same_label
    )
    tp = sum(1 for i, j in matched if same_fact(expected_leaves[i]["fact"], found_leaves[j].get("fact")))
    with_fact_expected = sum(1 for e in expected_leaves if e["fact"])
    with_fact_found = sum(1 for f in found_leaves if f.get("fact"))
    scores["fact mappings"] = Score(tp, with_fact_found - tp, with_fact_expected - tp)
    return scores


def print_misses(expected: dict[str, Any], result: ImportResult) -> None:
    fields = result.as_json()["fields"]
    devices = [
        (t["value"]["name"], t["value"]["short"]) for t in fields.get("terms", []) if t["value"]["kind"] == "device"
    ]
    _, matched = pairs(expected["devices"], devices, same_device)
    for i, name in enumerate(expected["devices"]):
        if i not in {a for a, _ in matched}:
            print(f"    device missed: {name}")
    for j, found in enumerate(devices):
        if j not in {b for _, b in matched}:
            print(f"    device extra: {found[0]} ({found[1]})")
    leaves = [leaf.as_json() for root in result.criteria for leaf in root.leaves()]
    for leaf in leaves:
        want = next((e for e in expected["criteria"] if same_label(e["label"], leaf["label"])), None)
        wanted = want["fact"] if want else None
        if (wanted or leaf.get("fact")) and not same_fact(wanted, leaf.get("fact")):
            print(f"    fact: {leaf['label'][:60]!r} got {leaf.get('fact')} expected {wanted}")


SETS = {
    "corpus": HERE,
    "heldout": HERE / "heldout",
    "heldout2": HERE / "heldout2",
    "heldout3": HERE / "heldout3",
    "heldout4": HERE / "heldout4",
    "heldout5": HERE / "heldout5",
    "heldout6": HERE / "heldout6",
    "heldout7": HERE / "heldout7",
    "heldout8": HERE / "heldout8",
    "heldout9": HERE / "heldout9",
    "heldout10": HERE / "heldout10",
    "heldout11": HERE / "heldout11",
    "heldout12": HERE / "heldout12",
    "heldout13": HERE / "heldout13",
    "heldout14": HERE / "heldout14",
}


def print_pdfs(directory: Path, sources: list[Path]) -> str:
    """Print each .source.html to a PDF in `directory`; the library used, by name."""
    try:
        import weasyprint

        for source in sources:
            target = directory / source.name.replace(".source.html", ".pdf")
            target.write_bytes(weasyprint.HTML(filename=str(source)).write_pdf())
        return f"WeasyPrint {weasyprint.__version__}"
    except (ImportError, OSError):
        # OSError: WeasyPrint installed without the system's Pango.
        pass
    from reportlab.lib.pagesizes import letter
    from reportlab.pdfgen.canvas import Canvas

    for source in sources:
        target = directory / source.name.replace(".source.html", ".pdf")
        canvas = Canvas(str(target), pagesize=letter)
        y = 750.0
        for line in read_html(source.read_bytes()).text.split("\n"):
            if y < 50:
                canvas.showPage()
                y = 750.0
            canvas.drawString(40, y, line.replace("\t", "  ")[:110])
            y -= 13
        canvas.save()
    return "ReportLab (text drawn line by line)"


def load_set(root: Path, printed_to: Path) -> list[tuple[str, bytes, dict[str, Any]]]:
    """The documents of one set (corpus/ and expected/ under `root`), PDFs read from `printed_to`."""
    documents: list[tuple[str, bytes, dict[str, Any]]] = []
    for path in sorted((root / "expected").glob("*.json")):
        expected = json.loads(path.read_text())
        name = expected["document"]
        source = printed_to / name if name.endswith(".pdf") else root / "corpus" / name
        documents.append((name, source.read_bytes(), expected))
    return documents


def layout_name(layout: str) -> str:
    """A layout's name without the format it was saved in: "Medicare LCD (saved web page)" and
    "Medicare LCD (printed to PDF)" are one layout; "text (a CSV export ...)" names the format first."""
    name = layout.split(" (")[0]
    return layout if name.lower() in {"text", "html", "pdf"} else name


def report_set(
    label: str,
    documents: list[tuple[str, bytes, dict[str, Any]]],
    catalogue: list[FactSpec],
    args: argparse.Namespace,
) -> bool:
    """Print one set's per-document scores and per-field figures against the targets; True if all are met."""
    layouts = {layout_name(e["layout"]) for _, _, e in documents}
    print(f"\n{label}: {len(documents)} documents, {len(layouts)} layouts")
    totals = {group: Score() for group in TARGETS}
    print(f"\n{'document':<46} " + " ".join(f"{g[:9]:>9}" for g in TARGETS))
    for name, data, expected in documents:
        result = extract_document(data, file=name, catalogue=catalogue)
        scores = score_document(expected, result)
        cells = []
        for group, score in scores.items():
            totals[group].add(score)
            cells.append(f"{score.tp:>3}/{score.tp + score.fp:>2}/{score.tp + score.fn:>2}")
        print(f"{name:<46} " + " ".join(f"{c:>9}" for c in cells))
        if args.misses:
            print_misses(expected, result)
        if args.show and args.show in name:
            print(json.dumps(result.as_json()["fields"], indent=1)[:6000])
            print(json.dumps([r.as_json() for r in result.criteria], indent=1)[:6000])
            print(result.errors)
    print("(cells: correct / extracted / expected)")

    print(f"\n{label}: {'field group':<20} {'precision':>9} {'recall':>7} {'target':>7}  result")
    passed = True
    for group, target in TARGETS.items():
        score = totals[group]
        ok = score.precision >= target and score.recall >= target
        passed &= ok
        print(
            f"{label}: {group:<20} {score.precision:>9.1%} {score.recall:>7.1%} {target:>7.0%}  {'PASS' if ok else 'FAIL'}"
        )
    return passed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--set",
        choices=(*SETS, "all"),
        default="corpus",
        help="which documents to score: the corpus (default), a held-out set, or all, each reported separately",
    )
    parser.add_argument("--documents", type=int, default=1000, help="documents in the timed run (default 1000)")
    parser.add_argument("--show", default="", help="print the extraction of this document")
    parser.add_argument("--misses", action="store_true", help="print each device and fact mapping that missed")
    args = parser.parse_args()

    chosen = list(SETS) if args.set == "all" else [args.set]
    catalogue = [FactSpec(*row) for row in json.loads((HERE / "catalogue.json").read_text())["facts"]]
    with tempfile.TemporaryDirectory() as tmp:
        sources = sorted(source for name in chosen for source in (SETS[name] / "corpus").glob("*.source.html"))
        printed = print_pdfs(Path(tmp), sources)
        sets = {name: load_set(SETS[name], Path(tmp)) for name in chosen}
    print(f"PDFs printed with {printed}")

    failed = False
    for name, documents in sets.items():
        failed |= not report_set(name, documents, catalogue, args)

    documents = [document for name in chosen for document in sets[name]]
    corpus = [(name, data) for name, data, _ in documents]
    started = time.perf_counter()
    for name, data in corpus:
        read_document(data, name)
    baseline = time.perf_counter() - started
    started = time.perf_counter()
    for name, data in corpus:
        extract_document(data, file=name, catalogue=catalogue)
    corpus_seconds = time.perf_counter() - started
    started = time.perf_counter()
    for i in range(args.documents):
        name, data = corpus[i % len(corpus)]
        extract_document(data, file=name, catalogue=catalogue)
    many_seconds = time.perf_counter() - started
    print(f"\nread and extract the scored documents ({len(corpus)}): {corpus_seconds:.2f} s")
    print(
        f"baseline, reading them to normalized text only: {baseline:.3f} s (extraction is {corpus_seconds / baseline:.1f}x)"
    )
    ok = many_seconds < 120
    failed |= not ok
    print(
        f"read and extract {args.documents:,} documents: {many_seconds:.1f} s (target under 120 s)  {'PASS' if ok else 'FAIL'}"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
