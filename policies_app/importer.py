"""Read payer medical-policy documents into plain data, without touching the database.

Two formats are understood, both as UTF-8 text extracted from the payers' pages:

- Wellmark: a header line "07.01.89 Title", then "Original Effective Date:", "Review Date:"
  and "Revised:" lines, upper-case section headings (POLICY, CODES, POLICY HISTORY, ...), and
  tab-separated CODES and POLICY HISTORY tables.
- Blue Cross and Blue Shield of Minnesota: free text that begins "This Policy version was
  replaced on <date>", names devices with trademark signs, and states the position in one
  sentence ("... is considered EXPERIMENTAL/INVESTIGATIVE ...").

The result is a ParsedPolicy. Whatever the document does not say is listed in
`missing_fields` as a sentence the editor can act on, because an imported draft must not be
published until a person has filled those gaps. A document that cannot be read at all raises
ImportRefused, so the caller writes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

from casemgmt.kernel.errors import DomainError
from policies_app.codes import code_problem, normalize_code, range_problem
from policies_app.models import CodeSystem, CoveragePosition, LineOfBusiness, TermKind

WELLMARK = "Wellmark Blue Cross and Blue Shield"
BCBS_MN = "Blue Cross and Blue Shield of Minnesota"

# Model column sizes: a longer value would fail on PostgreSQL, so the parser refuses or reports
# it instead of letting the database reject the whole import.
MAX_NUMBER = 50
MAX_TITLE = 300
MAX_TERM = 200
MAX_CODE = 10


class ImportRefused(DomainError):
    """The document cannot be imported; `reason` says why in words an editor understands."""

    status_code = 422

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ParsedPolicy:
    payer: str
    number: str
    title: str
    original_effective_date: date | None
    revised_date: date | None
    review_date: date | None
    effective_start: date | None
    effective_end: date | None
    coverage_position: str
    statement: str
    codes: list[tuple[str, str, str]] = field(default_factory=list)
    terms: list[tuple[str, str]] = field(default_factory=list)
    history: list[dict[str, str]] = field(default_factory=list)
    lines_of_business: list[str] = field(default_factory=list)
    retrospective_review: bool = False
    missing_fields: list[str] = field(default_factory=list)
    # "" when neither a revised nor a replacement date is known; the service then derives one.
    version_label: str = ""
    # The document's PRIOR APPROVAL statement ("Not applicable."), "" when it has none.
    prior_approval: str = ""


# --- text and dates ----------------------------------------------------------------------

MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}
_MONTH_NAME = r"(?:" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")\.?"
_DAY_DATE_RE = re.compile(rf"^({_MONTH_NAME})\s+(\d{{1,2}}),?\s+(\d{{4}})$", re.IGNORECASE)
_MONTH_DATE_RE = re.compile(rf"^({_MONTH_NAME}),?\s+(\d{{4}})$", re.IGNORECASE)
_ISO_DATE_RE = re.compile(r"^(\d{4})-(\d{2})(?:-(\d{2}))?$")
_NUMERIC_DATE_RE = re.compile(r"^(\d{1,2})/(?:(\d{1,2})/)?(\d{4})$")

# Trademark signs as they come out of web pages: plain, bracketed or in markdown superscript.
_TM_SIGNS_RE = re.compile(r"\[?[®™℠]\]?|\^\(?[®™]\)?\^?|\((?:R|TM)\)")


@dataclass(frozen=True)
class _Date:
    value: date
    has_day: bool

    def label(self) -> str:
        return self.value.isoformat() if self.has_day else self.value.strftime("%Y-%m")


def _month(name: str) -> int:
    return MONTHS[name.lower().rstrip(".")]


def parse_date(text: str) -> _Date | None:
    """A date as payers write it ("July 2023", "January 27, 2025", "2023-07"), or None."""
    text = " ".join(text.replace("\u00a0", " ").split()).strip(" .")
    try:
        if m := _DAY_DATE_RE.match(text):
            return _Date(date(int(m.group(3)), _month(m.group(1)), int(m.group(2))), True)
        if m := _MONTH_DATE_RE.match(text):
            return _Date(date(int(m.group(2)), _month(m.group(1)), 1), False)
        if m := _ISO_DATE_RE.match(text):
            day = m.group(3)
            return _Date(date(int(m.group(1)), int(m.group(2)), int(day or 1)), day is not None)
        if m := _NUMERIC_DATE_RE.match(text):
            day = m.group(2)
            return _Date(date(int(m.group(3)), int(m.group(1)), int(day or 1)), day is not None)
    except ValueError:
        # Shapes right, values impossible (February 30, month 13, year 0): not a date.
        return None
    return None


def decode(data: bytes | str) -> str:
    """The document as text with Unix line ends, or ImportRefused if it is not UTF-8 text."""
    if isinstance(data, str):
        text = data
    else:
        if b"\x00" in data:
            raise ImportRefused("the file is binary (it contains NUL bytes), not a text document")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ImportRefused(
                f"the file is not UTF-8 text (invalid byte at position {exc.start}); "
                "export the policy as UTF-8 plain text"
            ) from exc
    if "\x00" in text:
        raise ImportRefused("the file is binary (it contains NUL characters), not a text document")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ImportRefused("the text contains characters that are not valid Unicode") from exc
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise ImportRefused("the document is empty")
    return text


def _clean(text: str) -> str:
    """One line of prose: markdown emphasis and repeated spaces removed."""
    text = re.sub(r"\*\*|__", "", text)
    return " ".join(text.split())


def _sentences(text: str) -> list[str]:
    flat = " ".join(text.split())
    # Split after a full stop followed by a capital; abbreviations like "e.g." rarely precede one.
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+(?=[A-Z\"“])", flat) if s.strip()]


# --- coverage position --------------------------------------------------------------------

# Order matters: the more specific wording must win ("not medically necessary" contains
# "medically necessary"; "experimental/investigational" contains "investigational").
_POSITION_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    (
        CoveragePosition.EXPERIMENTAL_INVESTIGATIONAL,
        re.compile(r"\bexperimental\s*(?:/|and|or)\s*investigati(?:onal|ve)\b", re.IGNORECASE),
    ),
    (CoveragePosition.INVESTIGATIONAL, re.compile(r"\binvestigati(?:onal|ve)\b", re.IGNORECASE)),
    (CoveragePosition.EXPERIMENTAL_INVESTIGATIONAL, re.compile(r"\bexperimental\b", re.IGNORECASE)),
    (CoveragePosition.NOT_MEDICALLY_NECESSARY, re.compile(r"\bnot\s+medically\s+necessary\b", re.IGNORECASE)),
    (CoveragePosition.COSMETIC, re.compile(r"\bcosmetic\b", re.IGNORECASE)),
    (
        CoveragePosition.MEDICALLY_NECESSARY_WITH_CRITERIA,
        re.compile(r"\bmedically\s+necessary\s+(?:when|if|for\s+(?:individuals|patients)\s+who)\b", re.IGNORECASE),
    ),
    (CoveragePosition.MEDICALLY_NECESSARY, re.compile(r"\bmedically\s+necessary\b", re.IGNORECASE)),
]

# A position is only taken from a sentence that states one ("X is considered ..."), so that
# evidence prose such as "investigational device exemption" does not decide the position.
_POSITION_SENTENCE_RE = re.compile(r"\b(?:is|are)\s+(?P<neg>not\s+)?(?:considered|deemed)\s+", re.IGNORECASE)


def _position_of(sentence: str) -> str | None:
    verb = _POSITION_SENTENCE_RE.search(sentence)
    if verb is None:
        return None
    # Only what follows "is considered" is the position; the subject may itself contain
    # words such as "experimental".
    predicate = ("not " if verb.group("neg") else "") + sentence[verb.end() :]
    for position, pattern in _POSITION_PATTERNS:
        if pattern.search(predicate):
            return str(position)
    return None


def _position_sentences(text: str) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for sentence in _sentences(_clean(text)):
        position = _position_of(sentence)
        if position is not None:
            found.append((sentence, position))
    return found


def _choose_position(found: list[tuple[str, str]], missing: list[str]) -> str:
    positions = list(dict.fromkeys(p for _, p in found))
    if len(positions) == 1:
        return positions[0]
    labels = ", ".join(CoveragePosition(p).label.lower() for p in positions)
    missing.append(
        f"coverage position: the policy statement states more than one position ({labels}); "
        "choose the one this version records, or split the policy"
    )
    return str(CoveragePosition.UNDETERMINED)


# --- terms: device and procedure names -------------------------------------------------------

_PROCEDURE_NOUNS = (
    "decompression",
    "stabilization",
    "fusion",
    "procedure",
    "laminectomy",
    "laminotomy",
    "discectomy",
    "arthroplasty",
    "ablation",
    "implantation",
    "stimulation",
    "surgery",
)
# Generic words that follow a brand in a device's full name; the brand alone is what notes use.
_DEVICE_DESCRIPTORS = {
    "dynamic",
    "soft",
    "spine",
    "spinal",
    "stabilization",
    "system",
    "systems",
    "device",
    "devices",
    "kit",
    "tool",
}
_QUALIFIERS = ("procedure", "device", "system")


def _strip_tm(text: str) -> str:
    return " ".join(_TM_SIGNS_RE.sub("", text).split())


def _add_term(terms: dict[str, tuple[str, str]], term: str, kind: str) -> None:
    term = term.strip(" ,.;:()\"'“”")
    if len(term) < 3 or len(term) > MAX_TERM or not re.search(r"[A-Za-z]", term):
        return
    # PolicyTerm is unique per version and matching ignores case, so keep the first spelling.
    terms.setdefault(term.lower(), (term, str(kind)))


def _lower_first(phrase: str) -> str:
    """Lower-case a sentence-initial capital ("Image-guided"), but not acronyms or brands ("DSS", "BioFlex")."""
    if len(phrase) > 1 and phrase[0].isupper() and phrase[1].islower() and not any(c.isupper() for c in phrase[1:]):
        return phrase[0].lower() + phrase[1:]
    return phrase


def _subject_procedure(sentence: str) -> str | None:
    """The procedure a position sentence is about: "Use of X systems, with ..., is considered" -> "X"."""
    match = _POSITION_SENTENCE_RE.search(sentence)
    if match is None:
        return None
    # The condition treated ("... for chronic knee pain") is not part of the procedure's name.
    subject = re.split(r",|\s+for\s+", sentence[: match.start()])[0].strip()
    subject = re.sub(r"^(?:the\s+)?use\s+of\s+(?:the\s+)?", "", subject, flags=re.IGNORECASE)
    subject = re.sub(r"\s+(?:systems?|devices?)$", "", subject, flags=re.IGNORECASE)
    subject = _strip_tm(subject)
    words = subject.split()
    if not 2 <= len(words) <= 10:
        return None
    return _lower_first(subject)


def _abbreviation_long_forms(text: str) -> list[str]:
    """Procedure names the text defines with an acronym: "minimally invasive lumbar decompression (MILD)".

    The long form is the shortest run of words before the parenthesis whose first word starts
    with the acronym's first letter and whose word parts (split on hyphens) contain the
    acronym's letters in order.
    """
    found: list[str] = []
    for match in re.finditer(r"((?:[\w-]+\s+){1,9})\((?P<abbr>[A-Z]{2,6})[®™]?\)", _strip_tm(text)):
        abbr = match.group("abbr").lower()
        words = match.group(1).split()
        for size in range(2, len(words) + 1):
            window = words[-size:]
            if window[0][0].lower() != abbr[0]:
                continue
            initials = [part[0].lower() for word in window for part in word.split("-") if part]
            remaining = iter(initials)
            if all(letter in remaining for letter in abbr) and window[-1].lower().startswith(_PROCEDURE_NOUNS):
                found.append(_lower_first(" ".join(window)))
                break
    return found


_LIST_INTRO_RE = re.compile(r"\binclude(?:s)?\s+(?:but\s+(?:are|is)\s+not\s+limited\s+to\s+)?", re.IGNORECASE)
_TM_WORD_RE = re.compile(r"([A-Za-z][\w-]*)\s*(?:\[?[®™]\]?)")
_NOTICE_RE = re.compile(r"copyright|trademark|all rights reserved", re.IGNORECASE)


def _device_list_names(text: str) -> list[str]:
    """Brand names from sentences listing devices: "... systems include the BioFlex® System, ...".

    Items must look like product names (capitalized, and either carrying a trademark sign or
    ending in System/Device); "titanium pedicle screws" in the same sentence is not one.
    """
    names: list[str] = []
    for sentence in _sentences(text):
        intro = _LIST_INTRO_RE.search(sentence)
        if intro is None or not re.search(r"\b(?:devices?|systems?)\b", sentence[: intro.start()], re.IGNORECASE):
            continue
        items = re.split(r",\s*|\s+and\s+", sentence[intro.end() :].rstrip("."))
        for item in items:
            item = re.sub(r"^(?:and\s+)?(?:the\s+)?", "", item.strip())
            has_sign = bool(_TM_SIGNS_RE.search(item))
            plain = _strip_tm(item)
            words = plain.split()
            if not words or not words[0][0].isupper():
                continue
            if not has_sign and words[-1].lower() not in ("system", "device"):
                continue
            brand = list(words)
            while len(brand) > 1 and brand[-1].lower() in _DEVICE_DESCRIPTORS:
                brand.pop()
            # A single ordinary-looking word with no trademark sign ("Satellite") would match
            # everyday prose, so it keeps its full product name.
            if len(brand) == 1 and not has_sign and len(words) > 1:
                brand = [w for w in words if w.lower() not in ("system", "systems")]
            names.append(" ".join(brand))
    return names


def _trademarked_words(text: str) -> dict[str, list[str]]:
    """Each word written with a trademark sign, with the product nouns that follow it."""
    found: dict[str, list[str]] = {}
    for line in text.split("\n"):
        # Notices such as "CPT® is a registered trademark of the American Medical Association®"
        # carry signs too, but name no device.
        if _NOTICE_RE.search(line):
            continue
        for match in _TM_WORD_RE.finditer(line):
            word = match.group(1)
            following = re.match(r"[\s\])]*(?:decompressive\s+)?([A-Za-z]+)", line[match.end() :])
            nouns = found.setdefault(word, [])
            if following and following.group(1).lower() in _QUALIFIERS:
                nouns.append(following.group(1).lower())
    return found


def _device_terms(text: str, terms: dict[str, tuple[str, str]]) -> None:
    listed = _device_list_names(text)
    for name in listed:
        _add_term(terms, name, TermKind.DEVICE)
    listed_words = {w.lower() for name in listed for w in name.split()}
    marked = _trademarked_words(text)
    grouped: dict[str, tuple[bool, list[str]]] = {}
    for word, nouns in marked.items():
        if word.lower() in listed_words or word.lower() in _DEVICE_DESCRIPTORS:
            continue
        lowercase_seen, all_nouns = grouped.get(word.lower(), (False, []))
        grouped[word.lower()] = (lowercase_seen or word.islower(), all_nouns + nouns)
    for key, (lowercase_seen, nouns) in grouped.items():
        if lowercase_seen or len(key) <= 4:
            # A brand written in lower case ("mild") is an ordinary word: alone it would match
            # "mild pain". Qualify it with the product nouns the document uses after it.
            for noun in dict.fromkeys(nouns or ["procedure", "device"]):
                kind = TermKind.PROCEDURE if noun == "procedure" else TermKind.DEVICE
                _add_term(terms, f"{key} {noun}", kind)
        else:
            original = next(w for w in marked if w.lower() == key)
            _add_term(terms, original, TermKind.DEVICE)


def _procedure_terms(text: str, statement_sentences: Iterable[str], terms: dict[str, tuple[str, str]]) -> None:
    for sentence in statement_sentences:
        subject = _subject_procedure(sentence)
        if subject:
            _add_term(terms, subject, TermKind.PROCEDURE)
    for long_form in _abbreviation_long_forms(text):
        _add_term(terms, long_form, TermKind.PROCEDURE)


# --- lines of business and retrospective review ---------------------------------------------

_DIFFERENT_COVERAGE_RE = re.compile(
    r"\b(Medicare|Medicaid)\b[^.]{0,80}?\b(?:may|might|can)\s+(?:provide|have|offer)\s+different\s+coverage"
    r"|\b(Medicare|Medicaid)\b[^.]{0,80}?\bmay\s+be\s+covered\s+differently"
    r"|\bdoes\s+not\s+apply\s+to\s+(Medicare|Medicaid)\b",
    re.IGNORECASE,
)
# Blue plans' policies leave the Federal Employee Program to its own benefit plan: "This medical
# policy may not apply to FEP."
_FEP_EXCLUDED_RE = re.compile(
    r"\b(?:may|does|do|will)\s+not\s+apply\s+to\s+(?:the\s+)?(?:FEP|Federal\s+Employee\s+Program)\b", re.IGNORECASE
)
_RETROSPECTIVE_RE = re.compile(
    r"\breviewed\s+retrospectively\b|\bretrospective\s+denial\b|\bsubject\s+to\s+retrospective\s+review\b",
    re.IGNORECASE,
)


def _lines_of_business(text: str, missing: list[str]) -> list[str]:
    # "Medicare and Medicaid products may ..." names both programmes in one match.
    programs = {
        word.lower()
        for m in _DIFFERENT_COVERAGE_RE.finditer(text)
        for word in re.findall(r"\b(Medicare|Medicaid)\b", m.group(0), re.IGNORECASE)
    }
    if not programs:
        missing.append(
            "lines of business: the document does not say whether Medicare Advantage, Medicaid or CHIP "
            "products are covered differently; the draft lists every line of business, so remove those "
            "the policy does not apply to"
        )
        return [lob for lob in LineOfBusiness.values if lob != LineOfBusiness.FEP or not _FEP_EXCLUDED_RE.search(text)]
    excluded: set[str] = {LineOfBusiness.FEP} if _FEP_EXCLUDED_RE.search(text) else set()
    if "medicare" in programs:
        excluded.add(LineOfBusiness.MEDICARE_ADVANTAGE)
    if "medicaid" in programs:
        # CHIP is run with the state's Medicaid programme and follows its coverage rules.
        excluded.update({LineOfBusiness.MEDICAID, LineOfBusiness.CHIP})
    return [lob for lob in LineOfBusiness.values if lob not in excluded]


# --- Wellmark -----------------------------------------------------------------------------

_WELLMARK_NUMBER_RE = re.compile(r"^(\d{2}\.\d{2}\.\d{2})(?:\s+(.*))?$")
_HEADER_FIELD_RE = re.compile(r"^(Original Effective Date|Review Date|Revised)\s*:\s*(.*)$", re.IGNORECASE)
_HEADING_RE = re.compile(r"^[A-Z][A-Z /&-]{2,}$")


def _is_wellmark(text: str) -> bool:
    return bool(re.search(r"^\s*Original Effective Date\s*:", text, re.MULTILINE | re.IGNORECASE)) or bool(
        re.match(r"\s*\d{2}\.\d{2}\.\d{2}\s", text)
    )


def _sections(lines: list[str]) -> dict[str, list[str]]:
    """Lines under each upper-case heading; the first occurrence of a heading wins."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in lines:
        stripped = line.strip()
        if _HEADING_RE.match(stripped) and "\t" not in line:
            current = [] if stripped in sections else sections.setdefault(stripped, [])
            continue
        if current is not None:
            current.append(line)
    return sections


