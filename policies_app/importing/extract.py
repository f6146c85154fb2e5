"""From a document's normalized text to fields with source spans and confidences.

Nothing here knows a payer: identity, dates, positions, lines of business, codes, terms and the
prior-authorization statement are read from the words documents use for them, in the sections
whose headings say they hold them (or the whole text when the document has no headings).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from datetime import date, timedelta

from policies_app.codes import code_problem, normalize_code, range_problem
from policies_app.importer import ImportRefused
from policies_app.importing.criteria import FactSpec, criteria_trees
from policies_app.importing.dates import DATE_PATTERN, DATE_RE, to_date
from policies_app.importing.readers import Document, Line, read_document
from policies_app.importing.result import Field, ImportResult, Source
from policies_app.importing.structure import Section, section_text_lines, sections
from policies_app.importing.terms import NOT_PRODUCTS, TM_RE, Term, TermIndex, short_name, strip_marks
from policies_app.requirement_rules import requirement_from_statement


def _src(document: Document, start: int, end: int) -> Source:
    return Source(start, end, document.text[start:end])


def _field(document: Document, value: object, start: int, end: int, confidence: float) -> Field:
    return Field(value, _src(document, start, end), confidence)


def _span_text(document: Document, lines: Sequence[Line]) -> list[tuple[int, str]]:
    return [(line.start, document.line_text(line)) for line in lines]


# --- identity --------------------------------------------------------------------------------

_NUMBER_RES: list[tuple[re.Pattern[str], float]] = [
    (
        re.compile(
            r"\b(?:medical\s+|coverage\s+)?policy\s*(?:number|no\.?|#|id)\s*(?:[:#]|\.{2,})?\s*(?P<v>(?=[A-Z0-9.\-_/]*\d)[A-Z0-9][A-Z0-9.\-_/]{1,48})(?![\w])",
            re.I,
        ),
        0.95,
    ),
    (re.compile(r"\b(?:LCD|NCD|article)\s*(?:ID|number)?\s*[:#]?\s*(?P<v>[LA]\d{5})\b", re.I), 0.95),
    (
        re.compile(
            r"\b(?:reference|document)\s*(?:number|no\.?|#)\s*[:#]?\s*(?P<v>(?=[A-Z0-9.\-]*\d)[A-Z0-9][A-Z0-9.\-]{1,30})(?![\w])",
            re.I,
        ),
        0.85,
    ),
    (re.compile(r"^\s*(?P<v>\d{2}\.\d{2}\.\d{2})\s+\S", re.M), 0.9),
]
_TITLE_RE = re.compile(
    r"^\s*(?:(?:policy|lcd|document)\s+)?(?:title|subject)\s*[:\t]\s*(?P<v>\S.{2,299}?)\s*$", re.I | re.M
)
_PAYER_CORE = (
    r"(?:(?:Department|Division|Agency)\s+of\s+(?:[A-Z][a-z]+\s+(?:and\s+)?){0,3}(?:Services|Health|Assistance)|"
    r"Blue\s*Cross(?:\s+(?:and|&)\s+Blue\s*Shield)?|Blue\s*Shield|Health\s*Plans?|Health\s*care|Health\s+Care|"
    r"Health\s+Partners|Health\s+Alliance|Health|Insurance(?:\s+Company)?|Mutual|Medicaid(?:\s+Program)?|Care)"
)
_PAYER_RE = re.compile(
    rf"(?P<v>(?:[A-Z][\w&'.\-]*\s+){{0,4}}{_PAYER_CORE}(?:\s+of\s+[A-Z][a-z]+(?:\s+(?!Medical|Policy|Policies|Plans?|Members?|Provider)[A-Z][a-z]+)?)?"
    # The company's legal form is part of its name: "Crestline Health Corporation", "... Insurance Co.".
    rf"(?:,?\s+(?:Corporation|Corp\.|Company|Co\.|Inc\.|Incorporated|LLC|L\.L\.C\.|Association|Cooperative))?)(?=[\s,.;:)®™]|$)"
)
_PAYER_CUE_RE = re.compile(r"©|\bcopyright\b|\bissued\s+by\b|\bproprietary\b|\bmedical\s+policy\b|\bplan\b", re.I)
_NOT_PAYERS = re.compile(
    r"^(?:federal\s+employee|american\s+|national\s+|public\s+health|mental\s+health|behavioral\s+health|home\s+health|"
    r"health\s+care\s+(?:professional|provider)|the\s+|this\s+|our\s+|your\s+|member|medical|minnesota\s+health\s+care)",
    re.I,
)


_PAYER_LABEL_RE = re.compile(
    r"^\s*(?:contractor|payer|health\s+plan|insurer|carrier|plan)(?:\s+name)?\s*[:\t]\s*(?P<v>[A-Z][^\t\n]{2,120}?)\s*$",
    re.I | re.M,
)


def _payer(document: Document, front: list[Line], given: str) -> Field | None:
    if match := _PAYER_LABEL_RE.search(document.text):
        return _field(document, match.group("v"), match.start("v"), match.end("v"), 0.95)
    candidates: list[tuple[float, int, int]] = []
    for index, line in enumerate(document.lines):
        text = document.line_text(line)
        if text.isupper():
            # A letterhead in capitals ("SUMMIT HEALTH PLAN") reads as the name it spells.
            text = text.title()
        in_front = line in front[:12]
        cue = bool(_PAYER_CUE_RE.search(text))
        whole = _PAYER_RE.fullmatch(text.strip()) is not None
        if not (in_front or cue or whole):
            continue
        for match in _PAYER_RE.finditer(text):
            name = match.group("v").strip()
            words = name.split()
            if len(words) < 2 or _NOT_PAYERS.match(name) or name.lower() in ("blue cross", "health plan"):
                continue
            # The first line of a document is its letterhead: the issuer's name, whatever else follows.
            confidence = 0.9 if cue or whole or index == 0 else 0.8
            candidates.append((confidence - index * 1e-6, line.start + match.start("v"), line.start + match.end("v")))
    if candidates:
        # Ties go to the name read first, as a reader reads a letterhead.
        confidence, start, end = max(candidates, key=lambda c: (c[0], -c[1]))
        name = " ".join(document.text[start:end].split())
        return _field(document, name.title() if name.isupper() else name, start, end, round(confidence, 2))
    if given:
        return Field(given, Source(0, 0, ""), 0.9)
    return None


def _number(document: Document) -> Field | None:
    head = document.text[:4000]
    for pattern, confidence in _NUMBER_RES:
        if match := pattern.search(head):
            value = match.group("v").rstrip(".,;")
            return _field(document, value, match.start("v"), match.start("v") + len(value), confidence)
    return None


def _title(document: Document, found: list[Section], number: Field | None) -> Field | None:
    if match := _TITLE_RE.search(document.text[:4000]):
        return _field(document, match.group("v"), match.start("v"), match.end("v"), 0.95)
    if number is not None and number.source.end:
        line = next((ln for ln in document.lines if ln.start <= number.source.start < ln.end + 1), None)
        if line is not None:
            rest = document.text[number.source.end : line.end].strip(" \t:-–")
            if len(rest) > 5:
                start = document.text.index(rest, number.source.end)
                return _field(document, rest, start, start + len(rest), 0.85)
    for line in document.lines[:15]:
        if line.heading:
            return _title_from_line(document, line, 0.8)
    if number is not None and number.source.end:
        # A title line printed just above the policy number.
        index = next((i for i, ln in enumerate(document.lines) if ln.start <= number.source.start <= ln.end), 0)
        if index > 0:
            above = document.line_text(document.lines[index - 1]).strip()
            if ":" not in above and 5 < len(above) <= 150 and not above.isupper():
                return _title_from_line(document, document.lines[index - 1], 0.7)
    return None


_TITLE_PREFIX_RE = re.compile(
    r"^(?:clinical|medical|coverage|payment)\s+(?:policy|bulletin)(?:\s+bulletin)?\s*:\s*", re.I
)


def _title_from_line(document: Document, line: Line, confidence: float) -> Field:
    raw = document.line_text(line)
    text = raw.strip()
    start = line.start + raw.index(text)
    if prefix := _TITLE_PREFIX_RE.match(text):
        start += prefix.end()
        text = text[prefix.end() :]
    return _field(document, text, start, start + len(text), confidence)


# --- dates -------------------------------------------------------------------------------------

_DATE_LABELS: list[tuple[str, str, float]] = [
    (
        "original_effective",
        r"original\s+effective\s+date|original\s+effective|(?:originally|first|initially)\s+effective(?:\s+date)?|"
        r"initial\s+effective\s+date|date\s+of\s+origin|original\s+(?:policy\s+)?date|origination\s+date|policy\s+created|"
        # The first version's date, in the words of a page's header: "First adopted", "Originally
        # published", "Created: February 2020".
        r"(?:originally|first|initially)\s+(?:adopted|published|issued|approved)|(?:date\s+)?created(?:\s+on)?|"
        r"original\s+(?:approval|publication|issue)\s+date",
        0.95,
    ),
    (
        "effective_end",
        r"retirement\s+date|end\s+date|ending\s+date|expiration\s+date|termination\s+date|archived?\s+(?:date|on)",
        0.9,
    ),
    ("next_review", r"next\s+(?:annual\s+)?review(?:\s+date)?|scheduled\s+review", 0.9),
    # "Last committee review", "Last annual review": who reviewed stands between the words.
    ("last_review", r"last\s+(?:[a-z]+\s+)?review(?:ed)?(?:\s+date)?|review\s+date|reviewed", 0.9),
    (
        "revised",
        r"revision\s+effective\s+date|last\s+revised|last\s+revision\s+date|revision\s+date|revised(?:\s+date)?|date\s+revised",
        0.9,
    ),
    (
        "effective_start",
        r"(?:current\s+)?effective\s+date|effective\s+on|effective|date\s+effective|policy\s+effective",
        0.95,
    ),
    ("effective_start", r"publish(?:ed)?\s+date|date\s+published", 0.8),
]
# What stands between a date's label and the date in Medicare and claims wording: "Revision Effective
# Date / For services performed on or after 02/01/2026".
_DATE_LEAD = (
    r"(?:for\s+)?(?:(?:services|claims|items|dates?\s+of\s+service)\s+(?:(?:performed|rendered|furnished|provided|"
    r"processed|received)\s+)?)?(?:on\s+or\s+after|beginning(?:\s+on)?|starting(?:\s+on)?|as\s+of|on)"
)
_DATE_LABEL_RES = [
    (
        kind,
        re.compile(
            rf"(?<![\w-])(?:{words})\s*(?:[:\-–|\t]\s*|\s+|\.{{2,}}\s*){{1,3}}(?:{_DATE_LEAD}\s+)?(?P<d>{DATE_PATTERN})",
            re.I,
        ),
        conf,
    )
    for kind, words, conf in _DATE_LABELS
]
# A date label that belongs to another period than the policy's own: an LCD's "Notice Period End
# Date" or "Comment Period Start Date" ends the notice, not the policy.
_OTHER_PERIOD_RE = re.compile(r"\b(?:notice|comment|grace|transition|enrollment|open)\s+period\s*$", re.I)
# The dates of the policy that replaces this one: "... is replaced by SURG-0418, Lumbar Stenosis,
# effective 01-Apr-2025" starts the successor, not this version.
_SUCCESSOR_RE = re.compile(r"\b(?:replaced|superseded|succeeded)\s+by\b|\breplacement\s+policy\b", re.I)
_REPLACED_RE = re.compile(
    rf"(?:this\s+(?:policy\s+)?version\s+(?:was|has\s+been)\s+replaced|replaced|superseded|retired)\s+(?:on|effective|as\s+of)\s+(?P<d>{DATE_PATTERN})",
    re.I,
)


def _sentence_before(text: str, line_start: int, offset: int) -> str:
    """The words of the sentence before `offset`, back over the lines a page wrapped it from.

    A line before that ends a sentence, or is a row of a table (tabs, pipes), starts nothing new here.
    """
    start = line_start
    while start > 0:
        previous_start = text.rfind("\n", 0, start - 1) + 1
        previous = text[previous_start : start - 1]
        if not previous.strip() or re.search(r"[\t|]|[.!?:;]\s*$", previous) or start - previous_start > 400:
            break
        start = previous_start
    return re.split(r"[.!?](?=\s)", text[start:offset])[-1]


def _dates(
    document: Document, fields: dict[str, Field | list[Field]], history: list[Field], found: list[Section]
) -> None:
    text = document.text
    starts = [line.start for line in document.lines]

    def line_start(offset: int) -> int:
        index = bisect.bisect_right(starts, offset) - 1
        return starts[index] if index >= 0 else 0

    # A history table's "Revised 08/07/2025" is a past event, not this version's label.
    taken: list[tuple[int, int]] = [
        (s.lines[0].start, s.lines[-1].end)
        for s in found
        if s.kind == "history" and s.lines and not _labelled_dates(document, s)
    ]
    for kind, pattern, confidence in _DATE_LABEL_RES:
        for match in pattern.finditer(text):
            if any(s <= match.start() < e for s, e in taken):
                continue
            if _OTHER_PERIOD_RE.search(text[max(0, match.start() - 40) : match.start()]):
                continue
            if _SUCCESSOR_RE.search(_sentence_before(text, line_start(match.start()), match.start())):
                continue
            parsed = to_date(match.group("d"))
            if parsed is None:
                continue
            taken.append((match.start(), match.end()))
            if kind not in fields:
                value, has_day = parsed
                fields[kind] = _field(
                    document, value, match.start(), match.end(), confidence if has_day else confidence - 0.05
                )
            break
    if banner := _REPLACED_RE.search(text):
        replaced = to_date(banner.group("d"))
        if replaced is not None:
            fields["replaced_on"] = _field(document, replaced[0], banner.start(), banner.end(), 0.95)
            # A policy replaced on a day ends the day before; one "retired on" a day applies through that
            # day, as its archive notice keeps it for services on or before it. An end date the
            # document states in so many words beats either.
            last_day = (
                replaced[0] if re.match(r"retired\s+on\b", banner.group(0), re.I) else replaced[0] - timedelta(days=1)
            )
            fields.setdefault("effective_end", _field(document, last_day, banner.start(), banner.end(), 0.95))
    start = fields.get("effective_start")
    if start is None and isinstance(revised := fields.get("revised"), Field):
        # A document that states only when it was revised takes effect then.
        fields["effective_start"] = Field(revised.value, revised.source, min(revised.confidence, 0.85))
    start_field = fields.get("effective_start")
    if "effective_end" not in fields and isinstance(start_field, Field):
        later = [
            row
            for row in history
            if isinstance(row.value.get("date"), date)
            and row.value["date"] > start_field.value
            and re.search(
                r"revis|replac|new\s+version|updated?\b",
                row.value.get("action", "") + " " + row.value.get("detail", ""),
                re.I,
            )
            and not re.search(r"no\s+change|renewed|annual\s+review\s*$", row.value.get("action", ""), re.I)
        ]
        if later:
            first = min(later, key=lambda row: row.value["date"])
            fields["effective_end"] = Field(first.value["date"] - timedelta(days=1), first.source, 0.6)


_LABEL_KINDS_RES = [(kind, re.compile(rf"^\W*(?:{words})\W*$", re.I)) for kind, words, _ in _DATE_LABELS]


def _labelled_dates(document: Document, section: Section) -> bool:
    """A "Policy History" heading over the policy's labelled dates, one of each ("Last Review 04/10/2025",
    "Originally effective 03/27/2009", "Next Review 04/09/2026"), as a bulletin's header block prints them.

    Those are the policy's dates, not a log of events: a log repeats its actions and never looks ahead
    to a next review or back to when the policy first took effect.
    """
    kinds: list[str] = []
    for line in section.lines:
        text = document.line_text(line)
        match = DATE_RE.search(text)
        if match is None:
            # A statement printed below the dates is no row of a log either.
            continue
        label = text[: match.start()]
        kind = next((k for k, pattern in _LABEL_KINDS_RES if pattern.match(label)), None)
        if kind is None or text[match.end() :].strip(" .;"):
            return False
        kinds.append(kind)
    return (
        len(kinds) >= 2 and len(set(kinds)) == len(kinds) and bool({"next_review", "original_effective"} & set(kinds))
    )


# A history row starts with its date ("03/12/2025 | Annual review", "- 05/09/2024 Annual review.").
_DATED_ROW_RE = re.compile(rf"^\s*(?:[-•*▪◦·]\s*)?(?P<d>{DATE_PATTERN})\s*(?:[|\t:–-]\s*|\s+)(?=[A-Za-z])", re.I)


def _dated_rows(document: Document, found: list[Section]) -> list[Line]:
    """History rows outside any history section: runs of two or more lines that each start with a date.

    Archived pages and accordions often list their history without a heading; a code table or a
    criterion never starts lines with dates.
    """
    inside = {id(line) for section in found if section.kind in ("history", "codes") for line in section.lines}
    rows: list[Line] = []
    run: list[Line] = []
    for line in [*document.lines, None]:
        if line is not None and id(line) not in inside and _DATED_ROW_RE.match(document.line_text(line)):
            run.append(line)
            continue
        if line is not None and not document.line_text(line).strip() and run:
            continue
        if len(run) >= 2:
            rows.extend(run)
        run = []
    return rows


# A history table's title where the reader did not take it for a heading ("7.0 POLICY HISTORY",
# "Revision history:"), so that its rows sit in the section before it.
_HISTORY_TITLE_RE = re.compile(
    r"^\s*(?:\d{1,2}(?:\.\d{1,2})*\.?\s+|[IVX]{1,4}\.\s+)?(?:(?:policy|document|revision|review|publication|version)\s+)?"
    r"(?:history|revisions|change\s+log)\s*:?\s*$",
    re.I,
)


def _titled_rows(document: Document, found: list[Section]) -> list[Line]:
    """The dated rows under a history title that sits inside another section.

    The table ends where a line is neither a dated row nor indented deeper than the rows (a row's
    wrapped detail); up to two lines before the first row are its column headings ("Date  Action").
    """
    in_history = {id(line) for section in found if section.kind == "history" for line in section.lines}
    rows: list[Line] = []
    for index, title in enumerate(document.lines):
        if id(title) in in_history or not _HISTORY_TITLE_RE.match(document.line_text(title)):
            continue
        indent: int | None = None
        for offset, line in enumerate(document.lines[index + 1 : index + 60]):
            text = document.line_text(line)
            if not text.strip():
                continue
            depth = len(text) - len(text.lstrip())
            if _DATED_ROW_RE.match(text):
                indent = depth if indent is None else indent
                rows.append(line)
            elif indent is None and offset < 2 and not line.heading:
                continue
            elif indent is None or depth <= indent or line.heading:
                break
    return rows


def _indented_table(document: Document, lines: list[Line]) -> list[Line]:
    """A history section's rows: where the rows are indented, a line printed left of them ends the table."""
    indent: int | None = None
    for index, line in enumerate(lines):
        text = document.line_text(line)
        if not text.strip():
            continue
        depth = len(text) - len(text.lstrip())
        if indent is None and _DATED_ROW_RE.match(text):
            indent = depth
        elif indent and depth < indent:
            return lines[:index]
    return lines


