"""What the importer's tests read a document for: the result, its codes as text, its devices."""

from __future__ import annotations

from policies_app.importing import extract_document
from policies_app.importing.result import ImportResult

# A policy with nothing but a position, so the text a test appends is all there is to find devices in.
DEVICE_POLICY = """Northwind Health Plan
Medical Policy

Title: Invented Procedure
Policy Number: NW-0042
Effective Date: 03/01/2025

Policy

The procedure is considered medically necessary.

Description

"""


def extract(text: str, file: str = "policy.txt") -> ImportResult:
    return extract_document(text.encode(), file=file)


def codes(result: ImportResult) -> list[str]:
    """Each code as "SYSTEM:code" or "SYSTEM:start-end"."""
    return [
        f"{c.value['system']}:{c.value['code']}" + (f"-{c.value['code_end']}" if c.value["code_end"] else "")
        for c in result.many("codes")
    ]


def devices(body: str, file: str = "policy.txt") -> dict[str, str]:
    """Each device read from `body` under a bare policy, by name, with its short name."""
    result = extract(DEVICE_POLICY + body, file)
    return {t.value["name"]: t.value["short"] for t in result.many("terms") if t.value["kind"] == "device"}