def _wellmark_header(lines: list[str], missing: list[str]) -> tuple[str, str, dict[str, _Date | None]]:
    number = title = ""
    dates: dict[str, _Date | None] = {}
    for line in lines:
        stripped = _clean(line)
        if not stripped:
            continue
        if m := _HEADER_FIELD_RE.match(stripped):
            key = m.group(1).lower()
            if key in dates:
                continue
            value = m.group(2).strip()
            dates[key] = parse_date(value) if value else None
            if value and dates[key] is None:
                missing.append(f"{key}: the document's line reads {value[:60]!r}, which is not a date")
            continue
        if dates or stripped.isupper():
            # The header ends at the first heading after the dates (DISCLAIMER...).
            if dates:
                break
            continue
        if number or title:
            continue
        if m := _WELLMARK_NUMBER_RE.match(stripped):
            number, title = m.group(1), (m.group(2) or "").strip()
        else:
            title = stripped
    return number, title, dates


def _wellmark_codes(section: list[str], missing: list[str]) -> list[tuple[str, str, str]]:
    systems = {
        "CPT": CodeSystem.CPT,
        "HCPCS": CodeSystem.HCPCS,
        "ICD-10-CM": CodeSystem.ICD10CM,
        "ICD-10": CodeSystem.ICD10CM,
    }
    codes: list[tuple[str, str, str]] = []
    system: str | None = None
    for line in section:
        if "\t" not in line:
            continue
        cells = [c.strip() for c in line.split("\t")]
        first = cells[0].upper()
        if first in systems and not any(cells[1:]):
            system = str(systems[first])
            continue
        if first or len(cells) < 2 or not cells[1]:
            # Table header ("Codes Number Description") or trailing rows ("Type of Service").
            if first not in ("CODES", ""):
                system = None
            continue
        if system is None:
            missing.append(f"codes: {cells[1][:20]!r} appears under no code system heading; add it if it applies")
            continue
        raw = cells[1]
        description = _clean(" ".join(cells[2:]))
        first_code, _, last_code = raw.partition("-")
        first_code = normalize_code(system, first_code)
        last_code = normalize_code(system, last_code) if last_code else ""
        problem = (
            range_problem(system, first_code, last_code)
            if last_code
            else (code_problem(system, first_code) if len(first_code) <= MAX_CODE else "too long")
        )
        if problem:
            missing.append(f"codes: the {system} row {raw[:20]!r} is not a valid code ({problem}); it was left out")
            continue
        codes.append((system, f"{first_code}-{last_code}" if last_code else first_code, description))
    return list(dict.fromkeys(codes))


