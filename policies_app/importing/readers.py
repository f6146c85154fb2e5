"""Plain text, HTML and PDF to one normalized text, with the lines, headings and table cells it holds.

Every reader builds the same `Document`: the normalized text (lines joined by newlines, table
cells by tabs, list items indented two spaces per level behind their marker) and, per line,
where it came from in the file (a character offset of the decoded text, or a PDF page), so a
field's span in the normalized text can be traced back to the original.
"""

from __future__ import annotations

import bisect
import io
import itertools
import re
from dataclasses import dataclass, field

from bs4 import BeautifulSoup
from bs4.element import NavigableString, Tag
from pypdf import PageObject, PdfReader
from pypdf.errors import PdfReadError

from policies_app.importer import ImportRefused, decode


@dataclass(frozen=True)
class Line:
    start: int
    end: int
    heading: bool
    # Where the line came from: a character offset in a text file, a page number (from 1) in a PDF,
    # or the line's position in an HTML file's text.
    origin: int
    # The text of one cell of a table row read cell by cell; a cell is never a heading.
    cell: bool = False
    # The term of a definition grid's row, which labels the line after it (its definition).
    term: bool = False
    # The header of the column a cell read cell by cell stands in ("Codes", "Criteria"), or "".
    column: str = ""


@dataclass
class Document:
    layout: str
    text: str = ""
    lines: list[Line] = field(default_factory=list)

    def line_text(self, line: Line) -> str:
        return self.text[line.start : line.end]


class _Builder:
    def __init__(self, layout: str) -> None:
        self.layout = layout
        self.parts: list[str] = []
        self.lines: list[Line] = []
        self.length = 0

    def add(
        self,
        text: str,
        *,
        heading: bool = False,
        origin: int = 0,
        cell: bool = False,
        term: bool = False,
        column: str = "",
    ) -> None:
        text = text.rstrip()
        if not text.strip():
            return
        # In a page of questions and answers ("Q. Are scleral lenses covered?" / "A. Scleral lenses
        # are ..."), "A." marks the answer to the line before, not the first item of a lettered list.
        if self.parts and (answer := _ANSWER_RE.match(text)) and _QUESTION_RE.match(self.parts[-1]):
            text = text[answer.end() :]
        if self.parts:
            self.parts.append("\n")
            self.length += 1
        self.lines.append(Line(self.length, self.length + len(text), heading, origin, cell, term, column))
        self.parts.append(text)
        self.length += len(text)

    def build(self) -> Document:
        return Document(layout=self.layout, text="".join(self.parts), lines=self.lines)


# A question and its answer, each behind its letter or word ("Q. ...?", "Q: ...?", "Question: ...?").
_QUESTION_RE = re.compile(r"^\s*(?:Q[.:]|Question:)\s+\S.*\?\s*$")
_ANSWER_RE = re.compile(r"^\s*(?:A[.:]|Answer:)\s+(?=\S)")


# Any run of white space in a cell or a web page's text is one space: a page's source breaks its
# lines wherever it likes ("<span>Agency</span>\n  <span>Programme</span>" is one line of the page).
_SPACES_RE = re.compile(r"\s+")


def _tidy(text: str) -> str:
    return _SPACES_RE.sub(" ", text.replace("\u200b", "")).strip()


_PAGE_NUMBER_RE = re.compile(r"^\s*page\s+\d+\s+(?:of|/)\s+\d+\b", re.IGNORECASE)


def _furniture_key(raw: str) -> str:
    return re.sub(r"\d+", "#", " ".join(raw.split())).lower()


def _header_key(raw: str) -> str:
    """A header line's words, whatever its punctuation and spacing ("Chapter 4, Section 12" / "Chapter 4  Section 12")."""
    return " ".join(re.findall(r"[a-z]+|#", _furniture_key(raw)))


# A page number on a line of its own ("  2", "- 2 -"), as a text saved from a printed page keeps it.
_LONE_PAGE_NUMBER_RE = re.compile(r"^\s*(?:-\s*)?(?P<n>\d{1,3})(?:\s*-)?\s*$")
# The fewest lines a printed page holds.
_PAGE_LINES = 20
# How many of the first page's lines a later page's repeated header may copy.
_HEADER_LINES = 8


def _page_number_lines(raws: list[str]) -> set[int]:
    """Lines holding only a number that count the pages: 1, 2, 3 in order, a page's length apart.

    A column of numbers in a table or a list counts up too, but line after line.
    """
    found = [(number, int(m.group("n"))) for number, raw in enumerate(raws) if (m := _LONE_PAGE_NUMBER_RE.match(raw))]
    pairs = list(itertools.pairwise(found))
    if not pairs or any(after != before + 1 or end - start < _PAGE_LINES for (start, before), (end, after) in pairs):
        return set()
    return {number for number, _ in found}


