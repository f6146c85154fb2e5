"""A policy's identity: payer, number, title and version label."""

from __future__ import annotations

import re

from policies_app.importing.dates import DATE_RE
from policies_app.importing.readers import BOX_RULES, Document, Line
from policies_app.importing.result import Field, Source
from policies_app.importing.spans import field_at
from policies_app.importing.structure import Section, heading_kind

_NUMBER_RES: list[tuple[re.Pattern[str], float]] = [
    (
        re.compile(
            # What the number numbers varies with the kind of document: "Criteria number: PA-123",
            # "Guideline ID ...... UMG-0419", a property key "POLICY_ID". A bulletin's number numbers the bulletin, not the policy.
            # A regulation numbers its rules ("Rule number: CS-100"); a document attribute joins the words
            # by a hyphen (":policy-id: AB-12"); a criteria library numbers its sets ("Criteria set .... CS-44").
            r"(?:\b(?:medical\s+|coverage\s+|clinical\s+)?(?:policy(?:\s+bulletin)?|criteria|guideline|summary|rule)[\s_-]*(?:number|no\.?|#|id(?:entifier)?)"
            r"|\b(?:criteria|guideline)\s+set(?=\s*(?:[:\t]|\.{2,})))"
            # A Markdown table parts the label from the number by a pipe ("| Policy number | DME-117 |").
            r"\s*(?:[:#|]|\.{2,}|(?:,[ \t]*){2,}\"?)?\s*(?P<v>(?=[A-Z0-9.\-_/]*\d)[A-Z0-9][A-Z0-9.\-_/]{1,48})(?![\w])",
            re.I,
        ),
        0.95,
    ),
    (re.compile(r"\b(?:LCD|NCD|article)\s*(?:ID|number)?\s*[:#]?\s*(?P<v>[LA]\d{5})\b", re.I), 0.95),
    (
        re.compile(
            r"\b(?:reference|document)\s*(?:number|no\.?|#|id)\s*[:#]?\s*(?P<v>(?=[A-Z0-9.\-]*\d)[A-Z0-9][A-Z0-9.\-]{1,30})(?![\w])"
            # A Blue plan's header files the policy under its number: "File Code: 7.01.172".
            r"|\bfile\s+code\s*[:\t]\s*(?P<f>\d{1,2}(?:\.\d{1,3}){1,3})\b",
            re.I,
        ),
        0.85,
    ),
    (re.compile(r"^\s*(?P<v>\d{2}\.\d{2}\.\d{2})\s+\S", re.M), 0.9),
    # A box-drawn summary's "Policy" cell beside the number and title ("│ Policy │ AB-12 Knee Bracing │").
    (
        re.compile(
            rf"^[ \t]*[{BOX_RULES}][ \t]*policy[ \t]*[\t{BOX_RULES}]+"
            r"[ \t]*(?P<v>(?=[A-Z0-9-]*\d)[A-Z]{1,6}(?:-[A-Z0-9]{1,8}){1,3})(?![\w-])",
            re.I | re.M,
        ),
        0.85,
    ),
    # "Medical Policy: 7.01.02": a "Policy:" label whose whole value is an identifier.
    (
        re.compile(
            r"^\s*(?:(?:medical|clinical|coverage)\s+)?policy\s*:[ \t]*(?P<v>(?=[A-Z0-9.\-_/]*\d)[A-Z0-9][A-Z0-9.\-_/]{1,30})[ \t]*$",
            re.I | re.M,
        ),
        0.85,
    ),
]
# A policy's number printed after the word for the document with no label between them, as a
# masthead, a meta strip or a running footer prints it ("Policy MP-ENT-031 · Effective ...",
# "Guideline" / "LOC-ED-03" in a definition list, "Clinical Coverage Policy SLP-0102 - page 2"):
# only an identifier in capitals joined by hyphens, so a word after "policy" is never read as one,
# and not another policy the text refers to ("see policy MA-118", "reviewed under policy PA-014").
_UNLABELLED_NUMBER_RE = re.compile(
    r"(?<!see )(?<!under )(?<!to )(?<!by )(?<!in )\b(?i:policy|guideline|criteria)[ \t]*\n?[ \t]*"
    r"(?P<v>(?=[A-Z0-9-]*\d)[A-Z]{1,6}(?:-[A-Z0-9]{1,8}){1,3})(?![\w-])"
)
# A bulletin's own number is the number of a document that states no policy number: a bulletin that
# sets the policy itself ("Provider Bulletin 25-07 · Issued 3 Mar 2025").
_BULLETIN_NUMBER_RE = re.compile(
    r"(?<!replaces )(?<!replaced )\b(?i:bulletin)\s*(?i:number|no\.?|#)?\s*:?\s*(?P<v>(?=[\w-]*\d)[A-Z0-9]{1,6}(?:-[A-Z0-9]{1,8}){1,2})(?![\w-])"
)
_TITLE_RE = re.compile(
    # An outliner's keyword line names the document too ("#+TITLE: Knee Bracing").
    r"^\s*(?:#\+)?(?:(?:medical|clinical|coverage)\s+)?(?:(?:(?:policy|lcd|document|guideline)\s+)?(?:title|subject)|(?:policy|guideline)\s+name)"
    # The value follows a colon, a tab, a pipe, dotted leaders, or stands on the next line.
    # The value is one cell: a pipe or a tab starts the next field ("Title: X | Policy Number: Y").
    r"(?:\s*(?:[:\t|]|\.{2,})[ \t]*\n?[ \t]*|[ \t]*\n[ \t]*)(?P<v>[^\s|][^\t|\n]{2,299}?)[ \t]*(?:[\t|].*)?$",
    re.I | re.M,
)
# A heading that names a block of a page's fields ("Document Information", "Policy Details").
_GENERIC_HEADING_RE = re.compile(
    r"\b(?:information|details|contents|overview|properties|at\s+a\s+glance)\s*$|^(?:version|revision|rev\.?)\s*[\w.]+$",
    re.I,
)


