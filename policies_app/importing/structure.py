"""Headed sections of a policy document, found by their headings' words rather than by payer."""

from __future__ import annotations

import re
from dataclasses import dataclass

from policies_app.importing.readers import Document, Line

# A heading's words decide what its section holds; the first group that matches wins, so the
# more specific wording comes first ("Policy History" is history, not policy).
_KINDS: list[tuple[str, re.Pattern[str]]] = [
    # A lone "Update" titles a bulletin ("Medical Policy Update"); a log of updates is plural.
    (
        "history",
        re.compile(
            r"\bhistory\b|\brevision|\bupdates\b|\bwhat\s+(?:has\s+)?changed\b|\bupdate\s+(?:history|log|information)|\bchange\s+log|summary\s+of\s+changes|\bchanges?\s+summary|\breview\s+log",
            re.I,
        ),
    ),
    # "Billing Reference" and "Coding Reference" head code tables.
    (
        "references",
        re.compile(
            r"(?<!billing\s)(?<!coding\s)(?<!code\s)\breferences?\b|\bbibliograph|\bsources?\b|\bcitations?\b", re.I
        ),
    ),
    ("codes", re.compile(r"\bcod(?:es?|ing)\b|\bbilling\b|\bcpt\b|\bhcpcs\b|\bicd-?10", re.I)),
    ("prior_authorization", re.compile(r"prior\s+(?:approval|authori[sz]ation)|precertification|pre-?authori", re.I)),
    # A question asks it too: "Which plans does this guideline govern?", "Who is affected?"; a heading
    # of "Application" alone (or "Benefit Application") says to whom the policy applies.
    (
        "applicability",
        re.compile(
            r"\bwhich\s+(?:plans|members|products)\b|\bwho\s+is\s+affected\b|^(?:benefit\s+)?application$|\bapplies\s+to\b|\bapplicab|\bscope\b|lines?\s+of\s+business|\bproducts?\b",
            re.I,
        ),
    ),
    (
        "exclusions",
        re.compile(
            r"\blimitations?\b|\bexclusions?\b|not\s+(?:medically\s+necessary|covered)|experimental|investigational|unproven",
            re.I,
        ),
    ),
    ("criteria", re.compile(r"\bcriteria\b|\bindications?\b|\bmedical(?:ly)?\s+necess", re.I)),
    ("policy", re.compile(r"\bpolicy\b|\bcoverage\b|\bposition\b|\bdetermination\b|\bstatement\b", re.I)),
    ("documentation", re.compile(r"\bdocumentation\b", re.I)),
    (
        "description",
        re.compile(r"\bdescription\b|\bbackground\b|\boverview\b|\bsummary\b|\bintroduction\b|\bpurpose\b", re.I),
    ),
    ("evidence", re.compile(r"\brationale\b|\bevidence\b|\bliterature\b|\bdiscussion\b", re.I)),
    ("definitions", re.compile(r"\bdefinitions?\b|\bglossary\b", re.I)),
    ("disclaimer", re.compile(r"\bdisclaimer\b|\binstructions\s+for\s+use\b|\bnotice\b", re.I)),
]
_LIST_MARKER_RE = re.compile(
    r"^\s*(?:[-•*▪◦·\uf0b7\uf0a7\uf076\uf0d8\u25cf\u25a0\u27a2\u2713\u2043\u2219]|\d{1,2}[.)]|[a-z][.)]|\([a-z0-9]{1,4}\))\s"
)
# A section's number: "7.", "IV)", "B." or, as in policies numbered by section, "2.0", "7.1.3" and a bare "7".
_NUMBERED_HEADING_RE = re.compile(r"^(?:(?:[IVX]{1,4}|[A-Z])[.)]|\d{1,2}(?:\.\d{1,2})*[.)]?)\s+(?=[A-Z])")
_ANNOUNCES_LIST_RE = re.compile(r"\b(?:the|of)\s+following\b|\b(?:when|if)\s*:\s*$", re.I)
# A heading written in Markdown, as a wiki exports it ("## HCPCS codes").
_MARKDOWN_HEADING_RE = re.compile(r"^#{1,6} +(?=\S)")
# A plain-text heading set between rules ("=== Section 6 - Change log ===", "*** POLICY ***") and the
# section number such a heading may carry ("Section 6 - ", "Part II: ").
_RULED_HEADING_RE = re.compile(
    r"^(?P<rule>[=*~_-])(?P=rule){2,}\s*(?P<t>[^=*~_\s-](?:.*?[^=*~_\s-])?)\s*(?P=rule){3,}$"
)
_SECTION_WORD_RE = re.compile(
    r"^(?:section|part|chapter)\s+(?:\d{1,2}(?:\.\d{1,2})*|[IVX]{1,4}|[A-Z])\s*[-–—:.]\s*", re.I
)
# A number no list item carries ("2.0 POLICY", "7 HISTORY"): no marker of a list ends with a digit.
_SECTION_NUMBER_RE = re.compile(r"^\d{1,2}(?:\.\d{1,2})*\s+(?=[A-Z])")
# A row of a code table: a CPT, HCPCS or ICD-10-CM code (or a range) and its description
# ("Z80.3 Family history of breast cancer" is a row, whatever kind of section its words name).
_CODE_ROW_RE = re.compile(
    r"^\s*(?:\d{4}[0-9A-Z]|[A-Z]\d{4}|[A-TV-Z]\d[0-9A-Z](?:\.[0-9A-Z]{1,4})?)(?:\s*[-–—]\s*\S+)?(?:\s|$)"
)
# A line that names a date and nothing else ("Revision Effective Date", "Retirement Date") labels the
# value on the next line; it is a field of the header, not a section.
_DATE_LABEL_LINE_RE = re.compile(
    r"^(?:[\w/-]+\s+){0,3}(?:date|effective|(?:last\s+)?reviewed|revised)(?:\s*\(s\))?\s*:?$", re.I
)
# An aside in brackets after a capitals heading's words, in lower case.
_HEADING_ASIDE_RE = re.compile(r"(?<=[A-Z'’])\s+\([^()A-Z]{1,60}\)$")
# A question of a page of questions and answers ("Q. Are scleral lenses covered?", "Q: ...?") heads
# its answer.
_QUESTION_HEADING_RE = re.compile(r"^(?:Q[.:]|Question:)\s+(?P<q>\S.*\?)$")
_SENTENCE_END_RE = re.compile(r"[a-z]{2}[.!?]\s+[A-Z]")
# A record of an export's comma-separated rows ("META,title,,,,Knee Brace Policy"): fields joined by bare commas.
_CSV_ROW_RE = re.compile(r"^(?:[^,\n]*,(?! )){3,}")
# Cells of a table written with pipes ("Code | Description"), as saved from a web page or a wiki.
_PIPE_ROW_RE = re.compile(r"\S\s*\|\s*\S")


