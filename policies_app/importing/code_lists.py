"""The CPT, HCPCS and ICD-10-CM codes of a policy's code sections and tables, ranges kept as ranges."""

from __future__ import annotations

import re
from dataclasses import replace

from policies_app.codes import code_problem, normalize_code, range_problem
from policies_app.importing.readers import BOX_RULES, Document, Line
from policies_app.importing.result import Field
from policies_app.importing.spans import field_at
from policies_app.importing.structure import Section, section_text_lines

_SYSTEM_RES = [
    # An export's key spells the system without its hyphens ("ICD10CM").
    ("ICD10CM", re.compile(r"\bICD-?10(?:-?CM)?\b|\bdiagnos[ie]s\b", re.I)),
    ("HCPCS", re.compile(r"\bHCPCS\b", re.I)),
    ("CPT", re.compile(r"\bCPT\b|\bprocedure\s+codes?\b", re.I)),
]
_CODE_SHAPES = {
    "CPT": r"\d{4}[0-9FTU]",
    "HCPCS": r"[A-V]\d{4}",
    "ICD10CM": r"[A-TV-Z]\d[0-9A-Z](?:\.[0-9A-Z]{1,4})?",
}
_DASH = r"\s*(?:-|–|—|through|thru|to)\s*"
_CODE_RES = {
    system: re.compile(rf"(?<![\w.])(?P<a>{shape})(?:{_DASH}(?P<b>{shape}))?(?![\w])")
    for system, shape in _CODE_SHAPES.items()
}
# A number a label names as another kind of identifier ("Change Request (CR) 11290", "Transmittal
# 12034", "Publication 100-03", "P.O. Box 10450") is no code, even in a codes section.
_OTHER_NUMBER_LABEL_RE = re.compile(
    r"\b(?:change\s+requests?|CRs?|transmittals?|publications?|pubs?\.?|manual|P\.?\s?O\.?\s+box|box|suite|"
    r"zip(?:\s+code)?|fax|phone|tel\.?|form|ticket|policy)\s*(?:\([A-Z]{1,6}\)\s*)?"
    r"(?:no\.?\s*|number\s*|#\s*)?$",
    re.I,
)
_ANY_CODE_RE = re.compile(
    rf"(?<![\w.])(?:{_CODE_SHAPES['CPT']}|{_CODE_SHAPES['HCPCS']}|{_CODE_SHAPES['ICD10CM']})(?![\w])"
)


def _system_of(code: str) -> str | None:
    for system in ("CPT", "HCPCS", "ICD10CM"):
        if re.fullmatch(_CODE_SHAPES[system], code):
            if (
                system == "ICD10CM"
                and not re.search(r"[A-Z]\d\d", code[:3])
                and not re.search(r"[A-Z]\d[A-Z]", code[:3])
            ):
                return None
            return system
    return None


# A numbered heading's number ("4.", "4.2", "IV.", "B.") and a contents entry's page number after it
# (" ........ 5", " 5").
_HEADING_NUMBER_RE = re.compile(r"^\s*(?:\d{1,2}(?:\.\d{1,2})*\.?|[IVX]{1,5}\.|[A-Z]\.)\s+(?=[A-Za-z])")
_PAGE_NUMBER_RE = re.compile(r"(?:\s*[.·]{2,}\s*|[ \t]+)\d{1,3}\s*$")


def contents_entries_dropped(document: Document, found: list[Section], kind: str) -> list[Section]:
    """The sections, with those of `kind` headed by a table of contents' entry set apart as "contents".

    A numbered heading ("4. Coding") that heads a section of the same kind again further down is the
    contents' entry the first time: one document does not number two sections alike. The lines under
    the entry are the contents and the body up to the next heading, not the section of its kind,
    which starts at the second one.
    """

    def entry(text: str) -> str:
        return " ".join(_PAGE_NUMBER_RE.sub("", text).split()).casefold()

    headings = [s.heading_line for s in found if s.kind == kind and s.heading_line is not None]

    def is_contents_entry(section: Section) -> bool:
        line = section.heading_line
        if section.kind != kind or line is None:
            return False
        text = document.line_text(line).strip()
        return bool(_HEADING_NUMBER_RE.match(text)) and any(
            later.start > line.start and entry(document.line_text(later)) == entry(text) for later in headings
        )

    return [replace(s, kind="contents") if is_contents_entry(s) else s for s in found]