def _wellmark_history(section: list[str]) -> list[dict[str, str]]:
    history: list[dict[str, str]] = []
    for line in section:
        if "\t" not in line:
            continue
        cells = [c.strip() for c in line.split("\t")]
        when = parse_date(cells[0])
        if when is None:
            continue
        history.append(
            {
                "date": when.label(),
                "action": _clean(cells[1]) if len(cells) > 1 else "",
                "detail": _clean(" ".join(cells[2:])),
            }
        )
    return history


def _parse_wellmark(text: str) -> ParsedPolicy:
    missing: list[str] = []
    lines = text.split("\n")
    number, title, dates = _wellmark_header(lines, missing)
    sections = _sections(lines)
    policy_lines = sections.get("POLICY")
    if policy_lines is None:
        raise ImportRefused("no POLICY section: the document does not state the policy, so it has no position")
    statement = " ".join(_clean(p) for p in "\n".join(policy_lines).split("\n\n") if p.strip())
    found = _position_sentences(statement)
    if not found:
        raise ImportRefused(
            "no coverage position: the POLICY section does not say the service is considered "
            "investigational, experimental, medically necessary, not medically necessary or cosmetic"
        )
    position = _choose_position(found, missing)

    original = dates.get("original effective date")
    revised = dates.get("revised")
    review = dates.get("review date")
    if "revised" not in dates:
        missing.append(
            "revised date: the document has no 'Revised:' line; set when this version takes effect "
            "(effective start) and its version label"
        )
    terms: dict[str, tuple[str, str]] = {}
    _procedure_terms(text, [s for s, _ in found], terms)
    if title:
        # The title names the procedure too, minus the condition it treats ("... for Spinal Stenosis").
        procedure = re.split(r"\s+(?:for|of|in)\s+(?=[A-Z])", _strip_tm(title))[0]
        if procedure != title and len(procedure.split()) >= 2:
            _add_term(terms, _lower_first(procedure.lower() if procedure.istitle() else procedure), TermKind.PROCEDURE)
    _device_terms(text, terms)

    return ParsedPolicy(
        payer=WELLMARK,
        number=number,
        title=title,
        original_effective_date=original.value if original else None,
        revised_date=revised.value if revised else None,
        review_date=review.value if review else None,
        effective_start=revised.value if revised else None,
        effective_end=None,
        coverage_position=position,
        statement=statement,
        codes=_wellmark_codes(sections.get("CODES", []), missing),
        terms=list(terms.values()),
        history=_wellmark_history(sections.get("POLICY HISTORY", [])),
        lines_of_business=_lines_of_business(text, missing),
        retrospective_review=bool(_RETROSPECTIVE_RE.search(text)),
        missing_fields=_identity_gaps(number, title) + missing,
        version_label=revised.value.strftime("%Y-%m") if revised else "",
        prior_approval=_prior_approval(sections),
    )


