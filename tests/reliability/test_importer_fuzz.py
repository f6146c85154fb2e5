"""The policy importer fuzzed: garbled payer documents import completely or are refused cleanly.

Real documents (the importer's samples and, when present, the two payer policies in
../shared/policies) are mutated the way files get damaged or hand-edited: lines deleted,
duplicated, swapped or replaced by fragments of other policies, text or bytes inserted, bytes
flipped, the file cut short, a line stretched far beyond any column size. Each result goes
through `manage.py import_policy`, as an editor would run it, and must either

- import completely: a draft version whose codes, terms, missing fields and stored source are
  exactly what the parser read from those bytes (or "unchanged", for bytes seen before); or
- be refused with the importer's own error (ImportRefused: the command prints "refused" and
  exits 1), writing nothing: no row in any policy table, no file in storage.

Any other exception (a database error, a ValueError from a date) fails the test. Hypothesis is
derandomized, so the examples are the same on every run and a failure reproduces.
"""

from __future__ import annotations

import hashlib
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policies_app.importer import parse_policy
from policies_app.importing.services import is_seed_layout, policy_document_extract
from policies_app.models import Criterion, Policy, PolicyCode, PolicyTerm, PolicyVersion

pytestmark = pytest.mark.django_db

SAMPLES = Path(__file__).resolve().parents[1] / "policies_app" / "samples"
SHARED = Path(__file__).resolve().parents[3] / "shared" / "policies"
DOCUMENTS = sorted(SAMPLES.glob("*.txt")) + sorted(SHARED.glob("*.txt"))
MAX_EXAMPLES = 150
# Samples the importer refuses as they are (tests/policies_app/test_importer.py says why).
REFUSED_AS_THEY_ARE = {"unknown-format.txt", "wellmark-no-position.txt"}

# Pieces of real policies, so a mutation often produces something the parser half-recognises.
FRAGMENTS = [
    "07.01.89 Image-Guided Minimally Invasive Decompression for Spinal Stenosis",
    "Original Effective Date: January 2010",
    "Original Effective Date: February 30, 2024",
    "Review Date: 13/45/2020",
    "Revised: July 2023",
    "Revised:",
    "POLICY",
    "CODES",
    "POLICY HISTORY",
    "DESCRIPTION",
    "CPT\t62330\tDecompression",
    "CPT\t0274T-0275T\tPercutaneous laminotomy",
    "HCPCS\tG0276\tImage-guided decompression",
    "CPT\t9999999999999\tNot a code",
    "ICD-10\tM48.062\tStenosis",
    "This Policy version was replaced on January 27, 2025",
    "This Policy version was replaced on",
    "Dynamic stabilization is considered EXPERIMENTAL/INVESTIGATIVE.",
    "is considered investigational and is therefore not covered.",
    "Medicare Advantage and Medicaid products may have different coverage.",
    "The Dynesys® System and the BioFlex™ System",
    "Wellmark Blue Cross and Blue Shield",
    "Blue Cross and Blue Shield of Minnesota",
    "07/2023\tAnnual review\tNo change",
    "\t\t\t",
    "",
]

LINE = st.integers(min_value=0, max_value=5000)
OFFSET = st.integers(min_value=0, max_value=60000)
MUTATION = st.one_of(
    st.tuples(st.just("delete_line"), LINE),
    st.tuples(st.just("duplicate_line"), LINE),
    st.tuples(st.just("swap_lines"), LINE, LINE),
    st.tuples(st.just("replace_line"), LINE, st.sampled_from(FRAGMENTS)),
    st.tuples(st.just("insert_line"), LINE, st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=60))),
    st.tuples(st.just("insert_bytes"), OFFSET, st.binary(min_size=1, max_size=6)),
    st.tuples(st.just("flip_byte"), OFFSET, st.integers(min_value=1, max_value=255)),
    st.tuples(st.just("truncate"), OFFSET),
    st.tuples(st.just("stretch_line"), LINE, st.integers(min_value=40, max_value=3000)),
)


