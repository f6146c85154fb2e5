"""Criteria lists ("medically necessary when ALL of the following ...") as a tree, leaves mapped to facts.

A list item's nesting comes from its indent and its marker style (1. / a. / i. / bullet): an item
whose style and indent match an open level is that level's sibling; anything deeper is a child of
the item before it. A leaf that states a test of a catalogue fact (a comparison and a number with
the fact's unit, or the words of a yes/no fact) becomes that test; any other leaf is a documented
criterion that a reviewer answers from the records.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz, process

from policies_app.importing.readers import Document, Line
from policies_app.importing.result import Criterion, Source

GROUP_RE = re.compile(
    r"\b(?P<q>all|any|each|both|either|one\s+or\s+more|one|at\s+least\s+(?P<n>\w+))\s+(?:\(\w+\)\s+)?"
    r"(?:of\s+)?(?:the\s+)?(?:following|criteria\s+below|below)",
    re.IGNORECASE,
)
_MARKER_RE = re.compile(
    r"^(?P<indent>\s*)(?:(?P<bullet>[-•*▪◦·\uf0b7\uf0a7\uf076\uf0d8\u25cf\u25a0\u27a2\u2713\u2043\u2219o])|(?P<num>\d{1,2})[.)]|\((?P<paren>[a-z0-9]{1,4})\)|"
    r"(?P<alpha>[a-zA-Z]{1,4})[.)])\s+(?P<body>\S.*)$"
)
_ROMAN = {"i", "ii", "iii", "iv", "v", "vi", "vii", "viii", "ix", "x", "xi", "xii"}
_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8}
_TRAILING_CONJ_RE = re.compile(r"[;,]?\s*(?:and|or|and/or)\s*$|[;,.]\s*$", re.IGNORECASE)
_ICD_RE = re.compile(r"\b([A-TV-Z]\d[0-9A-Z](?:\.[0-9A-Z]{1,4}[xX]?)?)\b")


@dataclass(frozen=True)
class FactSpec:
    key: str
    label: str
    value_type: str
    unit: str = ""


@dataclass
class _Item:
    line: Line
    indent: int
    style: str
    text: str
    text_start: int
    text_end: int


def _item(document: Document, line: Line) -> _Item | None:
    raw = document.line_text(line)
    match = _MARKER_RE.match(raw)
    if match is None:
        return None
    if match.group("bullet"):
        style = "bullet"
    elif match.group("num"):
        style = "number"
    elif match.group("paren"):
        style = "paren"
    else:
        token = match.group("alpha")
        if len(token) > 1 and token.lower() not in _ROMAN:
            return None
        style = "roman" if token.lower() in _ROMAN and token.lower() != "i" else "alpha"
        if token.lower() == "i":
            style = "roman_or_alpha"
        style = style + ("_upper" if token.isupper() else "")
    start = line.start + match.start("body")
    return _Item(line, len(match.group("indent")), style, match.group("body"), start, line.end)


def _bare_item(document: Document, line: Line) -> _Item | None:
    raw = document.line_text(line)
    body = raw.lstrip()
    if not body or body == raw or _MARKER_RE.match(raw):
        return None
    start = line.end - len(body)
    return _Item(line, len(raw) - len(body), "bare", body, start, line.end)


def _group_type(text: str) -> tuple[str, int | None, float] | None:
    match = GROUP_RE.search(text)
    if match is None:
        return None
    quantifier = " ".join(match.group("q").lower().split())
    if quantifier in ("all", "each", "both"):
        return "all_of", None, 0.95
    if quantifier in ("any", "either", "one", "one or more"):
        return "any_of", None, 0.95
    count = match.group("n").lower()
    number = int(count) if count.isdigit() else _WORDS.get(count)
    if number is None:
        return None
    return ("any_of", None, 0.9) if number == 1 else ("at_least", number, 0.95)


def _clean_label(text: str) -> str:
    return _TRAILING_CONJ_RE.sub("", " ".join(text.split())).strip()


def _source(document: Document, start: int, end: int) -> Source:
    return Source(start, end, document.text[start:end])


class _Open:
    def __init__(self, node: Criterion, indent: int, style: str) -> None:
        self.node = node
        self.indent = indent
        self.style = style


def criteria_trees(document: Document, lines: Sequence[Line], catalogue: Sequence[FactSpec]) -> list[Criterion]:
    """Every criteria list in these lines, each as a group node with its nested items."""
    roots: list[Criterion] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        text = document.line_text(line)
        group = _group_type(text)
        if group is None or _item(document, line) is not None:
            i += 1
            continue
        node_type, min_met, confidence = group
        root = Criterion(node_type, _clean_label(text), _source(document, line.start, line.end), confidence, min_met)
        i = _read_items(document, lines, i + 1, root, catalogue)
        if root.children:
            roots.append(root)
    return roots


def _read_items(
    document: Document, lines: Sequence[Line], i: int, root: Criterion, catalogue: Sequence[FactSpec]
) -> int:
    # Levels open from the root down: each holds the group its items go into.
    levels: list[_Open] = []
    last: _Item | None = None
    last_node: Criterion | None = None
    # Bullets a copy dropped leave the items as indented lines: each is one item.
    bare = _bare_item(document, lines[i]) is not None if i < len(lines) else False
    while i < len(lines):
        item = _bare_item(document, lines[i]) if bare else _item(document, lines[i])
        if item is None:
            text = document.line_text(lines[i])
            # A wrapped item continues on an indented line without a marker.
            if last is not None and last_node is not None and text.startswith(" ") and text.strip():
                last.text_end = lines[i].end
                last.text = document.text[last.text_start : last.text_end]
                _reset_node(document, last, last_node, catalogue)
                i += 1
                continue
            break
        if levels and item.indent < levels[0].indent - 1:
            # Less indented than the list's first items: the list has ended ("II. Experimental ...").
            break
        if not levels:
            levels.append(_Open(root, item.indent, item.style))
        else:
            placed = False
            for depth in range(len(levels) - 1, -1, -1):
                level = levels[depth]
                if _same_level(level, item):
                    del levels[depth + 1 :]
                    placed = True
                    break
            if not placed and last_node is not None:
                if last_node.node_type in ("leaf", "documented"):
                    # A plain item with sub-items: the document groups them without saying how.
                    _make_group(last_node, "all_of", None, 0.6)
                levels.append(_Open(last_node, item.indent, item.style))
        parent = levels[-1].node
        node = Criterion("documented", "", _source(document, item.text_start, item.text_end), 0.0)
        _reset_node(document, item, node, catalogue)
        if parent.node_type in ("leaf", "documented"):
            _make_group(parent, "all_of", None, 0.6)
        parent.children.append(node)
        last, last_node = item, node
        i += 1
    return i


def _same_level(level: _Open, item: _Item) -> bool:
    if level.indent != item.indent and abs(level.indent - item.indent) > 1:
        return False
    if level.style == item.style:
        return True
    # "i." after "h." is a letter, after nothing or "ii." a numeral.
    ambiguous = {level.style.removesuffix("_upper"), item.style.removesuffix("_upper")}
    return ambiguous in ({"alpha", "roman_or_alpha"}, {"roman", "roman_or_alpha"})


def _make_group(node: Criterion, node_type: str, min_met: int | None, confidence: float) -> None:
    node.node_type, node.min_met, node.confidence = node_type, min_met, min(node.confidence, confidence) or confidence
    node.fact, node.operator, node.value = None, "", None


def _reset_node(document: Document, item: _Item, node: Criterion, catalogue: Sequence[FactSpec]) -> None:
    node.label = _clean_label(item.text)
    node.source = _source(document, item.text_start, item.text_end)
    group = _group_type(item.text)
    if group is not None:
        _make_group(node, *group)
        return
    if node.children:
        return
    test = map_fact(node.label, catalogue)
    if test is None:
        node.node_type, node.fact, node.operator, node.value, node.confidence = "documented", None, "", None, 0.85
    else:
        node.node_type = "leaf"
        node.fact, node.operator, node.value, node.confidence = test


# --- facts -------------------------------------------------------------------------------------------

_UNITS: dict[str, tuple[str, ...]] = {
    "years": ("years", "year", "yrs", "yr", "years of age", "years old"),
    "months": ("months", "month", "mos"),
    "weeks": ("weeks", "week", "wks"),
    "days": ("days", "day"),
    "mm": ("mm", "millimeters", "millimetres"),
    "kg/m2": ("kg/m2", "kg/m²", "kg/m^2"),
    "degrees": ("degrees", "degree", "°"),
    "%": ("%", "percent"),
    "points": ("points", "point"),
    "mg/dl": ("mg/dl",),
    "events/hour": ("events per hour", "events/hour", "per hour", "/hour"),
}
_CONVERT: dict[tuple[str, str], float] = {
    ("months", "weeks"): 52 / 12,
    ("years", "months"): 12,
    ("years", "weeks"): 52,
    ("weeks", "days"): 7,
}
_UNIT_OF = {spelling: unit for unit, spellings in _UNITS.items() for spelling in spellings}
_UNIT_PATTERN = "|".join(sorted((re.escape(s) for s in _UNIT_OF), key=len, reverse=True))
_NUMBER = r"(?P<num>\d+(?:\.\d+)?)"
_UNIT = rf"(?:\s*(?P<unit>{_UNIT_PATTERN})(?![a-z]))?"
_BEFORE_RE = re.compile(
    r"(?P<cmp>at\s+least|a\s+minimum\s+of|minimum\s+of|no\s+(?:less|fewer)\s+than|greater\s+than\s+or\s+equal\s+to|"
    r"more\s+than|greater\s+than|over|exceeding|above|less\s+than\s+or\s+equal\s+to|less\s+than|fewer\s+than|under|below|"
    r"at\s+most|no\s+more\s+than|a\s+maximum\s+of|maximum\s+of|≥|>=|≤|<=|>|<|=)\s*" + _NUMBER + _UNIT,
    re.IGNORECASE,
)
_AFTER_RE = re.compile(
    _NUMBER
    + _UNIT
    + r"\s*(?:of\s+age\s+)?(?P<cmp>or\s+(?:more|greater|longer|older|higher|above)|\+|or\s+(?:less|fewer|younger|"
    r"lower|below|under))",
    re.IGNORECASE,
)
_OPERATORS = {
    "at least": "gte", "a minimum of": "gte", "minimum of": "gte", "no less than": "gte", "no fewer than": "gte",
    "greater than or equal to": "gte", "≥": "gte", ">=": "gte", "more than": "gt", "greater than": "gt",
    "over": "gt", "exceeding": "gt", "above": "gt", ">": "gt", "less than or equal to": "lte", "at most": "lte",
    "no more than": "lte", "a maximum of": "lte", "maximum of": "lte", "≤": "lte", "<=": "lte", "less than": "lt",
    "fewer than": "lt", "under": "lt", "below": "lt", "<": "lt", "=": "eq",
}  # fmt: skip
_NEGATION_RE = re.compile(
    r"\b(?:no|not|non|without|absence\s+of|never|denies|free\s+of|abstinent|quit)\b", re.IGNORECASE
)
_STOP = {
    "the",
    "of",
    "a",
    "an",
    "on",
    "in",
    "to",
    "for",
    "and",
    "or",
    "with",
    "by",
    "at",
    "is",
    "are",
    "date",
    "service",
}
_WORD_RE = re.compile(r"[a-z0-9]+")


def _comparison(text: str) -> tuple[str, float, str] | None:
    """(operator, number, unit) stated in the text, or None."""
    if match := _BEFORE_RE.search(text):
        operator = _OPERATORS[" ".join(match.group("cmp").lower().split())]
    elif match := _AFTER_RE.search(text):
        phrase = match.group("cmp").lower()
        operator = (
            "gte"
            if phrase == "+" or any(w in phrase for w in ("more", "greater", "longer", "older", "higher", "above"))
            else "lte"
        )
    else:
        return None
    number = float(match.group("num"))
    unit = _UNIT_OF.get((match.group("unit") or "").lower(), "")
    return operator, number, unit


def _words(text: str) -> list[str]:
    return [w for w in _WORD_RE.findall(text.lower()) if w not in _STOP]


# Words criteria use for the words of fact labels: a small clinical thesaurus, so "failure of 4 weeks
# of conservative care" reads as the label "weeks of failed conservative therapy".
_SAME_AS = {
    "pain": "symptoms", "symptom": "symptoms", "symptomatic": "symptoms", "failure": "failed", "fails": "failed",
    "unsuccessful": "failed", "care": "therapy", "treatment": "therapy", "management": "therapy",
    "smoking": "smoker", "smokes": "smoker", "tobacco": "smoker", "nicotine": "smoker", "mri": "imaging",
    "ct": "imaging", "radiographic": "imaging", "radiograph": "imaging", "radiographs": "imaging",
    "older": "age", "younger": "age", "aged": "age",
}  # fmt: skip
_UNIT_WORDS = {
    "years",
    "year",
    "months",
    "month",
    "weeks",
    "week",
    "days",
    "mm",
    "kg",
    "m2",
    "degrees",
    "points",
    "percent",
}


def _coverage(label_words: list[str], text_words: list[str]) -> float:
    """How much of a fact's label the text says: the share of its words found (fuzzily) in the text."""
    label_words = [w for w in label_words if w not in _UNIT_WORDS]
    if not label_words or not text_words:
        return 0.0
    text_words = text_words + [_SAME_AS[w] for w in text_words if w in _SAME_AS]
    hits = sum(1 for word in label_words if process.extractOne(word, text_words, scorer=fuzz.ratio, score_cutoff=80))
    return hits / len(label_words)