def _names_no_policy(text: str) -> bool:
    """A heading that names a part of the page ("I. Policy", "Page properties", "Version 12"), not the policy."""
    return bool(
        _DOCUMENT_KIND_RE.match(text)
        or _GENERIC_HEADING_RE.search(text)
        or (heading_kind(text) != "other" and len(text.split()) <= 3)
    )


# A header's "Policy:" line names the policy when its value is a title, not a sentence.
_POLICY_NAME_RE = re.compile(r"^\s*policy\s*:\s*(?P<v>[A-Z][^.:\n\t ]*(?: [^.:\n\t ]+)+?)\s*$", re.I | re.M)
_SENTENCE_VERB_RE = re.compile(r"\b(?:is|are|was|were|will|applies|apply|covers?|requires?)\b", re.I)
# A line that names only the kind of document ("Medical Coverage Policy", "Corporate Medical Policy",
# "Utilization Management Guideline") heads the page; the policy's own title follows it.
_DOCUMENT_KIND_RE = re.compile(
    r"^(?:(?:local|national)\s+coverage\s+determination(?:\s+\((?:LCD|NCD)\))?$)|"
    r"^(?:(?:corporate|medical|clinical|coverage|payment|reimbursement|utilization\s+management|pharmacy|"
    r"commercial|medicare(?:\s+advantage)?|medicaid|provider|medical\s+necessity)\s+)+"
    r"(?:policy|policies|bulletin|guideline|criteria|summary)$",
    re.I,
)
_PAYER_CORE = (
    # An agency's name ends at "Services": what follows names its programme ("... of Human Services
    # Arrowhead Health Care Program").
    r"(?:(?:Department|Division|Agency)\s+of\s+(?:(?!Services\b)[A-Z][a-z]+\s+(?:and\s+)?){0,3}(?:Services|Health|Assistance|Finance|Financing|Administration)|"
    r"Blue\s*Cross(?:\s+(?:and|&)\s+Blue\s*Shield)?|Blue\s*Shield|Health\s*Plans?|Health\s*care|Health\s+Care|"
    r"Health\s+Partners|Health\s+Alliance|Health\s+Services|Health|Insurance(?:\s+Company)?|Mutual|Medicaid(?:\s+Program)?|Care)"
)
_PAYER_RE = re.compile(
    # A name's words may be joined by an ampersand ("Crestline Health & Life Insurance Company"), and a
    # Blue plan names its region with an article ("... Blue Shield of the Northern Plains", "... of the Red River Valley").
    rf"(?P<v>(?:(?:[A-Z][\w&'.\-]*|&)\s+){{0,4}}{_PAYER_CORE}(?:\s+of\s+(?:the\s+)?[A-Z][a-z]+(?:\s+(?!Medical|Policy|Policies|Plans?|Members?|Provider)[A-Z][a-z]+){{0,2}})?"
    # The company's legal form is part of its name: "Crestline Health Corporation", "... Insurance Co.".
    rf"(?:,?\s+(?:Corporation|Corp\.|Company|Co\.|Inc\.|Incorporated|LLC|L\.L\.C\.|Association|Cooperative))?)(?=[\s,.;:)®™*|]|$)"
)
_PAYER_CUE_RE = re.compile(
    r"©|\bcopyright\b|\b(?:issued|administered)\s+by\b|\bproprietary\b|\bmedical\s+policy\b|\bplan\b", re.I
)
_NOT_PAYERS = re.compile(
    r"^(?:federal\s+employee|american\s+|national\s+|public\s+health|mental\s+health|behavioral\s+health|home\s+health|"
    r"health\s+care\s+(?:professional|provider)|the\s+|this\s+|our\s+|your\s+|member|medical|minnesota\s+health\s+care)",
    re.I,
)


