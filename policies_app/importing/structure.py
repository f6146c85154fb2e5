"""Headed sections of a policy document, found by their headings' words rather than by payer."""

from __future__ import annotations

import re
from dataclasses import dataclass

from policies_app.importing.readers import Document, Line

# A heading's words decide what its section holds; the first group that matches wins, so the
# more specific wording comes first ("Policy History" is history, not policy).
_KINDS: list[tuple[str, re.Pattern[str]]] = [
    ("history", re.compile(r"\bhistory\b|\brevision|\bupdates?\b|\bchange log", re.I)),
    ("references", re.compile(r"\breferences?\b|\bbibliograph|\bsources?\b|\bcitations?\b", re.I)),
    ("codes", re.compile(r"\bcod(?:es?|ing)\b|\bbilling\b|\bcpt\b|\bhcpcs\b|\bicd-?10", re.I)),
    ("prior_authorization", re.compile(r"prior\s+(?:approval|authori[sz]ation)|precertification|pre-?authori", re.I)),
    ("applicability", re.compile(r"\bapplies\s+to\b|\bapplicab|\bscope\b|lines?\s+of\s+business|\bproducts?\b", re.I)),
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
    ("description", re.compile(r"\bdescription\b|\bbackground\b|\boverview\b|\bsummary\b|\bintroduction\b", re.I)),
    ("evidence", re.compile(r"\brationale\b|\bevidence\b|\bliterature\b|\bdiscussion\b", re.I)),
    ("definitions", re.compile(r"\bdefinitions?\b|\bglossary\b", re.I)),
    ("disclaimer", re.compile(r"\bdisclaimer\b|\binstructions\s+for\s+use\b|\bnotice\b", re.I)),
]
_LIST_MARKER_RE = re.compile(
    r"^\s*(?:[-•*▪◦·\uf0b7\uf0a7\uf076\uf0d8\u25cf\u25a0\u27a2\u2713\u2043\u2219]|\d{1,2}[.)]|[a-z][.)]|\([a-z0-9]{1,4}\))\s"
)
_NUMBERED_HEADING_RE = re.compile(r"^(?:[IVX]{1,4}|\d{1,2}|[A-Z])[.)]\s+(?=[A-Z])")


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
    name = _NUMBERED_HEADING_RE.sub("", text.strip()).rstrip(": ").strip()
    for kind, pattern in _KINDS:
        if pattern.search(name):
            return kind
    return "other"


def is_heading(document: Document, line: Line) -> bool:
    text = document.line_text(line).strip()
    if line.heading:
        return True
    if not text or "\t" in text or len(text) > 70 or _LIST_MARKER_RE.match(text):
        return False
    bare = _NUMBERED_HEADING_RE.sub("", text).rstrip(":").strip()
    words = bare.split()
    if not words or len(words) > 8 or bare.endswith((".", ",", ";")) or not bare[0].isupper():
        return False
    letters = [c for c in bare if c.isalpha()]
    if len(letters) >= 3 and all(c.isupper() for c in letters):
        return True
    # A short title-case line is a heading only when its words say what kind of section it is.
    return heading_kind(bare) != "other" and ":" not in bare and not re.search(r"\d{4}", bare)


def sections(document: Document) -> list[Section]:
    """The document's sections in order; text before the first heading is the "front" section."""
    found: list[Section] = []
    heading: Line | None = None
    kind, name = "front", ""
    body: list[Line] = []
    for line in document.lines:
        # Inside a codes section, "Considered Experimental/Investigational:" labels the rows below it.
        label_in_codes = kind == "codes" and not line.heading and document.line_text(line).rstrip().endswith(":")
        if is_heading(document, line) and not label_in_codes:
            # A heading immediately followed by a heading of the same kind is one heading ("POLICY" / "Policy").
            found.append(Section(kind, name, heading, body))
            heading, body = line, []
            name = document.line_text(line).strip()
            kind = heading_kind(name)
            continue
        body.append(line)
    found.append(Section(kind, name, heading, body))
    return [s for s in found if s.lines or s.heading_line is not None]


def section_text_lines(document: Document, found: list[Section], *kinds: str) -> list[Line]:
    return [line for section in found if section.kind in kinds for line in section.lines]
