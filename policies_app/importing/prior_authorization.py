"""The prior-authorization requirement statement, as a suggested requirement rule."""

from __future__ import annotations

import re

from policies_app.importing.readers import Document
from policies_app.importing.result import Field
from policies_app.importing.spans import field_at
from policies_app.importing.structure import Section
from policies_app.requirement_rules import requirement_from_statement

_PA_RE = re.compile(
    r"[^.\n]*\b(?:prior\s+(?:approval|authori[sz]ation)|pre-?certification|pre-?authori[sz]ation|notification)\b[^.\n]*\.?",
    re.I,
)


def read_prior_authorization(document: Document, found: list[Section]) -> Field | None:
    for section in found:
        if section.kind == "prior_authorization" and section.lines:
            line = section.lines[0]
            text = document.line_text(line).strip()
            requirement = requirement_from_statement(text)
            if requirement:
                start = line.start + document.line_text(line).index(text)
                return field_at(
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
                return field_at(
                    document,
                    {"statement": sentence, "requirement": str(requirement)},
                    start,
                    start + len(sentence),
                    0.8,
                )
    return None