def _page_furniture(raws: list[str]) -> set[int]:
    """Lines of text saved from a paged document that repeat at the page edges: running headers and footers.

    Pages end at form feeds, or at "Page 2 of 5" lines where the form feeds were lost. A line among
    the first or last two of a page whose words (numbers aside) recur at the edge of another page is
    the page's furniture, not the policy's text; the first page keeps its header, which names the document.
    """
    pages: list[list[int]] = [[]]
    # Form feeds mark the pages themselves; only where they were lost do lone numbers stand for them.
    counted = set() if any("\f" in raw for raw in raws) else _page_number_lines(raws)
    for number, raw in enumerate(raws):
        if "\f" in raw and pages[-1]:
            pages.append([])
        if raw.strip():
            pages[-1].append(number)
        if _PAGE_NUMBER_RE.match(raw.replace("\f", "")) or number in counted:
            pages.append([])
    pages = [page for page in pages if page]
    if len(pages) < 2:
        return set()
    edges = [(page[:2], page[-2:]) for page in pages]
    seen: dict[str, set[int]] = {}
    for index, (top, bottom) in enumerate(edges):
        for number in {*top, *bottom}:
            seen.setdefault(_furniture_key(raws[number]), set()).add(index)
    furniture = set()
    for index, (top, bottom) in enumerate(edges):
        for number in {*top, *bottom}:
            raw = raws[number]
            page_number = bool(_PAGE_NUMBER_RE.match(raw.replace("\f", ""))) or number in counted
            repeated = len(seen[_furniture_key(raw)]) > 1 and not (index == 0 and number in top)
            if page_number or repeated:
                furniture.add(number)
    # A later page may open by repeating the document's own header (its title, chapter and section
    # lines), which runs deeper than the two edge lines above: each line that copies one of the first
    # page's opening lines, up to the first that does not.
    # A line of rules or bullets has no words to be a header by.
    opening = {key for number in pages[0][:_HEADER_LINES] if re.search(r"[a-z]", key := _header_key(raws[number]))}
    for page in pages[1:]:
        for number in page:
            if number not in furniture and _header_key(raws[number]) not in opening:
                break
            furniture.add(number)
    return furniture


# A gap of three or more blanks inside a line of fixed-width text parts two columns ("Policy no.
# MA-014", "Dec 2, 2025    Annual review"); a sentence's words are never that far apart. The gap
# after a list marker ("i.   Diagnosed at age 50") only aligns the item's text, and in a line whose
# cells are parted by tabs, blanks are inside a cell.
_COLUMN_GAP_RE = re.compile(r"(?<=\S) {3,}(?=\S)")
_LEADING_MARKER_RE = re.compile(r"^\s*(?:[-•*▪◦·]|\(?(?:\d{1,2}|[a-zA-Z]|[ivxIVX]{1,4})[.)])(?= )")


def _columns(raw: str) -> str:
    if "\t" in raw:
        return raw
    marker = _LEADING_MARKER_RE.match(raw)
    head = raw[: marker.end()] if marker else ""
    return head + _COLUMN_GAP_RE.sub("\t", raw[len(head) :])


# An e-mail's quoted text: each line behind one "> " per level of quoting (">> " or "> > " when a
# quote is quoted again). ">=" or "> 30 kg/m2" starts no quote: a marker is followed by a blank, another
# marker or the line's end.
_QUOTE_RE = re.compile(r"^[ \t]*(?:>(?: |(?=>)|[ \t]*$))+")
# A forwarded or replied-to message quotes a run of lines; one line that opens with ">" is not a quote.
_QUOTED_RUN = 3


def _quote_end(raw: str) -> int:
    marker = _QUOTE_RE.match(raw)
    return marker.end() if marker else 0


def _unquoted(raws: list[str]) -> list[str]:
    """The lines of a text with its e-mail quote markers taken off, so a forwarded policy reads as the policy.

    Only runs of quoted lines are unquoted; the blank after a marker is the quote's, and the blanks
    that follow it are the quoted line's own indent ("   a) Age 18 years or older").
    """
    quoted = [bool(_QUOTE_RE.match(raw)) for raw in raws]
    lines = list(raws)
    number = 0
    while number < len(raws):
        end = number
        while end < len(raws) and quoted[end]:
            end += 1
        # A list of comparisons ("> 30 kg/m2", "> 2 prior fractures") is no quote: a quote holds words or blanks.
        worded = any(not raws[i][_quote_end(raws[i]) :].strip()[:1].isdigit() for i in range(number, end))
        if end - number >= _QUOTED_RUN and worded:
            for index in range(number, end):
                lines[index] = raws[index][_quote_end(raws[index]) :]
        number = max(end, number + 1)
    return lines