# A company named by its legal form on the first lines of a document is the issuer of its letterhead,
# whatever its trade ("Northstar Pharmacy & Device Services, Inc.").
_COMPANY_RE = re.compile(
    r"(?:(?:[A-Z][\w'.\-]*|&|and|of)\s+){0,6}[A-Z][\w'.\-]*,?\s+(?:Inc\.|Incorporated|LLC|L\.L\.C\.|Corporation|Corp\.|Company|Co\.)"
)
# A programme is not a payer: "the Children's Health Insurance Program (CHIP)", "a state Health
# Insurance Marketplace".
_PROGRAMME_RE = re.compile(r"\s*(?:Program|Programme|Marketplace|Exchange)\b", re.I)
# A state agency's letterhead names the state on the line above the agency ("STATE OF KANAWHA" /
# "DEPARTMENT OF HEALTH CARE FINANCE"); the two lines are one name.
_STATE_RE = re.compile(r"^(?:State|Commonwealth)\s+of\s+[A-Z][a-z]+(?:\s+[A-Z][a-z]+)?$")
_STATE_PREFIX_RE = re.compile(
    r"(?:State|Commonwealth)\s+of\s+[A-Z][a-z]+(?:\s+(?!Department|Division|Agency)[A-Z][a-z]+)?\s+"
)
_AGENCY_UNIT_RE = re.compile(r"(?:Division|Office|Bureau)\s+of\s+(?:(?:[A-Z][a-z]+|and|&)\s+){0,4}[A-Z][a-z]+")
_SMALL_WORDS_RE = re.compile(r"(?<=\s)(Of|And|The|For|In)(?=\s)")


def _title_case(text: str) -> str:
    """A letterhead in capitals ("DEPARTMENT OF HEALTH") as the name it spells ("Department of Health")."""
    return _SMALL_WORDS_RE.sub(lambda m: m.group(1).lower(), text.title()).replace("'S ", "'s ")


_PAYER_COLUMN_RE = re.compile(r"^(?:contractor|payer|health\s+plan|insurer|carrier)(?:\s+name)?$", re.I)


