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


# The rules of a table drawn with box-drawing characters ("│ Plans │ Acme Group (PPO) │"), which stand
# where a cell's edge or a Markdown table's pipe would; the field rules read them as cell borders.
BOX_RULES = "│┃║"
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
        # For each table being read whose cells merge rows, the rows each column is still covered for.
        self.spans: list[dict[int, int] | None] = []
        # The marker style of each Google Docs list class ("lst-kix_<id>-1": "a"), from the page's style sheet.
        self.list_styles: dict[str, str] = {}
        # How many definitions of a definition list read as a list (see `definitions`) are being read.
        self.definition_lists = 0

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
                if self.spans and self.spans[-1] is not None:
                    texts = _gridded(cells, texts, self.spans[-1])
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
                # Rows under a merged cell keep its column as an empty cell, unless columns were dropped.
                self.spans.append({} if _merged_grid(child) and not self.dropped[-1] else None)
                self.walk(child, depth)
                self.flush()
                self.record_tables.pop()
                self.dropped.pop()
                self.headers.pop()
                self.spans.pop()
            elif name == "dl" and (self.definition_lists or _descendant_of(child, {"dl"}) is not None):
                self.flush()
                self.definitions(child, depth + 1)
            elif name in ("ul", "ol"):
                self.flush()
                if (level := _docs_level(child)) is not None:
                    # A Google Docs export writes each level of a list as a list of its own beside the
                    # others; its class names the level and the style sheet the marker.
                    style = self.list_styles.get(level[0])
                    self.list(child, depth + level[1] + 1, style)
                else:
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

    def definitions(self, element: Tag, depth: int) -> None:
        """A definition list holding another in a definition, read as a list whose items are its definitions.

        Each definition is an item marked as a list's item is, and a definition list inside it a list
        nested a level deeper, so where the inner list ends stays in the text ("shown by one of the
        following:" then its indented items, then the outer list's next item). A term is only the
        topic its definition states ("Circulation"), so it is left out: as a line of its own it would
        read as an item, or end the list.
        """
        saved = self.prefix
        for part in _children_of(element, {"dd"}):
            self.prefix = "  " * (depth - 1) + "- "
            self.definition_lists += 1
            self.walk(part, depth)
            self.flush()
            self.definition_lists -= 1
        self.prefix = saved

    def list(self, element: Tag, depth: int, style: str | None = None) -> None:
        ordered = _kind(element) == "ol" if style is None else style != "-"
        kind = (str(element.get("type") or "1") if ordered else "") if style is None else style
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


def _span(cell: Tag, name: str) -> int:
    value = str(cell.get(name) or "1").strip()
    return max(1, min(int(value), 1000)) if value.isdigit() else 1


def _grid_row(cells: list[Tag], covered: dict[int, int]) -> tuple[list[int], int]:
    """The column each of a row's cells stands in, past the columns merged cells of rows above cover, and the row's width.

    `covered` (column: rows below still covered) is updated for the rows below.
    """
    over = {column for column, rows in covered.items() if rows > 0}
    opened: set[int] = set()
    columns: list[int] = []
    column = 0
    for cell in cells:
        while column in over:
            column += 1
        columns.append(column)
        width = _span(cell, "colspan")
        if (rows := _span(cell, "rowspan")) > 1:
            for spanned in range(column, column + width):
                covered[spanned] = rows - 1
                opened.add(spanned)
        column += width
    for spanned in over - opened:
        covered[spanned] -= 1
    return columns, max([column, *(spanned + 1 for spanned in over)])


def _gridded(cells: list[Tag], texts: list[str], covered: dict[int, int]) -> list[str]:
    """A row's cell texts with an empty cell for each column a merged cell of a row above covers.

    Each row then keeps its columns: a criterion under a merged operator cell ("ALL of") shows by
    its empty cells which operator's rows it belongs to.
    """
    gridded: list[str] = []
    columns, _ = _grid_row(cells, covered)
    end = 0
    for cell, column, text in zip(cells, columns, texts, strict=True):
        gridded.extend([""] * (column - end))
        gridded.append(text)
        end = column + _span(cell, "colspan")
    return gridded