# A box drawn in characters around a header: "+-----+" rules and "|  Effective 03/01/2026   |" rows.
_BOX_RULE_RE = re.compile(r"^\s*\+[-=+]{3,}\+\s*$")
_BOX_ROW_RE = re.compile(r"^\s*\|(?P<inner>[^|]*)\|\s*$")


def _unboxed(raw: str) -> str:
    """A line of a box drawn in characters as the text it frames; the box's rules are no text.

    A row of a table written with pipes has a pipe between its cells; a box's row only the two of its frame.
    """
    if _BOX_RULE_RE.match(raw):
        return ""
    if row := _BOX_ROW_RE.match(raw):
        return row.group("inner")
    return raw


# A tree drawn in characters ("+-- ", "|-- ", "`-- ", "├── ", "└── ") with bars ("|", "│") carrying its
# levels down; the branch's column is the item's depth.
_TREE_BRANCH_RE = re.compile(
    r"^(?P<bars>[ |\u2502\u2503]*?)(?P<branch>[+`|\u251c\u2514\u2523\u2517][-\u2500\u2501]{1,4}>?) +(?=\S)"
)
_TREE_BARS_RE = re.compile(r"^[ ]*[|\u2502\u2503][ |\u2502\u2503]*(?=\S)")
# The fewest branches that make a drawing a tree rather than a stray "+--".
_TREE_BRANCHES = 2


def _untreed(raws: list[str]) -> dict[int, str]:
    """Lines of trees drawn in characters as list items indented two spaces per level behind a "- " bullet.

    A branch's column gives its level; a line under it with only the tree's bars (or blanks) before
    its words carries the item on, and is indented under it. Returns the new text of each such line.
    """
    found: dict[int, str] = {}
    number = 0
    while number < len(raws):
        if not _TREE_BRANCH_RE.match(raws[number]):
            number += 1
            continue
        block: list[tuple[int, int | None, str]] = []
        end = number
        while end < len(raws) and raws[end].strip():
            raw = raws[end]
            if branch := _TREE_BRANCH_RE.match(raw):
                block.append((end, branch.start("branch"), raw[branch.end() :]))
            elif (bars := _TREE_BARS_RE.match(raw)) or (block and raw.startswith(" ")):
                block.append((end, None, raw[bars.end() :] if bars else raw))
            else:
                break
            end += 1
        columns = sorted({column for _, column, _ in block if column is not None})
        if sum(1 for _, column, _ in block if column is not None) >= _TREE_BRANCHES:
            depth = 0
            for line, column, text in block:
                if column is not None:
                    depth = columns.index(column)
                    found[line] = "  " * depth + "- " + _tidy(text)
                else:
                    found[line] = "  " * depth + "    " + _tidy(text)
        number = max(end, number + 1)
    return found


# A rule of dashes under a fixed-width table's header, one run per column ("----  ----------").
_COLUMN_RULE_RE = re.compile(r"^ *-{2,}(?: +-{2,})+ *$")


def _ruled_header(raw: str, rule: str) -> str | None:
    """A header row cut into its cells where the rule below it starts each column.

    A mainframe print may set its header two blanks apart ("NO  CONDITION"), too close for a gap
    of three to part them; the rule's dash runs say where each column begins.
    """
    starts = [match.start() for match in re.finditer(r"-{2,}", rule)]
    if len(starts) < 2 or "\t" in raw or len(raw) <= starts[-1]:
        return None
    bounds = [*starts, len(raw)]
    if any(raw[start - 1 : start] not in ("", " ") for start in starts[1:]):
        return None
    cells = [raw[bounds[n] : bounds[n + 1]].strip() for n in range(len(starts))]
    indent = raw[: len(raw) - len(raw.lstrip(" "))]
    return indent + "\t".join(cells) if all(cells) else None


# An item numbered by the markup that renders it (reStructuredText's "#." auto-enumerator).
_AUTO_NUMBER_RE = re.compile(r"^(?P<indent> *)#\.(?= +\S)")


def _auto_numbered(raws: list[str]) -> list[str]:
    """Lines with the numbers an auto-enumerated list shows in place of its "#." markers.

    Each "#." counts on from the item before it at its indent; a line of text at that indent or
    shallower (the next paragraph) ends the list, and its numbering starts again.
    """
    counts: dict[int, int] = {}
    numbered: list[str] = []
    for raw in raws:
        if not raw.strip():
            numbered.append(raw)
            continue
        indent = len(raw) - len(raw.lstrip(" "))
        match = _AUTO_NUMBER_RE.match(raw)
        counts = {level: count for level, count in counts.items() if level < indent or (match and level == indent)}
        if match is None:
            numbered.append(raw)
            continue
        counts[indent] = counts.get(indent, 0) + 1
        numbered.append(f"{match.group('indent')}{counts[indent]}.{raw[match.end() :]}")
    return numbered