def _history(document: Document, found: list[Section]) -> list[Field]:
    rows: list[Field] = []
    in_section = [
        line
        for section in found
        if section.kind == "history" and not _labelled_dates(document, section)
        for line in _indented_table(document, section.lines)
    ]
    seen = {id(line) for line in in_section}
    titled = [line for line in _titled_rows(document, found) if id(line) not in seen]
    seen |= {id(line) for line in titled}
    dated = [line for line in _dated_rows(document, found) if id(line) not in seen]
    for line, confidence in [
        *((ln, 0.9) for ln in in_section),
        *((ln, 0.85) for ln in titled),
        *((ln, 0.75) for ln in dated),
    ]:
        text = document.line_text(line)
        match = DATE_RE.search(text)
        if match is None:
            continue
        parsed = to_date(match.group(1))
        if parsed is None:
            continue
        # The row's other cells, in order, whichever column the date is in.
        others = text[: match.start()] + "\t" + text[match.end() :]
        rest = [c.strip(" -–:;") for c in re.split(r"\t|\s*\|\s*|\s{2,}| – | - ", others) if c.strip(" -–:;")]
        action = rest[0] if rest else ""
        detail = " ".join(rest[1:])
        rows.append(
            _field(document, {"date": parsed[0], "action": action, "detail": detail}, line.start, line.end, confidence)
        )
    return rows


