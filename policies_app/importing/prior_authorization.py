"""The prior-authorization requirement statement, as a suggested requirement rule."""

from __future__ import annotations

import re

from policies_app.importing.readers import Document
from policies_app.importing.result import Field
from policies_app.importing.spans import field_at
from policies_app.importing.structure import Section
from policies_app.requirement_rules import requirement_from_statement

_PA_RE = re.compile(
    r"\b(?:prior\s+(?:approval|authori[sz]ation)|pre-?certification|pre-?authori[sz]ation|notification)\b", re.I
)
# A sentence ends at a full stop or a line's end.
_SENTENCE_END_RE = re.compile(r"[.\n]")


def _pa_sentences(text: str) -> list[tuple[int, str]]:
    """(start, sentence) of each sentence that names prior authorization, in order."""
    found: list[tuple[int, str]] = []
    next_from = 0
    for hit in _PA_RE.finditer(text):
        if hit.start() < next_from:
            continue
        start = max(text.rfind(".", 0, hit.start()), text.rfind("\n", 0, hit.start())) + 1
        end_match = _SENTENCE_END_RE.search(text, hit.end())
        end = len(text) if end_match is None else end_match.start() + (end_match.group(0) == ".")
        found.append((start, text[start:end]))
        next_from = end
    return found


def read_prior_authorization(document: Document, found: list[Section]) -> Field | None:
    for section in found:
        if section.kind == "prior_authorization" and section.lines:
            line = section.lines[0]
            raw = document.line_text(line)
            # A paragraph states the rule first and its exceptions after it ("Prior authorization is
            # required for 96570. Office visits need no prior authorization."): the first sentence
            # that names prior authorization is the statement.
            sentences = [m.group(0).strip() for m in re.finditer(r"(?:[^.]|\.(?!\s|$))+\.?", raw) if m.group(0).strip()]
            text = next((t for t in sentences if _PA_RE.search(t)), raw.strip())
            requirement = requirement_from_statement(text)
            if requirement:
                start = line.start + raw.index(text)
                return field_at(
                    document, {"statement": text, "requirement": str(requirement)}, start, start + len(text), 0.9
                )
    for match_start, raw in _pa_sentences(document.text):
        sentence = raw.strip()
        if re.search(
            # A bulletin states what stays as it was too: "Prior authorization remains required for ...".
            r"\b(?:is|are|remains?|stays?)\s+(?:still\s+|not\s+)?required\b|\bcontinues?\s+to\s+be\s+required\b|"
            r"\brequires?\b|not\s+applicable|\bnot\s+needed\b|"
            # A checklist's label: "[X] Prior authorization required: 52441, 52442".
            r"^\W*\[[xX✓]\]\s*(?:prior\s+(?:approval|authori[sz]ation))\s+required\b",
            sentence,
            re.I,
        ):
            requirement = requirement_from_statement(sentence)
            if requirement:
                start = match_start + raw.index(sentence)
                return field_at(
                    document,
                    {"statement": sentence, "requirement": str(requirement)},
                    start,
                    start + len(sentence),
                    0.8,
                )
    return None