def read_codes(document: Document, found: list[Section], errors: list[str]) -> list[Field]:
    found = contents_entries_dropped(document, found, "codes")
    code_lines = section_text_lines(document, found, "codes")
    # A short table row that names its code system ("ICD-10-CM | I48.0 | Paroxysmal ...") reads like
    # a codes heading; a heading that holds a code is such a row, and its code is listed.
    code_lines += [
        s.heading_line
        for s in found
        if s.kind == "codes" and s.heading_line is not None and _ANY_CODE_RE.search(document.line_text(s.heading_line))
    ]
    code_lines += _code_rows_read_as_headings(document, found)
    code_lines += _captioned_code_tables(document, found)
    listed = {id(line) for line in code_lines}
    code_lines += [
        line
        for line in document.lines
        if id(line) not in listed
        and (
            _LABELLED_CODES_RE.match(document.line_text(line))
            or _SYSTEM_LED_ROW_RE.match(document.line_text(line))
            or is_code_record(document.line_text(line))
        )
    ]
    listed = {id(line) for line in code_lines}
    code_lines += [line for line in _codes_label_rows(document) if id(line) not in listed]
    # A table read cell by cell (one row per indication, its codes in a "Codes" column) lists each
    # row's codes in that column's cell, whatever section the table stands in.
    listed = {id(line) for line in code_lines}
    cells = _codes_column_cells(document)
    code_lines += [line for line in document.lines if id(line) in cells and id(line) not in listed]
    code_lines.sort(key=lambda ln: ln.start)
    if not code_lines:
        # Without a codes section, only table rows and lines that begin with a code are read: a row's
        # first cell, or its second after a code-type cell ("CPT\t64582", "| HCPCS | L1810 |").
        code_lines = [
            ln
            for ln in document.lines
            if re.match(r"^\s*\|?\s*(?:[^\s|]+\s*[\t|])?\s*" + _ANY_CODE_RE.pattern, document.line_text(ln))
        ]
    codes: dict[tuple[str, str, str, int], Field] = {}
    system: str | None = None
    following = {id(a): b for a, b in zip(document.lines, document.lines[1:], strict=False)}
    joined: set[int] = set()
    range_end_column: int | None = None
    for line in code_lines:
        if id(line) in joined:
            continue
        full = document.line_text(line)
        if _CODE_HEADER_ROW_RE.match(full):
            range_end_column = _range_end_column(full)
        elif range_end_column is not None:
            full = _join_range_cells(full, range_end_column)
        # A range the page broke after its "through" goes on at the next line's first code
        # ("C50.011 through" / "C50.929; ..."); the break reads as a space, so offsets still hold.
        after = following.get(id(line))
        if after is not None and _OPEN_RANGE_RE.search(full) and _CODE_ROW_RE.match(document.line_text(after)):
            full = document.text[line.start : after.end].replace("\n", " ")
            joined.add(id(after))
        # A paragraph may list codes in more than one sentence ("G0398 and G0399: ... CPT 95800 ...").
        for segment in re.finditer(r".+?(?:\.(?=\s+[A-Z])|$)", full):
            system = _segment_codes(
                document, line.start + segment.start(), segment.group(0), system, codes, errors, cells.get(id(line), -1)
            )
    return list(codes.values())


# The header of a table's column of codes: "Codes", "Billing code(s)", "CPT/HCPCS", "ICD-10-CM codes";
# not one that describes them ("Code description").
_CODES_COLUMN_RE = re.compile(r"^(?!.*\bdescri)(?:.*\bcode(?:s|\(s\))?\b|.*\b(?:CPT|HCPCS|ICD-?10(?:-CM)?)\b)", re.I)


def _codes_column_cells(document: Document) -> dict[int, int]:
    """The lines of cells in a codes column of a table read cell by cell, each to its cell's number.

    A cell's lines follow each other (a cell may break its list over lines); another column's line
    between them starts the next cell.
    """
    cells: dict[int, int] = {}
    number = 0
    previous_in_column = False
    for line in document.lines:
        in_column = line.cell and bool(_CODES_COLUMN_RE.search(line.column))
        if in_column:
            if not previous_in_column:
                number += 1
            cells[id(line)] = number
        previous_in_column = in_column
    return cells


