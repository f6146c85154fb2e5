"""The lines of business a policy does not apply to, or applies only to."""

from __future__ import annotations

import re

from policies_app.importing.positions import REPLY_QUOTE_RE
from policies_app.importing.readers import BOX_RULES, Document
from policies_app.importing.result import Field
from policies_app.importing.spans import field_at

# What opens a table's row or a list's item before a label: indentation, pipes and rules, emphasis.
_ROW_OPEN = r"^[ \t|*" + BOX_RULES + "]*"
# What parts a label from its value: a colon (AsciiDoc's "::" too), a cell, or a dotted leader
# ("Lines of business ... Commercial", "Set first published . 2016").
_LABEL_SEPARATOR = r"(?:::?|[\t|" + BOX_RULES + r"]|\.{2,}|(?<=[ \t])\.(?=[ \t]))"
# A label's value wrapped onto the next lines, indented under it, after a line that stops on a list's
# separator or joining word ("Medicaid (...);" / "                 Medicare Advantage"); in a drawn or
# piped table, onto the next rows whose label cell is empty ("│ Plans │ Acme Group;" / "│       │ Acme
# Individual").
_EMPTY_LABEL_ROW = r"\n[ \t]*[|" + BOX_RULES + r"][ \t]*[|" + BOX_RULES + r"][ \t]*[^\s|" + BOX_RULES + r"][^\n]*"
_LABEL_CONTINUED = r"(?:(?:(?<=[;,])|(?<=\band)|(?<=\bor))\n[ \t]{4,}[^\s][^\n]*|" + _EMPTY_LABEL_ROW + ")*"
# A statement runs to its full stop; a full stop inside a number or a word ("NCD 20.32", "Sec.4") ends none.
_TO_FULL_STOP = r"(?:[^.]|\.(?=\w))*"
_LOB_RES: list[tuple[re.Pattern[str], float]] = [
    (re.compile(r"\b(?:does|do|shall|will|may)[\s_]+not[\s_]+apply[\s_]+to\b" + _TO_FULL_STOP, re.I), 0.95),
    # The plan named first, as a label: "Medicare Advantage: this policy does not apply".
    (
        re.compile(
            r"\b(?:Medicare|Medicaid|CHIP|FEP|Federal\s+Employee\s+Program)\b[^.;:\n]{0,60}?\s*[:–—-]\s*"
            r"(?:this|these|the)\s+(?:policy|guidelines?|criteria|document|bulletin)\s+(?:does|do|shall|will)\s+not\s+apply\b",
            re.I,
        ),
        0.9,
    ),
    # The plan named first, the exclusion at the end of its sentence: "FEP members: benefits are set by
    # the FEP brochure, and this policy does not apply." ("does not apply to X" names X instead).
    (
        re.compile(
            r"\b(?:Medicare|Medicaid|CHIP|FEP|Federal\s+Employee\s+Program)\b[^.;\n]{0,160}?\b(?:this|these|the)\s+"
            r"(?:policy|guidelines?|criteria|document)\s+(?:does|do|shall|will)\s+not\s+apply\b(?!\s+to\b)",
            re.I,
        ),
        0.85,
    ),
    # "Medicaid managed care: not applicable." A label whose value says the document does not reach it.
    (
        re.compile(
            r"\b(?:Medicare|Medicaid|CHIP|FEP|Federal\s+Employee\s+Program)\b[^.;:\n]{0,60}?[ \t]*[:–—-][ \t]*"
            r"not\s+applicable\b(?!\s+to\b)",
            re.I,
        ),
        0.85,
    ),
    # "FEP members are not managed under these guidelines", "Medicaid plans are not reviewed under this policy".
    (
        re.compile(
            r"\b(?:Medicare|Medicaid|CHIP|FEP|Federal\s+Employee\s+Program)\b(?:[^.;:\n]|\n(?![ \t]*\n)){0,140}?\b(?:is|are)\s+not\s+"
            r"(?:(?:managed|reviewed|governed|covered)\s+(?:under|by|with)|subject\s+to)\s+(?:this|these)\s+"
            r"(?:policy|guidelines?|criteria|document|bulletin|worksheet|manual|subpart|pathway|matrix|grid)\b",
            re.I,
        ),
        0.85,
    ),
    # "Members of Medicare Advantage plans ... are outside the scope of this policy".
    (
        re.compile(
            r"\b(?:Medicare|Medicaid|CHIP|FEP|Federal\s+Employee\s+Program)\b[^.;:\n]{0,160}?\b(?:is|are|falls?)\s+"
            r"(?:outside|beyond)\s+(?:the\s+)?scope\s+of\s+(?:this|these)\b",
            re.I,
        ),
        0.85,
    ),
    (
        re.compile(
            r"\b(?:is|are)\s+not\s+applicable\s+to\b"
            + _TO_FULL_STOP
            + "|"
            + _ROW_OPEN
            + r"not\s+applicable\s+to[ \t*]*"
            + _LABEL_SEPARATOR
            + r"[^\n]*"
            + _LABEL_CONTINUED,
            re.I | re.M,
        ),
        0.9,
    ),
    # An exclusion label over its value: "Not for: ...", a field list's ":Not applicable: ...", a property
    # ":DOES_NOT_APPLY_TO: ..."; the value runs on over indented lines or lines opening on "and" / "or".
    (
        re.compile(
            r"^[ \t|*:"
            + BOX_RULES
            + r"]*(?:not[ \t_]+(?:for|applicable)|(?:does|do)[ \t_]+not[ \t_]+apply(?:[ \t_]+to)?)[ \t*]*[:\t|"
            + BOX_RULES
            + "]"
            r"[^\n]*" + _LABEL_CONTINUED + r"(?:\n(?:and|or|&)[ \t][^\n]*)*",
            re.I | re.M,
        ),
        0.9,
    ),
    # A sentence opening on the words a label would carry: "Not applicable to Medicare Advantage plans."
    (re.compile(r"^[ \t|*]*not\s+applicable\s+to\s[^.\n]*", re.I | re.M), 0.85),
    # "It is not used for members of the Medicare Advantage plan", the negation of "is used for".
    (
        re.compile(r"\b(?:is|are)\s+not\s+(?:used|intended|written|meant)\s+for\b" + _TO_FULL_STOP, re.I),
        0.85,
    ),
    (
        re.compile(
            _ROW_OPEN
            + r"(?:(?:excluded|exempt)\s+(?:products?|plans?|lines?(?:\s+of\s+business)?|members)(?:\s*\(s\))?|"
            r"(?:(?:products?|plans?|lines?\s+of\s+business)\s+)?(?:not\s+in|out\s+of|outside(?:\s+the)?)\s+scope)"
            r"[ \t*]*" + _LABEL_SEPARATOR + r"[^\n]*" + _LABEL_CONTINUED,
            re.I | re.M,
        ),
        0.9,
    ),
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
            r"\b(?:Medicare|Medicaid|FEP|FEHBP?)\b[^.]{0,80}?\b(?:members?|plans?|enrollees|beneficiaries)\s*[:,;]?\s*"
            r"(?:please\s+)?(?:should\s+)?(?:refer\s+to|see|consult)\b",
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
    ("medicaid", re.compile(r"\bMedicaid\b|\bMHCP\b|\bMedi-Cal\b", re.I)),
    ("chip", re.compile(r"\bCHIP\b|children'?s\s+health\s+insurance\s+program", re.I)),
    ("fep", re.compile(r"\bFEP\b|Federal\s+Employee|\bFEHBP?\b", re.I)),
    (
        "exchange",
        re.compile(
            r"\bexchange\b|\bmarketplace\b|individual\s+(?:&|and)\s+family|\bACA\b|affordable\s+care\s+act", re.I
        ),
    ),
    (
        "commercial",
        # An employer's plan is commercial however it is named: "employer group", "plans offered by
        # employers", "employers' plans".
        re.compile(
            # A group plan with its kind in brackets: "Acme Group (employer)".
            r"\bcommercial\b|employer[\s-](?:group|sponsored|based)|\bgroup\s*\(\s*employer\b|fully[\s-]insured|self[\s-]funded|"
            r"\bplans?\s+(?:offered|sponsored|provided|purchased)\s+(?:by|through)\s+(?:an?\s+|their\s+)?employers?\b|"
            r"\bemployers?[’']?\s+(?:group\s+)?plans?\b",
            re.I,
        ),
    ),
]
# "This policy applies to ...", "These criteria apply only to ...", "Applies to: ...", "Applicable to: ...",
# "This guideline is used for members of ...".
_APPLIES_ONLY_RE = re.compile(
    # Words joined by underscores too, as a property name: ":APPLIES_TO:".
    r"(?:\b(?:appl(?:y|ies)|applicable|pertains?)[\s_]+(?:only[\s_]+)?to|"
    r"\b(?:policy|guidelines?|criteria|document|bulletin|guidance|worksheet|manual|pathway)\s+(?:is|are)\s+(?:only\s+)?"
    r"(?:used|intended|written|meant)\s+(?:only\s+)?for|"
    # "This policy governs coverage decisions for ... members".
    r"\b(?:policy|guidelines?|criteria|document|bulletin|worksheet|manual)\s+governs\s+(?:coverage\s+(?:decisions\s+)?)?for)"
    r"(?P<colon>\s*:)?\s*(?:all\s+)?(?P<who>[^.\n]{3,160})",
    re.I,
)
# A managed-care product type names a commercial plan ("HMO, PPO and EPO plans") unless the statement
# has named a public programme before it ("Medicare Advantage (HMO and PPO) plans").
_PRODUCT_TYPE_RE = re.compile(r"\b(?:HMO|PPO|EPO)s?\b")
_PUBLIC_PROGRAMME_RE = re.compile(r"\b(?:Medicare|Medicaid|CHIP|FEP|Medi-Cal)\b", re.I)
# ... or names it after the plans the product types qualify, as the plans' kind ("Acme Prime (HMO) and
# Acme Plus (PPO) Medicare Advantage members"): no list separator and no head noun ends the first plan
# before the programme.
_PROGRAMME_AFTER_RE = re.compile(
    r"(?:(?![,;]|\b(?:plans?|members|products?|enrollees|policies)\b)[^.])*?"
    r"\b(?:Medicare|Medicaid|CHIP|FEP|Medi-Cal)\b",
    re.I,
)
# The rest of a statement a page wrapped ("... members of employer group plans and of Individual &" /
# "Family plans ..."): the following lines up to the sentence's end, short of a blank line.
_WRAPPED_REST_RE = re.compile(r"(?:\n(?![ \t]*\n)[^.\n]{1,160}){1,2}")
_PRODUCTS_WORDS = (
    _ROW_OPEN + r"(?:applicable\s+|affected\s+|covered\s+)?(?:products?|plans?|plan\s+types?|product\s+lines?|"
    r"lines?(?:\s*\(s\))?\s+of\s+business|benefit\s+plans?|market\s+segments?)(?:\s*\(s\))?"
    r"(?:\s+affected|\s+(?:in|within)\s+scope)?[ \t*]*"
)
# A header label naming the plans the document is for: "Products: Commercial HMO, ...".
_PRODUCTS_LABEL_RE = re.compile(
    _PRODUCTS_WORDS + _LABEL_SEPARATOR + r"[ \t]*(?P<who>[^\n]{3,200}" + _LABEL_CONTINUED + ")", re.I | re.M
)
# The same label over a list of the plans, one an item, each ticked or crossed ("- ✓ Commercial" /
# "- ✗ Medicaid"): a crossed item is a plan the document does not apply to.
_PRODUCTS_HEAD_RE = re.compile(_PRODUCTS_WORDS + r":[ \t]*\n", re.I | re.M)
_CHECKLIST_ITEM_RE = re.compile(
    r"[ \t]*(?:[-*•▪◦][ \t]*)?(?:(?P<yes>[✓✔☑✅])|(?P<no>[✗✘☒❌×]))[ \t]*(?P<name>[^\n]{2,80})(?:\n|$)"
)
# The same label alone on its line with its value on the next (a definition grid's term and definition);
# the value is a list of plans, never a sentence.
_PRODUCTS_ALONE_RE = re.compile(
    r"^[ \t|*]*(?:(?:(?P<excluded>excluded|exempt)\s+)?(?:products?|plans?|plan\s+types?|product\s+lines?|"
    r"lines?\s+of\s+business)|"
    # An exclusion label over its value: "Not applicable to:" / "Acme Senior (Medicare Advantage)", "Not in
    # scope" / "Acme Kids (CHIP)".
    r"(?P<not_applicable>not\s+applicable\s+to|(?:does|do)\s+not\s+apply\s+to|"
    r"(?:(?:products?|plans?|lines?\s+of\s+business)\s+)?(?:not\s+in|out\s+of|outside(?:\s+the)?)\s+scope))[ \t*]*:?[ \t*]*\n"
    r"[ \t|*]*(?P<who>[^\n]{3,200})$",
    re.I | re.M,
)
# A list item under a label is read by the list's own rule, never as the label's whole value.
_ITEM_MARKER_RE = re.compile(r"^[ \t]*(?:[-*•▪◦·]|\d{1,2}[.)])[ \t]")
# Ballot boxes inside one label's value ("☒ Commercial ☒ Medicaid ☐ Medicare Advantage"): where an empty
# box stands beside them, a marked box is a ticked one and the empty box a plan left out.
_BALLOT_RE = re.compile(r"(?P<box>[☐☑☒✓✔✗✘❌])[ \t]*(?P<name>[^☐☑☒✓✔✗✘❌\n]+)")
# An applicability statement's exception names the plans it leaves out: "all products except the FEP".
_EXCEPT_RE = re.compile(r"\b(?:except(?:\s+for)?|excluding|other\s+than|but\s+not)\b", re.I)
# "Acme Medicaid (dual-eligible benefits) follows the state agency's criteria": a plan held to another
# body's rules is not reviewed under this document ("follows this policy" and "the same criteria" are).
# A part of a programme the document applies to ("Medicaid managed care members follow their plan's
# criteria" in a Medicaid manual) leaves the programme in.
_FOLLOWS_OTHER_RULES_RE = re.compile(
    r"(?P<plan>\b(?:Medicare|Medicaid|CHIP|FEP|Federal\s+Employee\s+Program)\b"
    r"(?:(?!\b(?:this|these)\b)(?:[^.;:\n\t]|\n(?![ \t]*\n))){0,120}?)\bfollows?\s+"
    r"(?!(?:this|these|the\s+same|our)\b)(?:[\w'’-]+\s+){0,4}?"
    r"(?:criteria|rules|guidelines?|polic(?:y|ies)|fee\s+schedules?|requirements|manual|determinations?)\b",
    re.I,
)
# "All Acme products except Acme Medicaid", a label's value or a sentence's subject with no "applies to":
# the exception names a plan left out, the plans before it the ones the document is for ("all members
# except ..." may be a rule's reach, such as prior authorization's, not the document's).
_ALL_EXCEPT_RE = re.compile(
    r"\ball\s+(?P<who>(?:[\w'’&/-]+\s+){0,5}?)(?:products|plans|lines\s+of\s+business)\s+"
    r"(?:except(?:\s+for)?|excluding|other\s+than|but\s+not)\s+(?P<left_out>[^.;\n]{3,200})",
    re.I,
)
# A register line of industry abbreviations: "LOB  COMM-GRP  IND-EXCH  EXCL  MCR-ADV".
_LOB_CODES_LINE_RE = re.compile(
    r"^[ \t|*]*(?:LOB\b[ \t]*[:\t]?|(?i:lines?\s+of\s+business|products?|plans?)[ \t]*[:\t])[ \t]*(?P<codes>[^\n]+)",
    re.M,
)
_LOB_CODES: dict[str, str] = {
    "MCR": "medicare_advantage",
    "MA": "medicare_advantage",
    "MAPD": "medicare_advantage",
    "MCD": "medicaid",
    "CHIP": "chip",
    "FEP": "fep",
    "EXCH": "exchange",
    "IND": "exchange",
    "COMM": "commercial",
    "GRP": "commercial",
}
# Parts that only qualify an abbreviation ("MCR-ADV", "COMM-PPO").
_LOB_CODE_QUALIFIERS = {"ADV", "HMO", "PPO", "EPO", "POS", "PLAN"}
_EXCLUDE_CODE_RE = re.compile(r"^(?:EXCL|EXCLUDED|EXCLUDES|NOT)[.:]?$", re.I)
# A Local or National Coverage Determination is Medicare's own document (Medicare Advantage plans
# follow it too, 42 CFR 422.101(b)), whether or not its text names a line of business.
_MEDICARE_DOCUMENT_RE = re.compile(
    r"\b(?:local|national)\s+coverage\s+determination\b|\b(?:LCD|NCD)\s+(?:ID|number)\b", re.I
)