def _payer_in_column(document: Document) -> Field | None:
    """The payer under a table's "Contractor Name" column ("Contractor Name | Contract Type" over
    "Lakeshore Health Administrators, LLC | A and B MAC"), as a coverage database prints it."""
    for line, below in zip(document.lines, document.lines[1:], strict=False):
        cells = document.line_text(line).split("\t")
        column = next((i for i, cell in enumerate(cells) if _PAYER_COLUMN_RE.match(cell.strip())), None)
        if column is None or len(cells) < 2:
            continue
        values = document.line_text(below).split("\t")
        if column < len(values) and re.match(r"[A-Z]", values[column].strip()):
            start = below.start + sum(len(cell) + 1 for cell in values[:column])
            value = values[column].strip()
            start += values[column].index(value)
            return field_at(document, value, start, start + len(value), 0.9)
    return None


_PAYER_LABEL_RE = re.compile(
    r"^\s*(?:contractor|payer|health\s+plan|insurer|carrier|plan)(?:\s+name)?\s*[:\t]\s*(?P<v>[A-Z][^\t\n]{2,120}?)\s*$",
    re.I | re.M,
)


def read_payer(document: Document, front: list[Line], given: str) -> Field | None:
    for match in _PAYER_LABEL_RE.finditer(document.text):
        # "Contractor Name | Contract Type" heads a table's columns: a label is no payer's name.
        if not re.search(r"\b(?:type|number|name|id|date|jurisdiction)$", match.group("v"), re.I):
            return field_at(document, match.group("v"), match.start("v"), match.end("v"), 0.95)
    if found := _payer_in_column(document):
        return found
    candidates: list[tuple[float, int, int]] = []
    for index, line in enumerate(document.lines):
        text = document.line_text(line)
        # A letterhead in capitals ("SUMMIT HEALTH PLAN") reads as the name it spells, also in a cell of
        # a masthead beside the kind of document ("PINNACLE CREST HEALTHCARE<tab>Commercial Medical Policy").
        text = "\t".join(_title_case(cell) if cell.isupper() else cell for cell in text.split("\t"))
        if index < 3:
            text = _small_caps_read(text)
        in_front = line in front[:12]
        cue = bool(_PAYER_CUE_RE.search(text))
        # A state agency's letterhead may name the state before the agency on one line ("State of
        # Kanawha Department of Health Services"): the line is still the agency's name, whole.
        state = _STATE_PREFIX_RE.match(text.strip())
        whole = _PAYER_RE.fullmatch(text.strip()[state.end() if state else 0 :]) is not None
        # The first lines of a page are its letterhead even under a title read as a heading.
        if not (in_front or cue or whole or index < 3):
            continue
        for match in _PAYER_RE.finditer(text):
            name = match.group("v").strip()
            words = name.split()
            if len(words) < 2 or _NOT_PAYERS.match(name) or name.lower() in ("blue cross", "health plan"):
                continue
            if _PROGRAMME_RE.match(text, match.end("v")):
                continue
            # The first line of a document is its letterhead: the issuer's name, whatever else follows.
            confidence = 0.9 if cue or whole or index == 0 else 0.8 if in_front else 0.75
            begin = match.start("v")
            lead = len(text) - len(text.lstrip())
            if state and whole and lead <= begin <= lead + state.end():
                begin = lead
            candidates.append((confidence - index * 1e-6, line.start + begin, line.start + match.end("v")))
        if index < 2 and not candidates and (company := _COMPANY_RE.match(text.strip())):
            offset = line.start + len(text) - len(text.lstrip())
            # Its trade is unknown (an insurer, a benefit manager, a publisher): the editor confirms it.
            candidates.append((0.75 - index * 1e-6, offset + company.start(), offset + company.end()))
    if not candidates and (letterhead := _letterhead_company(document)):
        return letterhead
    if not candidates and (company := _COMPANY_RE.search(document.text[: _front_end(document, 20)])):
        # A company named with its legal form in the page's header ("Guideline VBG-2204 — Lumen Vision
        # Benefits of America, Inc."): likely the issuer, but its trade is unknown; the editor confirms it.
        return field_at(document, company.group(0), company.start(), company.end(), 0.7)
    if candidates:
        # Ties go to the name read first, as a reader reads a letterhead.
        confidence, start, end = max(candidates, key=lambda c: (c[0], -c[1]))
        name = _small_caps_read(" ".join(document.text[start:end].split()))
        name = _title_case(name) if name.isupper() else name
        name = _legal_name(document, name)
        index = next(i for i, ln in enumerate(document.lines) if ln.start <= start <= ln.end)
        above = document.line_text(document.lines[index - 1]).strip() if index else ""
        above = _title_case(above) if above.isupper() else above
        if re.match(r"(?:Department|Division|Agency)\b", name) and _STATE_RE.match(above):
            return field_at(document, f"{above} {name}", document.lines[index - 1].start, end, round(confidence, 2))
        below = document.lines[index + 1] if index + 1 < len(document.lines) else None
        if below is not None and re.search(r"\b(?:Department|Agency)\b", name) and end == document.lines[index].end:
            unit = document.line_text(below).strip()
            # The agency's division that issues the policy, printed under it, is part of the issuer's name.
            if _AGENCY_UNIT_RE.fullmatch(unit):
                return field_at(document, f"{name}, {unit}", start, below.end, round(confidence, 2))
        return field_at(document, name, start, end, round(confidence, 2))
    if given:
        return Field(given, Source(0, 0, ""), 0.9)
    return None