# --- coverage position ------------------------------------------------------------------------------

_POSITIONS: list[tuple[str, re.Pattern[str]]] = [
    ("experimental_investigational", re.compile(r"^\W*experimental\s*(?:/|,|and|or)\s*investigati(?:onal|ve)", re.I)),
    ("investigational", re.compile(r"^\W*investigati(?:onal|ve)|^\W*unproven", re.I)),
    ("experimental_investigational", re.compile(r"^\W*experimental", re.I)),
    (
        "not_medically_necessary",
        re.compile(r"^not\s+(?:medically\s+necessary|reasonable\s+and\s+necessary|covered)", re.I),
    ),
    ("cosmetic", re.compile(r"^\W*cosmetic", re.I)),
    (
        "medically_necessary_with_criteria",
        re.compile(
            r"^\W*(?:medically\s+necessary|reasonable\s+and\s+necessary|covered|approved|authorized)\b[^.]*?\b(?:when|if|for\s+(?:individuals|patients|members|beneficiaries)\s+who|"
            r"(?:who|that)\s+meet|following|criteria)",
            re.I,
        ),
    ),
    ("medically_necessary", re.compile(r"^\W*(?:medically\s+necessary|reasonable\s+and\s+necessary)", re.I)),
]
_POSITION_WORDS_RE = re.compile(
    r"medically\s+necessary|reasonable\s+and\s+necessary|experimental|investigati|unproven|cosmetic", re.I
)
_PROVEN_RE = re.compile(r"^\W*proven\s+and\s+", re.I)
# "Meridian considers X medically necessary when ...": the subject sits between the verb and the position.
_CONSIDERS_RE = re.compile(
    r"\b(?P<neg>(?:does|do)\s+not\s+)?(?:considers?|covers?)\s+(?P<subject>.+?)\s+(?:as\s+)?(?P<predicate>(?:not\s+)?(?:medically\s+necessary|experimental|investigati|unproven|cosmetic|reasonable\s+and\s+necessary).*)$",
    re.I,
)
# "Covered", "approved" and "authorized" state a position only beside the criteria they depend on:
# "is covered when medically necessary and the criteria below are met", "is approved for 6 months when
# the member meets all of the following", not "is covered when billed with modifier 59".
_CRITERIA_CUE_RE = re.compile(
    r"\b(?:medically\s+necessary|criteria|criterion|following|(?:are|is)\s+met|meets?)\b", re.I
)
# "The plan may authorize coverage of X for a member who meets all of the following criteria:" names
# its subject after the verb, as "considers X medically necessary" does.
_AUTHORIZES_RE = re.compile(
    r"\b(?P<neg>not\s+)?(?:authorizes?|approves?|covers?)\s+(?:coverage\s+of\s+|payment\s+for\s+)?"
    r"(?P<subject>.+?)\s+(?:when|if|for\s+(?:an?\s+|the\s+)?(?:members?|individuals?|patients?|beneficiar(?:y|ies)|adults?|children)\s+who)\b"
    r"(?P<cue>.*)$",
    re.I,
)
_VERB_RE = re.compile(
    r"\b(?:is|are|will\s+be|may\s+be|shall\s+be|be)\s+(?P<neg>not\s+)?(?:(?:considered|deemed)\s+(?:to\s+be\s+)?)?",
    re.I,
)
# "... is not covered under section A": a remark on another statement's reach, which that statement
# already positions, not a position of its own.
_OTHER_STATEMENT_RE = re.compile(
    r"not\s+covered\s+(?:under|by|in)\s+(?:section|item|part|paragraph|statement)s?\s+\(?[A-Z0-9]{1,4}\b", re.I
)
_SENTENCE_RE = re.compile(r"[^.!?\n]+(?:[.!?](?=\s|$)|(?=\n)|$)")