_STATUS_WORD_RE = re.compile(
    r"\b(?:covered|required|authori[sz]ation|applies|not|yes|no|n/?a|criteria|excluded)\b|[✓✔✗✘☑☒]", re.I
)


def _line_of_business(text: str) -> tuple[str, int, int] | None:
    """The line of business a plan's name carries, by the word nearest its start, with its span."""
    hits = [(hit.start(), hit.end(), value) for value, name in _LOB_NAMES if (hit := name.search(text))]
    if not hits:
        if product := _PRODUCT_TYPE_RE.search(text):
            return "commercial", product.start(), product.end()
        return None
    start, end, value = min(hits)
    return value, start, end


def _coded_line_of_business(token: str) -> str | None:
    """The line an industry abbreviation stands for ("COMM-GRP", "IND-EXCH", "MCR-ADV"), if all its parts are known."""
    parts = [p for p in re.split(r"[-/]", token.upper()) if p]
    if not parts or any(p not in _LOB_CODES and p not in _LOB_CODE_QUALIFIERS for p in parts):
        return None
    for value in ("medicare_advantage", "medicaid", "chip", "fep", "exchange", "commercial"):
        if any(_LOB_CODES.get(p) == value for p in parts):
            return value
    return None


def _read_coded_lines(document: Document, excluded: dict[str, Field], applies: dict[str, Field]) -> None:
    for line in _LOB_CODES_LINE_RE.finditer(document.text):
        target = applies
        for token in re.finditer(r"\S+", line.group("codes")):
            word = token.group(0).rstrip(",;.")
            if word.startswith("("):
                break
            if _EXCLUDE_CODE_RE.match(word):
                target = excluded
                continue
            # Abbreviations are written in capitals; "ma" or "ind" in running text is a word.
            value = _coded_line_of_business(word) if word.isupper() else None
            if value and value not in excluded and value not in applies:
                start = line.start("codes") + token.start()
                target[value] = field_at(document, value, start, start + len(word), 0.8)