# A line that names its code system before its codes ("CPT: 0001T and 0002T", "4.2<TAB>ICD-10-CM:
# A01.1; ...") lists codes wherever it stands, as a pasted document's code section may not read as one.
_LABELLED_CODES_RE = re.compile(
    r"^\s*(?:\d{1,2}(?:\.\d{1,2})*\.?\s+|[-•*]\s+)?(?:CPT|HCPCS|ICD-?10(?:-CM)?)(?:\s*®)?(?:\s+(?:diagnosis|procedure))?(?:\s+codes?)?\s*:\s*"
    + _ANY_CODE_RE.pattern
)
# A code list's line that names its system before its code or range, the description a column away
# ("CPT 33361 through 33366<TAB>Replacement ...", "ICD-10-CM K21.9   Reflux ..."): the code stands
# alone in its column, as a sentence's code never does ("CPT 27704 does not require ...").
_SYSTEM_LED_ROW_RE = re.compile(
    r"^\s*(?:CPT|HCPCS|ICD-?10(?:-?CM)?)(?:\s*®)?[ \t]+(?:"
    + _ANY_CODE_RE.pattern
    + r")(?:[ \t]*(?:-|–|—|through|thru|to)[ \t]*(?:"
    + _ANY_CODE_RE.pattern
    + r"))?(?:\t|[ \t]{2,}|[ \t]*$)"
)
# A delimited export's record of a code: its type and key cells name the record and the code system,
# its value cell starts with the code ('CODE,CPT,,,,"27702|Arthroplasty ..."', 'code;ICD10CM;M19.071').
_CODE_RECORD_RE = re.compile(
    r'^\s*"?[A-Za-z_]*codes?"?[ \t]*[,;][ \t]*"?(?:CPT|HCPCS|ICD-?10(?:-?CM)?)"?[ \t]*(?:[,;][ \t]*"?[ \t]*)+(?:'
    + _ANY_CODE_RE.pattern
    + r")",
    re.I,
)


def is_code_record(text: str) -> bool:
    """Whether the line is a delimited export's record of one code (or range)."""
    return bool(_CODE_RECORD_RE.match(text))


# The cell borders of a table drawn with box characters or pipes, and a tab between cells.
_CELL_BORDER = "\t|" + BOX_RULES
_CODES_LABEL_CELL_RE = re.compile(
    r"^(?:(?:billing|procedure|diagnosis|applicable|covered)\s+)?(?:codes?|code\(s\)|CPT|HCPCS|ICD-?10(?:-?CM)?)"
    r"(?:\s*(?:/|and|&)\s*(?:CPT|HCPCS|ICD-?10(?:-?CM)?))*(?:\s+codes?)?\s*:?$",
    re.I,
)


def _cells(text: str) -> list[str]:
    """A table row's cells, the row's outer borders left out."""
    inner = text.strip().strip(BOX_RULES + "|").strip()
    return [cell.strip() for cell in re.split(f"[{_CELL_BORDER}]", inner)]


def _codes_label_rows(document: Document) -> list[Line]:
    """The rows of a two-column table whose label cell names codes ("│ Codes │ CPT 64628, 64629 │").

    A label-and-value table (a letter's summary box, a fact sheet) lists the policy's codes in the
    value beside its "Codes" label; the rows below whose label cell is empty go on with that value.
    """
    rows: list[Line] = []
    in_codes = False
    for line in document.lines:
        text = document.line_text(line)
        if not re.search(f"[{_CELL_BORDER}]", text.strip().strip(BOX_RULES + "|")):
            if not re.fullmatch(r"\s*[─━═┌┐└┘├┤┬┴┼╔╗╚╝╠╣╦╩╬+\-=|]*\s*", text):
                in_codes = False
            continue
        cells = _cells(text)
        if cells[0]:
            in_codes = bool(_CODES_LABEL_CELL_RE.match(cells[0])) and any(
                _ANY_CODE_RE.search(cell) for cell in cells[1:]
            )
        if in_codes:
            rows.append(line)
    return rows


_OPEN_RANGE_RE = re.compile(rf"(?:{_ANY_CODE_RE.pattern})\s*(?:-|–|—|through|thru|to)\s*$")


_CODE_ROW_RE = re.compile(r"^\s*(?:" + _ANY_CODE_RE.pattern + r")")
# The header of a column that ends a range begun in the code column before it ("CODE<TAB>THRU",
# "Code from | Code to", "Start code<TAB>End code"), as a register or a claims table prints its ranges.
_RANGE_END_HEADER_RE = re.compile(
    r"^(?:(?:code|range)\s+)?(?:thru|through|to|end(?:ing)?|last)(?:\s+code)?$|^range\s+end$", re.I
)
_CODE_CELL_RE = re.compile(rf"^\s*(?:{_ANY_CODE_RE.pattern})\s*$")