def _merged_grid(table: Tag) -> bool:
    """Whether a table merges cells over rows and its merged cells leave every row as wide as the others.

    Only then does a merged cell say which rows it covers; a row left short of the table's width
    shows the page's spans do not add up, and its rows are read as they stand.
    """
    rows = [
        row for part in [table, *_children_of(table, {"thead", "tbody", "tfoot"})] for row in _children_of(part, {"tr"})
    ]
    if not any(_span(cell, "rowspan") > 1 for row in rows for cell in _children_of(row, {"td", "th"})):
        return False
    covered: dict[int, int] = {}
    widths = {_grid_row(_children_of(row, {"td", "th"}), covered)[1] for row in rows}
    return len(widths) == 1


# A Google Docs export's list class: "lst-kix_<list id>-<level>", level 0 the outermost.
_DOCS_LIST_RE = re.compile(r"^(lst-kix_[\w]+-(\d))$")
# Its marker in the export's style sheet: `.lst-kix_<id>-<level>>li:before{content:"" counter(..., lower-latin) ". "}`.
_DOCS_STYLE_RE = re.compile(r"\.(lst-kix_\w+-\d)\s*>\s*li:before\s*\{[^}]*?counter\([^,)]+,\s*([a-z-]+)\s*\)")
_COUNTER_KINDS = {
    "decimal": "1", "lower-latin": "a", "lower-alpha": "a", "upper-latin": "A", "upper-alpha": "A",
    "lower-roman": "i", "upper-roman": "I",
}  # fmt: skip


def _docs_level(element: Tag) -> tuple[str, int] | None:
    """The Google Docs list class of a list and the level it names, or None for any other list."""
    for name in element.get("class") or ():
        if match := _DOCS_LIST_RE.match(str(name)):
            return match.group(1), int(match.group(2))
    return None


def _docs_list_styles(soup: BeautifulSoup) -> dict[str, str]:
    """Each Google Docs list class's marker style ("1", "a", "i" ...) as its style sheet's counter gives it."""
    styles: dict[str, str] = {}
    for sheet in soup.find_all("style"):
        for match in _DOCS_STYLE_RE.finditer(sheet.get_text()):
            if kind := _COUNTER_KINDS.get(match.group(2)):
                styles[match.group(1)] = kind
    return styles


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
    walker.list_styles = _docs_list_styles(soup)
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
    # The rows of tables read so far: a table running onto the next page repeats its header row there.
    rows_seen: set[str] = set()
    for number, (laid_out, raws) in enumerate(zip((laid for _, laid in pages), page_raws, strict=True), start=1):
        lines: list[str] = []
        margin = min((len(raw) - len(raw.lstrip(" ")) for raw in raws if raw.strip()), default=0)
        after_blank = False
        first = flat_number
        flat_number += len(raws)
        for raw_number, raw in enumerate(raws, start=first):
            text = "\t".join(_tidy(cell) for cell in raw.split("\t")) if "\t" in raw else _tidy(raw)
            if raw_number in edges:
                continue
            if "\t" in text and not lines and text in rows_seen:
                continue
            if not text or _PAGE_FOOTER_RE.match(raw):
                after_blank = after_blank or not text
                continue
            # Laid out, a page keeps its list items' indent (their nesting), and a blank line ends a paragraph.
            text = text.strip() if "\t" in text else text
            item = laid_out and _ITEM_START_RE.match(text)
            indent = " " * (len(raw) - len(raw.lstrip(" ")) - margin) if item else ""
            if lines and not (laid_out and after_blank) and _wrapped(lines[-1], text):
                # A PDF breaks lines where the page did; a sentence cut mid-way is one line again.
                glue = "" if re.search(r"[A-Za-z]-$", lines[-1]) else " "
                lines[-1] = lines[-1] + glue + text
            else:
                lines.append(indent + text)
            after_blank = False
        rows_seen.update(text.strip() for text in lines if "\t" in text)
        for text in lines:
            builder.add(text, origin=number)
    return builder.build()