def read_text(data: bytes | str) -> Document:
    text = decode(data)
    builder = _Builder("text")
    offset = 0
    originals = text.split("\n")
    raws = _auto_numbered(_unquoted(originals))
    furniture = _page_furniture(raws)
    trees = _untreed(raws)
    for number, original in enumerate(originals):
        if number in furniture:
            offset += len(original) + 1
            continue
        if number in trees:
            builder.add(trees[number], origin=offset)
            offset += len(original) + 1
            continue
        raw = _unboxed(raws[number].replace("\f", ""))
        following = raws[number + 1] if number + 1 < len(raws) else ""
        if _COLUMN_RULE_RE.match(following) and (header := _ruled_header(raw, following)) is not None:
            raw = header
        # Tabs separate table cells; other runs of blanks are one space, keeping the indent.
        indent = len(raw) - len(raw.lstrip(" "))
        cells = [_tidy(cell) for cell in _columns(raw).split("\t")]
        body = "\t".join(cells) if len(cells) > 1 else cells[0]
        builder.add(" " * indent + body, origin=offset)
        offset += len(original) + 1
    return builder.build()


_SKIP = {"script", "style", "noscript", "template", "head", "svg", "button", "form", "nav"}
# A form's choices (a <select> of plans, a text box's content) are what a user would enter, not the page's text.
_CONTROLS = {"select", "option", "textarea", "input"}
_HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
_BLOCKS = {
    "p", "div", "section", "article", "main", "header", "footer", "aside", "table", "thead", "tbody",
    "tfoot", "blockquote", "pre", "dl", "dt", "dd", "figure", "figcaption", "caption", "address", "hr",
    "body", "html", "form", "fieldset", "legend",
}  # fmt: skip


# An element given an ARIA role stands for the element of that role: a page rendered by a script
# builds its lists, headings and tables of <div>s and <span>s and says what each is by its role.
_ROLE_KINDS = {
    "list": "ul", "listitem": "li", "table": "table", "grid": "table", "treegrid": "table",
    "rowgroup": "tbody", "row": "tr", "cell": "td", "gridcell": "td", "columnheader": "th", "rowheader": "th",
    "paragraph": "p",
}  # fmt: skip


def _kind(element: Tag) -> str:
    """The element's tag name, or that of the element its ARIA role says it stands for."""
    name = element.name.lower()
    role = str(element.get("role") or "").strip().lower()
    if not role or name in ("ul", "ol", "li", "table", "tr", "td", "th", *_HEADINGS):
        return name
    if role == "heading":
        level = str(element.get("aria-level") or "").strip()
        return f"h{level}" if level in ("1", "2", "3", "4", "5", "6") else "h2"
    kind = _ROLE_KINDS.get(role, name)
    # A list or row whose children carry no item or cell role is read as the block it is, not to lose its text.
    if kind in _ROLE_PARTS and not _children_of(element, _ROLE_PARTS[kind]):
        return name
    return kind


_ROLE_PARTS = {"ul": {"li"}, "tr": {"td", "th"}}


def _children_of(element: Tag, kinds: set[str]) -> list[Tag]:
    """The element's child tags of those kinds (tag names or ARIA roles)."""
    return [child for child in element.children if isinstance(child, Tag) and _kind(child) in kinds]


def _descendant_of(element: Tag, kinds: set[str]) -> Tag | None:
    found = element.find(lambda tag: _kind(tag) in kinds)
    return found if isinstance(found, Tag) else None


def _descendants_of(element: Tag, kinds: set[str]) -> list[Tag]:
    return [tag for tag in element.find_all(lambda tag: _kind(tag) in kinds) if isinstance(tag, Tag)]


