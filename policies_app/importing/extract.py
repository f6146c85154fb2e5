"""From a document's normalized text to fields with source spans and confidences.

Nothing here knows a payer: identity, dates, positions, lines of business, codes, terms and the
prior-authorization statement are read from the words documents use for them, in the sections
whose headings say they hold them (or the whole text when the document has no headings).
"""

from __future__ import annotations

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
    r"(?:Blue\s*Cross(?:\s+(?:and|&)\s+Blue\s*Shield)?|Blue\s*Shield|Health\s*Plans?|Health\s*care|Health\s+Care|"
    r"Health\s+Partners|Health\s+Alliance|Health|Insurance(?:\s+Company)?|Mutual|Medicaid(?:\s+Program)?|Care)"
)
_PAYER_RE = re.compile(
    rf"(?P<v>(?:[A-Z][\w&'.\-]*\s+){{0,4}}{_PAYER_CORE}(?:\s+of\s+[A-Z][a-z]+(?:\s+(?!Medical|Policy|Policies|Plans?|Members?|Provider)[A-Z][a-z]+)?)?)(?=[\s,.;:)®™]|$)"
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
            confidence = 0.9 if cue or whole else 0.8
            candidates.append((confidence - index * 1e-6, line.start + match.start("v"), line.start + match.end("v")))
    if candidates:
        confidence, start, end = max(candidates)
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
        r"original\s+effective\s+date|original\s+effective|date\s+of\s+origin|original\s+date|origination\s+date|policy\s+created",
        0.95,
    ),
    (
        "effective_end",
        r"retirement\s+date|end\s+date|ending\s+date|expiration\s+date|termination\s+date|archived?\s+(?:date|on)",
        0.9,
    ),
    ("next_review", r"next\s+(?:annual\s+)?review(?:\s+date)?|scheduled\s+review", 0.9),
    ("last_review", r"last\s+review(?:ed)?(?:\s+date)?|review\s+date|reviewed|last\s+annual\s+review", 0.9),
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
_DATE_LABEL_RES = [
    (
        kind,
        re.compile(rf"(?<![\w-])(?:{words})\s*(?:[:\-–|\t]\s*|\s+|\.{{2,}}\s*){{1,3}}(?P<d>{DATE_PATTERN})", re.I),
        conf,
    )
    for kind, words, conf in _DATE_LABELS
]
_REPLACED_RE = re.compile(
    rf"(?:this\s+(?:policy\s+)?version\s+(?:was|has\s+been)\s+replaced|replaced|superseded|retired)\s+(?:on|effective|as\s+of)\s+(?P<d>{DATE_PATTERN})",
    re.I,
)


def _dates(
    document: Document, fields: dict[str, Field | list[Field]], history: list[Field], found: list[Section]
) -> None:
    text = document.text
    # A history table's "Revised 08/07/2025" is a past event, not this version's label.
    taken: list[tuple[int, int]] = [
        (s.lines[0].start, s.lines[-1].end) for s in found if s.kind == "history" and s.lines
    ]
    for kind, pattern, confidence in _DATE_LABEL_RES:
        for match in pattern.finditer(text):
            if any(s <= match.start() < e for s, e in taken):
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
            fields["effective_end"] = _field(
                document, replaced[0] - timedelta(days=1), banner.start(), banner.end(), 0.95
            )
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


def _history(document: Document, found: list[Section]) -> list[Field]:
    rows: list[Field] = []
    for line in section_text_lines(document, found, "history"):
        text = document.line_text(line)
        match = DATE_RE.search(text)
        if match is None:
            continue
        parsed = to_date(match.group(1))
        if parsed is None:
            continue
        # The row's other cells, in order, whichever column the date is in.
        others = text[: match.start()] + "\t" + text[match.end() :]
        rest = [c.strip(" -–:;") for c in re.split(r"\t|\s{2,}| – | - ", others) if c.strip(" -–:;")]
        action = rest[0] if rest else ""
        detail = " ".join(rest[1:])
        rows.append(
            _field(document, {"date": parsed[0], "action": action, "detail": detail}, line.start, line.end, 0.9)
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
            r"^\W*(?:medically\s+necessary|reasonable\s+and\s+necessary|covered)\b[^.]*?\b(?:when|if|for\s+(?:individuals|patients|members|beneficiaries)\s+who|"
            r"(?:who|that)\s+meet|following|criteria)",
            re.I,
        ),
    ),
    ("medically_necessary", re.compile(r"^\W*(?:medically\s+necessary|reasonable\s+and\s+necessary)", re.I)),
]
_PROVEN_RE = re.compile(r"^\W*proven\s+and\s+", re.I)
# "Meridian considers X medically necessary when ...": the subject sits between the verb and the position.
_CONSIDERS_RE = re.compile(
    r"\b(?P<neg>(?:does|do)\s+not\s+)?(?:considers?|covers?)\s+(?P<subject>.+?)\s+(?:as\s+)?(?P<predicate>(?:not\s+)?(?:medically\s+necessary|experimental|investigati|unproven|cosmetic|reasonable\s+and\s+necessary).*)$",
    re.I,
)
_VERB_RE = re.compile(
    r"\b(?:is|are|will\s+be|may\s+be|shall\s+be|be)\s+(?P<neg>not\s+)?(?:(?:considered|deemed)\s+(?:to\s+be\s+)?)?",
    re.I,
)
_SENTENCE_RE = re.compile(r"[^.!?\n]+(?:[.!?](?=\s|$)|(?=\n)|$)")