# A paragraph the reader keeps as one line may still hold the page's line breaks ("... medically
# necessary for the treatment of major\ndepressive disorder when ..."): such a break goes on with the
# sentence, unless the sentence ended before it or a list item starts after it.
_INLINE_WRAP_RE = re.compile(r"(?<![.!?:;\n])\n(?![ \t]*(?:[-•*▪◦·]|\(?\d{1,2}[.)]|\(?[a-z][.)])\s|[ \t]*\n)")


def _sentences(document: Document, lines: Sequence[Line]) -> list[tuple[int, int, str]]:
    found: list[tuple[int, int, str]] = []
    for line in lines:
        # One character for one, so that offsets into the line still hold.
        text = _INLINE_WRAP_RE.sub(" ", document.line_text(line))
        for match in _SENTENCE_RE.finditer(text):
            sentence = match.group(0)
            stripped = sentence.strip()
            if stripped:
                start = line.start + match.start() + sentence.index(stripped)
                found.append((start, start + len(stripped), stripped))
    return found


# A sentence printed over several lines goes on where the line before stopped mid-sentence and the
# next line starts in lower case ("Testing of members with no history suggestive of a syndrome" /
# "is not medically necessary."), or where the line before stopped on a word no sentence ends with
# ("... replacement (single level, with an" / "FDA-approved device) ..."). A list item starts anew.
_CONTINUES_RE = re.compile(r"^\s*[a-z(]")
_UNFINISHED_RE = re.compile(
    r"(?:,|\b(?:a|an|the|of|and|or|with|without|for|to|in|on|by|than|when|if|who|that|is|are|be|as|at|from))$", re.I
)
_ITEM_START_RE = re.compile(r"^\s*(?:[-•*▪◦·]|\(?\d{1,2}[.)]|\(?[a-z][.)]|\(?[ivx]{1,4}[.)])\s")


def _wrapped_sentences(document: Document, lines: Sequence[Line]) -> list[tuple[int, int, str]]:
    """The sentences of `lines`, each whole even where the document wraps it over several lines."""
    found: list[tuple[int, int, str]] = []
    after: dict[int, Line] = {id(a): b for a, b in zip(document.lines, document.lines[1:], strict=False)}
    chosen = {id(line) for line in lines}
    open_sentence: tuple[int, int, str] | None = None
    for line in lines:
        own = _sentences(document, [line])
        text = document.line_text(line)
        if (
            open_sentence is not None
            and own
            and not line.heading
            and not _ITEM_START_RE.match(text)
            and (
                _CONTINUES_RE.match(text)
                or _UNFINISHED_RE.search(open_sentence[2])
                or open_sentence[2].count("(") > open_sentence[2].count(")")
            )
        ):
            start, _, text = open_sentence
            own[0] = (start, own[0][1], f"{text} {own[0][2]}")
            found.pop()
        found.extend(own)
        following = after.get(id(line))
        last = own[-1] if own else None
        open_sentence = (
            last
            if last is not None
            and not re.search(r"[.!?:;]$", last[2])
            and following is not None
            and id(following) in chosen
            else None
        )
    return found


def _predicate_position(predicate: str) -> str | None:
    predicate = _PROVEN_RE.sub("", predicate)
    for position, pattern in _POSITIONS:
        if pattern.search(predicate):
            return position
    return None


def position_of(sentence: str) -> tuple[str, str] | None:
    """(position, subject) a sentence states, as in "X is considered investigational for Y"."""
    if considers := _CONSIDERS_RE.search(sentence):
        predicate = considers.group("predicate")
        position = _predicate_position(("not " if considers.group("neg") else "") + predicate)
        if position is not None:
            return position, considers.group("subject")
    for verb in _VERB_RE.finditer(sentence):
        predicate = _PROVEN_RE.sub("", sentence[verb.end() :])
        if verb.group("neg"):
            predicate = "not " + predicate
        for position, pattern in _POSITIONS:
            if pattern.search(predicate):
                if (
                    position == "not_medically_necessary"
                    and predicate.lower().startswith("not covered")
                    and ("when" in predicate[:30] or _OTHER_STATEMENT_RE.match(predicate))
                ):
                    continue
                if (
                    position.startswith("medically_necessary")
                    and re.match(r"^\W*(?:covered|approved|authorized)", predicate, re.I)
                    and not _CRITERIA_CUE_RE.search(predicate)
                ):
                    continue
                return position, sentence[: verb.start()].strip()
    authorizes = _AUTHORIZES_RE.search(sentence)
    if authorizes and not authorizes.group("neg") and _CRITERIA_CUE_RE.search(authorizes.group("cue")):
        return "medically_necessary_with_criteria", authorizes.group("subject")
    return None


# What follows "for" but is no indication: a duration ("for up to 6 months", "for 12 months at a
# time"), an aside ("for example"), or the people who meet the criteria ("for a member who meets
# all of the following"), which the criteria themselves describe.
_NOT_INDICATION_RE = re.compile(
    r"^(?:up\s+to\s+|at\s+least\s+|no\s+more\s+than\s+)?(?:\d+|one|two|three|four|six|twelve)\s+(?:\w+\s+)?"
    r"(?:days?|weeks?|months?|years?|sessions?|treatments?|visits?)\b|^(?:example|instance)\b|"
    r"^(?:an?\s+|the\s+)?(?:members?|individuals?|patients?|beneficiar(?:y|ies)|adults?|children|persons?)$",
    re.I,
)


def _indication(sentence: str, subject: str) -> str:
    for tail in re.finditer(
        r"\bfor\s+(?:the\s+treatment\s+of\s+|the\s+)?(?P<i>[^;.:]+?)"
        # A list of indications ("for A, B and C") runs to the verb; an aside after a comma ends it.
        r"(?:\s+(?:is|are|when|if|because|due|who|considered|medically|experimental|investigational|unproven)\b|"
        r",\s*(?:including|such\s+as|except|unless|which|when|if|because|as|but|and\s+(?:is|are))\b|[;.:)(]|$)",
        sentence,
        re.I,
    ):
        indication = tail.group("i").strip(" ,")
        if _NOT_INDICATION_RE.match(indication):
            continue
        if len(indication.split()) <= 14:
            return indication
        break
    # "It is the policy of the Plan that X is ...": X is the subject.
    subject = re.sub(r"^it\s+is\s+the\s+policy\s+of\s+.+?\s+that\s+", "", subject, flags=re.I)
    return strip_marks(subject).strip(" ,")[:200]


def _positions(document: Document, found: list[Section]) -> list[Field]:
    lines = section_text_lines(document, found, "policy", "criteria", "exclusions", "front", "other")
    if not any(s.kind in ("policy", "criteria", "exclusions") for s in found):
        lines = list(document.lines)
    positions: list[Field] = []
    for start, end, sentence in _wrapped_sentences(document, lines):
        # A numbered paragraph's number ("2.1", "1") is not part of its sentence.
        if number := re.match(r"(?:\d{1,2}(?:\.\d{1,2})*\.?|[a-z][.)])\s+(?=[A-Z])", sentence):
            start += number.end()
            sentence = sentence[number.end() :]
        stated = position_of(sentence)
        if stated is None or len(sentence) > 600:
            continue
        position, subject = stated
        if not subject or (
            re.search(r"\b(?:codes?|list|this\s+section|documentation|following\s+services)\b", subject, re.I)
            and position == "medically_necessary"
        ):
            continue
        indication = _indication(sentence, subject)
        # A position read from "covered" or "approved" beside criteria, without the words of a
        # coverage position, is an inference a reviewer should check first.
        confidence = 0.9 if _POSITION_WORDS_RE.search(sentence) else 0.8
        positions.append(_field(document, {"position": position, "indication": indication}, start, end, confidence))
    return positions


# --- lines of business -------------------------------------------------------------------------

_LOB_RES: list[tuple[re.Pattern[str], float]] = [
    (re.compile(r"\b(?:does|do|shall|will|may)\s+not\s+apply\s+to\b[^.]*", re.I), 0.95),
    # The plan named first, as a label: "Medicare Advantage: this policy does not apply".
    (
        re.compile(
            r"\b(?:Medicare|Medicaid|CHIP|FEP|Federal\s+Employee\s+Program)\b[^.;:\n]{0,60}?\s*[:–—-]\s*"
            r"(?:this|these|the)\s+(?:policy|guidelines?|criteria|document|bulletin)\s+(?:does|do|shall|will)\s+not\s+apply\b",
            re.I,
        ),
        0.9,
    ),
    (
        re.compile(
            r"\b(?:is|are)\s+not\s+applicable\s+to\b[^.]*|^[ \t|*]*not\s+applicable\s+to[ \t*]*[:\t|][^\n]*",
            re.I | re.M,
        ),
        0.9,
    ),
    (
        re.compile(
            r"^[ \t|*]*(?:excluded|exempt)\s+(?:products?|plans?|lines?\s+of\s+business|members)(?:\s*\(s\))?[ \t*]*[:\t|][^\n]*",
            re.I | re.M,
        ),
        0.9,
    ),
    (
        re.compile(
            r"\b(?:Medicare|Medicaid|FEP|Federal\s+Employee\s+Program)\b[^.]{0,120}?\b(?:may|might|can|will)\s+(?:provide|have|offer|follow)\s+(?:different|separate|its\s+own)",
            re.I,
        ),
        0.9,
    ),
    (
        re.compile(
            r"\b(?:Medicare|Medicaid|FEP|Federal\s+Employee\s+Program)\b[^.]{0,120}?\bmay\s+be\s+covered\s+differently",
            re.I,
        ),
        0.9,
    ),
    (
        re.compile(
            r"\b(?:is|are)\s+excluded\s+from\s+this\s+policy[^.]*|\bexcluded\s+from\s+this\s+policy:?[^.]*", re.I
        ),
        0.9,
    ),
    (
        re.compile(
            r"\b(?:Medicare|Medicaid|FEP|FEHBP?)\b[^.]{0,80}?\bmembers?\s*[:,]?\s*(?:please\s+)?(?:should\s+)?(?:refer\s+to|see|consult)\b",
            re.I,
        ),
        0.85,
    ),
    (
        re.compile(
            r"\b(?:for|members\s+(?:of|in|enrolled\s+in))\s+(?:the\s+)?(?:Medicare|Medicaid|FEP|Federal\s+Employee\s+Program)\b[^.]{0,80}?\b(?:refer\s+to|see|consult)\b",
            re.I,
        ),
        0.85,
    ),
]
_LOB_NAMES: list[tuple[str, re.Pattern[str]]] = [
    ("medicare_advantage", re.compile(r"\bMedicare\b", re.I)),
    ("medicaid", re.compile(r"\bMedicaid\b|\bMHCP\b|\bMedi-Cal\b", re.I)),
    ("chip", re.compile(r"\bCHIP\b|children'?s\s+health\s+insurance\s+program", re.I)),
    ("fep", re.compile(r"\bFEP\b|Federal\s+Employee|\bFEHBP?\b", re.I)),
    (
        "exchange",
        re.compile(
            r"\bexchange\b|\bmarketplace\b|individual\s+(?:&|and)\s+family|\bACA\b|affordable\s+care\s+act", re.I
        ),
    ),
    (
        "commercial",
        re.compile(r"\bcommercial\b|employer[\s-](?:group|sponsored)|fully[\s-]insured|self[\s-]funded", re.I),
    ),
]
# "This policy applies to ...", "These criteria apply only to ...", "Applies to: ...", "Applicable to: ...".
_APPLIES_ONLY_RE = re.compile(
    r"\b(?:appl(?:y|ies)|applicable|pertains?)\s+(?:only\s+)?to\s*:?\s*(?:all\s+)?(?P<who>[^.\n]{3,160})", re.I
)
# A header label naming the plans the document is for: "Products: Commercial HMO, ...".
_PRODUCTS_LABEL_RE = re.compile(
    r"^[ \t|*]*(?:applicable\s+|affected\s+|covered\s+)?(?:products?|plans?|plan\s+types?|product\s+lines?|"
    r"lines?(?:\s*\(s\))?\s+of\s+business|benefit\s+plans?|market\s+segments?)(?:\s*\(s\))?(?:\s+affected)?[ \t*]*[:\t|][ \t]*"
    r"(?P<who>[^\n]{3,200})",
    re.I | re.M,
)
# A Local or National Coverage Determination is Medicare's own document (Medicare Advantage plans
# follow it too, 42 CFR 422.101(b)), whether or not its text names a line of business.
_MEDICARE_DOCUMENT_RE = re.compile(
    r"\b(?:local|national)\s+coverage\s+determination\b|\b(?:LCD|NCD)\s+(?:ID|number)\b", re.I
)


def _lines_of_business(document: Document) -> tuple[list[Field], list[Field]]:
    excluded: dict[str, Field] = {}
    for pattern, confidence in _LOB_RES:
        for match in pattern.finditer(document.text):
            for value, name in _LOB_NAMES:
                for hit in name.finditer(match.group(0)):
                    start = match.start() + hit.start()
                    excluded.setdefault(value, _field(document, value, start, match.start() + hit.end(), confidence))
    applies: dict[str, Field] = {}
    statements = [(m, 0.85) for m in _APPLIES_ONLY_RE.finditer(document.text)]
    statements += [(m, 0.85) for m in _PRODUCTS_LABEL_RE.finditer(document.text)]
    for match, confidence in statements:
        if re.search(r"\bnot\b", document.text[max(0, match.start() - 12) : match.start()], re.I):
            continue
        for value, name in _LOB_NAMES:
            if value in excluded:
                continue
            for hit in name.finditer(match.group("who")):
                start = match.start("who") + hit.start()
                applies.setdefault(value, _field(document, value, start, match.start("who") + hit.end(), confidence))
    if not excluded and not applies and (medicare := _MEDICARE_DOCUMENT_RE.search(document.text[:4000])):
        applies["medicare_advantage"] = _field(document, "medicare_advantage", medicare.start(), medicare.end(), 0.7)
    return list(excluded.values()), list(applies.values())


# --- codes -------------------------------------------------------------------------------------

_SYSTEM_RES = [
    ("ICD10CM", re.compile(r"\bICD-?10(?:-CM)?\b|\bdiagnos[ie]s\b", re.I)),
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


def _codes(document: Document, found: list[Section], errors: list[str]) -> list[Field]:
    code_lines = section_text_lines(document, found, "codes")
    # A short table row that names its code system ("ICD-10-CM | I48.0 | Paroxysmal ...") reads like
    # a codes heading; a heading that holds a code is such a row, and its code is listed.
    code_lines += [
        s.heading_line
        for s in found
        if s.kind == "codes" and s.heading_line is not None and _ANY_CODE_RE.search(document.line_text(s.heading_line))
    ]
    code_lines += _code_rows_read_as_headings(document, found)
    code_lines.sort(key=lambda ln: ln.start)
    if not code_lines:
        # Without a codes section, only table rows and lines that begin with a code are read: a row's
        # first cell, or its second after a code-type cell ("CPT\t64582", "| HCPCS | L1810 |").
        code_lines = [
            ln
            for ln in document.lines
            if re.match(r"^\s*\|?\s*(?:[^\s|]+\s*[\t|])?\s*" + _ANY_CODE_RE.pattern, document.line_text(ln))
        ]
    codes: dict[tuple[str, str, str], Field] = {}
    system: str | None = None
    for line in code_lines:
        full = document.line_text(line)
        # A paragraph may list codes in more than one sentence ("G0398 and G0399: ... CPT 95800 ...").
        for segment in re.finditer(r".+?(?:\.(?=\s+[A-Z])|$)", full):
            system = _segment_codes(document, line.start + segment.start(), segment.group(0), system, codes, errors)
    return list(codes.values())


_CODE_ROW_RE = re.compile(r"^\s*(?:" + _ANY_CODE_RE.pattern + r")")


def _code_rows_read_as_headings(document: Document, found: list[Section]) -> list[Line]:
    """Rows that go on a code table but whose words read as a heading ("Z80.3 Family history of ...").

    A line that starts with a code, right after a codes section or another such row, is the table's
    next row whatever kind of section its description names.
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
            continue
        after_codes = False
    return rows


def _segment_codes(
    document: Document,
    offset: int,
    text: str,
    system: str | None,
    codes: dict[tuple[str, str, str], Field],
    errors: list[str],
) -> str | None:
    """Read the codes of one sentence or row into `codes`; return the code system in force after it."""
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
        code_system = shape_system
        if system in ("CPT", "HCPCS", "ICD10CM") and re.fullmatch(_CODE_SHAPES[system], match.group("a")):
            code_system = system
        elif shape_system == "ICD10CM" and re.fullmatch(_CODE_SHAPES["HCPCS"], match.group("a")):
            code_system = "HCPCS"
        line_codes.append(
            (code_system, match.group("a"), match.group("b") or "", offset + match.start(), offset + match.end())
        )
        position = match.end()
    description = " ".join(text[position:].strip(" \t-–:|").split())
    for code_system, first, last, start, end in line_codes:
        first = normalize_code(code_system, first)
        last = normalize_code(code_system, last) if last else ""
        problem = range_problem(code_system, first, last) if last else code_problem(code_system, first)
        if problem:
            errors.append(
                f"codes: {document.text[start:end]!r} is not a valid {code_system} code ({problem}); left out"
            )
            continue
        key = (code_system, first, last)
        value = {
            "system": code_system,
            "code": first,
            "code_end": last,
            "description": description if len(line_codes) == 1 else "",
        }
        codes.setdefault(key, _field(document, value, start, end, 0.95 if system else 0.85))
    return system


# --- devices and procedure terms -----------------------------------------------------------------------

_INTRO_RE = re.compile(
    r"(?:examples?\s+(?:include|are)|such\s+as|including(?:,?\s+but\s+not\s+limited\s+to)?|"
    r"includes?(?:,?\s+but\s+(?:are|is)\s+not\s+limited\s+to)?|but\s+(?:are|is)\s+not\s+limited\s+to)"
    # "include, for example, A, B and C": the aside belongs to the introduction, not to the list.
    r"(?:,?\s+(?:for\s+example|for\s+instance|e\.g\.|among\s+others),?)?,?[:\s]+",
    re.I,
)
_DEVICE_CONTEXT_RE = re.compile(
    r"device|system|implant|product|procedure|technique|technolog|stimulat|kit|instrument|tool|brand|prosthe|graft|"
    r"pump|monitor|sensor|probe|spacer|cage|valve|catheter|generator|plug|test|assay|panel",
    re.I,
)
_ITEM_SPLIT_RE = re.compile(r"\s*(?:,|;)\s*(?:and\s+|or\s+)?|\s+(?:and|or)\s+(?=the\s+|an?\s+|[A-Za-z]*[A-Z0-9®™])")
_DEVICE_NOUN_RE = re.compile(
    r"\b(?:system|device|implant|spacer|stimulator|generator|probe|product|kit|valve|pump|monitor|sensor|tether|balloon|"
    r"catheter|graft|cage|plug|assay|test|panel)s?$",
    re.I,
)
_PROCEDURE_NOUNS = re.compile(
    r"(?:decompression|stabilization|fusion|procedure|laminectomy|laminotomy|discectomy|arthroplasty|ablation|"
    r"implantation|stimulation|surgery|therapy|cryoablation|denervation|injection|neurotomy|tethering)$",
    re.I,
)


def _add_term(
    terms: dict[str, tuple[Term, Field]],
    document: Document,
    name: str,
    kind: str,
    start: int,
    end: int,
    confidence: float,
) -> None:
    marked = name.strip(" ,.;:\"'“”").lstrip("(")
    if marked.endswith(")") and marked.count(")") > marked.count("("):
        # "(CancerNext(TM))": the closing bracket is the aside's, the one before it the mark's.
        marked = marked[:-1]
    name = strip_marks(name).strip(" ,.;:()\"'“”")
    if len(name) < 3 or len(name) > 200 or not re.search(r"[A-Za-z]", name):
        return
    short = short_name(marked) if kind == "device" else name
    index = TermIndex([term for term, _ in terms.values()])
    known = index.find(name, 95) or (index.find(short, 95) if short != name else None)
    if known is not None:
        return
    term = Term(name, short, kind)
    terms[name.lower()] = (term, _field(document, {"name": name, "short": short, "kind": kind}, start, end, confidence))


_ITEM_MARKER_RE = re.compile(r"^\s*(?:[-•*▪◦·]|\d{1,2}[.)]|[a-z][.)]|\([a-z0-9]{1,4}\))\s")


def _wrapped_text(document: Document, index: int) -> str:
    """The line's text and, while its sentence runs on, the lines a printed page wrapped it onto."""
    lines = document.lines
    end = index
    while (
        end + 1 < len(lines)
        and end - index < 3
        and not document.line_text(lines[end]).rstrip().endswith((".", ":", ";", "!", "?"))
        and not lines[end + 1].heading
        and not _ITEM_MARKER_RE.match(document.line_text(lines[end + 1]))
    ):
        end += 1
    return document.text[lines[index].start : lines[end].end]


def _list_terms(document: Document, terms: dict[str, tuple[Term, Field]], skip: set[str]) -> None:
    for index, line in enumerate(document.lines):
        own = document.line_text(line)
        if not _INTRO_RE.search(own):
            continue
        text = _wrapped_text(document, index)
        for intro in _INTRO_RE.finditer(text):
            if intro.start() >= len(own):
                # An introduction on a wrapped line is read from that line.
                break
            before = text[max(0, intro.start() - 160) : intro.start()]
            sentence_start = max(before.rfind(". "), -1)
            context = bool(_DEVICE_CONTEXT_RE.search(before[sentence_start + 1 :]))
            end_match = re.search(r"\.(?:\s|$)|$", text[intro.end() :])
            tail_end = intro.end() + (end_match.start() if end_match else len(text))
            # A second list in the same sentence ("...; other devices include ...") is read on its own.
            if following := _INTRO_RE.search(text, intro.end(), tail_end):
                tail_end = (
                    text.rfind(" ", intro.end(), following.start())
                    if following.start() > intro.end()
                    else following.start()
                )
                tail_end = max(tail_end, intro.end())
                clause = re.search(r"[;,]\s*(?:\w+\s+){0,3}$", text[intro.end() : tail_end])
                if clause:
                    tail_end = intro.end() + clause.start()
            offset = intro.end()
            pieces: list[tuple[str, int]] = []
            for piece in _ITEM_SPLIT_RE.split(text[intro.end() : tail_end]):
                piece_start = text.find(piece, offset) if piece else -1
                if piece_start >= 0:
                    pieces.append((piece, piece_start))
                    offset = piece_start + len(piece)
            if _LIST_BELOW_RE.fullmatch(text[intro.end() : tail_end]) and own.rstrip().endswith(":"):
                # "Devices include:" with one product a line in the list below it.
                pieces = _item_lines(document, index)
            candidates: list[tuple[str, int, bool, bool]] = []
            lower: list[tuple[str, int, bool]] = []
            for piece, piece_start in pieces:
                for part, part_start in _list_item_parts(piece, piece_start):
                    item = re.sub(r"^(?:and\s+|or\s+)?(?:the\s+)?", "", part.strip())
                    item = _ITEM_END_RE.split(item)[0].strip(" ,;")
                    # "the implantable Eversense E3 system": a word or two describing the product precede its brand.
                    if described := _DESCRIBED_BRAND_RE.match(item):
                        item = item[described.end() :]
                    has_sign = bool(TM_RE.search(item))
                    plain = strip_marks(item)
                    noun = bool(_DEVICE_NOUN_RE.search(plain))
                    words = plain.split()
                    # A product's full name runs long ("X™ Pro Left Atrial Appendage Closure Device") when a
                    # sign or a device noun marks it; an unmarked phrase that long is a clause, not a name.
                    if not words or len(words) > (9 if has_sign or noun else 7):
                        continue
                    if words[0].lower() in NOT_PRODUCTS or plain.lower() in skip:
                        continue
                    start = line.start + part_start + part.find(item[:3])
                    branded = any(c.isupper() for c in words[0]) or bool(re.search(r"[a-z]\d|\d[a-z]", words[0], re.I))
                    if not has_sign and not branded:
                        named = re.match(r"(?:(?:and|or)\s+)?the\s", part.strip())
                        # A brand its maker writes in lower case: "the breg fusion oa plus", "the kiva VCF system".
                        if named and (plain.islower() or noun) and len(words) <= 4 and not _PLURAL_RE.search(plain):
                            lower.append((item, start, noun))
                        continue
                    if not has_sign and all(w.isupper() for w in words) and len(plain) <= 4:
                        continue
                    candidates.append((item, start, has_sign, noun))
            # Beside marked names, a name in lower case is a brand written as its maker writes it; in a list
            # of products, so is one that ends in a device noun ("the oncomine comprehensive assay").
            marked_list = any(sign for _, _, sign, _ in candidates)
            candidates += [
                (item, start, False, False) for item, start, noun in lower if marked_list or (noun and context)
            ]
            # A list is of products when its sentence says so or one of its items is marked as one
            # (a sign, or a device noun): "CGMs include the Dexcom G7 and the Libre 3 system".
            if not context and not any(sign or noun for _, _, sign, noun in candidates):
                continue
            for item, start, has_sign, _ in candidates:
                _add_term(terms, document, item, "device", start, start + len(item), 0.9 if has_sign else 0.85)


_LIST_BELOW_RE = re.compile(r"\s*(?:the\s+following)?\s*:?\s*", re.I)
# An item line's name ends where its description begins: "Genvara 12 - a 12-gene panel", "Luxo: wearable".
_ITEM_LINE_END_RE = re.compile(r"\s*(?:[,;:]|\s[–—-]\s)")


def _item_lines(document: Document, index: int) -> list[tuple[str, int]]:
    """The names on the list items right below line `index`, each with its start relative to that line."""
    lines = document.lines
    base = lines[index].start
    pieces: list[tuple[str, int]] = []
    for line in lines[index + 1 : index + 16]:
        marker = _ITEM_MARKER_RE.match(document.line_text(line))
        if marker is None or line.heading:
            break
        body = document.line_text(line)[marker.end() :]
        name = _ITEM_LINE_END_RE.split(body, maxsplit=1)[0]
        pieces.append((name, line.start + marker.end() - base))
    return pieces


_DESCRIBED_BRAND_RE = re.compile(r"(?:[a-z]+(?:-[a-z]+)*\s+){1,2}(?=[A-Z][a-z]+[A-Za-z0-9]*\b)")
# A plural ends in "s" ("the braces"); a name may too ("plus", "corpus", "class").
_PLURAL_RE = re.compile(r"(?<![sui])s$")
_ITEM_END_RE = re.compile(
    r"\s+\(|\s+(?:which|that|from|by|with|for|in|is|are|has|have|were|was|used|approved|cleared|marketed|made|"
    r"designed|sold)\s+"
)
# "the HiRes Ultra 3D implant with the Naída CI M90 sound processor": two products, one item.
_WITH_PRODUCT_RE = re.compile(r"\s+with\s+(?:the\s+|an?\s+)?(?=[^\W\d_]*[A-Z0-9])")


def _list_item_parts(piece: str, piece_start: int) -> list[tuple[str, int]]:
    """The item and, when it names a second branded product after "with", that product too."""
    joined = _WITH_PRODUCT_RE.search(piece)
    if joined is None:
        return [(piece, piece_start)]
    return [(piece, piece_start), (piece[joined.end() :], piece_start + joined.end())]


_TM_WORD_RE = re.compile(
    r"(?<![\w-])([A-Za-z][\w-]*(?:[ \u00a0]+[A-Z][\w-]*){0,2})(?:\s*(?:[®™]|\((?:R|TM)\))|(?<=[A-Za-z])°)"
)
_NOTICE_RE = re.compile(r"copyright|trademark|all rights reserved|©", re.I)


def _marked_terms(document: Document, terms: dict[str, tuple[Term, Field]], skip: set[str]) -> None:
    for line in document.lines:
        if _NOTICE_RE.search(document.line_text(line)):
            continue
        for base, text in _marked_cells(document, line, terms, skip):
            _marked_words(document, base, text, terms, skip)


def _marked_words(
    document: Document, base: int, text: str, terms: dict[str, tuple[Term, Field]], skip: set[str]
) -> None:
    """Marked names in running text: the capitalised words before each sign."""
    for match in _TM_WORD_RE.finditer(text):
        name = match.group(1)
        words = name.split()
        while words and words[0].lower() in NOT_PRODUCTS | {"a", "an", "and", "or", "of", "with", "using", "use"}:
            words = words[1:]
        if not words or " ".join(words).lower() in skip:
            continue
        name = " ".join(words)
        start = base + match.end(1) - len(name)
        if any(name.lower() in known for known in terms):
            continue
        if name.islower():
            # A brand written in lower case ("mild") is an ordinary word: qualify it by what follows.
            following = re.match(r"[\s\])]*(?:decompressive\s+)?([A-Za-z]+)", text[match.end() :])
            noun = following.group(1).lower() if following else ""
            noun = noun if noun in ("procedure", "device", "system", "probe", "implant") else "procedure"
            _add_term(
                terms,
                document,
                f"{name} {noun}",
                "procedure" if noun == "procedure" else "device",
                start,
                base + match.end(),
                0.75,
            )
        else:
            _add_term(terms, document, name, "device", start, base + match.end(), 0.8)


def _marked_cells(
    document: Document, line: Line, terms: dict[str, tuple[Term, Field]], skip: set[str]
) -> list[tuple[int, str]]:
    """A table's cell that starts with a marked name is the product's full name ("Proclaim™ XR SCS System").

    The cells beside it (the manufacturer, the year) are other columns, never part of the name. The
    line's other text, by cells, is returned with where it starts, to be read as running text.
    """
    text = document.line_text(line)
    if "\t" not in text:
        return [(line.start, text)]
    rest: list[tuple[int, str]] = []
    offset = line.start
    for cell in text.split("\t"):
        name = cell.strip()
        words = strip_marks(name).split()
        first = _TM_WORD_RE.match(name)
        if (
            first is not None
            and 0 < len(words) <= 9
            and words[0].lower().strip("*") not in NOT_PRODUCTS
            and " ".join(words).lower() not in skip
        ):
            start = offset + cell.find(name)
            _add_term(terms, document, name, "device", start, start + len(name), 0.85)
        else:
            rest.append((offset, cell))
        offset += len(cell) + 1
    return rest


def _procedure_terms(
    document: Document, terms: dict[str, tuple[Term, Field]], positions: list[Field], title: Field | None
) -> None:
    for position in positions:
        sentence = position.source.text
        verb = _VERB_RE.search(sentence)
        if verb is None:
            continue
        considers = _CONSIDERS_RE.search(sentence)
        head = considers.group("subject") if considers else sentence[: verb.start()]
        # The service's name ends where an aside, a purpose or a qualifier of the request begins.
        subject = re.split(
            r",|\s+\(|\s+for\s+|\s+in\s+(?:individuals|patients|members)|\s+(?:requested|used|performed|provided)\b",
            head,
        )[0].strip()
        # A numbered section's statement ("2.2 Endoscopic procedures are ...") starts after its number.
        subject = re.sub(
            r"^(?:\d+(?:\.\d+)*\.?\s+)?(?:the\s+|an?\s+)?(?:use\s+of\s+)?(?:the\s+)?", "", subject, flags=re.I
        )
        subject = re.sub(r"\s+(?:systems?|devices?)$", "", strip_marks(subject), flags=re.I)
        if 2 <= len(subject.split()) <= 10 and not re.search(
            r"\b(?:this|these|it|services?|following)\b", subject, re.I
        ):
            start = (
                position.source.start + sentence.find(subject[:5]) if subject[:5] in sentence else position.source.start
            )
            _add_term(terms, document, _lower_first(subject), "procedure", start, start + len(subject), 0.8)
    for match in re.finditer(r"((?:[\w-]+\s+){1,9})\((?P<abbr>[A-Z]{2,6})[®™]?\)", document.text):
        abbr = match.group("abbr").lower()
        words = match.group(1).split()
        for size in range(2, len(words) + 1):
            window = words[-size:]
            if window[0][0].lower() != abbr[0]:
                continue
            initials = iter(part[0].lower() for word in window for part in word.split("-") if part)
            if all(letter in initials for letter in abbr) and _PROCEDURE_NOUNS.search(window[-1]):
                name = " ".join(window)
                start = match.start(1) + match.group(1).rfind(name)
                _add_term(terms, document, _lower_first(name), "procedure", start, start + len(name), 0.8)
                break
    if title is not None:
        procedure = re.split(r"\s+(?:for|of|in)\s+(?=[A-Z])", strip_marks(title.value))[0]
        if procedure != title.value and len(procedure.split()) >= 2:
            _add_term(
                terms,
                document,
                procedure.lower() if procedure.istitle() else procedure,
                "procedure",
                title.source.start,
                title.source.start + len(procedure),
                0.7,
            )


def _lower_first(phrase: str) -> str:
    if len(phrase) > 1 and phrase[0].isupper() and phrase[1].islower() and not any(c.isupper() for c in phrase[1:]):
        return phrase[0].lower() + phrase[1:]
    return phrase


# --- prior authorization ---------------------------------------------------------------------------

_PA_RE = re.compile(
    r"[^.\n]*\b(?:prior\s+(?:approval|authori[sz]ation)|pre-?certification|pre-?authori[sz]ation|notification)\b[^.\n]*\.?",
    re.I,
)


def _prior_authorization(document: Document, found: list[Section]) -> Field | None:
    for section in found:
        if section.kind == "prior_authorization" and section.lines:
            line = section.lines[0]
            text = document.line_text(line).strip()
            requirement = requirement_from_statement(text)
            if requirement:
                start = line.start + document.line_text(line).index(text)
                return _field(
                    document, {"statement": text, "requirement": str(requirement)}, start, start + len(text), 0.9
                )
    for match in _PA_RE.finditer(document.text):
        sentence = match.group(0).strip()
        if re.search(
            r"\b(?:is|are)\s+(?:not\s+)?required\b|\brequires?\b|not\s+applicable|\bnot\s+needed\b", sentence, re.I
        ):
            requirement = requirement_from_statement(sentence)
            if requirement:
                start = match.start() + match.group(0).index(sentence)
                return _field(
                    document,
                    {"statement": sentence, "requirement": str(requirement)},
                    start,
                    start + len(sentence),
                    0.8,
                )
    return None


# --- the whole document ----------------------------------------------------------------------------


def extract_document(
    data: bytes, *, file: str = "", payer: str = "", catalogue: Sequence[FactSpec] = ()
) -> ImportResult:
    """Every field the document states, with its source; a document that cannot be read has `errors`."""
    try:
        document = read_document(data, file)
    except ImportRefused as exc:
        return ImportResult(file=file, layout="unreadable", errors=[exc.reason])
    result = ImportResult(file=file, layout=document.layout, text=document.text)
    found = sections(document)
    fields = result.fields
    front = next((s.lines for s in found if s.kind == "front"), [])
    if payer_field := _payer(document, front, payer):
        fields["payer"] = payer_field
    number = _number(document)
    if number:
        fields["number"] = number
    if title := _title(document, found, number):
        fields["title"] = title
    history = _history(document, found)
    _dates(document, fields, history, found)
    if history:
        fields["history"] = history
    positions = _positions(document, found)
    if positions:
        fields["positions"] = positions
    excluded, applies = _lines_of_business(document)
    if excluded:
        fields["lines_of_business_excluded"] = excluded
    if applies:
        fields["lines_of_business_only"] = applies
    codes = _codes(document, found, result.errors)
    if codes:
        fields["codes"] = codes
    terms: dict[str, tuple[Term, Field]] = {}
    skip = {str(f.value).lower() for f in (fields.get("payer"),) if isinstance(f, Field)}
    _list_terms(document, terms, skip)
    _marked_terms(document, terms, skip)
    _procedure_terms(document, terms, positions, title)
    if terms:
        fields["terms"] = [f for _, f in terms.values()]
    if prior := _prior_authorization(document, found):
        fields["prior_authorization"] = prior
    criteria_lines = section_text_lines(document, found, "criteria", "policy", "exclusions", "front", "other")
    result.criteria = criteria_trees(document, criteria_lines or document.lines, catalogue)
    if result.criteria and any(p.value["position"] == "medically_necessary" for p in positions):
        for p in positions:
            if p.value["position"] == "medically_necessary" and re.search(
                r"following|criteria|when|if", p.source.text, re.I
            ):
                p.value["position"] = "medically_necessary_with_criteria"
    if not positions and not codes and not result.criteria:
        result.errors.append(
            "unknown format: no coverage position, code list or criteria were found; is this a medical policy?"
        )
    if version := _version_label(document, fields):
        fields["version_label"] = version
    return result


_VERSION_RE = re.compile(r"\b(?:version|revision)\s*(?:number|no\.?|#)?\s*[:#]\s*(?P<v>[A-Z0-9][\w.\-]{0,30})", re.I)


def _version_label(document: Document, fields: dict[str, Field | list[Field]]) -> Field | None:
    if match := _VERSION_RE.search(document.text[:4000]):
        return _field(document, match.group("v"), match.start("v"), match.end("v"), 0.9)
    replaced = fields.get("replaced_on")
    if isinstance(replaced, Field):
        return Field(f"replaced-{replaced.value.isoformat()}", replaced.source, 0.85)
    revised = fields.get("revised")
    if isinstance(revised, Field):
        return Field(revised.value.strftime("%Y-%m"), revised.source, 0.85)
    start = fields.get("effective_start")
    if isinstance(start, Field):
        return Field(start.value.isoformat(), start.source, 0.8)
    return None


def catalogue_specs(rows: Sequence[tuple[str, str, str, str]]) -> list[FactSpec]:
    return [FactSpec(key, label, value_type, unit) for key, label, value_type, unit in rows]