# A letterhead set in small capitals may read back with its last letter as a capital ("Harrow
# Glen HealtH"): a word of lower-case letters between capitals is the word in title case.
_SMALL_CAPS_WORD_RE = re.compile(r"\b[A-Z][a-z]+[A-Z]+\b")


def _small_caps_read(text: str) -> str:
    """The text with each small-capitals word as the word it spells; every offset where it was."""
    return _SMALL_CAPS_WORD_RE.sub(lambda m: m.group(0).capitalize(), text)


def _legal_name(document: Document, name: str) -> str:
    """The payer's full name, when the document prints it with its legal form elsewhere.

    A letterhead may shorten the name that a copyright line gives whole ("Harrow Glen Health" /
    "© 2026 Harrow Glen Health Insurance Company"): the company's own name is the longer one.
    """
    for company in _COMPANY_RE.finditer(document.text):
        full = " ".join(company.group(0).split())
        if full.startswith(name + " ") and len(full.split()) <= len(name.split()) + 3:
            return full
    return name


def _front_end(document: Document, count: int) -> int:
    """The offset where the document's first `count` lines end."""
    lines = document.lines[:count]
    return lines[-1].end if lines else 0


def _letterhead_company(document: Document) -> Field | None:
    """A first line that names a company the text names again with its legal form, as the issuer's letterhead.

    "CLEARWATER IMAGING BENEFIT SOLUTIONS" over "Clearwater Imaging Benefit Solutions, LLC reviews ...":
    whatever its trade (a benefit manager, a vision plan), the company heads its own document.
    """
    if not document.lines:
        return None
    first = document.lines[0]
    raw = document.line_text(first)
    name = raw.split("\t")[0].strip()
    if len(name.split()) < 2:
        return None
    for company in _COMPANY_RE.finditer(document.text[first.end : first.end + 6000]):
        bare = re.sub(r",?\s+\S+$", "", company.group(0))
        if bare.lower().endswith(name.lower()) and len(name) >= 0.6 * len(bare):
            start = first.start + raw.index(name)
            value = _title_case(name) if name.isupper() else name
            return field_at(document, value, start, start + len(name), 0.8)
    return None