# A list's marker on a line of its own: a number or letter ("2.", "b)"), or a bullet glyph as a
# slide or a browser draws it apart from its item's text.
_LONE_MARKER_RE = re.compile(r"^\s*(?:(?:\d{1,2}|[a-zA-Z]|[ivxIVX]{1,4})[.)]|[•◦▪▫‣⁃∙●○■□◆◇►▸➢➤])\s*$", re.MULTILINE)


@dataclass(frozen=True)
class _Run:
    """One piece of a page's text as the extraction flushed it, with where and how it was drawn."""

    text: str
    x: float
    y: float
    size: float
    # Drawn at a slant (neither level nor at a right angle), as a watermark across the page is.
    slanted: bool


# How far from level or a right angle (as a sine) a run may lean and still be the page's text.
_SLANT = 0.1
# The fewest lines a column of line numbers counts, 1, 2, 3 ... down the page.
_NUMBERED_LINES = 5
_LINE_NUMBER_RE = re.compile(r"^\s*\d{1,4}\s*$")


def _run_of(text: str, cm: list[float], tm: list[float], size: object) -> _Run:
    a, b = tm[0] * cm[0] + tm[1] * cm[2], tm[0] * cm[1] + tm[1] * cm[3]
    scale = (a * a + b * b) ** 0.5 or 1.0
    sine, cosine = abs(b) / scale, abs(a) / scale
    x = tm[4] * cm[0] + tm[5] * cm[2] + cm[4]
    y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
    height = float(size) * scale if isinstance(size, int | float) else 0.0
    return _Run(text, x, y, height, min(sine, cosine) > _SLANT)


def _line_numbers(runs: list[_Run]) -> set[int]:
    """The runs that number the page's lines (as a draft or a court filing does), not the text's own.

    Each is a lone integer drawn first on its line, before the text it numbers, and together they
    count up one by one; most stand left of all the page's other text (a wrapped table cell's line
    is numbered where the cell starts). A table's row numbers stand at the body's margin, where its
    other lines start too.
    """
    shown = [n for n, run in enumerate(runs) if run.text.strip() and not run.slanted]
    numbers = {n for n in shown if _LINE_NUMBER_RE.match(runs[n].text)}
    others = [n for n in shown if n not in numbers]
    if len(numbers) < _NUMBERED_LINES or not others:
        return set()
    margin = min(runs[n].x for n in others)
    tolerance = max(runs[n].size for n in shown) / 2

    def numbers_line(n: int) -> bool:
        level = [m for m in others if abs(runs[m].y - runs[n].y) <= tolerance]
        return bool(level) and all(runs[m].x > runs[n].x for m in level)

    found = [n for n in sorted(numbers) if numbers_line(n)]
    values = [int(runs[n].text) for n in found]
    if len(found) < _NUMBERED_LINES or any(after != before + 1 for before, after in itertools.pairwise(values)):
        return set()
    if 2 * sum(runs[n].x < margin - 1 for n in found) < len(found):
        return set()
    return set(found)