class _HtmlWalker:
    def __init__(self) -> None:
        self.builder = _Builder("html")
        self.buffer: list[str] = []
        self.prefix = ""
        self.count = 0
        self.in_cell = False
        # Whether the table being read is one of records (see `record`), innermost last.
        self.record_tables: list[bool] = []
        # The columns of the table being read that hold superseded wording (see `_superseded_columns`).
        self.dropped: list[set[int]] = []
        # The header cells of the table being read, innermost last, naming the columns of its records.
        self.headers: list[list[str]] = []
        self.column = ""

    def flush(self, *, heading: bool = False) -> None:
        text = _tidy("".join(self.buffer))
        self.buffer = []
        if text:
            self.builder.add(
                self.prefix + text, heading=heading, origin=self.count, cell=self.in_cell, column=self.column
            )
            self.count += 1
            # Only the item's first line carries its marker; what follows is its continuation.
            if self.prefix.strip():
                self.prefix = " " * len(self.prefix)

    def walk(self, element: Tag, depth: int) -> None:
        for child in element.children:
            if isinstance(child, NavigableString):
                if type(child) is NavigableString:
                    self.buffer.append(str(child))
                continue
            if not isinstance(child, Tag):
                continue
            name = _kind(child)
            if name in _SKIP and not (name == "form" and _questionnaire(child)):
                continue
            if name in _CONTROLS:
                continue
            if name == "br":
                self.flush()
            elif name in _HEADINGS:
                self.flush()
                self.buffer.append(child.get_text(" "))
                self.flush(heading=True)
            elif name == "tr":
                self.flush()
                cells = _children_of(child, {"td", "th"})
                if self.dropped and self.dropped[-1]:
                    cells = [cell for n, cell in enumerate(cells) if n not in self.dropped[-1]]
                if self.record_tables and self.record_tables[-1] and _children_of(child, {"td"}):
                    self.record(cells, depth)
                    continue
                texts = [_tidy(cell.get_text(" ")) for cell in cells]
                if self.headers and not self.headers[-1] and cells and all(_kind(cell) == "th" for cell in cells):
                    self.headers[-1] = texts
                if any(texts):
                    self.builder.add("\t".join(texts), origin=self.count)
                    self.count += 1
            elif name == "table":
                self.flush()
                self.record_tables.append(
                    any(_descendant_of(cell, _RECORD_BLOCKS) for cell in _descendants_of(child, {"td"}))
                )
                self.dropped.append(_superseded_columns(child))
                self.headers.append([])
                self.walk(child, depth)
                self.flush()
                self.record_tables.pop()
                self.dropped.pop()
                self.headers.pop()
            elif name in ("ul", "ol"):
                self.flush()
                self.list(child, depth + 1)
            elif name in _BLOCKS or name == "li":
                self.flush()
                if (items := _styled_items(child)) and self.introduced():
                    self.blocks(items, depth + 1)
                elif (pair := _term_row(child)) is not None:
                    # Each on its own line, as a reader of the page sees them; the term marked as the label
                    # of the definition below it.
                    self.builder.add(pair[0], origin=self.count, term=True)
                    self.builder.add(pair[1], origin=self.count + 1)
                    self.count += 2
                else:
                    self.walk(child, depth)
                self.flush()
            else:
                self.walk(child, depth)

    def record(self, cells: list[Tag], depth: int) -> None:
        """A row of a table whose cells hold lists or paragraphs, read as a record: each cell on its own lines, in order.

        Such a row (a decision table's indication, status and "All of:" conditions) is a statement
        and its criteria; joined by tabs its lists would be flattened into one line. A cell with no
        word or number ("—", "-") says nothing.
        """
        saved, saved_column = self.in_cell, self.column
        self.in_cell = True
        header = self.headers[-1] if self.headers else []
        offset = 0
        # A row of two cells, a number ("#" column) and its text, is a numbered item: the number marks the
        # text. A row with more cells (a decision table's status and conditions) stays a record.
        number = _tidy(cells[0].get_text(" ")) if len(cells) == 2 else ""
        if _ROW_NUMBER_RE.match(number):
            cells = cells[1:]
            offset = 1
            self.prefix = number.rstrip(".") + ". "
        for index, cell in enumerate(cells, start=offset):
            if not any(c.isalnum() for c in cell.get_text()):
                continue
            self.column = header[index] if index < len(header) else ""
            self.walk(cell, depth)
            self.flush()
            self.prefix = ""
        self.prefix = ""
        self.in_cell, self.column = saved, saved_column

    def introduced(self) -> bool:
        """Whether the text read last announces a list ("... when all of the following are met:")."""
        last = _tidy("".join(self.buffer)) or (self.builder.parts[-1] if self.builder.parts else "")
        return last.rstrip().endswith(":")

    def blocks(self, items: list[Tag], depth: int) -> None:
        """Blocks a style sheet numbers or bullets (CSS counters, `::before` glyphs) read as a list's items.

        The page shows markers the text does not hold; the items' nesting is the list's structure.
        """
        saved = self.prefix
        for item in items:
            self.prefix = "  " * (depth - 1) + "- "
            self.walk(item, depth)
            self.flush()
        self.prefix = saved

    def list(self, element: Tag, depth: int) -> None:
        ordered = _kind(element) == "ol"
        kind = str(element.get("type") or "1") if ordered else ""
        start = str(element.get("start") or "")
        number = int(start) if ordered and start.isdigit() else 1
        saved = self.prefix
        for item in _children_of(element, {"li"}):
            marker = _marker(str(kind), number) if ordered else "-"
            number += 1
            self.prefix = "  " * (depth - 1) + marker + " "
            self.walk(item, depth)
            self.flush()
        self.prefix = saved