def _read_matrix_columns(document: Document, applies: dict[str, Field]) -> None:
    """A coverage matrix's columns named by the plan's products are the lines the document applies to.

    The row's own columns come first (a service, or a code and its description), the products' columns
    after them, two or more (a grid of prior-authorization requirements by code is laid out the same way).
    """
    lines = document.lines
    for at, line in enumerate(lines[:-1]):
        cells = document.line_text(line).split("\t")
        if len(cells) < 3 or _line_of_business(cells[0]):
            continue
        first = next((i for i, cell in enumerate(cells) if _line_of_business(cell)), len(cells))
        named = [_line_of_business(cell) for cell in cells[first:]]
        below = document.line_text(lines[at + 1]).split("\t")
        # The cells below say whether the service is covered for each product, not a price or a count.
        if (
            len(named) < 2
            or not all(named)
            or len(below) != len(cells)
            or not any(_STATUS_WORD_RE.search(c) for c in below[first:])
        ):
            continue
        offset = line.start + sum(len(cell) + 1 for cell in cells[:first])
        for cell, found in zip(cells[first:], named, strict=True):
            assert found is not None
            value, start, end = found
            applies.setdefault(value, field_at(document, value, offset + start, offset + end, 0.8))
            offset += len(cell) + 1


def _read_all_except(document: Document, excluded: dict[str, Field], applies: dict[str, Field]) -> None:
    for statement in _ALL_EXCEPT_RE.finditer(document.text):
        for group, target in (("left_out", excluded), ("who", applies)):
            for value, name in _LOB_NAMES:
                if (hit := name.search(statement.group(group))) and value not in excluded and value not in applies:
                    start = statement.start(group) + hit.start()
                    target[value] = field_at(document, value, start, start + len(hit.group(0)), 0.85)