def _page_text(page: PageObject) -> tuple[str, bool]:
    """The page's text, and whether it is laid out as printed.

    A browser prints a list's numbers apart from its items' text, and the plain extraction then
    gives the numbers as lines of their own after the list; laid out as printed, each number is
    beside its item again, indented as the page shows it. A page set in two columns is read one
    column after the other, as its reader reads it; extracted line by line, each printed line would
    join the two columns' unrelated sentences. Text that is the page's and not the policy's (a
    watermark drawn at a slant, the numbers of a draft's lines) is left out.
    """
    starts: list[float] = []
    runs: list[_Run] = []

    def visit(text: str, cm: list[float], tm: list[float], font: object, size: object) -> None:
        runs.append(_run_of(text, cm, tm, size))
        # A column's line of prose, not a table's short cell.
        if len(text.strip()) >= _COLUMN_TEXT:
            starts.append(tm[4] * cm[0] + cm[4])

    shows: list[tuple[float, float]] = []

    def operand(operator: bytes, operands: list[object], cm: list[float], tm: list[float]) -> None:
        if operator in (b"Tj", b"TJ", b"'", b'"'):
            shows.append((tm[4] * cm[0] + tm[5] * cm[2] + cm[4], tm[4] * cm[1] + tm[5] * cm[3] + cm[5]))

    text = page.extract_text(visitor_text=visit, visitor_operand_before=operand) or ""
    dropped = {n for n, run in enumerate(runs) if run.slanted and run.text.strip()} | _line_numbers(runs)
    if dropped:
        # The extraction's text is its runs one after the other; a line number's blank goes with it.
        kept = [
            run.text
            for n, run in enumerate(runs)
            if n not in dropped and not (n - 1 in dropped and not run.text.strip(" "))
        ]
        text = "".join(kept)
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
    # A line number or a watermark starts a piece of its own, and is no table's cell.
    skipped = {(round(runs[n].x), round(runs[n].y)) for n in dropped}
    cells = [(x, y) for x, y in shows if (round(x), round(y)) not in skipped]
    sizes = sorted(run.size for run in runs if run.text.strip() and run.size > 0)
    if sizes and _table_columns(cells, sizes[len(sizes) // 2]):
        laid = page.extract_text(extraction_mode="layout") if laid is None else laid
        if laid:
            rows = _table_rows(laid.split("\n"), _baselines(cells))
            # Laying out may run two words together or part one; a table is read so only when the
            # layout holds the very words the plain extraction does.
            if rows is not None and sorted(laid.split()) == sorted(text.split()) and _statement_table(rows):
                # Only the statement table's rows keep their cells apart; other cells read as before.
                return "\n".join(row if row.count("\t") == 1 else row.replace("\t", " ") for row in rows), True
    return text, False


# The fewest rows whose cells start at the same places that make a table, and how close (in points)
# two rows' cells start to stand in one column.
_TABLE_ROWS = 3
_CELL_POINTS = 1.5


def _table_columns(shows: list[tuple[float, float]], size: float) -> bool:
    """Whether the page may hold a statement table: rows drawn in two pieces that start at the same two places.

    A line of prose is drawn from its margin, with a bold word or a link its own piece wherever the
    sentence puts it; a table's rows start each cell at its column's edge, row after row. A
    statement's column is wide (some words at the text's size); a code's, a date's or a label's
    column is narrow, and such a table is not laid out to be looked at (laying out is slow).
    """
    rows: dict[int, list[float]] = {}
    for x, y in shows:
        rows.setdefault(round(y), []).append(x)
    layouts: dict[tuple[int, ...], int] = {}
    for starts in rows.values():
        edges = tuple(sorted({round(x / _CELL_POINTS) for x in starts}))
        if len(edges) == 2 and (edges[1] - edges[0]) * _CELL_POINTS >= _STATEMENT_WIDTH * size:
            layouts[edges] = layouts.get(edges, 0) + 1
    return any(count >= _TABLE_ROWS for count in layouts.values())


# How wide (in the text's size) a column of statements is at the least: some words.
_STATEMENT_WIDTH = 10


# A statement table: rows of two cells, most of them opening with a statement of some words ("Age 18
# years or older | Date of birth on the request"), as a criteria table pairs each criterion with what
# documents it.
_STATEMENT_WORDS = 4


def _statement_table(rows: list[str]) -> bool:
    """Whether the page's rows hold a table of two columns whose first cells are statements, not labels or codes.

    A card of labels ("Effective | 09/01/2026") or a code table ("CPT | 27130 | ...") reads as it
    always has, its cells a blank apart.
    """
    firsts = [row.split("\t")[0].strip() for row in rows if row.count("\t") == 1]
    # A label ends in a colon ("Effective Date:"), however many words it has.
    statements = [cell for cell in firsts if len(cell.split()) >= _STATEMENT_WORDS and not cell.endswith(":")]
    return len(statements) >= _TABLE_ROWS and 2 * len(statements) >= len(firsts)


def _baselines(shows: list[tuple[float, float]]) -> list[float]:
    """The heights of the page's printed lines, top to bottom; pieces within a point of each other share one."""
    heights: list[float] = []
    for y in sorted({y for _, y in shows}, reverse=True):
        if not heights or heights[-1] - y > 1:
            heights.append(y)
    return heights


# How much further apart (in points) a table's rows stand than the lines of one wrapped cell.
_ROW_PADDING = 3.0


# A cell's text in a laid-out line: words a blank or two apart (three or more part cells).
_LAID_PIECE_RE = re.compile(r"\S+(?: {1,2}\S+)*")


def _table_rows(raws: list[str], baselines: list[float]) -> list[str] | None:
    """A page laid out as printed with its table rows' cells parted by tabs, each row on one line.

    A cell's text wrapped onto the next printed line is put back at the end of the cell it starts
    nearest to. Only the lines' heights tell a wrapped line from the next row: a table's rows stand
    further apart than a cell's lines (its padding); where every line stands the same distance
    apart, no row is joined, and a line of one piece under a row makes it no table. None when the
    layout's lines cannot be matched to the page's baselines one for one, or are no table.
    """
    printed = [n for n, raw in enumerate(raws) if raw.strip()]
    if len(printed) != len(baselines):
        return None
    height = dict(zip(printed, baselines, strict=True))
    rows: list[str] = []
    cells_of: list[tuple[int, list[int]] | None] = []
    for number, raw in enumerate(raws):
        body = raw.rstrip()
        pieces = [(match.start(), match.group()) for match in _LAID_PIECE_RE.finditer(body)]
        if len(pieces) >= 2 and _COLUMN_GAP_RE.search(body.strip()):
            indent = body[: len(body) - len(body.lstrip(" "))]
            rows.append(indent + "\t".join(piece for _, piece in pieces))
            cells_of.append((number, [at for at, _ in pieces]))
        else:
            rows.append(raw)
            cells_of.append(None)
    gaps = [
        height[number] - height[following]
        for number, following in itertools.pairwise(printed)
        if number in height and following in height and following == number + 1
    ]
    if not gaps or max(gaps) - min(gaps) < _ROW_PADDING:
        # With no padding a line of one piece under a row may be its wrapped cell or text beside the
        # table (boxes side by side on a form): which one cannot be told, so the page is not a table.
        under_row = any(
            cells is not None and following is None and raws[number + 1].strip()
            for number, (cells, following) in enumerate(itertools.pairwise(cells_of))
        )
        return None if under_row else rows
    pitch = min(gaps)
    joined: list[str] = []
    row: tuple[int, list[int]] | None = None
    for number, (text, cells) in enumerate(zip(rows, cells_of, strict=True)):
        wrapped = (
            row is not None and text.strip() and row[0] + 1 == number and height[row[0]] - height[number] <= pitch + 1
        )
        if wrapped and row is not None:
            starts = row[1]
            parts = joined[-1].split("\t")
            pieces = [(match.start(), match.group()) for match in _LAID_PIECE_RE.finditer(raws[number])]
            for at, piece in pieces:
                column = min(range(len(starts)), key=lambda n: abs(starts[n] - at))
                parts[column] += ("" if parts[column].endswith("-") else " ") + piece
            joined[-1] = "\t".join(parts)
            # A cell wrapped onto a third line carries on under the same row.
            row = (number, starts)
            continue
        joined.append(text)
        row = cells if cells is not None and number in height else None
    return joined


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
    if previous.endswith((".", ":", ";", "!", "?")) or _ITEM_START_RE.match(current) or "\t" in previous + current:
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