_ROW_NUMBER_RE = re.compile(r"^\d{1,2}\.?$")
# A comparison of a policy's wording before and after a change: one column holds the wording in force
# until the change ("Current criteria", "Previous wording"), another the wording that replaces it.
_OLD_COLUMN_RE = re.compile(r"^(?:current|existing|previous|prior|old|former|original)\b", re.I)
_NEW_COLUMN_RE = re.compile(r"^(?:revised|new|proposed|updated|amended|future)\b", re.I)
_WORDING_RE = re.compile(
    r"\b(?:criteri(?:on|a)|requirements?|conditions?|indications?|wording|language|text|policy)\b", re.I
)


def _superseded_columns(table: Tag) -> set[int]:
    """The columns of a before-and-after table that hold the wording being replaced, which is no longer the policy's.

    Only a header naming both the old and the new wording of the criteria (or policy text) says so;
    "Old code" / "New code" columns of a code crosswalk are both read.
    """
    header = _descendant_of(table, {"tr"})
    if header is None:
        return set()
    names = [_tidy(cell.get_text(" ")) for cell in _children_of(header, {"th", "td"})]
    old = {n for n, name in enumerate(names) if _OLD_COLUMN_RE.match(name) and _WORDING_RE.search(name)}
    new = [n for n, name in enumerate(names) if _NEW_COLUMN_RE.match(name) and _WORDING_RE.search(name)]
    return old if old and new else set()


# Containers whose like children a style sheet may show as a list's items.
_ITEM_BLOCKS = {"div", "section", "article"}


def _element_children(element: Tag) -> list[Tag] | None:
    """The element's child tags, or None when it holds text of its own beside them."""
    children: list[Tag] = []
    for child in element.children:
        if isinstance(child, Tag):
            children.append(child)
        elif type(child) is NavigableString and str(child).strip():
            return None
    return children


def _styled_items(element: Tag) -> list[Tag] | None:
    """The children of a block holding only two or more blocks of one tag and class, each with text."""
    children = _element_children(element)
    if not children or len(children) < 2:
        return None
    first = children[0]
    if first.name.lower() not in _ITEM_BLOCKS:
        return None
    kind = (first.name.lower(), tuple(first.get("class") or ()))
    if any((child.name.lower(), tuple(child.get("class") or ())) != kind for child in children):
        return None
    if not all(child.get_text().strip() for child in children):
        return None
    return children


# A grid row's term is a label, not a sentence: a few words.
_TERM_WORDS = 6


def _term_row(element: Tag) -> tuple[str, str] | None:
    """A row of a definition grid: a block holding a short term block and a definition block of plain text.

    Laid out in two columns (CSS grid or flex), the term labels what its definition states; a
    definition holding paragraphs, lists or line breaks is read as any other block.
    """
    children = _element_children(element)
    if children is None or len(children) != 2:
        return None
    term, definition = children
    if term.name.lower() not in _ITEM_BLOCKS or definition.name.lower() not in _ITEM_BLOCKS:
        return None
    blocks = ["p", "div", "ul", "ol", "table", "br", "dl", *_HEADINGS]
    if term.find(blocks) is not None or definition.find(blocks) is not None:
        return None
    label, text = _tidy(term.get_text(" ")), _tidy(definition.get_text(" "))
    if not label or not text or len(label.split()) > _TERM_WORDS or label.endswith((".", ";", ",")):
        return None
    return label, text


# Block content that makes a table row a record rather than a line of cells.
_RECORD_BLOCKS = {"ul", "ol", "p", "table"}


def _questionnaire(form: Tag) -> bool:
    """Whether a form asks questions answered by choice (radio buttons, check boxes), like a criteria worksheet.

    A search box or a sign-in form says nothing of the policy and stays unread.
    """
    return form.find("input", attrs={"type": re.compile(r"^(?:radio|checkbox)$", re.I)}) is not None


def _marker(kind: str, number: int) -> str:
    if kind in ("a", "A"):
        letter = chr(ord("a") + (number - 1) % 26)
        return f"{letter.upper() if kind == 'A' else letter}."
    if kind in ("i", "I"):
        numerals = ["i", "ii", "iii", "iv", "v", "vi", "vii", "viii", "ix", "x", "xi", "xii"]
        roman = numerals[(number - 1) % len(numerals)]
        return f"{roman.upper() if kind == 'I' else roman}."
    return f"{number}."


def read_html(data: bytes | str) -> Document:
    if isinstance(data, bytes) and b"\x00" in data:
        raise ImportRefused("the file is binary (it contains NUL bytes), not a web page")
    soup = BeautifulSoup(data, "lxml")
    walker = _HtmlWalker()
    root = soup.body or soup
    walker.walk(root, 0)
    walker.flush()
    document = walker.builder.build()
    if not document.text.strip():
        raise ImportRefused("the web page has no text")
    return document


_PAGE_FOOTER_RE = re.compile(r"^\s*(?:page\s+\d+\s+(?:of|/)\s+\d+|\d+\s*/\s*\d+|-\s*\d+\s*-)\s*$", re.IGNORECASE)