def read_number(document: Document) -> Field | None:
    head = document.text[:4000]
    for pattern, confidence in _NUMBER_RES:
        if match := pattern.search(head):
            group = "v" if match.group("v") else "f"
            value = match.group(group).rstrip(".,;")
            return field_at(document, value, match.start(group), match.start(group) + len(value), confidence)
    if match := _UNLABELLED_NUMBER_RE.search(document.text):
        return field_at(document, match.group("v"), match.start("v"), match.end("v"), 0.75)
    if match := _BULLETIN_NUMBER_RE.search(head):
        return field_at(document, match.group("v"), match.start("v"), match.end("v"), 0.75)
    return None


# An e-mail's header block ("From: ...", "Subject: ...") opens a bulletin sent as a message; its
# subject names the message, not the policy it carries.
_MAIL_HEADER_RE = re.compile(r"^(?:from|to|date|sent|cc):[ \t]+\S", re.I | re.M)


def read_title(document: Document, found: list[Section], number: Field | None) -> Field | None:
    title = _read_title(document, found, number)
    if title is None or number is None:
        return title
    # A heading may print the number before the title ("OR-117 Knee Bracing", "Part 12.3 Knee Bracing").
    lead = re.match(
        rf"(?:{re.escape(str(number.value))}|(?:part|chapter|article)\s+\d[\d.]*)[ \t:–-]+(?=\w)", title.value, re.I
    )
    if lead is None:
        return title
    if DATE_RE.search(title.value):
        # The number's line is a header strip of fields ("AB-12 Effective: 07/01/2026"), no title.
        return None
    start = title.source.start + title.source.text.find(title.value[lead.end() :])
    return field_at(document, title.value[lead.end() :], start, title.source.end, title.confidence)


def _record_value(document: Document, keys: str) -> Field | None:
    """The value of a delimited export's record whose key is one of `keys` ('META,title,,,,Knee Bracing')."""
    pattern = re.compile(
        rf'^[ \t]*"?[A-Za-z_]+"?[ \t]*,[ \t]*"?(?:{keys})"?[ \t]*(?:,[ \t]*)+"?(?P<v>[^",\n][^"\n]*?)"?[ \t]*$',
        re.I | re.M,
    )
    if match := pattern.search(document.text[:6000]):
        return field_at(document, match.group("v"), match.start("v"), match.end("v"), 0.9)
    return None