@dataclass(frozen=True)
class Section:
    kind: str
    heading: str
    heading_line: Line | None
    lines: list[Line]

    @property
    def start(self) -> int:
        return self.lines[0].start if self.lines else (self.heading_line.end if self.heading_line else 0)


def heading_kind(text: str) -> str:
    name = _MARKDOWN_HEADING_RE.sub("", text.strip()).strip("*_ ")
    if question := _QUESTION_HEADING_RE.match(name):
        name = question.group("q")
    if ruled := _RULED_HEADING_RE.match(text.strip()):
        name = _SECTION_WORD_RE.sub("", ruled.group("t"))
    name = _NUMBERED_HEADING_RE.sub("", name).rstrip(": ").strip()
    for kind, pattern in _KINDS:
        if pattern.search(name):
            return kind
    return "other"


def is_heading(document: Document, line: Line) -> bool:
    text = document.line_text(line).strip()
    if _DATE_LABEL_LINE_RE.match(_NUMBERED_HEADING_RE.sub("", text)):
        return False
    if line.heading:
        return True
    if line.cell or _wraps_cell(document, line) or _BRANCH_LINE_RE.match(text):
        return False
    if question := _QUESTION_HEADING_RE.match(text):
        return len(question.group("q").split()) <= 16
    if ruled := _RULED_HEADING_RE.match(text):
        return len(ruled.group("t").split()) <= 12 and not ruled.group("t").endswith((".", ",", ";"))
    if _MARKDOWN_HEADING_RE.match(text):
        # A "#" opens a heading only in Markdown; "# of visits allowed: 12" is a sentence.
        return len(text.split()) <= 12 and not text.endswith((".", ",", ";")) and ":" not in text
    if not text or "\t" in text or len(_HEADING_ASIDE_RE.sub("", text)) > 70 or _PIPE_ROW_RE.search(text):
        return False
    if _CSV_ROW_RE.match(text):
        return False
    if _LIST_MARKER_RE.match(text):
        return _is_numbered_heading(text)
    # A capitals heading may carry an aside in brackets ("III. SUMMARY OF CRITERIA (for reference)").
    bare = _HEADING_ASIDE_RE.sub("", _NUMBERED_HEADING_RE.sub("", text).rstrip(":").strip())
    if _SECTION_NUMBER_RE.match(text):
        return (_is_capitals(bare) and len(bare.split()) <= 8) or _is_numbered_heading(text)
    words = bare.split()
    if not words or len(words) > 8 or bare.endswith((".", ",", ";")) or not bare[0].isupper():
        return False
    # A sentence ends inside the line: it is a paragraph's wrapped text ("Local Coverage Determination
    # governs the request. Federal Employee"), not a title.
    if _SENTENCE_END_RE.search(bare):
        return False
    if _is_capitals(bare):
        # An abbreviation right under a list's introduction ("... at least one of the following:" / "ABI")
        # tags the list's first item; a section's title does not follow a colon that announces items.
        return not (len(words) <= 2 and _announced_above(document, line))
    # A short title-case line is a heading only when its words say what kind of section it is; one
    # that announces a list ("The following criteria must all be met:", "Bracing is covered when:") is
    # the list's introduction.
    return (
        heading_kind(bare) != "other"
        and ":" not in bare
        and not re.search(r"\d{4}", bare)
        and not _ANNOUNCES_LIST_RE.search(text)
    )