def _names(fact: FactSpec) -> tuple[list[str], set[str]]:
    words = _words(fact.label)
    # The label's initials ("Body mass index" -> "bmi") and the key's words name the fact as well.
    initials = "".join(w[0] for w in _WORD_RE.findall(fact.label.lower()) if w not in {"of", "the", "on"})
    # Abbreviations the label spells out in brackets ("Apnea-hypopnea index (AHI)").
    bracketed = {a.lower() for a in re.findall(r"\(([A-Za-z0-9]{2,8})\)", fact.label)}
    aliases = {initials, fact.key.lower(), *bracketed}
    return words, {a for a in aliases if len(a) >= 3 and a not in _UNIT_WORDS}


_OR_RE = re.compile(
    r",?\s+or\s+(?!(?:more|greater|longer|older|younger|higher|lower|less|fewer|above|below|under)\b)", re.I
)
_COMMA_OR_RE = re.compile(r"[,;]\s+or\s+", re.I)
_WITH_MORE_RE = re.compile(r"\bwith\s+(?:at\s+least|one|two|a|an)\b", re.I)


def _compound(text: str, fact: FactSpec) -> bool:
    """A criterion that joins the fact's test with another condition, which no single fact test states."""
    label_words, aliases = _names(fact)
    # "neck or low back pain for 3 months" joins nouns, not conditions; a yes/no fact is one
    # condition, so any "or" beside it adds another, and for a number only ", or" does.
    splitter = _OR_RE if fact.value_type == "boolean" else _COMMA_OR_RE
    parts = [p for p in splitter.split(text) if p.strip()]
    if len(parts) > 1:
        for part in parts:
            words = _words(part)
            if _coverage(label_words, words) < 0.3 and not set(words) & aliases:
                return True
    return bool(_WITH_MORE_RE.search(text))