def _read_title(document: Document, found: list[Section], number: Field | None) -> Field | None:
    mail = len(_MAIL_HEADER_RE.findall(document.text[:2000])) >= 2
    if record := _record_value(document, r"(?:policy_?)?title|policy_?name"):
        return record
    for labelled in _TITLE_RE.finditer(document.text[:4000]):
        if mail and re.match(r"\s*subject\b", labelled.group(0), re.I):
            continue
        return field_at(document, labelled.group("v"), labelled.start("v"), labelled.end("v"), 0.95)
    if (match := _POLICY_NAME_RE.search(document.text[:2000])) and not _SENTENCE_VERB_RE.search(match.group("v")):
        return field_at(document, match.group("v"), match.start("v"), match.end("v"), 0.75)
    if number is not None and number.source.end and number.confidence >= 0.85:
        line = next((ln for ln in document.lines if ln.start <= number.source.start < ln.end + 1), None)
        if line is not None:
            raw_rest = document.text[number.source.end : line.end]
            # A drawn table's closing border ends the cell, not the title.
            rest = re.sub(rf"[ \t]*[{BOX_RULES}][ \t]*$", "", raw_rest).strip(" \t:-–")
            # What follows a number is its title ("07.01.89 Knee Bracing"), not the next field of a
            # header strip ("· Effective Feb 1, 2026") or the next cell of a table of fields.
            # A number that starts its line may stand a column apart from its title ("MP-218<tab>Bone Growth ...").
            leads = not document.text[line.start : number.source.start].strip()
            if (
                len(rest) > 5
                and (not raw_rest.startswith("\t") or leads)
                and rest[0].isalnum()
                and not DATE_RE.search(rest)
                and not _GENERIC_HEADING_RE.search(rest)
                and "\t" not in rest
                and not re.match(r"(?:\w+\s){0,2}\w+:\s", rest)
            ):
                start = document.text.index(rest, number.source.end)
                return field_at(document, rest, start, start + len(rest), 0.85)
    if number is not None and number.source.end:
        # A page's heading printed just over the number's line names the policy, whatever navigation
        # headings come before it.
        index = next((i for i, ln in enumerate(document.lines) if ln.start <= number.source.start <= ln.end), 0)
        for line in document.lines[max(0, index - 2) : index]:
            text = document.line_text(line).strip()
            if line.heading and not _DOCUMENT_KIND_RE.match(text) and not _GENERIC_HEADING_RE.search(text):
                return _title_from_line(document, line, 0.8)
    for line in document.lines[:15]:
        text = document.line_text(line).strip()
        # An AsciiDoc document opens with its title after one "=" ("= Knee Bracing").
        if (line.heading or re.match(r"(?:#|=)\s+\S", text)) and not _names_no_policy(text.lstrip("#= ")):
            return _title_from_line(document, line, 0.8)
    if title := _title_after_prefix(document):
        return title
    if title := _title_below_document_kind(document):
        return title
    if title := _title_in_capitals(document):
        return title
    if number is not None and number.source.end and number.confidence >= 0.85:
        # A title line printed just above the policy number.
        index = next((i for i, ln in enumerate(document.lines) if ln.start <= number.source.start <= ln.end), 0)
        # The issuer's letterhead may stand between the title and the number ("Reduction Mammaplasty" /
        # "State of Kanawha Department of Health" / "Division of Health Benefits" / "Policy No.: 1A-47").
        while index > 1 and _is_issuer_line(document.line_text(document.lines[index - 1]).strip()):
            index -= 1
        if index > 0:
            above = document.line_text(document.lines[index - 1]).strip()
            label = re.search(r"\b(?:number|no\.?|#|id)$", above, re.I)
            if (
                ":" not in above
                and 5 < len(above) <= 150
                and not above.isupper()
                and not DATE_RE.search(above)
                and not label
                and not _names_no_policy(above)
            ):
                return _title_from_line(document, document.lines[index - 1], 0.7)
    return None


def _is_issuer_line(text: str) -> bool:
    state = _STATE_PREFIX_RE.match(text)
    bare = text[state.end() if state else 0 :]
    return bool(
        _PAYER_RE.fullmatch(bare)
        or _AGENCY_UNIT_RE.fullmatch(bare)
        or _STATE_RE.match(text)
        or _COMPANY_RE.fullmatch(text)
    )


def _title_below_document_kind(document: Document) -> Field | None:
    """The title a page prints under the kind of document, past the header's fields.

    "Medical Coverage Policy" / "Effective Date ...... 07/15/2025" / "Knee Bracing": the first line
    below the kind of document that is no field (no label, leader or date), no rule and no heading of
    a section is the title.
    """
    lines = document.lines[:3]
    index = next((i for i, ln in enumerate(lines) if _names_document_kind(document.line_text(ln))), None)
    if index is None:
        return None
    for line in document.lines[index + 1 : index + 9]:
        text = document.line_text(line).strip()
        if re.search(r"[:\t|]|\.{2,}", text) or DATE_RE.search(text) or not re.search(r"[A-Za-z]{3}", text):
            continue
        if (
            len(text) > 150
            or text.endswith((".", ";"))
            or re.match(r"[-•*▪◦·]|\d{1,2}[.)]\s", text)
            or (heading_kind(text) != "other" and len(text.split()) <= 3)
        ):
            return None
        return _title_from_line(document, line, 0.75)
    return None


# The parts of a masthead line: the issuer, the kind of document, its subject area
# ("Harrow Glen Health Plan · Clinical Policy", "HARROW GLEN HEALTH – MEDICAL POLICY MANUAL").
_MASTHEAD_PART_RE = re.compile(r"\s+[·–—|-]\s+")