def _announced_above(document: Document, line: Line) -> bool:
    """Whether the line above introduces a list and ends with its colon."""
    above = document.text[: max(line.start - 1, 0)].rsplit("\n", 1)[-1].rstrip()
    return above.endswith(":") and bool(_ANNOUNCES_LIST_RE.search(above))


# A decision tree's branch ("Yes → Step 2", "No -> Not covered") is a path of the tree, never a heading.
_BRANCH_LINE_RE = re.compile(r"^\s*(?:yes|no)\b\s*(?:[→⇒➔➜]|->|=>)", re.I)


def _wraps_cell(document: Document, line: Line) -> bool:
    """Whether an indented line carries on the last cell of the table row above it, cut mid-phrase.

    A fixed-width print wraps a long cell onto an indented line under its column ("4  WOUND OPEN FOR 30
    DAYS DESPITE" / "   COMPRESSION THERAPY"); in capitals, it would look like a heading.
    """
    raw = document.line_text(line)
    if not raw.startswith(" ") or line.start == 0:
        return False
    previous = document.text[: line.start - 1].rsplit("\n", 1)[-1].rstrip()
    return "\t" in previous and bool(previous) and previous[-1].isalnum()


def _is_capitals(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    return len(letters) >= 3 and all(c.isupper() for c in letters) and not text.endswith((".", ",", ";"))


def _is_numbered_heading(text: str) -> bool:
    """A numbered line ("5. Revision History") is a heading when it is a short title naming a kind of section.

    A numbered list item is a sentence or a phrase in sentence case ("2. Documentation of therapy").
    """
    bare = _NUMBERED_HEADING_RE.sub("", text)
    if bare == text or bare.endswith((".", ",", ";", ":")):
        return False
    words = bare.split()
    if not 1 <= len(words) <= 6 or heading_kind(bare) == "other":
        return False
    small = {"a", "an", "and", "or", "of", "the", "for", "to", "in", "on", "with", "by", "&", "/"}
    return all(word[0].isupper() or word.lower() in small for word in words)


def sections(document: Document) -> list[Section]:
    """The document's sections in order; text before the first heading is the "front" section."""
    found: list[Section] = []
    heading: Line | None = None
    kind, name = "front", ""
    body: list[Line] = []
    contents = _contents_lines(document)
    for line in document.lines:
        text = document.line_text(line)
        if line.start in contents:
            body.append(line)
            continue
        # Inside a codes section, "Considered Experimental/Investigational:" labels the rows below it.
        label_in_codes = kind == "codes" and not line.heading and text.rstrip().endswith(":")
        # A code table's row goes on the table: inside a codes section, or below another row.
        in_table = kind == "codes" or bool(body and _CODE_ROW_RE.match(document.line_text(body[-1])))
        code_row = in_table and not line.heading and bool(_CODE_ROW_RE.match(text))
        if is_heading(document, line) and not label_in_codes and not code_row:
            # A heading immediately followed by a heading of the same kind is one heading ("POLICY" / "Policy").
            found.append(Section(kind, name, heading, body))
            heading, body = line, []
            name = document.line_text(line).strip()
            kind = heading_kind(name)
            continue
        body.append(line)
    found.append(Section(kind, name, heading, body))
    return [s for s in found if s.lines or s.heading_line is not None]


# A table of contents' title, and the page number an entry may end with.
_CONTENTS_RE = re.compile(r"^\s*(?:table\s+of\s+)?contents\s*:?\s*$", re.I)
_CONTENTS_ENTRY_WORDS = 10


def _contents_lines(document: Document) -> set[int]:
    """The starts of a table of contents' entries: they name the sections, they head none.

    The entries run from the "Contents" line to the first line that repeats the first entry (the
    section itself) or reads as no entry (longer than a title).
    """
    entries: set[int] = set()
    lines = document.lines
    for number, line in enumerate(lines):
        if not _CONTENTS_RE.match(document.line_text(line)):
            continue
        first = ""
        for entry in lines[number + 1 :]:
            text = " ".join(document.line_text(entry).split())
            bare = re.sub(r"(?:\s*\.{2,})?\s*\d{1,3}$", "", text)
            if not text or text == first or bare == first or len(text.split()) > _CONTENTS_ENTRY_WORDS:
                break
            first = first or bare
            entries.add(entry.start)
        break
    return entries


def section_text_lines(document: Document, found: list[Section], *kinds: str) -> list[Line]:
    return [line for section in found if section.kind in kinds for line in section.lines]