def _sentences(document: Document, lines: Sequence[Line]) -> list[tuple[int, int, str]]:
    found: list[tuple[int, int, str]] = []
    for line in lines:
        text = document.line_text(line)
        for match in _SENTENCE_RE.finditer(text):
            sentence = match.group(0)
            stripped = sentence.strip()
            if stripped:
                start = line.start + match.start() + sentence.index(stripped)
                found.append((start, start + len(stripped), stripped))
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
                    and "when" in predicate[:30]
                ):
                    continue
                if (
                    position.startswith("medically_necessary")
                    and re.match(r"^\W*covered", predicate, re.I)
                    and "following" not in predicate
                ):
                    continue
                return position, sentence[: verb.start()].strip()
    return None


def _indication(sentence: str, subject: str) -> str:
    tail = re.search(
        r"\bfor\s+(?:the\s+treatment\s+of\s+|the\s+)?(?P<i>[^,;.]+?)(?:\s+(?:is|are|when|if|because|due)\b|[,;.]|$)",
        sentence,
        re.I,
    )
    if tail and len(tail.group("i").split()) <= 10:
        return tail.group("i").strip()
    return strip_marks(subject)[:200]


def _positions(document: Document, found: list[Section]) -> list[Field]:
    lines = section_text_lines(document, found, "policy", "criteria", "exclusions", "front", "other")
    if not any(s.kind in ("policy", "criteria", "exclusions") for s in found):
        lines = list(document.lines)
    positions: list[Field] = []
    for start, end, sentence in _sentences(document, lines):
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
        positions.append(_field(document, {"position": position, "indication": indication}, start, end, 0.9))
    return positions


# --- lines of business -------------------------------------------------------------------------

_LOB_RES: list[tuple[re.Pattern[str], float]] = [
    (re.compile(r"\b(?:does|do|shall|will|may)\s+not\s+apply\s+to\b[^.]*", re.I), 0.95),
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
            r"\b(?:Medicare|Medicaid|FEP)\b[^.]{0,80}?\bmembers?\s*[:,]?\s*(?:please\s+)?(?:should\s+)?(?:refer\s+to|see|consult)\b",
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
    ("medicaid", re.compile(r"\bMedicaid\b|\bMHCP\b", re.I)),
    ("chip", re.compile(r"\bCHIP\b")),
    ("fep", re.compile(r"\bFEP\b|Federal\s+Employee", re.I)),
    ("exchange", re.compile(r"\bexchange\b|\bmarketplace\b", re.I)),
    ("commercial", re.compile(r"\bcommercial\b", re.I)),
]
_APPLIES_ONLY_RE = re.compile(r"\bapplies\s+(?:only\s+)?to\s+(?:all\s+)?(?P<who>[^.]{3,120})", re.I)