# Ticks and crosses written after each plan's name in a label's value ("Commercial ✓ Medicaid ✗"),
# or before it ("✓ Commercial ✗ Medicaid"), with a legend in brackets that names no plan.
_TICK = "✓✔☑"
_CROSS = "✗✘❌"
_MARK_AFTER_RE = re.compile(r"(?P<name>[^" + _TICK + _CROSS + r"\n]+?)[ \t]*(?P<mark>[" + _TICK + _CROSS + "])")
_MARK_BEFORE_RE = re.compile(r"(?P<mark>[" + _TICK + _CROSS + r"])[ \t]*(?P<name>[^" + _TICK + _CROSS + r"\n]+)")


def _marked_plans(who: str) -> list[tuple[bool, int, int]]:
    """(ticked, start, end) of each plan a value marks, where it marks some plans with ticks and others
    with crosses; the marks stand all before or all after the names, as the value's first one does."""
    if not (any(c in who for c in _TICK) and any(c in who for c in _CROSS)):
        return []
    before = who.lstrip(" \t*")[:1] in _TICK + _CROSS
    pattern = _MARK_BEFORE_RE if before else _MARK_AFTER_RE
    return [(m.group("mark") in _TICK, m.start("name"), m.end("name")) for m in pattern.finditer(who)]