def _prior_approval(sections: dict[str, list[str]]) -> str:
    """The PRIOR APPROVAL section's first paragraph, which states whether the service needs it."""
    lines = sections.get("PRIOR APPROVAL") or sections.get("PRIOR AUTHORIZATION") or []
    paragraphs = [p for p in "\n".join(lines).split("\n\n") if p.strip()]
    return _clean(paragraphs[0])[:500] if paragraphs else ""


# --- Blue Cross and Blue Shield of Minnesota ---------------------------------------------------

_REPLACED_RE = re.compile(r"This\s+Policy\s+version\s+was\s+replaced\s+on\s+([A-Za-z]+\.?\s+\d{1,2},?\s+\d{4})", re.I)
_MN_NUMBER_RE = re.compile(r"^\s*(?:Medical\s+)?Policy\s+(?:Number|No\.?|#)\s*:?\s*(\S+)\s*$", re.I | re.M)
_MN_TITLE_RE = re.compile(r"^\s*(?:Policy\s+)?Title\s*:\s*(.+?)\s*$", re.I | re.M)
_MN_DATE_RE = re.compile(r"^\s*(Effective\s+Date|Last\s+Review(?:\s+Date)?|Revised)\s*:\s*(.+?)\s*$", re.I | re.M)


def _is_bcbs_mn(text: str) -> bool:
    return bool(_REPLACED_RE.search(text)) or "blue cross and blue shield of minnesota" in text.lower()