def _lines_of_business(document: Document) -> tuple[list[Field], list[Field]]:
    excluded: dict[str, Field] = {}
    for pattern, confidence in _LOB_RES:
        for match in pattern.finditer(document.text):
            for value, name in _LOB_NAMES:
                for hit in name.finditer(match.group(0)):
                    start = match.start() + hit.start()
                    excluded.setdefault(value, _field(document, value, start, match.start() + hit.end(), confidence))
    applies: dict[str, Field] = {}
    for match in _APPLIES_ONLY_RE.finditer(document.text):
        if re.search(r"\bnot\b", document.text[max(0, match.start() - 12) : match.start()], re.I):
            continue
        for value, name in _LOB_NAMES:
            if value in excluded:
                continue
            for hit in name.finditer(match.group("who")):
                start = match.start("who") + hit.start()
                applies.setdefault(value, _field(document, value, start, match.start("who") + hit.end(), 0.85))
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
    if not code_lines:
        # Without a codes section, only table rows and lines that begin with a code are read.
        code_lines = [
            ln for ln in document.lines if re.match(r"^\s*(?:\S+\t)?\s*" + _ANY_CODE_RE.pattern, document.line_text(ln))
        ]
    codes: dict[tuple[str, str, str], Field] = {}
    system: str | None = None
    for line in code_lines:
        full = document.line_text(line)
        # A paragraph may list codes in more than one sentence ("G0398 and G0399: ... CPT 95800 ...").
        for segment in re.finditer(r".+?(?:\.(?=\s+[A-Z])|$)", full):
            system = _segment_codes(document, line.start + segment.start(), segment.group(0), system, codes, errors)
    return list(codes.values())


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
    r"includes?(?:,?\s+but\s+(?:are|is)\s+not\s+limited\s+to)?|but\s+(?:are|is)\s+not\s+limited\s+to)[:\s]+",
    re.I,
)
_DEVICE_CONTEXT_RE = re.compile(
    r"device|system|implant|product|procedure|technique|technolog|stimulat|kit|instrument|tool|brand|prosthe|graft|"
    r"pump|monitor|sensor|probe|spacer|cage|valve|catheter|generator|plug|test|assay",
    re.I,
)
_ITEM_SPLIT_RE = re.compile(r"\s*(?:,|;)\s*(?:and\s+|or\s+)?|\s+(?:and|or)\s+(?=the\s+|an?\s+|[A-Za-z]*[A-Z0-9®™])")
_DEVICE_NOUN_RE = re.compile(
    r"\b(?:system|device|implant|spacer|stimulator|generator|probe|product|kit|valve|pump|monitor|sensor|tether|balloon|"
    r"catheter|graft|cage|plug|assay|test)s?$",
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
    name = strip_marks(name).strip(" ,.;:()\"'“”")
    if len(name) < 3 or len(name) > 200 or not re.search(r"[A-Za-z]", name):
        return
    short = short_name(name) if kind == "device" else name
    index = TermIndex([term for term, _ in terms.values()])
    known = index.find(name, 95) or (index.find(short, 95) if short != name else None)
    if known is not None:
        return
    term = Term(name, short, kind)
    terms[name.lower()] = (term, _field(document, {"name": name, "short": short, "kind": kind}, start, end, confidence))


def _list_terms(document: Document, terms: dict[str, tuple[Term, Field]], skip: set[str]) -> None:
    for line in document.lines:
        text = document.line_text(line)
        for intro in _INTRO_RE.finditer(text):
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
            for piece in _ITEM_SPLIT_RE.split(text[intro.end() : tail_end]):
                piece_start = text.find(piece, offset) if piece else -1
                if piece_start < 0:
                    continue
                offset = piece_start + len(piece)
                item = re.sub(r"^(?:and\s+|or\s+)?(?:the\s+)?", "", piece.strip())
                item = re.split(
                    r"\s+\(|\s+(?:which|that|from|by|with|for|in|is|are|has|have|were|was|used|approved|cleared|marketed|made|designed|sold)\s+",
                    item,
                )[0].strip(" ,;")
                if not context and not _DEVICE_NOUN_RE.search(strip_marks(item)):
                    continue
                has_sign = bool(TM_RE.search(item))
                plain = strip_marks(item)
                words = plain.split()
                if not words or len(words) > 7 or words[0].lower() in NOT_PRODUCTS or plain.lower() in skip:
                    continue
                branded = any(c.isupper() for c in words[0]) or bool(re.search(r"[a-z]\d|\d[a-z]", words[0], re.I))
                if not has_sign and not branded:
                    continue
                if not has_sign and all(w.isupper() for w in words) and len(plain) <= 4:
                    continue
                start = line.start + piece_start + piece.find(item[:3])
                _add_term(terms, document, item, "device", start, start + len(item), 0.9 if has_sign else 0.85)


_TM_WORD_RE = re.compile(r"(?<![\w-])([A-Za-z][\w-]*(?:\s+[A-Z][\w-]*){0,2})\s*(?:[®™]|\((?:R|TM)\))")
_NOTICE_RE = re.compile(r"copyright|trademark|all rights reserved|©", re.I)


def _marked_terms(document: Document, terms: dict[str, tuple[Term, Field]], skip: set[str]) -> None:
    for line in document.lines:
        text = document.line_text(line)
        if _NOTICE_RE.search(text):
            continue
        for match in _TM_WORD_RE.finditer(text):
            name = match.group(1)
            words = name.split()
            while words and words[0].lower() in NOT_PRODUCTS | {"a", "an", "and", "or", "of", "with", "using", "use"}:
                words = words[1:]
            if not words or " ".join(words).lower() in skip:
                continue
            name = " ".join(words)
            start = line.start + match.end(1) - len(name)
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
                    line.start + match.end(),
                    0.75,
                )
            else:
                _add_term(terms, document, name, "device", start, line.start + match.end(), 0.8)


def _procedure_terms(
    document: Document, terms: dict[str, tuple[Term, Field]], positions: list[Field], title: Field | None
) -> None:
    for position in positions:
        sentence = position.source.text
        verb = _VERB_RE.search(sentence)
        if verb is None:
            continue
        subject = re.split(r",|\s+for\s+|\s+in\s+(?:individuals|patients|members)", sentence[: verb.start()])[0].strip()
        subject = re.sub(r"^(?:the\s+)?(?:use\s+of\s+)?(?:the\s+)?", "", subject, flags=re.I)
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