# A plan's name over (or beside, in a row's cells) a value stating whether the document reaches it: "Acme
# Direct" / "Applies (individual plans sold on the exchange)", "Acme Senior" / "Does not apply. Medicare
# Advantage members: refer to ...". The kind the value names comes first, the plan's own name after it.
_STATUS_VALUE_RE = re.compile(
    r"^[ \t|*" + BOX_RULES + r"]*(?:(?P<yes>applies|applicable)|(?P<no>(?:does|do)\s+not\s+apply|not\s+applicable))\b"
    r"(?!\s+(?:only\s+)?to\b)(?P<rest>[^\n]*)$",
    re.I,
)
# A plan's name: a short line of words, no sentence.
_PLAN_NAME_MAX = 80


def _read_status_values(document: Document, excluded: dict[str, Field], applies: dict[str, Field]) -> None:
    lines = document.lines
    for at, line in enumerate(lines):
        cells = document.line_text(line).split("\t")
        for index, cell in enumerate(cells):
            status = _STATUS_VALUE_RE.match(cell)
            if status is None:
                continue
            if index:
                name_at, name = line.start, "\t".join(cells[:index])
            elif at and not lines[at - 1].heading:
                name_at, name = lines[at - 1].start, document.line_text(lines[at - 1])
            else:
                break
            if len(name.strip()) > _PLAN_NAME_MAX or re.search(r"[.:;]\s*$", name) or _STATUS_VALUE_RE.match(name):
                break
            cell_at = line.start + sum(len(c) + 1 for c in cells[:index]) + status.start("rest")
            found = _line_of_business(status.group("rest"))
            if found is not None:
                value, start, end = found
                start, end = cell_at + start, cell_at + end
            elif found := _line_of_business(name):
                value, start, end = found
                start, end = name_at + start, name_at + end
            else:
                break
            target = applies if status.group("yes") else excluded
            if value not in excluded and value not in applies:
                target[value] = field_at(document, value, start, end, 0.8)
            break