def map_fact(text: str, catalogue: Sequence[FactSpec]) -> tuple[str, str, object, float] | None:
    """(fact key, operator, value, confidence) for a criterion that tests a catalogue fact, else None."""
    text_words = _words(text)
    word_set = set(text_words)
    codes = [c.upper() for c in _ICD_RE.findall(text) if re.search(r"\d", c[1:])]
    best: tuple[float, FactSpec] | None = None
    comparison = _comparison(text)
    for fact in catalogue:
        label_words, aliases = _names(fact)
        score = _coverage(label_words, text_words)
        if word_set & aliases:
            score = max(score, 0.9)
        if fact.value_type == "code_list":
            if not codes or "diagnos" not in fact.label.lower():
                continue
            score = max(score, 0.8)
        elif fact.value_type in ("number", "integer"):
            if comparison is None:
                continue
            fact_unit = _UNIT_OF.get(fact.unit.lower(), fact.unit.lower())
            if (
                comparison[2]
                and fact_unit
                and comparison[2] != fact_unit
                and (comparison[2], fact_unit) not in _CONVERT
            ):
                continue
            if score < 0.3:
                # A number with the right unit is not enough: "radicular pain for 4 weeks" is no therapy.
                continue
            if comparison[2] and comparison[2] == fact_unit:
                score += 0.35
        elif fact.value_type == "boolean":
            if comparison is not None and score < 0.9:
                continue
        else:
            continue
        if score >= 0.6 and (best is None or score > best[0]):
            best = (score, fact)
    if best is None or _compound(text, best[1]):
        return None
    score, fact = best
    confidence = min(0.95, 0.55 + score * 0.4)
    if fact.value_type == "code_list":
        return fact.key, "any_in", sorted(dict.fromkeys(c.rstrip("Xx") for c in codes)), confidence
    if fact.value_type in ("number", "integer"):
        assert comparison is not None
        operator, number, unit = comparison
        fact_unit = _UNIT_OF.get(fact.unit.lower(), fact.unit.lower())
        if unit and fact_unit and unit != fact_unit:
            # "6 months of therapy" against a fact kept in weeks: 26 weeks, a conversion the editor confirms.
            number = round(number * _CONVERT[(unit, fact_unit)])
            confidence = min(confidence, 0.75)
        value: object = int(number) if fact.value_type == "integer" or number.is_integer() else number
        return fact.key, operator, value, confidence
    negated = bool(_NEGATION_RE.search(text)) or bool(re.search(r"\bnon-", text, re.IGNORECASE))
    return fact.key, "is_false" if negated else "is_true", None, confidence