def _names_document_kind(text: str) -> bool:
    """A line naming the kind of document, alone or beside the issuer or a subject area in a masthead."""
    parts = [re.sub(r"\s+manual$", "", part.strip(), flags=re.I) for part in _MASTHEAD_PART_RE.split(text.strip())]
    return any(_DOCUMENT_KIND_RE.match(part) for part in parts)


def _title_in_capitals(document: Document) -> Field | None:
    """A title set in capitals near the top, over one or two lines ("KNEE BRACING AND" / "ORTHOSES").

    Lines naming the issuer, the kind of document or a section ("POLICY") are not the title; the title
    reads as the words it spells, abbreviations in brackets kept ("(TENS)"), at a confidence that has
    the editor check it.
    """
    run: list[Line] = []
    # The issuer's letterhead in capitals names the company, not the policy.
    letterhead = _letterhead_company(document) is not None
    for number, line in enumerate(document.lines[:8]):
        text = document.line_text(line).strip()
        named = _title_case(text) if text.isupper() and not (number == 0 and letterhead) else ""
        if (
            named
            and "\t" not in text
            and not _DOCUMENT_KIND_RE.match(text)
            and heading_kind(text) == "other"
            and not (_PAYER_RE.search(named) or _COMPANY_RE.match(named) or _STATE_RE.match(named))
        ):
            run.append(line)
            if len(run) < 3:
                continue
        if run:
            break
    words = " ".join(document.line_text(line).strip() for line in run)
    if len(words.split()) < 3:
        return None
    title = re.sub(r"\((\w+)\)", lambda m: f"({m.group(1).upper()})", _title_case(words))
    first = document.line_text(run[0])
    return field_at(document, title, run[0].start + len(first) - len(first.lstrip()), run[-1].end, 0.7)


_TITLE_PREFIX_RE = re.compile(
    r"^(?:#+\s+|=\s+)?(?:(?:clinical|medical|coverage|payment)\s+(?:policy|bulletin|criteria)(?:\s+bulletin)?\s*:\s*)?",
    re.I,
)


def _title_after_prefix(document: Document) -> Field | None:
    """A title introduced by the kind of document ("Clinical Policy: Knee Bracing"), as a PDF prints it:
    a title too long for the page goes on over a short next line ("Clinical Policy: Knee Bracing and" /
    "Orthoses"), which belongs to it when it is no field (no label, date or number).
    """
    for index, line in enumerate(document.lines[:15]):
        raw = document.line_text(line)
        prefix = _TITLE_PREFIX_RE.match(raw.strip())
        if not prefix or not prefix.group(0) or raw.strip().startswith("#"):
            continue
        start = line.start + raw.index(raw.strip()) + prefix.end()
        end = line.end
        if index + 1 < len(document.lines):
            below = document.lines[index + 1]
            more = document.line_text(below).strip()
            if 0 < len(more.split()) <= 4 and not re.search(r"[\d:\t|]", more) and heading_kind(more) == "other":
                end = below.end
        value = " ".join(document.text[start:end].split())
        if len(value) > 5 and re.search(r"[A-Za-z]{3}", value):
            return field_at(document, value, start, end, 0.75)
    return None


def _title_from_line(document: Document, line: Line, confidence: float) -> Field:
    raw = document.line_text(line)
    text = raw.strip()
    start = line.start + raw.index(text)
    if (prefix := _TITLE_PREFIX_RE.match(text)) and prefix.end() < len(text):
        start += prefix.end()
        text = text[prefix.end() :]
    return field_at(document, text, start, start + len(text), confidence)


_VERSION_RE = re.compile(r"\b(?:version|revision)\s*(?:number|no\.?|#)?\s*[:#]\s*(?P<v>[A-Z0-9][\w.\-]{0,30})", re.I)


def read_version_label(document: Document, fields: dict[str, Field | list[Field]]) -> Field | None:
    if match := _VERSION_RE.search(document.text[:4000]):
        return field_at(document, match.group("v"), match.start("v"), match.end("v"), 0.9)
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