def read_pdf(data: bytes) -> Document:
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise ImportRefused("the PDF is encrypted with a password; save an unprotected copy")
        pages = [_page_text(page) for page in reader.pages]
    except ImportRefused:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError, IndexError, AttributeError, RecursionError) as exc:
        # A damaged file makes the parser fail in many ways; each means the same to the editor.
        raise ImportRefused(f"the PDF cannot be read ({type(exc).__name__}); it may be damaged or incomplete") from exc
    if not any(page.strip() for page, _ in pages):
        raise ImportRefused(
            "the PDF has no text layer (a scanned image?); import a text PDF, or paste the policy's text"
        )
    builder = _Builder("pdf")
    page_raws = [page.replace("\r\n", "\n").replace("\r", "\n").split("\n") for page, _ in pages]
    # A running header or footer (the policy's number and date in the page margin) is the page's, not the text's.
    edges = _page_furniture(
        [("\f" if index == 0 else "") + raw for raws in page_raws for index, raw in enumerate(raws)]
    )
    flat_number = 0
    for number, (laid_out, raws) in enumerate(zip((laid for _, laid in pages), page_raws, strict=True), start=1):
        lines: list[str] = []
        margin = min((len(raw) - len(raw.lstrip(" ")) for raw in raws if raw.strip()), default=0)
        after_blank = False
        first = flat_number
        flat_number += len(raws)
        for raw_number, raw in enumerate(raws, start=first):
            text = _tidy(raw)
            if raw_number in edges:
                continue
            if not text or _PAGE_FOOTER_RE.match(raw):
                after_blank = after_blank or not text
                continue
            # Laid out, a page keeps its list items' indent (their nesting), and a blank line ends a paragraph.
            item = laid_out and _ITEM_START_RE.match(text)
            indent = " " * (len(raw) - len(raw.lstrip(" ")) - margin) if item else ""
            if lines and not (laid_out and after_blank) and _wrapped(lines[-1], text):
                # A PDF breaks lines where the page did; a sentence cut mid-way is one line again.
                glue = "" if re.search(r"[A-Za-z]-$", lines[-1]) else " "
                lines[-1] = lines[-1] + glue + text
            else:
                lines.append(indent + text)
            after_blank = False
        for text in lines:
            builder.add(text, origin=number)
    return builder.build()


_LONE_MARKER_RE = re.compile(r"^\s*(?:\d{1,2}|[a-zA-Z]|[ivxIVX]{1,4})[.)]\s*$", re.MULTILINE)


def _page_text(page: PageObject) -> tuple[str, bool]:
    """The page's text, and whether it is laid out as printed.

    A browser prints a list's numbers apart from its items' text, and the plain extraction then
    gives the numbers as lines of their own after the list; laid out as printed, each number is
    beside its item again, indented as the page shows it. A page set in two columns is read one
    column after the other, as its reader reads it; extracted line by line, each printed line would
    join the two columns' unrelated sentences.
    """
    starts: list[float] = []

    def visit(text: str, cm: list[float], tm: list[float], font: object, size: object) -> None:
        # A column's line of prose, not a table's short cell.
        if len(text.strip()) >= _COLUMN_TEXT:
            starts.append(tm[4] * cm[0] + cm[4])

    text = page.extract_text(visitor_text=visit) or ""
    laid: str | None = None
    # Laying a page out is slow; only a page with many lines of prose starting at one place mid-page
    # may hold a second column.
    if _mid_page_edge(starts, float(page.mediabox.width)):
        laid = page.extract_text(extraction_mode="layout") or ""
        if (columns := _column_order(laid)) is not None:
            return columns, True
    if _LONE_MARKER_RE.search(text):
        laid = page.extract_text(extraction_mode="layout") if laid is None else laid
        return laid or text, True
    return text, False


def _mid_page_edge(starts: list[float], width: float) -> bool:
    """Whether at least _COLUMN_ROWS runs of text start within a few points of one place in the page's middle third."""
    middle = sorted(x for x in starts if width / 3 <= x <= 2 * width / 3)
    return any(bisect.bisect_right(middle, x + _EDGE_POINTS) - n >= _COLUMN_ROWS for n, x in enumerate(middle))


# How far apart (in points) the starts of a column's lines may be: a few characters' indent.
_EDGE_POINTS = 6.0


# A page's columns: the fewest printed lines holding text on both sides of the gutter, and the
# shortest mean text on each side (a column of prose; a table's code or label column is narrower).
_COLUMN_ROWS = 8
_COLUMN_TEXT = 20
# The blank lines that set a page's footer apart from its columns.
_FOOTER_GAP = 3