def _parse_bcbs_mn(text: str) -> ParsedPolicy:
    missing: list[str] = []
    number_match = _MN_NUMBER_RE.search(text)
    number = number_match.group(1) if number_match else ""
    title_match = _MN_TITLE_RE.search(text)
    title = _clean(title_match.group(1)) if title_match else ""

    dated: dict[str, _Date | None] = {}
    for m in _MN_DATE_RE.finditer(text):
        key = " ".join(m.group(1).lower().split())
        if key not in dated:
            dated[key] = parse_date(m.group(2))
            if dated[key] is None:
                missing.append(f"{key}: the document's line reads {m.group(2)[:60]!r}, which is not a date")
    effective = dated.get("effective date")
    revised = dated.get("revised")
    review = dated.get("last review") or dated.get("last review date")

    history: list[dict[str, str]] = []
    end: date | None = None
    replaced_on: date | None = None
    if replaced := _REPLACED_RE.search(text):
        when = parse_date(replaced.group(1))
        if when is None or not when.has_day or when.value == date.min:
            missing.append(
                f"effective end: the document says it was replaced on {replaced.group(1)!r}, "
                "which is not a date; set when this version ended"
            )
        else:
            replaced_on = when.value
            # The replacement takes effect on that day, so this version's last day is the one before.
            end = replaced_on - timedelta(days=1)
            history.append(
                {
                    "date": replaced_on.isoformat(),
                    "action": "Replaced",
                    "detail": f"This policy version was replaced on {replaced_on.isoformat()}",
                }
            )
    start = effective.value if effective else (revised.value if revised else None)
    if start is None and end is None and not any("effective end" in m for m in missing):
        missing.append(
            "effective dates: the document states neither when this version took effect nor when it "
            "was replaced; set at least one"
        )
    if start is not None and end is not None and end < start:
        missing.append(
            f"effective dates: the document's effective date {start.isoformat()} is after its replacement "
            f"on {(end + timedelta(days=1)).isoformat()}; correct them"
        )
        end = None

    found = _position_sentences(text)
    if not found:
        raise ImportRefused(
            "no coverage position: no sentence says the service is considered experimental/investigative, "
            "medically necessary, not medically necessary or cosmetic"
        )
    position = _choose_position(found, missing)
    statement = " ".join(dict.fromkeys(s for s, _ in found))

    terms: dict[str, tuple[str, str]] = {}
    _device_terms(text, terms)
    _procedure_terms(text, [s for s, _ in found], terms)

    if replaced_on is not None:
        label = f"replaced-{replaced_on.isoformat()}"
    elif start is not None:
        label = start.strftime("%Y-%m-%d")
    else:
        label = ""
    return ParsedPolicy(
        payer=BCBS_MN,
        number=number,
        title=title,
        original_effective_date=None,
        revised_date=revised.value if revised else None,
        review_date=review.value if review else None,
        effective_start=start,
        effective_end=end,
        coverage_position=position,
        statement=statement,
        codes=[],
        terms=list(terms.values()),
        history=history,
        lines_of_business=_lines_of_business(text, missing),
        retrospective_review=bool(_RETROSPECTIVE_RE.search(text)),
        missing_fields=_identity_gaps(number, title) + missing,
        version_label=label,
    )


