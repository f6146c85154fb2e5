"""Code formats: CPT, HCPCS Level II and ICD-10-CM (checked against the real code set, with its billable codes)."""

from __future__ import annotations

import re
from functools import lru_cache

import simple_icd_10_cm as icd

# CPT: category I is five digits; category II ends in F, category III in T, PLA codes in U.
CPT_RE = re.compile(r"^[0-9]{4}[0-9FTU]$")
# HCPCS Level II: a letter A-V followed by four digits.
HCPCS_RE = re.compile(r"^[A-V][0-9]{4}$")
# X12 1365 service type codes: "3", "42", "A4", "BT".
SERVICE_TYPE_RE = re.compile(r"^[0-9A-Z]{1,2}$")


def normalize_code(system: str, code: str) -> str:
    code = code.strip().upper()
    if system == "ICD10CM":
        bare = code.replace(".", "")
        return bare if len(bare) <= 3 else f"{bare[:3]}.{bare[3:]}"
    return code


@lru_cache(maxsize=65536)
def icd10cm_is_valid(code: str) -> bool:
    return bool(icd.is_valid_item(code))


@lru_cache(maxsize=65536)
def icd10cm_is_billable(code: str) -> bool:
    """A code valid for reporting: a leaf of the tabular list, with no more specific code under it.

    A category (M48) or subcategory (M48.06) is a valid code, as a policy's code list may name
    one, but only its leaves may be reported on a claim or a request (ICD-10-CM Official
    Guidelines for Coding and Reporting, Section I.B.2, "Level of Detail in Coding").
    """
    return bool(icd.is_valid_item(code)) and bool(icd.is_leaf(code))


def code_problem(system: str, code: str) -> str | None:
    """Return what is wrong with a code in its system, or None when it is well-formed."""
    if system == "CPT":
        if not CPT_RE.match(code):
            return f"{code!r} is not a CPT code: five characters, digits with an optional final F, T or U"
        return None
    if system == "HCPCS":
        if not HCPCS_RE.match(code):
            return f"{code!r} is not a HCPCS Level II code: a letter A-V then four digits"
        return None
    if system == "X12_1365":
        if not SERVICE_TYPE_RE.match(code):
            return f"{code!r} is not an X12 1365 service type code: one or two letters or digits"
        return None
    if system == "ICD10CM":
        if not icd10cm_is_valid(normalize_code(system, code)):
            return f"{code!r} is not an ICD-10-CM code"
        return None
    return f"unknown code system {system!r}"


def diagnosis_problem(code: str) -> str | None:
    """What is wrong with a diagnosis code on a request, or None when it may be reported."""
    problem = code_problem("ICD10CM", code)
    if problem:
        return problem
    if not icd10cm_is_billable(normalize_code("ICD10CM", code)):
        return f"{code!r} is not a billable code: use a more specific one"
    return None


def range_problem(system: str, first: str, last: str) -> str | None:
    for code in (first, last):
        problem = code_problem(system, code)
        if problem:
            return problem
    if len(first) != len(last) or last < first:
        return f"range {first}-{last} must run from the lower to the higher code of the same form"
    return None