def _range_end_column(header: str) -> int | None:
    """The index of a header's range-end column, when the column before it holds the codes."""
    cells = [cell.strip() for cell in re.split(r"\t|\|", header)]
    for index, cell in enumerate(cells[1:], start=1):
        if _RANGE_END_HEADER_RE.match(cell) and re.search(
            r"\bcodes?\b|\bfrom\b|\bstart|\bfirst|\bbegin", cells[index - 1], re.I
        ):
            return index
    return None


def _join_range_cells(row: str, column: int) -> str:
    """The row with a code in the range-end column joined to the code before it by a dash.

    The tab (or pipe) between the two cells becomes the dash, so every offset in the row still holds.
    """
    bounds = [0, *(m.start() for m in re.finditer(r"[\t|]", row)), len(row)]
    if len(bounds) < column + 2:
        return row
    cell = row[bounds[column] + 1 : bounds[column + 1]]
    before = row[bounds[column - 1] + (1 if column > 1 else 0) : bounds[column]]
    if not (_CODE_CELL_RE.match(cell) and _CODE_CELL_RE.match(before)):
        return row
    return row[: bounds[column]] + "-" + row[bounds[column] + 1 :]


def _code_rows_read_as_headings(document: Document, found: list[Section]) -> list[Line]:
    """Rows that go on a code table but whose words read as a heading ("Z80.3 Family history of ...").

    A line that starts with a code, right after a codes section or another such row, is the table's
    next row whatever kind of section its description names; so are the lines below it that start with
    a code, and a description wrapped onto a line of its own between two of them, up to the first
    line that is neither.
    """
    rows: list[Line] = []
    after_codes = False
    for section in found:
        line = section.heading_line
        if section.kind == "codes":
            after_codes = True
            continue
        if after_codes and line is not None and _CODE_ROW_RE.match(document.line_text(line)):
            rows.append(line)
            body = [ln for ln in section.lines if document.line_text(ln).strip()]
            for index, row in enumerate(body):
                if _CODE_ROW_RE.match(document.line_text(row)):
                    rows.append(row)
                elif not (
                    index + 1 < len(body)
                    and _CODE_ROW_RE.match(document.line_text(body[index + 1]))
                    and not _ANY_CODE_RE.search(document.line_text(row))
                ):
                    break
            continue
        after_codes = False
    return rows


_SYSTEM_CELL_ROW_RE = re.compile(
    r"^\s*\|?\s*(?:(?:CPT|HCPCS|ICD-?10(?:-CM)?)\s*[\t|]\s*)?(?:" + _ANY_CODE_RE.pattern + r")", re.I
)
# A code table's header row: "Code | Description", or the code system as the column's name ("CPT<TAB>Description").
_CODE_HEADER_ROW_RE = re.compile(
    r"^(?=.*[\t|])(?=.*(?:\bcodes?\b|\bCPT\b|\bHCPCS\b|\bICD-?10(?:-CM)?\b))(?:[^\d]|(?<=ICD-)10|(?<=ICD)10)*$", re.I
)
# A table's caption over its header row ("Cosmetic", "Not medically necessary"): a few words, no sentence.
_TABLE_CAPTION_RE = re.compile(r"^\s*[A-Za-z][^\t|.;:\d]{0,60}:?\s*$")


def _captioned_code_tables(document: Document, found: list[Section]) -> list[Line]:
    """Code tables after a codes section under captions of their own ("Not covered", "Experimental").

    A caption's words may name another kind of section, but a section that holds nothing but a code
    table's header and rows goes on listing the policy's codes.
    """
    rows: list[Line] = []
    after_codes = False
    for section in found:
        if section.kind == "codes":
            after_codes = True
            continue
        texts = [document.line_text(line) for line in section.lines if document.line_text(line).strip()]
        if (
            after_codes
            and texts
            and any(_SYSTEM_CELL_ROW_RE.match(t) for t in texts)
            and all(
                _SYSTEM_CELL_ROW_RE.match(t)
                or _CODE_HEADER_ROW_RE.match(t)
                # A caption between two tables heads the header row that follows it.
                or (
                    _TABLE_CAPTION_RE.match(t)
                    and len(t.split()) <= 6
                    and i + 1 < len(texts)
                    and bool(_CODE_HEADER_ROW_RE.match(texts[i + 1]))
                )
                for i, t in enumerate(texts)
            )
        ):
            rows.extend(section.lines)
            continue
        after_codes = False
    return rows