def _unruled(text: str) -> str:
    """The text with a drawn table's rules as spaces, one character for one, so that a plan's name wrapped
    onto the cell below ("Federal │" / "│ Employee Program") reads as words apart."""
    return text.translate({ord(rule): " " for rule in BOX_RULES})


def read_lines_of_business(document: Document) -> tuple[list[Field], list[Field]]:
    plain = _unruled(document.text)
    excluded: dict[str, Field] = {}
    for pattern, confidence in _LOB_RES:
        for match in pattern.finditer(document.text):
            for value, name in _LOB_NAMES:
                for hit in name.finditer(plain, match.start(), match.end()):
                    excluded.setdefault(value, field_at(document, value, hit.start(), hit.end(), confidence))
    applies: dict[str, Field] = {}
    # A plan's own status value says more than a label over the plans' names.
    _read_status_values(document, excluded, applies)
    for head in _PRODUCTS_HEAD_RE.finditer(document.text):
        at = head.end()
        while item := _CHECKLIST_ITEM_RE.match(document.text, at):
            at = item.end()
            target = excluded if item.group("no") else applies
            for value, name in _LOB_NAMES:
                if (named := name.search(item.group("name"))) and value not in excluded and value not in applies:
                    start = item.start("name") + named.start()
                    target[value] = field_at(document, value, start, item.start("name") + named.end(), 0.85)
    _read_coded_lines(document, excluded, applies)
    for alone in _PRODUCTS_ALONE_RE.finditer(document.text):
        if re.search(r"\.(?:\s|$)", alone.group("who")):
            continue
        if _CHECKLIST_ITEM_RE.match(alone.group("who")) or _ITEM_MARKER_RE.match(alone.group("who")):
            continue
        target = excluded if alone.group("excluded") or alone.group("not_applicable") else applies
        # One plan an item, each item its own line of business ("Acme Choice (PPO); Acme Gold (Medicare ...)").
        for item in re.finditer(r"[^;,()]+(?:\([^()]*\)[^;,()]*)*", alone.group("who")):
            if (found := _line_of_business(item.group(0))) and found[0] not in excluded and found[0] not in applies:
                value, start, end = found
                at = alone.start("who") + item.start()
                target[value] = field_at(document, value, at + start, at + end, 0.8)
    statements = [(m, 0.85) for m in _APPLIES_ONLY_RE.finditer(document.text)]
    statements += [(m, 0.85) for m in _PRODUCTS_LABEL_RE.finditer(document.text)]
    for match, confidence in statements:
        if re.search(r"(?<![^\W_])not(?![^\W_])", document.text[max(0, match.start() - 12) : match.start()], re.I):
            continue
        who = plain[match.start("who") : match.end("who")]
        if marked := _marked_plans(who):
            for yes, at, end in marked:
                target = applies if yes else excluded
                if (found := _line_of_business(who[at:end])) and found[0] not in excluded and found[0] not in applies:
                    value, start, stop = found
                    offset = match.start("who") + at
                    target[value] = field_at(document, value, offset + start, offset + stop, confidence)
            continue
        boxes = list(_BALLOT_RE.finditer(who))
        if any(b.group("box") == "☐" for b in boxes):
            for box in boxes:
                target = excluded if box.group("box") == "☐" else applies
                for value, name in _LOB_NAMES:
                    if (ticked := name.search(box.group("name"))) and value not in excluded and value not in applies:
                        start = match.start("who") + box.start("name") + ticked.start()
                        target[value] = field_at(document, value, start, start + len(ticked.group(0)), confidence)
            continue
        if exception := _EXCEPT_RE.search(who):
            for value, name in _LOB_NAMES:
                if left_out := name.search(who, exception.end()):
                    start = match.start("who") + left_out.start()
                    applies.pop(value, None)
                    excluded.setdefault(
                        value, field_at(document, value, start, start + len(left_out.group(0)), confidence)
                    )
            who = who[: exception.start()]
        # A statement in running text goes on to its full stop; a label's value ends with its line.
        running_text = "colon" in match.groupdict() and not match.group("colon")
        # A label's value wrapped onto indented lines under it (a field list's continuation lines).
        if not running_text and (wrapped := re.compile(_LABEL_CONTINUED).match(document.text, match.end("who"))):
            who += wrapped.group(0)
        if running_text and (rest := _WRAPPED_REST_RE.match(document.text, match.end("who"))):
            who += rest.group(0)
        for value, name in _LOB_NAMES:
            if value in excluded:
                continue
            for hit in name.finditer(who):
                start = match.start("who") + hit.start()
                applies.setdefault(value, field_at(document, value, start, match.start("who") + hit.end(), confidence))
        if "commercial" not in excluded and "commercial" not in applies:
            for hit in _PRODUCT_TYPE_RE.finditer(who):
                if not _PUBLIC_PROGRAMME_RE.search(who[: hit.start()]) and not _PROGRAMME_AFTER_RE.match(
                    who, hit.end()
                ):
                    start = match.start("who") + hit.start()
                    applies["commercial"] = field_at(document, "commercial", start, start + len(hit.group(0)), 0.8)
                    break
    _read_matrix_columns(document, applies)
    _read_all_except(document, excluded, applies)
    for statement in _FOLLOWS_OTHER_RULES_RE.finditer(document.text):
        for value, name in _LOB_NAMES:
            if (plan := name.search(statement.group("plan"))) and value not in excluded and value not in applies:
                start = statement.start() + plan.start()
                excluded[value] = field_at(document, value, start, start + len(plan.group(0)), 0.85)
    for value in excluded:
        applies.pop(value, None)
    # A reply that names its plans replaces the message it quotes: the quoted plans are the old version's.
    if (quoted := REPLY_QUOTE_RE.search(document.text)) and any(
        f.source.start < quoted.start() for f in (*excluded.values(), *applies.values())
    ):
        excluded = {k: f for k, f in excluded.items() if f.source.start < quoted.start()}
        applies = {k: f for k, f in applies.items() if f.source.start < quoted.start()}
    if not excluded and not applies and (medicare := _MEDICARE_DOCUMENT_RE.search(document.text[:4000])):
        applies["medicare_advantage"] = field_at(document, "medicare_advantage", medicare.start(), medicare.end(), 0.7)
    return list(excluded.values()), list(applies.values())
