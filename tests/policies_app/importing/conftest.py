"""Fixtures for the importer's tests: a fact catalogue, small PDFs made by hand, the bench corpus."""

from __future__ import annotations

from pathlib import Path

import pytest

from policies_app.importing.facts import FactSpec

CORPUS = Path(__file__).resolve().parents[3] / "bench" / "importer" / "corpus"
SAMPLES = Path(__file__).resolve().parents[1] / "samples"
SHARED_POLICIES = Path(__file__).resolve().parents[4] / "shared" / "policies"

CATALOGUE = [
    FactSpec("member_age", "Member age on the date of service", "integer", "years"),
    FactSpec("diagnosis_codes", "Diagnosis codes on the request (ICD-10-CM)", "code_list", ""),
    FactSpec("conservative_therapy_weeks", "Weeks of failed conservative therapy", "integer", "weeks"),
    FactSpec("symptom_duration_months", "Duration of symptoms", "integer", "months"),
    FactSpec("imaging_confirms_stenosis", "Imaging confirms spinal stenosis", "boolean", ""),
    FactSpec("bmi", "Body mass index", "number", "kg/m2"),
    FactSpec("current_smoker", "Current tobacco smoker", "boolean", ""),
    FactSpec("cobb_angle_degrees", "Cobb angle of the major curve", "number", "degrees"),
    FactSpec("hba1c_percent", "Hemoglobin A1c (HbA1c)", "number", "%"),
]


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def make_pdf(lines: list[str]) -> bytes:
    """A one-page PDF whose text layer holds these lines (Helvetica, top to bottom); no lines: no text."""
    body = "".join(f"({_escape(line)}) Tj 0 -14 Td\n" for line in lines)
    stream = f"BT /F1 11 Tf 50 750 Td\n{body}ET".encode("latin-1") if lines else b"0 0 1 rg 50 50 200 200 re f"
    return pdf_of_page(stream)


def pdf_of_page(stream: bytes) -> bytes:
    """A one-page PDF drawing this content stream, with Helvetica as font F1."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, content in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + content + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


@pytest.fixture
def catalogue() -> list[FactSpec]:
    return list(CATALOGUE)


@pytest.fixture(autouse=True)
def media(settings, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT
