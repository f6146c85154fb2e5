"""A policy's dates: effective start and end, original effective, last review, and its history table."""

from __future__ import annotations

import bisect
import re
from datetime import date, timedelta
from itertools import pairwise

from policies_app.importing.code_lists import contents_entries_dropped
from policies_app.importing.dates import (
    DATE_PATTERN,
    DATE_RE,
    MONTH_YEAR_PATTERN,
    MONTH_YEAR_RE,
    TIMESTAMP_OPEN,
    month_year_date,
    timestamp_span,
    to_date,
)
from policies_app.importing.readers import BOX_RULES, Document, Line
from policies_app.importing.result import Field
from policies_app.importing.spans import field_at
from policies_app.importing.structure import Section

# Who approves or reviews a policy: "the Clinical Guidelines Committee", "the Cardiovascular Pathway Panel".
_BODY = r"(?:committee|panel|board|council)"
# What a payer calls the document itself, naming its own first date ("Pathway introduced").
_DOCUMENT_KIND = r"(?:policy|guideline|pathway|protocol|criteria|standard|bulletin)"
_DATE_LABELS: list[tuple[str, str, float]] = [
    (
        "original_effective",
        r"original\s+effective\s+date|original\s+effective|(?:originally|first|initially)\s+effective(?:\s+date)?|"
        r"initial\s+effective\s+date|date\s+of\s+origin|origination(?:\s+date)?|policy\s+created|"
        # What was first dated is named between the words: "Original policy date", "Original criteria
        # date", "Initial policy 06/01/2018".
        r"original\s+(?:[a-z]+\s+)?date|initial\s+(?:policy|guideline|criteria)(?:\s+date)?|"
        # The first version's date, in the words of a page's header: "First adopted", "Originally
        # published", "Created: February 2020".
        r"(?:originally|first|initially)\s+(?:adopted|published|issued|approved|developed|written|introduced|implemented)"
        # ... and by whom: "First approved by the Clinical Guidelines Committee: 06/18/2014".
        rf"(?:\s+by\s+(?:the\s+)?(?:[\w&/-]+\s+){{0,4}}{_BODY})?|"
        # The document's kind and its first appearance: "Pathway introduced 03/01/2011", "Guideline adopted".
        # Only as a label, at a line's or a cell's start: a sentence's "criteria established on" is no label.
        rf"(?:^|(?<=[\n\t])|(?<=[-•*]\s)){_DOCUMENT_KIND}\s+(?:introduced|adopted|created|established|developed)(?:\s+on)?|"
        r"date\s+of\s+(?:first|original|initial)\s+issue|(?:initial|original)\s+(?:[a-z]+\s+)?approval(?:\s+date)?|"
        r"(?:date\s+)?created(?:\s+on)?|"
        r"original\s+(?:approval|publication|issue)\s+date|date\s+initiated|originated(?:\s+on)?|"
        # A label alone on its value: "Original: 8/1/2012", "Original issue: Rev A, ...", "Policy origin  Mar 2017".
        # A grid's or a table's bare "Original" beside or above its date ("Original<TAB>2013-01-01").
        r"original(?=[ \t]*:)|(?:^|(?<=[\n\t]))original(?=[ \t]*[\t\n])|original\s+issue|(?:policy\s+)?origin(?=\s*[:\t])|"
        # A register's abbreviations: "ORIG EFF 07/01/2012", "Orig. Eff. Date".
        r"orig\.?\s+(?:eff\.?(?:\s+(?:date|dt\.?))?|date|dt\.?)",
        0.95,
    ),
    (
        "effective_end",
        r"retirement\s+date|end\s+date|ending\s+date|expiration\s+date|termination\s+date|archived?\s+(?:date|on)",
        0.9,
    ),
    ("next_review", r"next\s+(?:annual\s+)?(?:review|rev\.?)(?:\s+(?:date|dt\.?))?|scheduled\s+review", 0.9),
    # "Last committee review", "Last annual review": who reviewed stands between the words.
    (
        "last_review",
        r"last\s+(?:[a-z]+\s+)?review(?:ed)?(?:\s+date)?|review\s+date|reviewed|date\s+of\s+(?:last\s+)?review|"
        # A review named by what was done or who did it: "Annual review completed: 11/12/2025",
        # "Medical Policy Committee review 14 Oct 2025" (not the next or a scheduled one).
        r"review\s+(?:completed|conducted|held)(?:\s+on)?|(?<!next\s)(?<!scheduled\s)committee\s+review(?:ed)?(?:\s+on)?|"
        # The committee that approved this version, named between the words: "Approved by Regional
        # Utilization Committee  09/24/2025".
        rf"(?:approved|reviewed|endorsed)\s+by\s+(?:the\s+)?(?:[\w&/-]+\s+){{0,4}}{_BODY}(?:\s+on)?|"
        # Who reviewed it last, named in a label ("Last reviewed by payer<TAB>03/18/2026", "Last reviewed by
        # the Policy Council:"); only before a colon or a cell's end, as a sentence goes on past its reviewer.
        r"last\s+reviewed\s+by[ \t]+(?:[\w&/-]+[ \t]+){0,4}?[\w&/-]+(?=[ \t]*[:\t])|"
        # A register's abbreviation: "LAST REV 10/15/2025".
        r"last\s+rev\.?(?:\s+(?:date|dt\.?))?|"
        r"(?<!original\s)(?<!initial\s)(?<!first\s)committee\s+approv(?:al|ed)(?:\s+date)?(?:\s+on)?|"
        # A criteria library's "Clinical review ..... 2026-01-28": the review named by its kind, only as a
        # label (a colon, a tab or a leader after it), since a sentence's "clinical review" is a process.
        r"(?<!next\s)(?:clinical|medical)\s+review(?:\s+date)?(?=[ \t]*(?::|\t|\.(?:\.|[ \t])))",
        0.9,
    ),
    (
        "revised",
        r"revision\s+effective\s+date|last\s+revised|(?:date\s+of\s+)?last\s+revision(?:\s+date)?|revision\s+date|"
        r"revised(?:\s+date)?|date\s+revised",
        0.9,
    ),
    (
        "effective_start",
        r"(?:current\s+)?effective\s+date|effective\s+date\s+of\s+(?:the\s+|this\s+)?(?:current\s+)?(?:version|revision)|effective\s+on|effective|"
        r"date\s+effective|policy\s+effective|in\s+force\s+(?:from|since|as\s+of)|"
        # A register's abbreviation: "EFF DATE 02/01/2026", "Eff. Dt.".
        r"eff\.?\s+(?:date|dt\.?)|eff\.?(?=\s*:)",
        0.95,
    ),
    # A version put into use on a day takes effect then, as a plan's header may word it.
    ("effective_start", r"implementation\s+date|date\s+of\s+implementation", 0.85),
    ("effective_start", r"publish(?:ed)?\s+date|date\s+published", 0.8),
    # A manual section's "Issue Date" is when the section first appeared; it counts only when it is
    # well before the version's effective date (see `_ISSUE_LEAD`), since a bulletin's own issue date
    # is days before the bulletin takes effect.
    ("original_effective", r"issue\s+date|date\s+of\s+issue", 0.8),
]
_ISSUE_LABEL_RE = re.compile(r"^\W*(?:issue\s+date|date\s+of\s+issue)", re.I)
_ISSUE_LEAD = timedelta(days=365)
# What stands between a date's label and the date in Medicare and claims wording: "Revision Effective
# Date / For services performed on or after 02/01/2026", "Effective for dates of service on and after ...".
_DATE_LEAD = (
    r"(?:for\s+)?(?:(?:services|claims(?:\s+with\s+dates?\s+of\s+service)?|items|requests|dates?\s+of\s+service)\s+(?:(?:performed|rendered|furnished|provided|"
    r"processed|received)\s+)?)?(?:on\s+(?:or|and)\s+after|beginning(?:\s+on)?|starting(?:\s+on)?|as\s+of|on)"
)
# A revision's letter or number between a label and its date: "Original issue: Rev A, 15 March 2016".
_REVISION_TAG = r"(?:rev(?:ision)?\.?|version|v)\s*[A-Z0-9][\w.]{0,3},?\s+"


