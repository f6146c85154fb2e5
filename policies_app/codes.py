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
    """What is wrong with a range of codes, or None when it is well-formed.

    An ICD-10-CM range follows the tabular order of the code set (see `icd10cm_range_span`), so
    its ends may differ in length (E10.10-E10.9), but must lie in one chapter. Other systems'
    codes have one length and shape, so a range runs between two codes of the same form.
    """
    for code in (first, last):
        problem = code_problem(system, code)
        if problem:
            return problem
    if system == "ICD10CM":
        return icd10cm_range_problem(first, last)
    if len(first) != len(last) or last < first:
        return f"range {first}-{last} must run from the lower to the higher code of the same form"
    return None


@lru_cache(maxsize=1)
def icd10cm_tabular() -> tuple[tuple[str, ...], dict[str, int]]:
    """The codes of ICD-10-CM in the order of its tabular list, and each code's position in it.

    The library's `get_all_codes` lists the tabular list depth first, so the codes under a code
    follow it; its chapters and blocks ("13", "M00-M02") are headings, not codes, and a block of
    one category (B99) is listed under the same name as its category, hence kept once.
    """
    codes = tuple(
        code
        for code in dict.fromkeys(icd.get_all_codes(with_dots=True))
        if icd.is_category_or_subcategory(code) or icd.is_extended_subcategory(code)
    )
    return codes, {code: i for i, code in enumerate(codes)}


def icd10cm_position(code: str) -> int | None:
    """A code's position in the tabular order; None for what is not an ICD-10-CM code."""
    return icd10cm_tabular()[1].get(normalize_code("ICD10CM", code))


def icd10cm_chapter(code: str) -> str:
    """The number of the chapter a valid code is in ("4" for E10.65)."""
    return icd.get_ancestors(normalize_code("ICD10CM", code))[-1]


def icd10cm_range_problem(first: str, last: str) -> str | None:
    """What is wrong with an ICD-10-CM range whose ends are valid items, or None."""
    start, end = icd10cm_position(first), icd10cm_position(last)
    if start is None or end is None:
        heading = first if start is None else last
        return f"{heading!r} in range {first}-{last} is a chapter or block of ICD-10-CM, not a code"
    first_chapter, last_chapter = icd10cm_chapter(first), icd10cm_chapter(last)
    if first_chapter != last_chapter:
        return (
            f"range {first}-{last} crosses ICD-10-CM chapters ({first} is in chapter {first_chapter}, "
            f"{last} in chapter {last_chapter}): list one range per chapter"
        )
    if end < start:
        return (
            f"range {first}-{last} must run from the lower to the higher code in ICD-10-CM tabular order: "
            f"{last} comes before {first}"
        )
    return None


@lru_cache(maxsize=4096)
def icd10cm_range_span(first: str, last: str) -> tuple[int, int] | None:
    """The first and last position, in tabular order, of the codes in an ICD-10-CM range; None
    when an end is not a code or the ends are reversed.

    Payers mean a range as the tabular list reads: from `first` through `last` and every code
    under `last` (M41.1-M41.12 holds M41.122; S32.0-S32.2 holds S32.2XXA), so the span ends at
    the last code under `last`.
    """
    start, end = icd10cm_position(first), icd10cm_position(last)
    if start is None or end is None or end < start:
        return None
    under = icd.get_descendants(normalize_code("ICD10CM", last))
    return start, icd10cm_tabular()[1][under[-1]] if under else end


def icd10cm_range_codes(first: str, last: str) -> tuple[str, ...]:
    """Every code of an ICD-10-CM range, in tabular order (none for a range `range_problem` refuses
    for its order or ends)."""
    span = icd10cm_range_span(first, last)
    return icd10cm_tabular()[0][span[0] : span[1] + 1] if span is not None else ()


def icd10cm_in_range(code: str, first: str, last: str) -> bool:
    """Whether a code is in an ICD-10-CM range (tabular order; every code under `last` too)."""
    position = icd10cm_position(code)
    span = icd10cm_range_span(first, last)
    return position is not None and span is not None and span[0] <= position <= span[1]


def icd10cm_range_roots(first: str, last: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """An ICD-10-CM range as the fewest (codes, roots) that hold exactly its codes: each of
    `codes` alone, and each of `roots` with every code under it.

    A code of ICD-10-CM begins with the code it is under (M48.06, M48.061, S32.2, S32.2XXA), so a
    database holds a whole range, however wide, as `code IN codes OR code LIKE 'root%'`. A code
    with codes under it is a root when the range holds all of them; leaves, and the ancestors of
    `last` whose later codes the range leaves out, are matched alone.
    """
    codes, position = icd10cm_tabular()
    span = icd10cm_range_span(first, last)
    if span is None:
        return (), ()
    lo, hi = span
    alone: list[str] = []
    roots: list[str] = []
    i = lo
    while i <= hi:
        code = codes[i]
        under = icd.get_descendants(code)
        end = position[under[-1]] if under else i
        if under and end <= hi:
            roots.append(code)
            i = end + 1
        else:
            alone.append(code)
            i += 1
    return tuple(alone), tuple(roots)