# --- entry point ------------------------------------------------------------------------------


def _identity_gaps(number: str, title: str) -> list[str]:
    gaps: list[str] = []
    if not number:
        gaps.append("policy number: the document does not state it; copy it from the payer's policy index")
    if not title:
        gaps.append("policy title: the document does not state it; copy it from the payer's policy index")
    return gaps


def _check_sizes(parsed: ParsedPolicy) -> None:
    if len(parsed.number) > MAX_NUMBER:
        raise ImportRefused(f"the policy number is longer than {MAX_NUMBER} characters: {parsed.number[:60]!r}")
    if len(parsed.title) > MAX_TITLE:
        raise ImportRefused(f"the title line is longer than {MAX_TITLE} characters; is the header line intact?")


def parse_policy(data: bytes | str) -> ParsedPolicy:
    """Parse a Wellmark or BCBS MN policy document; raise ImportRefused when it cannot be read."""
    text = decode(data)
    lowered = text.lower()
    if _is_wellmark(text):
        if "wellmark" not in lowered:
            raise ImportRefused(
                "the document has a Wellmark-style header but does not name Wellmark; "
                "the importer only reads Wellmark and Blue Cross and Blue Shield of Minnesota policies"
            )
        parsed = _parse_wellmark(text)
    elif _is_bcbs_mn(text):
        parsed = _parse_bcbs_mn(text)
    else:
        raise ImportRefused(
            "unknown format: this is neither a Wellmark policy (header '07.01.89 Title' and "
            "'Original Effective Date:') nor a Blue Cross and Blue Shield of Minnesota policy"
        )
    _check_sizes(parsed)
    return parsed