# A dotted leader a long label leaves room for only one dot of ("Set first published . 2016-01-01"):
# a dot standing alone between spaces, never a full stop after a word.
_SHORT_LEADER = r"(?<=\s)\.(?=[ \t])"


# A label and its value set in two elements that a page's text runs together ("Last reviewedApril 21,
# 2026", from `<span>Last reviewed</span><span>April 21, 2026</span>` styled apart): a label's last
# lower-case letter against the value's capital or digit, which no word of prose shows.
_GLUED = r"(?-i:(?<=[a-z])(?=[A-Z0-9]))"


# A delimited export's empty cells between a record's key and its value ("effective_date,,,,2026-04-01"):
# two commas in a row, which prose never writes.
_EMPTY_CELLS = r'(?:,[ \t]*){2,}"?'


# A bracketed aside closing a label ("Effective Date (for dates of service on or after): 03/01/2026").
_LABEL_ASIDE = r"(?:[ \t]*\([^()\n]{1,60}\))?"


def _keyed(words: str) -> str:
    """The label's words also joined by underscores, as front matter writes its keys ("last_reviewed")."""
    return words.replace(r"\s+", r"[\s_]+")


_DATE_LABEL_RES = [
    (
        kind,
        re.compile(
            rf"(?<![\w-])(?:{_keyed(words)}){_LABEL_ASIDE}\s*(?:[:\-–|\t{BOX_RULES}]\s*|\s+|\.{{2,}}\s*|{_SHORT_LEADER}|{_GLUED}|{_EMPTY_CELLS}){{1,3}}(?:{_DATE_LEAD}\s+)?(?:{_REVISION_TAG})?{TIMESTAMP_OPEN}?(?P<d>{DATE_PATTERN}|{MONTH_YEAR_PATTERN})",
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

_REPLACES_RE = re.compile(r"\breplac(?:es|ing)\b", re.I)


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


def read_dates(
    document: Document, fields: dict[str, Field | list[Field]], history: list[Field], found: list[Section]
) -> None:
    found = contents_entries_dropped(document, found, "history")
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
    for kind, cell_start, cell_end, value, has_day, header in _label_grid_dates(document):
        taken.append(header)
        if kind not in fields:
            fields[kind] = field_at(document, value, cell_start, cell_end, 0.9 if has_day else 0.85)
    for kind, pattern, confidence in _DATE_LABEL_RES:
        for match in pattern.finditer(text):
            if any(s <= match.start() < e for s, e in taken):
                continue
            if _OTHER_PERIOD_RE.search(text[max(0, match.start() - 40) : match.start()]):
                continue
            if _SUCCESSOR_RE.search(_sentence_before(text, line_start(match.start()), match.start())):
                continue
            parsed = to_date(match.group("d"))
            if parsed is None and (first_day := month_year_date(match.group("d"))) is not None:
                parsed = (first_day, False)
            if parsed is None:
                continue
            taken.append((match.start(), match.end()))
            if kind not in fields:
                value, has_day = parsed
                fields[kind] = field_at(
                    document, value, match.start(), match.end(), confidence if has_day else confidence - 0.05
                )
            break
    # A version that replaces another names the other's retirement ("... and replaces policy AB-1,
    # which will be retired on 01/31/2027"): that day ends the replaced policy, not this one.
    banner = next(
        (
            b
            for b in _REPLACED_RE.finditer(text)
            if not _REPLACES_RE.search(_sentence_before(text, line_start(b.start()), b.start()))
        ),
        None,
    )
    if banner is not None:
        replaced = to_date(banner.group("d"))
        if replaced is not None:
            fields["replaced_on"] = field_at(document, replaced[0], banner.start(), banner.end(), 0.95)
            # A policy replaced on a day ends the day before; one "retired on" a day applies through that
            # day, as its archive notice keeps it for services on or before it. An end date the
            # document states in so many words beats either.
            last_day = (
                replaced[0] if re.match(r"retired\s+on\b", banner.group(0), re.I) else replaced[0] - timedelta(days=1)
            )
            fields.setdefault("effective_end", field_at(document, last_day, banner.start(), banner.end(), 0.95))
    original, start_field = fields.get("original_effective"), fields.get("effective_start")
    if (
        isinstance(original, Field)
        and _ISSUE_LABEL_RE.match(original.source.text)
        and not (isinstance(start_field, Field) and original.value <= start_field.value - _ISSUE_LEAD)
    ):
        del fields["original_effective"]
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


# A label alone, or with the claims wording that leads to its date ("Effective for dates of service on or after").
_LABEL_KINDS_RES = [
    (kind, re.compile(rf"^\W*(?:{words})(?:\s+{_DATE_LEAD})?\W*$", re.I)) for kind, words, _ in _DATE_LABELS
]


def _label_grid_dates(document: Document) -> list[tuple[str, int, int, date, bool, tuple[int, int]]]:
    """The dates of a table whose header row names them and whose next row gives them, column by column.

    "Effective Date<TAB>Original Date<TAB>Last Reviewed" over "03/01/2026<TAB>01/01/2010<TAB>01/12/2026":
    each date belongs to the label above it, not to the label just before it in the text. Each is
    (kind, start, end, date, has a day, the header row's span).
    """
    found: list[tuple[str, int, int, date, bool, tuple[int, int]]] = []
    rows = [line for line in document.lines if document.line_text(line).strip()]

    def dated_columns(line: Line, width: int) -> set[int]:
        cells = document.line_text(line).split("\t")
        if len(cells) != width:
            return set()
        return {i for i, cell in enumerate(cells) if _BARE_DATE_RE.match(cell.strip())}

    for index, (header, values) in enumerate(pairwise(rows)):
        labels = document.line_text(header).split("\t")
        cells = document.line_text(values).split("\t")
        if len(labels) < 2 or len(labels) != len(cells):
            continue
        kinds = [next((k for k, pattern in _LABEL_KINDS_RES if pattern.match(label)), None) for label in labels]
        if sum(kind is not None for kind in kinds) < 2:
            continue
        # A log's header ("Review date<TAB>Effective date<TAB>Change") is over many rows dated alike.
        if index + 2 < len(rows) and dated_columns(rows[index + 2], len(labels)) & dated_columns(values, len(labels)):
            continue
        offset = values.start
        for kind, cell in zip(kinds, cells, strict=True):
            value = cell.strip()
            parsed = to_date(value) if _BARE_DATE_RE.match(value) else None
            if parsed is None and (first_day := month_year_date(value)) is not None:
                parsed = (first_day, False)
            if kind is not None and parsed is not None:
                start = offset + cell.index(value)
                found.append((kind, start, start + len(value), parsed[0], parsed[1], (header.start, values.end)))
            offset += len(cell) + 1
    return found


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


# A history row starts with its date ("03/12/2025 | Annual review", "- 05/09/2024 Annual review."), or
# with the revision's letter or number in a column before it ("C  09 Mar 2023  Periodic review",
# "2024-07  08/01/2024  Limits changed").
_DATED_ROW_RE = re.compile(
    rf"^\s*(?:[-•*▪◦·|]\s*)?(?:(?:[A-Z]|\d{{1,2}}(?:\.\d{{1,2}})?|\d{{4}}-\d{{2}})[ \t]+)?{TIMESTAMP_OPEN}?(?P<d>{DATE_PATTERN})\s*(?:[|\t:–-]\s*|\s+)(?=[A-Za-z])",
    re.I,
)


def _wraps_row(row: str, text: str) -> bool:
    """Whether `text` is the row's words wrapped onto the next line, indented past the row's date.

    "06/24/2025 Reviewed; criteria revised," / "           effective 09/01/2025." is one row: its
    second line neither starts a row nor ends the run of rows.
    """
    depth = len(text) - len(text.lstrip())
    date_at = DATE_RE.search(row)
    return date_at is not None and depth > date_at.start() and not re.search(r"[.!?]\s*$", row)


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
        if line is not None and run and _wraps_row(document.line_text(run[-1]), document.line_text(line)):
            continue
        if len(run) >= 2:
            rows.extend(run)
        run = []
    return rows


# A history table's title where the reader did not take it for a heading ("7.0 POLICY HISTORY",
# "Revision history:", a lightweight markup's "== Revision history"), so that its rows sit in the
# section before it.
_HISTORY_TITLE_RE = re.compile(
    r"^\s*(?:(?:[=#]{1,6}|\*{1,6})\s+)?(?:(?:§\s*)?\d{1,3}(?:\.\d{1,3})*\.?\s+|[IVX]{1,4}\.\s+)?(?:(?:policy|document|revision|review|publication|version)\s+)?"
    # A controlled document's "Document control" table lists its revisions.
    r"(?:history|revisions|change\s+log|document\s+control)\s*:?\s*$",
    re.I,
)


# A lightweight markup's table delimiter ("|===", "|---|---|") or block attribute line ("[cols="1,3"]").
_TABLE_MARKUP_RE = re.compile(r"^\s*(?:[|=+:\-\s]{3,}|\[[^\]\n]*\])\s*$")
# A markup table's row whose first cell is empty ("|   |   | clarified; ... |"): a row's text wrapped
# onto the next row of the table, which goes on with the row above.
_WRAPPED_ROW_RE = re.compile(r"^\s*\|\s*\|")


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
        markup = 0
        for offset, line in enumerate(document.lines[index + 1 : index + 60]):
            text = document.line_text(line)
            if not text.strip():
                continue
            depth = len(text) - len(text.lstrip())
            if _DATED_ROW_RE.match(text):
                indent = depth if indent is None else indent
                rows.append(line)
            elif indent is None and _TABLE_MARKUP_RE.match(text):
                # A markup table's delimiter or column spec ("|===", "[cols=...]") is no heading row.
                markup += 1
                continue
            elif (indent is None and offset - markup < 2 and not line.heading) or (
                indent is not None and _WRAPPED_ROW_RE.match(text)
            ):
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


# A web page's or a printout's own date, printed under the history: "Page last updated 11/20/2025",
# "Printed on 01/05/2026". It dates the copy, not an event of the policy.
_COPY_DATE_RE = re.compile(
    r"\b(?:(?:web\s*)?page|site|content)\s+(?:last\s+)?(?:updated|modified|reviewed)|"
    r"\b(?:printed|reprinted|retrieved|accessed|downloaded|viewed)(?:\s+on)?|"
    # A page's footer: "Last updated 12/01/2026", "© 2012-2026 ... Last modified".
    r"\blast\s+(?:updated|modified)\b|©|\(c\)\s*\d{4}|\bcopyright\b|"
    # When a site or a tool made the copy: "Page generated 05/02/2026", "Built 2026-01-22 | revision 14".
    r"\b(?:generated|built|exported|rendered)(?:\s+(?:on|at))?\s*$|"
    # When the page went up, not when the policy changed: "Last published to the web 03/15/2026".
    r"\bpublished\s+(?:to|on)\s+(?:the\s+)?(?:web(?:site)?|site|internet|intranet|portal)\b|"
    # A form's own revision in a footer ("Form AB-12 Rev. 03/2024") dates the form, not the policy.
    r"\bform\s+[A-Z0-9][\w-]*\s+rev(?:ision|\.)?\s*$",
    re.I,
)


# A bulleted line up to its text ("     - Annual review"), whose wrapped lines align under that text.
_BULLET_TEXT_RE = re.compile(r"^[ \t]*[-*•][ \t]+(?=\S)")


def _continues_row(document: Document, index: int) -> bool:
    """A line indented deeper than the history row above it, which runs on, is that row's wrapped detail.

    "9/2025  Annual review. Notification given" / "         8/15/2025 for effective date ..." is one
    row: the second line's date is a detail of the first, not an event of its own.
    """
    text = document.line_text(document.lines[index])
    depth = len(text) - len(text.lstrip())
    if index == 0 or re.search(r"[.!?:;]\s*$", document.line_text(document.lines[index - 1])):
        return False
    # A bulleted cell's text wrapped under its own first word (a markup list-table's "- Annual review;
    # ..." / "  findings (effective 2026-03-01)."): the date stands inside the cell's sentence.
    bullet = _BULLET_TEXT_RE.match(document.line_text(document.lines[index - 1]))
    if bullet is not None and bullet.end() == depth and not _DATED_ROW_RE.match(text):
        return True
    for previous in reversed(document.lines[max(0, index - 4) : index]):
        above = document.line_text(previous)
        if len(above) - len(above.lstrip()) < depth:
            return bool(_DATED_ROW_RE.match(above))
    return False


def _is_date_label(text: str, match: re.Match[str]) -> bool:
    """A labelled date above a history table ("Original Effective Date: July 1, 2011"): a field, not an event.

    It names a date of the policy and says nothing else; a row says what happened on its date.
    """
    label = text[: match.start()]
    return (
        bool(label.strip(" -•*\t"))
        and not text[match.end() :].strip(" .;")
        and any(pattern.match(label) for _, pattern in _LABEL_KINDS_RES)
    )


def _month_year(text: str) -> tuple[re.Match[str], date] | None:
    """A history row's "MM/YY" date: read only in a history table, where no other number takes that shape."""
    match = MONTH_YEAR_RE.search(text)
    parsed = month_year_date(match.group(0)) if match is not None else None
    return (match, parsed) if match is not None and parsed is not None else None


def _has_row_date(text: str) -> bool:
    return bool(DATE_RE.search(text) or _month_year(text))


def _rows_below_empty_log(document: Document, found: list[Section]) -> list[Line]:
    """The rows of a history table whose heading holds none of them.

    A printout may set a log's rows apart from its title, and read the first row as a heading of its
    own ("Policy developed. 02/14 03/14"): the dated lines right after the title are its rows, up to
    the first line without a date.
    """
    index = {id(line): i for i, line in enumerate(document.lines)}
    rows: list[Line] = []
    for section in found:
        if (
            section.kind != "history"
            or section.heading_line is None
            or any(_has_row_date(document.line_text(line)) for line in section.lines)
        ):
            continue
        after = section.lines[-1] if section.lines else section.heading_line
        for line in document.lines[index[id(after)] + 1 :]:
            text = document.line_text(line)
            if not text.strip():
                continue
            if not _has_row_date(text):
                break
            rows.append(line)
    return rows


# A footnote printed under a log ("[1] Abstinence for 6 weeks ... Revised 12/09/2025 by the workgroup"):
# its marker opens the line and its date stands in its prose, in the same cell, while a row's date has
# a cell of its own or follows its marker straight away. An asterisk is left out: it is a bullet too.
# An exported comment's anchor ("[a]Reviewer name, Dec 2, 2025: ...") marks its note as a footnote does.
_FOOTNOTE_RE = re.compile(r"^\s*(?:\[\d{1,3}\]|\[[a-z]{1,2}\]|[¹²³⁴⁵⁶⁷⁸⁹⁰]+|[†‡]+)[ \t]*[A-Za-z][^\t|]*$")


# A number column before a row's date that takes a year-and-month shape ("2025-19  01/01/2026 ..."):
# a transmittal's or document's number, as a full date stands in the next cell.
_LEADING_NUMBER_RE = re.compile(rf"\d{{4}}-\d{{2}}[ \t]+(?=(?:{DATE_PATTERN})(?![\w/]))", re.I)


_BARE_DATE_RE = re.compile(rf"^[\W_]*(?:{DATE_PATTERN})[\W_]*$", re.I)


def _described_by_next_line(document: Document, rows: list[Line]) -> dict[int, int]:
    """The rows that hold a date alone, each to the line right below it that says what happened.

    A log laid out as a definition list (`<dt>2026-01-27</dt><dd>Annual review; ... effective
    2026-04-15.</dd>`) prints each date over its entry: a date in the entry is a detail of the row,
    not a row of its own.
    """
    position = {id(line): index for index, line in enumerate(document.lines)}
    described: dict[int, int] = {}
    for line in rows:
        index = position[id(line)]
        if index + 1 >= len(document.lines) or not _BARE_DATE_RE.match(document.line_text(line)):
            continue
        below = document.lines[index + 1]
        text = document.line_text(below)
        if text.strip() and not _BARE_DATE_RE.match(text) and not _DATED_ROW_RE.match(text):
            described[id(line)] = id(below)
    return described


def read_history(document: Document, found: list[Section]) -> list[Field]:
    found = contents_entries_dropped(document, found, "history")
    rows: list[Field] = []
    position = {id(line): index for index, line in enumerate(document.lines)}
    in_section = [
        line
        for section in found
        if section.kind == "history" and not _labelled_dates(document, section)
        for line in _indented_table(document, section.lines)
    ]
    in_log = {id(line) for line in in_section}
    not_rows = _prose_dated_lines(document, found)
    in_section += [line for line in _rows_below_empty_log(document, found) if id(line) not in in_log]
    in_log = {id(line) for line in in_section}
    seen = set(in_log)
    titled = [line for line in _titled_rows(document, found) if id(line) not in seen]
    seen |= {id(line) for line in titled}
    dated = [line for line in _dated_rows(document, found) if id(line) not in seen]
    seen |= {id(line) for line in dated}
    records = [
        line for line in document.lines if id(line) not in seen and _HISTORY_RECORD_RE.match(document.line_text(line))
    ]
    dated += records
    as_cells = {id(line) for line in records}
    candidates = [*in_section, *titled, *dated]
    described = _described_by_next_line(document, candidates)
    descriptions = set(described.values())
    for line, confidence in [
        *((ln, 0.9) for ln in in_section),
        *((ln, 0.85) for ln in titled),
        *((ln, 0.75) for ln in dated),
    ]:
        if id(line) in descriptions or id(line) in not_rows:
            continue
        text = document.line_text(line)
        if id(line) in as_cells:
            text = _record_as_cells(text)
        if id(line) in described:
            # A date alone on its line (a definition list's term) takes the next line as what happened.
            text += "\t" + document.line_text(document.lines[position[id(line)] + 1])
        match = DATE_RE.search(text)
        if match is not None and (after := _LEADING_NUMBER_RE.match(text[match.start() :])):
            match = DATE_RE.search(text, match.start() + after.end())
        parsed = to_date(match.group(1)) if match is not None else None
        if match is None and id(line) in in_log and (month_year := _month_year(text)):
            match, parsed = month_year[0], (month_year[1], False)
        if match is None or _COPY_DATE_RE.search(text[: match.start()]) or _continues_row(document, position[id(line)]):
            continue
        if _FOOTNOTE_RE.match(text[: match.start()]):
            continue
        if parsed is None or _is_date_label(text, match):
            continue
        # A log's entries a page ran into one paragraph ("04/21/2026 – Annual review. 04/09/2025 – Policy
        # created."): each sentence that opens with a date and a dash is an entry of its own.
        later: list[tuple[re.Match[str], date]] = []
        if id(line) in in_log and id(line) not in described:
            for entry in _RUN_ON_ENTRY_RE.finditer(text, match.end()):
                if (entry_date := to_date(entry.group("d"))) is not None:
                    later.append((entry, entry_date[0]))
        bounds = [0, *(m.start() for m, _ in later), len(text)]
        entries = [(match, parsed[0]), *later]
        for (entry, day), start, end in zip(entries, bounds[:-1], bounds[1:], strict=True):
            rows.append(_history_row(document, text, entry, day, start, end, line, confidence))
    return rows


def _prose_dated_lines(document: Document, found: list[Section]) -> set[int]:
    """Lines of a history section whose rows open with their dates, that carry a date inside a sentence.

    A log whose rows each start with a date ("03/19/2025 Annual review") may be followed in its section
    by a note of the page ("Recording posted May 21, 2026", "Comments on this draft by 01/07/2027"): its
    words stand before its date in the same cell, so it is no row of the log.
    """
    lines: set[int] = set()
    for section in found:
        if section.kind != "history":
            continue
        texts = [(line, document.line_text(line)) for line in section.lines]
        led = [line for line, text in texts if _DATED_ROW_RE.match(text)]
        inner = [
            line
            for line, text in texts
            if (match := DATE_RE.search(text)) is not None
            and not _DATED_ROW_RE.match(text)
            and not re.search(r"[\t|]", text[: match.start()])
            and len(re.findall(r"[A-Za-z]{2,}", text[: match.start()])) >= 2
        ]
        if len(led) >= 2 and len(led) > len(inner):
            lines |= {id(line) for line in inner}
    return lines


# A delimited export's record of a history row: its type cell, then the row's date as its key
# ('HISTORY,2026-02-18,,,,"Annual review; ..."').
_HISTORY_RECORD_RE = re.compile(
    rf'^\s*"?(?:history|revision|change|log)[A-Za-z_]*"?[ \t]*[,;][ \t]*"?(?:{DATE_PATTERN})"?[ \t]*[,;]', re.I
)


def _record_as_cells(text: str) -> str:
    """The record with its type cell blanked and its delimiters as tabs, each offset where it was.

    A record's type names the kind of row ("HISTORY"), not what happened; the commas and quotes of
    the format part cells, as a table's tabs do.
    """
    delimiter = next((char for char in text if char in ",;"), ",")
    cells: list[str] = []
    quoted = False
    for char in text:
        if char == '"':
            quoted = not quoted
            cells.append(" ")
        elif char == delimiter and not quoted:
            cells.append("\t")
        else:
            cells.append(char)
    out = "".join(cells)
    first = out.find("\t")
    return " " * first + out[first:]


_RUN_ON_ENTRY_RE = re.compile(rf"(?<=[.;!]\s)(?P<d>{DATE_PATTERN})[ \t]*[–—:-][ \t]*(?=\w)", re.I)


def _history_row(
    document: Document, text: str, match: re.Match[str], day: date, start: int, end: int, line: Line, confidence: float
) -> Field:
    """The history row dated by `match` in `text[start:end]`, a part of `line` (the whole line but for run-on entries)."""
    # The row's other cells, in order, whichever column the date is in.
    date_start, date_end = timestamp_span(text, match.start(), match.end())
    others = text[start:date_start] + "\t" + text[date_end:end]
    rest = [c.strip(" -–:;") for c in re.split(r"\t|\s*\|\s*|\s{2,}| – | - ", others) if c.strip(" -–:;")]
    action = rest[0] if rest else ""
    detail = " ".join(rest[1:])
    whole = start == 0 and end == len(text)
    row_start, row_end = (
        (line.start, line.end) if whole else (line.start + start, line.start + len(text[:end].rstrip()))
    )
    return field_at(document, {"date": day, "action": action, "detail": detail}, row_start, row_end, confidence)