# A range's dash left hanging at the end of a narrow code cell ("M17.10–"), the cell's next line
# ("M17.12") printed after the first line of the description beside it.
_DANGLING_DASH_RE = re.compile(r"[-–—][ \t]+(?=[A-Za-z])")


def _wrapped_range_end(text: str, match: re.Match[str], system: str) -> re.Match[str] | None:
    """The end of a range whose code cell wrapped after its dash, or None.

    The dash stands straight after the first code and words follow it; the end is the next code in the
    row, of the same category and after the first, with only the description's words between them.
    """
    if not _DANGLING_DASH_RE.match(text, match.end()):
        return None
    following = _ANY_CODE_RE.search(text, match.end())
    if following is None or not re.fullmatch(_CODE_SHAPES[system], following.group(0)):
        return None
    first, last = match.group("a"), following.group(0)
    if first[:3] != last[:3] or last <= first:
        return None
    if range_problem(system, normalize_code(system, first), normalize_code(system, last)):
        return None
    return following


def _segment_codes(
    document: Document,
    offset: int,
    text: str,
    system: str | None,
    codes: dict[tuple[str, str, str, int], Field],
    errors: list[str],
    cell: int = -1,
) -> str | None:
    """Read the codes of one sentence or row into `codes`; return the code system in force after it.

    A code is listed once, except once per cell of a codes column (`cell`, -1 outside one): each row
    of a table by indication lists the codes of its indication, and a code may serve two.
    """
    first_code = _ANY_CODE_RE.search(text)
    prefix = text[: first_code.start()] if first_code else text
    for name, pattern in _SYSTEM_RES:
        if pattern.search(prefix):
            system = name
            break
    if first_code is None:
        return system
    # A description follows the line's last code; a line that lists codes alone has none.
    line_codes: list[tuple[str, str, str, int, int]] = []
    wrapped_description = ""
    position = first_code.start()
    while position < len(text):
        hit = None
        for candidate in ("CPT", "HCPCS", "ICD10CM"):
            match = _CODE_RES[candidate].match(text, position)
            if match and (hit is None or match.end() > hit[1].end()):
                hit = (candidate, match)
        if hit is None:
            separator = re.match(r"[\s,;/\t]+|and\s+|or\s+", text[position:])
            if separator is None:
                break
            position += separator.end()
            continue
        shape_system, match = hit
        if _OTHER_NUMBER_LABEL_RE.search(text[max(0, match.start() - 40) : match.start()]):
            position = match.end()
            continue
        code_system = shape_system
        if system in ("CPT", "HCPCS", "ICD10CM") and re.fullmatch(_CODE_SHAPES[system], match.group("a")):
            code_system = system
        elif shape_system == "ICD10CM" and re.fullmatch(_CODE_SHAPES["HCPCS"], match.group("a")):
            code_system = "HCPCS"
        end_code = None if match.group("b") else _wrapped_range_end(text, match, code_system)
        if end_code is not None:
            # The description's first line stands between the two ends; it is kept with the rest.
            wrapped_description = text[match.end() : end_code.start()].strip(" \t-–—")
            line_codes.append(
                (code_system, match.group("a"), end_code.group(0), offset + match.start(), offset + end_code.end())
            )
            position = end_code.end()
            continue
        line_codes.append(
            (code_system, match.group("a"), match.group("b") or "", offset + match.start(), offset + match.end())
        )
        position = match.end()
    description = " ".join(text[position:].strip(" \t-–:|").split())
    if wrapped_description:
        description = " ".join(f"{wrapped_description} {description}".split())
    for code_system, first, last, start, end in line_codes:
        first = normalize_code(code_system, first)
        last = normalize_code(code_system, last) if last else ""
        problem = range_problem(code_system, first, last) if last else code_problem(code_system, first)
        if problem:
            errors.append(
                f"codes: {document.text[start:end]!r} is not a valid {code_system} code ({problem}); left out"
            )
            continue
        key = (code_system, first, last, cell)
        value = {
            "system": code_system,
            "code": first,
            "code_end": last,
            "description": description if len(line_codes) == 1 else "",
        }
        codes.setdefault(key, field_at(document, value, start, end, 0.95 if system else 0.85))
    return system