def mutate(data: bytes, mutation: tuple[Any, ...]) -> bytes:
    kind = mutation[0]
    lines = data.split(b"\n")
    if kind in ("delete_line", "duplicate_line", "replace_line", "insert_line", "stretch_line", "swap_lines"):
        i = mutation[1] % max(len(lines), 1)
        if kind == "delete_line":
            del lines[i]
        elif kind == "duplicate_line":
            lines.insert(i, lines[i])
        elif kind == "replace_line":
            lines[i] = mutation[2].encode()
        elif kind == "insert_line":
            lines.insert(i, mutation[2].encode("utf-8", "surrogatepass"))
        elif kind == "stretch_line":
            lines[i] = (lines[i] or b"x") * (mutation[2] // max(len(lines[i]), 1) + 1)
        else:
            j = mutation[2] % max(len(lines), 1)
            lines[i], lines[j] = lines[j], lines[i]
        return b"\n".join(lines)
    at = mutation[1] % (len(data) + 1)
    if kind == "insert_bytes":
        return data[:at] + mutation[2] + data[at:]
    if kind == "flip_byte":
        if not data:
            return data
        at %= len(data)
        return data[:at] + bytes([data[at] ^ mutation[2]]) + data[at + 1 :]
    return data[:at]  # truncate


def counts() -> tuple[int, ...]:
    return tuple(m.objects.count() for m in (Policy, PolicyVersion, PolicyCode, PolicyTerm, Criterion))


def stored(media: Path) -> set[Path]:
    return {p for p in media.rglob("*") if p.is_file()} if media.exists() else set()


@pytest.fixture
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def run_import(path: Path, editor: User) -> tuple[str, int]:
    out = StringIO()
    try:
        call_command("import_policy", str(path), "--as", editor.username, stdout=out)
    except CommandError as exc:
        return out.getvalue(), exc.returncode
    return out.getvalue(), 0


def assert_imported_completely(data: bytes, output: str, media: Path) -> None:
    version = PolicyVersion.objects.get(source_sha256=hashlib.sha256(data).hexdigest())
    if output.startswith("unchanged"):
        return
    assert output.startswith("created"), output
    if not is_seed_layout(data):
        # Not a seed layout (or not of the payer it names): imported from the general extraction.
        result = policy_document_extract(data=data, filename="fuzz.txt")
        assert version.status == "draft"
        assert (version.policy.payer, version.policy.number) == (result.value("payer"), result.value("number") or "")
        assert version.codes.count() == len(result.many("codes"))
        with version.source_document.open("rb") as handle:
            assert handle.read() == data
        return
    parsed = parse_policy(data)
    assert version.status == "draft"
    assert version.coverage_position == parsed.coverage_position
    assert version.statement == parsed.statement
    assert version.missing_fields == parsed.missing_fields
    assert (version.policy.payer, version.policy.number) == (parsed.payer, parsed.number)
    assert version.codes.count() == len(parsed.codes)
    assert sorted(version.terms.values_list("term", flat=True)) == sorted(term for term, _ in parsed.terms)
    with version.source_document.open("rb") as handle:
        assert handle.read() == data
    assert Path(version.source_document.path).resolve().is_relative_to(media.resolve())


@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    document=st.sampled_from(DOCUMENTS),
    mutations=st.lists(MUTATION, min_size=1, max_size=4),
)
def test_a_garbled_document_is_imported_whole_or_refused_cleanly(
    editor: User, media: Path, tmp_path: Path, document: Path, mutations: list[tuple[Any, ...]]
) -> None:
    data = document.read_bytes()
    for mutation in mutations:
        data = mutate(data, mutation)
    path = tmp_path / f"fuzz-{hashlib.sha256(data).hexdigest()[:16]}.txt"
    path.write_bytes(data)
    before = counts(), stored(media)

    output, code = run_import(path, editor)

    if code == 0:
        assert_imported_completely(data, output, media)
    else:
        assert code == 1, output
        assert output.startswith(f"refused   {path}: "), output
        assert (counts(), stored(media)) == before, "a refused import wrote something"


def test_the_documents_to_mutate_are_there() -> None:
    assert len(DOCUMENTS) >= 6
    assert any(parse_policy(d.read_bytes()).codes for d in DOCUMENTS if d.name not in REFUSED_AS_THEY_ARE)


def test_the_unmutated_documents_import_or_are_refused_as_designed(editor: User, media: Path) -> None:
    for document in DOCUMENTS:
        # Each on its own: two samples are versions of one policy with the same label.
        with transaction.atomic():
            output, code = run_import(document, editor)
            if document.name in REFUSED_AS_THEY_ARE:
                assert code == 1 and output.startswith("refused"), output
            else:
                assert code == 0, output
                assert_imported_completely(document.read_bytes(), output, media)
            transaction.set_rollback(True)