def _column_order(laid: str) -> str | None:
    """A page laid out as printed, its two columns read one after the other, or None if it has one column.

    The gutter is the character column left blank by a run of lines of which many hold prose on
    both sides; the run starts at the first line whose right-hand text starts at the right column's
    edge (a masthead's cells above it are spaced otherwise) and ends at the last such line or
    left-column line (a footer's page number stands elsewhere).
    """
    rows = laid.split("\n")
    width = max((len(row) for row in rows), default=0)
    best: tuple[int, int, int, int] | None = None
    for x in range(width // 4, 3 * width // 4):
        start, both = 0, 0
        for number, row in enumerate([*rows, "\x00" * width]):
            if row[x - 1 : x + 2].strip(" "):
                if both >= _COLUMN_ROWS and (best is None or both > best[0]):
                    best = (both, x, start, number)
                start, both = number + 1, 0
            elif row[: x - 1].strip() and row[x + 2 :].strip():
                both += 1
    if best is None:
        return None
    _, x, start, end = best
    band = rows[start:end]
    lefts = [row[: x - 1].strip() for row in band if row[: x - 1].strip() and row[x + 2 :].strip()]
    rights = [row[x + 2 :].strip() for row in band if row[: x - 1].strip() and row[x + 2 :].strip()]
    if sum(map(len, lefts)) < _COLUMN_TEXT * len(lefts) or sum(map(len, rights)) < _COLUMN_TEXT * len(rights):
        return None
    edges = [len(row) - len(row[x - 1 :].lstrip(" ")) for row in band if row[x - 1 :].strip()]
    # The right column's edge, where most of its lines start (a table's cells inside it a blank or so further).
    edge = max(set(edges), key=lambda at: sum(abs(other - at) <= 1 for other in edges))
    if sum(abs(other - edge) <= 1 for other in edges) < len(edges) / 2:
        return None
    aligned = [
        n
        for n, row in enumerate(band)
        if row[x - 1 :].strip() and abs(len(row) - len(row[x - 1 :].lstrip(" ")) - edge) <= 1
    ]
    first = aligned[0]
    # A footer stands apart below the columns, past a few blank lines.
    last, blanks = first, 0
    for n in range(first, len(band)):
        if not band[n].strip():
            blanks += 1
            if blanks >= _FOOTER_GAP:
                break
            continue
        blanks = 0
        if band[n][: x - 1].strip() or n in aligned:
            last = n
    band = band[first : last + 1]
    # A row blank on one side only is the other column's line, no paragraph break of this one.
    left = [row[: x - 1].rstrip() for row in band if row[: x - 1].strip() or not row.strip()]
    right = [row[x - 1 :].rstrip() for row in band if row[x - 1 :].strip() or not row.strip()]
    return "\n".join([*rows[: start + first], *left, *right, *rows[start + last + 1 :]])


_ITEM_START_RE = re.compile(
    r"^(?:[-–•*▪◦·\uf0b7\uf0a7\uf076\uf0d8\u25cf\u25cb\u25a0\u25c6\u25ba\u25b8\u27a2\u27a4\u2713\u2714\u2043\u2023\u2219o]|\d{1,2}[.)]|[a-zA-Z]{1,4}[.)]|\([a-z0-9]{1,4}\))\s"
)
_JOINING_WORDS = {
    "and",
    "or",
    "of",
    "the",
    "a",
    "an",
    "to",
    "with",
    "for",
    "in",
    "by",
    "on",
    "that",
    "when",
    "is",
    "are",
}


def _wrapped(previous: str, current: str) -> bool:
    if previous.endswith((".", ":", ";", "!", "?")) or _ITEM_START_RE.match(current) or "\t" in previous:
        return False
    last_word = previous.rsplit(" ", 1)[-1].lower()
    return current[0].islower() or previous.endswith((",", "-", "–", "/")) or last_word in _JOINING_WORDS


def layout_of(data: bytes, file: str = "") -> str:
    """ "pdf", "html" or "text", from the bytes first and the file name second."""
    head = data[:1024].lstrip().lower()
    if data.startswith(b"%PDF-") or file.lower().endswith(".pdf"):
        return "pdf"
    if head.startswith((b"<!doctype html", b"<html", b"<?xml")) or file.lower().endswith((".html", ".htm")):
        return "html"
    if b"<body" in head or b"<html" in head:
        return "html"
    return "text"


def read_document(data: bytes, file: str = "") -> Document:
    """The document's normalized text, or ImportRefused saying why it cannot be read."""
    if not data.strip():
        raise ImportRefused("the file is empty")
    layout = layout_of(data, file)
    if layout == "pdf":
        if not data.startswith(b"%PDF-"):
            raise ImportRefused("the file is named .pdf but is not a PDF")
        return read_pdf(data)
    if layout == "html":
        try:
            text = decode(data)
        except ImportRefused:
            raise
        return read_html(text)
    return read_text(data)
