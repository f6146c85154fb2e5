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
    r"\b(?P<q>all|any|each|both|either|one\s+or\s+more|one|at\s+least\s+(?P<n>\w+)|(?P<more>two|three|four|five|\d)"
    r"\s+or\s+more)\s+(?:\(\w+\)\s+)?(?:of\s+)?(?:the\s+)?"
    r"(?:following|criteria\s+below|below|these\s+(?:criteria|conditions|requirements)\b)",
    re.IGNORECASE,
)
# An introduction without a quantifier asks for every item: "when the following criteria are met:",
# "meets the following criteria:", "when the criteria listed below are met:", "who meet these criteria:".
_ALL_FOLLOWING_RE = re.compile(
    r"\bthe\s+following\s+(?:(?:criteria|conditions|requirements)\s+)?(?:(?:are|is|must(?:\s+all)?\s+be|have\s+been)"
    r"\s+(?:all\s+)?(?:met|satisfied|present|documented)|(?:all\s+)?apply)\b|"
    r"\bthe\s+(?:criteria|conditions|requirements)\s+(?:listed\s+|set\s+out\s+)?below\s+(?:are|is|have\s+been)\s+"
    r"(?:met|satisfied|present|documented)\b|"
    r"\bmee?ts?\s+(?:the\s+following|these|the\s+(?:criteria|conditions|requirements)\s+below)"
    r"(?:\s+(?:criteria|conditions|requirements))?\s*:\s*$|"
    r"\bmee?ts?\s+the\s+following\s+(?:criteria|conditions|requirements)\b",
    re.IGNORECASE,
)
# A coverage sentence that ends in "when:" or "if:" asks for every item of the list below it; one
# stating that a service is not covered ("is not medically necessary when:") lists exclusions, not criteria.
_WHEN_COLON_RE = re.compile(
    r"\b(?:medically\s+necessary|covered|indicated|eligible|approved|appropriate)\b[^.:;]*?"
    r"\b(?:when|if|for\s+(?:members|patients|individuals|beneficiaries)\s+(?:who|with))\s*:\s*$",
    re.I,
)
_NOT_COVERED_RE = re.compile(r"\bnot\b|\bnon-?covered\b|investigational|experimental|unproven|cosmetic", re.I)
# A quantifier stated as a requirement: "Criteria (all must be met):", "..., one of which must be present:".
_MUST_BE_MET_RE = re.compile(
    r"\b(?P<q>all|each|both|any\s+one|one|any|either)\s+(?:of\s+(?:which|these|them)\s+)?"
    r"(?:must|need\s+to|has\s+to|have\s+to|should)\s+be\s+(?:met|present|documented|satisfied|fulfilled)\b",
    re.I,
)
# A questionnaire asking for every answer as required: "all answers must match the required answer".
_ALL_ANSWERED_RE = re.compile(
    r"\b(?:all|every|each)\s+(?:of\s+the\s+)?(?:questions?|answers?)\b[^.:;]{0,40}?\b(?:answered|match(?:es)?)\b", re.I
)
# A form's answer choices under a question ("Yes No") and the answer it requires ("Required answer: No").
_CHOICES_RE = re.compile(r"^\s*(?:(?:yes|no|n/a|unknown)\b[\s/]*){1,4}$", re.I)
_REQUIRED_ANSWER_RE = re.compile(
    r"^\s*(?:required|expected|qualifying)\s+(?:answer|response)\s*:\s*(?P<answer>yes|no)\b\.?\s*$", re.I
)
# An item that ends by announcing its sub-items' quantifier: "problematic hypoglycemia, meaning either:".
_TRAILING_GROUP_RE = re.compile(r"\b(?P<q>all|any|each|both|either|one)(?:\s+of)?(?:\s+these)?\s*:\s*$", re.I)
# An introduction naming the numbered items it asks for: "meets criteria 1, 2, 3 and either 4 or 5",
# "meets Conditions 1 through 3", "when both criteria A and B are met".
_REF = r"(?:\d{1,2}|[A-H])\b"
_REFERENCE_RE = re.compile(
    r"(?i:\b(?:meets?|meeting|satisf(?:y|ies)|fulfill?s?|both|all)\s+(?:of\s+)?(?:the\s+)?"
    r"(?:conditions|criteria|requirements))\s+(?P<refs>" + _REF + r")\s*(?:,|(?i:and|or|through|to)\b|[-–])"
)
_REF_TOKEN_RE = re.compile(
    r"\s*(?:(?P<ref>\d{1,2}\b|[A-H]\b)|(?P<word>(?i:through|to|or|and|either|conditions?|criteri(?:on|a)|requirements?)\b|[,–-]))"
)
# A checklist's box ("☐ 1.", "[ ] a.") stands before an item's marker, or is the marker itself.
_BOX = r"[\u2610\u2611\u2612\u25a1\u25fb\u274f\u2751\u2752]|\[[ xX]\]"
_MARKER_RE = re.compile(
    # A printed page may carry the "and" closing the item above onto the last item's line: "and (c) ...".
    rf"^(?P<indent>\s*)(?:(?:and|or)\s+(?=\([a-zA-Z0-9]{{1,4}}\)\s))?(?:(?P<box>{_BOX})\s*(?=\S))?"
    r"(?:(?P<bullet>[-–•*▪◦·\uf0b7\uf0a7\uf076\uf0d8\u25cf\u25cb\u25a0\u25c6\u25ba\u25b8\u27a2\u27a4\u2713\u2714\u2043\u2023\u2219o])|"
    r"(?P<decimal>\d{1,2}(?:\.\d{1,2}){1,3})\.?|(?P<num>\d{1,2})[.)]|\((?P<paren>[a-zA-Z0-9]{1,4})\)|"
    r"(?:Conditions?|Criterion|Criteria|Requirements?|Indications?)\s+(?P<named>\d{1,2}|[A-H])[.:)]|"
    r"(?P<alpha>[a-zA-Z]{1,4})[.)])\s+(?P<body>\S.*)$"
)
_BOX_ITEM_RE = re.compile(rf"^(?P<indent>\s*)(?P<box>{_BOX})\s+(?P<body>\S.*)$")
_ROMAN = {"i", "ii", "iii", "iv", "v", "vi", "vii", "viii", "ix", "x", "xi", "xii"}
_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8}
_TRAILING_CONJ_RE = re.compile(r"[;,]?\s*\b(?:and|or|and/or)\s*$|[;,.]\s*$", re.IGNORECASE)
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
    # The marker's place in its sequence (3 for "3.", "c.", "iii."), when it has one.
    ordinal: int | None = None
    # A decimal marker's whole number ("3.1.3"), which its sub-items ("3.1.3.1") extend.
    number: str = ""


def _item(document: Document, line: Line) -> _Item | None:
    raw = document.line_text(line)
    match = _MARKER_RE.match(raw) or _BOX_ITEM_RE.match(raw)
    if match is None:
        return None
    groups = match.groupdict()
    number = ""
    if groups.get("bullet"):
        # Each glyph is a level of its own: a word processor nests "o" bullets under "•" ones at the same indent.
        style = "bullet" + ("" if groups["bullet"] in "-•*·\uf0b7\u25cf\u2219" else groups["bullet"])
    elif groups.get("decimal"):
        # "3.1.7" is a sibling of "3.1.6" and a child of "3.1": its level is the number it extends.
        number = groups["decimal"]
        style = "decimal:" + number.rsplit(".", 1)[0]
    elif groups.get("num"):
        style = "number"
    elif groups.get("named"):
        # "Condition 3." numbers a paragraph of its own, a level apart from any "3." list inside it.
        style = "named"
    elif groups.get("paren"):
        # "(a)", "(1)" and "(A)" are three levels of a manual's paragraphs, not one.
        token = groups["paren"]
        if token.isdigit():
            style = "paren_number"
        elif len(token) > 1 and token.lower() not in _ROMAN:
            return None
        elif token.lower() == "i":
            style = "paren_roman_or_alpha"
        elif token.lower() in _ROMAN:
            style = "paren_roman"
        else:
            style = "paren_alpha"
        style = style + ("_upper" if token.isupper() else "")
    elif groups.get("alpha"):
        token = groups["alpha"]
        if len(token) > 1 and token.lower() not in _ROMAN:
            return None
        style = "roman" if token.lower() in _ROMAN and token.lower() != "i" else "alpha"
        if token.lower() == "i":
            style = "roman_or_alpha"
        style = style + ("_upper" if token.isupper() else "")
    else:
        style = "box"
    start = line.start + match.start("body")
    token = (
        groups.get("num")
        or groups.get("named")
        or groups.get("paren")
        or groups.get("alpha")
        or number.rsplit(".", 1)[-1]
    )
    indent = len(match.group("indent"))
    return _Item(line, indent, style, match.group("body"), start, line.end, _ordinal(token, style), number)


_ROMAN_VALUES = {numeral: value for value, numeral in enumerate(
    ("i", "ii", "iii", "iv", "v", "vi", "vii", "viii", "ix", "x", "xi", "xii"), start=1
)}  # fmt: skip


def _ordinal(token: str, style: str) -> int | None:
    token = token.lower()
    if token.isdigit():
        return int(token)
    if style.removeprefix("paren_").startswith("roman") and token in _ROMAN_VALUES:
        return _ROMAN_VALUES[token]
    if len(token) == 1 and token.isalpha():
        return ord(token) - ord("a") + 1
    return None


def _bare_item(document: Document, line: Line) -> _Item | None:
    raw = document.line_text(line)
    body = raw.lstrip()
    if not body or body == raw or _MARKER_RE.match(raw) or _BOX_ITEM_RE.match(raw):
        return None
    start = line.end - len(body)
    return _Item(line, len(raw) - len(body), "bare", body, start, line.end)


def _group_type(text: str) -> tuple[str, int | None, float] | None:
    text = _EMPHASIS_RE.sub(r"\1", text)
    match = GROUP_RE.search(text) or _TRAILING_GROUP_RE.search(text)
    if match is None and (required := _MUST_BE_MET_RE.search(text)):
        every = required.group("q").lower() in ("all", "each", "both")
        return ("all_of" if every else "any_of"), None, 0.85
    if match is None and _ALL_ANSWERED_RE.search(text):
        return "all_of", None, 0.8
    if match is None and _REFERENCE_RE.search(text):
        return "all_of", None, 0.8
    if match is None:
        if _ALL_FOLLOWING_RE.search(text):
            return "all_of", None, 0.85
        if _WHEN_COLON_RE.search(text) and not _NOT_COVERED_RE.search(text):
            return "all_of", None, 0.7
        return None
    if "more" in match.groupdict() and match.group("more"):
        more = match.group("more").lower()
        least = int(more) if more.isdigit() else _WORDS[more]
        return ("any_of", None, 0.9) if least == 1 else ("at_least", least, 0.95)
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


# Markdown emphasis ("**all** of the following") marks words; it is not part of them.
_EMPHASIS_RE = re.compile(r"(?:\*\*|__)(?=\S)(.+?)(?<=\S)(?:\*\*|__)")


def _clean_label(text: str) -> str:
    return _TRAILING_CONJ_RE.sub("", " ".join(_EMPHASIS_RE.sub(r"\1", text).split())).strip()


def _source(document: Document, start: int, end: int) -> Source:
    return Source(start, end, document.text[start:end])


class _Open:
    def __init__(self, node: Criterion, indent: int, style: str, ordinal: int | None = None) -> None:
        self.node = node
        self.indent = indent
        self.style = style
        # The last ordinal placed at this level: "5." after a nested "1." "2." continues "4.".
        self.ordinal = ordinal


def criteria_trees(document: Document, lines: Sequence[Line], catalogue: Sequence[FactSpec]) -> list[Criterion]:
    """Every criteria list in these lines, each as a group node with its nested items."""
    roots: list[Criterion] = []
    ordinals: list[int | None] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        text = document.line_text(line)
        marked = _item(document, line)
        # A marked item that announces a list ("A. ... is medically necessary when all of the following
        # are met:") introduces the items below it, unless a list read before has taken it.
        if marked is not None and _group_type(marked.text) is None:
            i += 1
            continue
        end = i
        group = _group_type(text)
        if group is None and (wrapped := _wrapped_intro(document, lines, i)) is not None:
            group, end = wrapped, i + 1
        if group is None and _criterion_column(document.line_text(line)) is not None:
            # A criteria table under a heading or caption ("Table 2. Requirements (all must be met)"):
            # the caption, when it says so, tells how many rows must be met.
            caption = document.text[: line.start].rstrip("\n").rsplit("\n", 1)[-1]
            column = _criterion_column(document.line_text(line)) or 0
            named = document.line_text(line).split("\t")[column].strip().lower()
            stated = _group_type(caption)
            if stated is None and not named.startswith(("criteri", "requirement")):
                # A column of indications or conditions (a drug's, a code's) is no criteria list by itself.
                i += 1
                continue
            node_type, min_met, confidence = stated or ("all_of", None, 0.6)
            root = Criterion(
                node_type, _clean_label(caption), _source(document, line.start, line.end), confidence, min_met
            )
            ordinals = []
            i = _read_table_rows(document, lines, i, root, catalogue, ordinals) or i + 1
            if root.children:
                roots.append(root)
            continue
        if group is None:
            i += 1
            continue
        end = _intro_end(document, lines, end)
        referenced = _REFERENCE_RE.search(document.text[line.start : lines[end].end]) is not None
        if referenced:
            end = _sentence_end(document, lines, end)
        node_type, min_met, confidence = group
        start, stop = line.start, lines[end].end
        label = _clean_label(document.text[start:stop])
        root = Criterion(node_type, label, _source(document, start, stop), confidence, min_met)
        opening = marked or _opening_item(document, lines, i)
        ordinals = []
        if (rows := _read_table_rows(document, lines, end + 1, root, catalogue, ordinals)) is not None:
            i = rows
        else:
            i = _read_items(document, lines, end + 1, root, catalogue, opening, ordinals)
        if referenced:
            _group_referenced(root, ordinals)
        if root.children:
            roots.append(root)
    return roots


# The column of a criteria table that holds the criterion; the others ("#", "Documentation required") do not.
_CRITERION_COLUMN_RE = re.compile(r"^(?:criteri(?:on|a)|conditions?|requirements?|indications?)$", re.I)


def _criterion_column(text: str) -> int | None:
    """The criterion column of a table's header row, if the row is one."""
    header = text.split("\t")
    if len(header) < 2:
        return None
    return next((n for n, cell in enumerate(header) if _CRITERION_COLUMN_RE.match(cell.strip())), None)


def _read_table_rows(
    document: Document,
    lines: Sequence[Line],
    i: int,
    root: Criterion,
    catalogue: Sequence[FactSpec],
    ordinals: list[int | None],
) -> int | None:
    """A table under the introduction whose header names a criterion column: each row below it is one item.

    Returns the index after its rows, or None when the lines below are no such table.
    """
    if i >= len(lines):
        return None
    header = document.line_text(lines[i]).split("\t")
    column = _criterion_column(document.line_text(lines[i]))
    if column is None:
        return None
    i += 1
    while i < len(lines) and _adjacent(lines[i - 1], lines[i]):
        raw = document.line_text(lines[i])
        cells = raw.split("\t")
        if len(cells) != len(header) or not cells[column].strip():
            break
        start = lines[i].start + sum(len(cell) + 1 for cell in cells[:column])
        start += len(cells[column]) - len(cells[column].lstrip())
        item = _Item(lines[i], 0, "row", cells[column].strip(), start, start + len(cells[column].strip()))
        first = cells[0].strip().rstrip(".")
        item.ordinal = _ordinal(first, "number") if column > 0 and (first.isdigit() or len(first) == 1) else None
        node = Criterion("documented", "", _source(document, item.text_start, item.text_end), 0.0)
        _reset_node(document, item, node, catalogue)
        root.children.append(node)
        ordinals.append(item.ordinal)
        i += 1
    return i


def _sentence_end(document: Document, lines: Sequence[Line], end: int) -> int:
    """The last line of an introduction that names its items and wraps on ("... Conditions 1 through 3 and either" / "Condition 4 or 5.")."""
    for _ in range(3):
        text = document.line_text(lines[end]).rstrip()
        if (
            text.endswith((".", ":", ";", "!", "?"))
            or end + 1 >= len(lines)
            or not _adjacent(lines[end], lines[end + 1])
            or lines[end + 1].heading
            or _item(document, lines[end + 1]) is not None
        ):
            break
        end += 1
    return end


def _reference_chunks(text: str) -> list[list[int]]:
    """The items an introduction names, as a list of alternatives each: "1 through 3 and either 4 or 5" is [1], [2], [3], [4, 5]."""
    match = _REFERENCE_RE.search(text)
    if match is None:
        return []
    chunks: list[list[int]] = []
    position, joiner, previous = match.start("refs"), "", None
    while (token := _REF_TOKEN_RE.match(text, position)) is not None:
        position = token.end()
        if token.group("word"):
            word = token.group("word").lower()
            if word in ("through", "to", "-", "–", "or", ",", "and"):
                joiner = word if word != "," else "and"
            continue
        ordinal = _ordinal(token.group("ref"), "number" if token.group("ref").isdigit() else "alpha")
        if ordinal is None:
            break
        if joiner in ("through", "to", "-", "–") and previous is not None and previous < ordinal <= previous + 20:
            chunks.extend([n] for n in range(previous + 1, ordinal + 1))
        elif joiner == "or" and chunks:
            chunks[-1].append(ordinal)
        else:
            chunks.append([ordinal])
        joiner, previous = "", ordinal
    return chunks


def _group_referenced(root: Criterion, ordinals: list[int | None]) -> None:
    """Nest the alternatives an introduction names ("either 4 or 5") as a group of their own under it.

    When the items below are not the ones it names, the tree stays a plain "all of" for a reviewer to check.
    """
    chunks = _reference_chunks(root.label)
    at = {ordinal: index for index, ordinal in enumerate(ordinals) if ordinal is not None}
    named = [n for chunk in chunks for n in chunk]
    if not chunks or len(ordinals) != len(root.children) or any(n not in at for n in named):
        root.confidence = min(root.confidence, 0.6)
        return
    children: list[Criterion] = []
    for index, child in enumerate(root.children):
        chunk = next((c for c in chunks if len(c) > 1 and ordinals[index] == c[0]), None)
        if chunk is None and any(len(c) > 1 and ordinals[index] in c for c in chunks):
            continue
        if chunk is None:
            children.append(child)
            continue
        members = [root.children[at[n]] for n in chunk]
        label = "One of: " + "; ".join(member.label for member in members)
        group = Criterion("any_of", label, root.source, root.confidence)
        group.children = members
        children.append(group)
    root.children = children


def _opening_item(document: Document, lines: Sequence[Line], i: int) -> _Item | None:
    """The marked item whose sentence, wrapped onto the indented lines below it, ends in the introduction on line i.

    "A. An implant is medically necessary when all of" / "   the following are met:" is item A's
    sentence, so "B." ends the list it introduces. An unindented line may start a paragraph of its
    own after a list, so only an indented continuation reaches back to its item.
    """
    indent = len(document.line_text(lines[i])) - len(document.line_text(lines[i]).lstrip(" "))
    for j in range(i - 1, max(i - 4, -1), -1):
        if not _adjacent(lines[j], lines[j + 1]) or lines[j + 1].heading:
            return None
        text = document.line_text(lines[j])
        if text.rstrip().endswith((".", ":", ";", "!", "?")):
            return None
        if (item := _item(document, lines[j])) is not None:
            return item if item.indent < indent else None
    return None


def _ends_list(opening: _Item, item: _Item) -> bool:
    """Whether the item is the next of the introduction's own level ("B." after "A. ... all of the following:")."""
    if abs(opening.indent - item.indent) > 1:
        return False
    if opening.style == item.style:
        return opening.ordinal is None or item.ordinal is None or item.ordinal > opening.ordinal
    before, after = opening.style.removesuffix("_upper"), item.style.removesuffix("_upper")
    if opening.style.endswith("_upper") != item.style.endswith("_upper"):
        return False
    # "I." opens a list of "A." items and is followed by "II."; as a letter it would be followed by "J.".
    if before == "roman_or_alpha":
        return after == "roman" or (after == "alpha" and item.ordinal == 10)
    return before == "roman" and after == "roman_or_alpha"


def _wrapped_intro(document: Document, lines: Sequence[Line], i: int) -> tuple[str, int | None, float] | None:
    """The quantifier of an introduction a fixed-width page wrapped mid-phrase ("when ALL of" / "the following:")."""
    if i + 1 >= len(lines) or lines[i + 1].heading or _item(document, lines[i + 1]) is not None:
        return None
    text = document.line_text(lines[i]).rstrip()
    following = document.line_text(lines[i + 1]).strip()
    # "the following are met:" asks for all only when no quantifier on the line above it ends "... ALL of".
    if not following or text.endswith((".", ":", ";", "!", "?")) or GROUP_RE.search(following):
        return None
    # A line that introduces the list on its own ("Part B. Questions (all answers must match)") starts it.
    if _ALL_ANSWERED_RE.search(following) or _MUST_BE_MET_RE.search(following):
        return None
    return _group_type(f"{text} {following}")


def _intro_end(document: Document, lines: Sequence[Line], end: int) -> int:
    """The introduction's last line: a page may wrap its closing words onto a line of their own.

    "... when all of the following" / "criteria are met:" introduces the list on the second line;
    a short unmarked line ending with a colon finishes the unfinished introduction above it.
    """
    if end + 1 >= len(lines) or not _adjacent(lines[end], lines[end + 1]) or lines[end + 1].heading:
        return end
    text = document.line_text(lines[end]).rstrip()
    following = document.line_text(lines[end + 1]).strip()
    if (
        text.endswith((".", ":", ";", "!", "?"))
        or not following.endswith(":")
        or len(following.split()) > 6
        or _item(document, lines[end + 1]) is not None
        or _group_type(following) is not None
    ):
        return end
    return end + 1


def _adjacent(before: Line, after: Line) -> bool:
    """Whether the lines follow each other in the document, with no heading or other section between."""
    return after.start == before.end + 1


def _read_items(
    document: Document,
    lines: Sequence[Line],
    i: int,
    root: Criterion,
    catalogue: Sequence[FactSpec],
    opening: _Item | None = None,
    ordinals: list[int | None] | None = None,
) -> int:
    # Levels open from the root down: each holds the group its items go into.
    levels: list[_Open] = []
    last: _Item | None = None
    last_node: Criterion | None = None
    # Bullets a copy dropped leave the items as indented lines: each is one item.
    bare = _bare_item(document, lines[i]) is not None if i < len(lines) else False
    while i < len(lines):
        item = _bare_item(document, lines[i]) if bare else _item(document, lines[i])
        if item is not None and item.number and last is not None and not last.number:
            # In a list that numbers no paragraphs, "2.5 times the normal value" opens a wrapped line.
            item = None
        if last is not None and _section_between(document, lines[i - 1], lines[i]):
            break
        if last_node is not None and _CHOICES_RE.match(document.line_text(lines[i])):
            i += 1
            continue
        if last_node is not None and (required := _REQUIRED_ANSWER_RE.match(document.line_text(lines[i]))):
            if required.group("answer").lower() == "no":
                # The question is met by "No": its words state the opposite of the criterion, so a
                # reviewer reads it rather than a fact test of what it asks.
                last_node.node_type, last_node.fact, last_node.operator, last_node.value = "documented", None, "", None
                last_node.confidence = min(last_node.confidence, 0.6)
            i += 1
            continue
        if last is not None and _CONNECTOR_RE.match(document.line_text(lines[i])):
            # "AND" or "- or -" on a line between two items joins them; the introduction says how.
            i += 1
            continue
        if item is None:
            text = document.line_text(lines[i])
            # A wrapped item continues on an indented line without a marker.
            # A heading between them ends the list, whatever the indent of the paragraph after it.
            if (
                last is not None
                and last_node is not None
                and text.strip()
                and _adjacent(lines[i - 1], lines[i])
                and (text.startswith(" ") or _soft_wrapped(document.line_text(lines[i - 1]), text))
            ):
                last.text_end = lines[i].end
                last.text = document.text[last.text_start : last.text_end]
                _reset_node(document, last, last_node, catalogue)
                i += 1
                continue
            break
        if opening is not None and _ends_list(opening, item):
            break
        if levels and item.indent < levels[0].indent - 1:
            # Less indented than the list's first items: the list has ended ("II. Experimental ...").
            break
        if not levels:
            levels.append(_Open(root, item.indent, item.style))
        else:
            placed = False
            # An item that announces sub-items ("shown by one of the following:") and has none yet
            # takes the next items as its own, however a printed page lost their indent and markers.
            announced = last_node is not None and _announces(last_node)
            continues = None if announced else _continued_level(levels, item)
            if continues is not None:
                del levels[continues + 1 :]
                placed = True
            for depth in range(len(levels) - 1, -1, -1):
                if placed or announced:
                    break
                level = levels[depth]
                if _same_level(level, item):
                    del levels[depth + 1 :]
                    placed = True
                    break
            if not placed and item.number and (last is None or item.number.rsplit(".", 1)[0] != last.number):
                # "3.2" after "3.1.6" is the next numbered paragraph, neither an item nor a sub-item.
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
        if ordinals is not None and parent is root:
            ordinals.append(item.ordinal)
        levels[-1].ordinal = item.ordinal
        last, last_node = item, node
        i += 1
    return i


# Words a line does not end on when it finishes a sentence: a word processor's soft line break after them
# continues the item above on an unindented line.
_JOINING_WORDS = {"a", "an", "and", "by", "for", "in", "of", "on", "or", "than", "that", "the", "to", "with"}


# A line that only joins the items around it: "AND", "- or -", "(and/or)".
_CONNECTOR_RE = re.compile(r"^\s*[-–—(\[]*\s*(?:and|or|and/or)\s*[-–—)\]]*\s*$", re.I)


def _section_between(document: Document, before: Line, after: Line) -> bool:
    """Whether a heading or another section stands between the lines, ending a list; an "AND" line between items does not."""
    between = document.text[before.end + 1 : after.start].strip("\n")
    return bool(between) and not all(_CONNECTOR_RE.match(text) for text in between.split("\n"))


def _soft_wrapped(previous: str, text: str) -> bool:
    """Whether an unindented line continues the item above it ("... or another cancer" / "of the blood ...")."""
    previous = previous.rstrip()
    if not previous or previous.endswith((".", ":", ";", "!", "?")) or "\t" in text:
        return False
    last_word = previous.rsplit(None, 1)[-1].lower()
    return text[0].islower() or previous.endswith((",", "-", "/")) or last_word in _JOINING_WORDS


def _announces(node: Criterion) -> bool:
    return node.node_type in ("all_of", "any_of", "at_least") and not node.children and node.label.endswith(":")


def _continued_level(levels: list[_Open], item: _Item) -> int | None:
    """The deepest open level whose numbering this item continues ("5." after "4."), if any."""
    if item.ordinal is None:
        return None
    for depth in range(len(levels) - 1, -1, -1):
        level = levels[depth]
        if level.ordinal is not None and level.ordinal + 1 == item.ordinal and _same_level(level, item):
            return depth
    return None


def _same_level(level: _Open, item: _Item) -> bool:
    if level.indent != item.indent and abs(level.indent - item.indent) > 1:
        return False
    if level.style == item.style:
        return True
    # "i." after "h." is a letter, after nothing or "ii." a numeral.
    ambiguous = {level.style.removesuffix("_upper"), item.style.removesuffix("_upper")}
    return ambiguous in (
        {"alpha", "roman_or_alpha"},
        {"roman", "roman_or_alpha"},
        {"paren_alpha", "paren_roman_or_alpha"},
        {"paren_roman", "paren_roman_or_alpha"},
    )


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
    "events/hour": (
        "events per hour",
        "events/hour",
        "per hour",
        "/hour",
        "events/hr",
        "events per hr",
        "/hr",
        "per hr",
    ),
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
    r"at\s+most|no\s+more\s+than|a\s+maximum\s+of|maximum\s+of|older\s+than|younger\s+than|≥|>=|≤|<=|>|<|=)\s*"
    + _NUMBER
    + _UNIT,
    re.IGNORECASE,
)
_AFTER_RE = re.compile(
    _NUMBER
    + _UNIT
    + r"\s*(?:of\s+age\s+)?(?P<cmp>(?:or|and)\s+(?:more|greater|longer|older|higher|above|over)|\+|or\s+(?:less|fewer|"
    r"younger|lower|below|under))",
    re.IGNORECASE,
)
# A time a treatment has failed over states its least: "has failed to heal after 6 months of compression".
_FAILED_AFTER_RE = re.compile(
    r"\b(?:fail(?:s|ed)?|not\s+(?:responded|improved|healed)|without\s+(?:adequate\s+)?(?:improvement|relief|response))"
    r"\b[^.;]{0,40}?\bafter\s+" + _NUMBER + r"\s*(?P<unit>years?|months?|weeks?|days?)\s+of\b",
    re.IGNORECASE,
)
_OPERATORS = {
    "at least": "gte", "a minimum of": "gte", "minimum of": "gte", "no less than": "gte", "no fewer than": "gte",
    "greater than or equal to": "gte", "≥": "gte", ">=": "gte", "more than": "gt", "greater than": "gt",
    "over": "gt", "exceeding": "gt", "above": "gt", ">": "gt", "less than or equal to": "lte", "at most": "lte",
    "no more than": "lte", "a maximum of": "lte", "maximum of": "lte", "≤": "lte", "<=": "lte", "less than": "lt",
    "fewer than": "lt", "under": "lt", "below": "lt", "<": "lt", "=": "eq", "older than": "gt",
    "younger than": "lt",
}  # fmt: skip
# A bare number stated as an age ("Age 18 or older", "aged 65 and over", "younger than 21") is in years.
_AGE_RE = re.compile(r"\bage[ds]?\b[^.;\d]{0,20}$", re.I)
# ... unless it is the age at an event ("diagnosed at age 50 or younger", "onset before age 30"),
# which is no test of the member's age today.
_EVENT_AGE_RE = re.compile(
    r"\b(?:diagnos\w*|onset|when|first|since)\b[^.;\d]{0,20}\bage\b|\bage\s+(?:at|of)\s+\w+|"
    r"\b(?:diagnos\w*|onset)\s+(?:at|before|by)\s+\d",
    re.I,
)
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


# Numbers policies spell out ("six (6) weeks", "at least three months").
_NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "eighteen": 18, "twenty": 20, "twenty-one": 21,
    "twenty-four": 24, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "sixty-five": 65,
}  # fmt: skip
_SPELLED_RE = re.compile(
    r"\b(?P<word>"
    + "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True))
    + r")\b(?:\s*\((?P<digits>\d+)\))?"
    # Only a quantity with its unit: "at least one comorbidity" states no threshold.
    + rf"(?=\s*(?:{_UNIT_PATTERN})(?![a-z]))",
    re.I,
)


def _digits(text: str) -> str:
    """The text with spelled-out numbers as digits; "six (6)" becomes "6"."""
    return _SPELLED_RE.sub(lambda m: m.group("digits") or str(_NUMBER_WORDS[m.group("word").lower()]), text)


def _comparison_match(text: str) -> re.Match[str] | None:
    return _BEFORE_RE.search(text) or _AFTER_RE.search(text) or _FAILED_AFTER_RE.search(text)


def _around_comparison(text: str, size: int = 4) -> list[str]:
    """The words beside the threshold, which say what it measures ("therapy for at least 3 months")."""
    text = _digits(text)
    match = _comparison_match(text)
    if match is None:
        return []
    # The clause it sits in: a semicolon or "despite" starts another thing measured.
    clause_start = max((m.end() for m in re.finditer(r";|\bdespite\b", text[: match.start()])), default=0)
    before = _words(text[clause_start : match.start()])[-size:]
    after = _words(re.split(r"[,;]", text[match.end() :])[0])[:size]
    return before + _words(match.group(0)) + after


def _comparison(text: str) -> tuple[str, float, str] | None:
    """(operator, number, unit) stated in the text, or None."""
    text = _digits(text)
    if match := _BEFORE_RE.search(text):
        operator = _OPERATORS[" ".join(match.group("cmp").lower().split())]
    elif match := _FAILED_AFTER_RE.search(text):
        operator = "gte"
        return operator, float(match.group("num")), _UNIT_OF.get(match.group("unit").lower(), "")
    elif match := _AFTER_RE.search(text):
        phrase = match.group("cmp").lower()
        operator = (
            "gte"
            if phrase == "+"
            or any(w in phrase for w in ("more", "greater", "longer", "older", "higher", "above", "over"))
            else "lte"
        )
    else:
        return None
    number = float(match.group("num"))
    unit = _UNIT_OF.get((match.group("unit") or "").lower(), "")
    if (
        not unit
        and (re.search(r"older|younger", match.group("cmp"), re.I) or _AGE_RE.search(text[: match.start()]))
        and not _EVENT_AGE_RE.search(text)
    ):
        unit = "years"
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
    "older": "age", "younger": "age", "aged": "age", "shows": "confirms", "show": "confirms",
    "showing": "confirms", "demonstrates": "confirms", "demonstrated": "confirms", "demonstrating": "confirms",
    "documented": "confirms", "documents": "confirms", "reveals": "confirms", "revealed": "confirms",
    "evidence": "confirms", "consistent": "confirms", "previous": "prior", "previously": "prior",
}  # fmt: skip
# A word naming an operation reads as "surgery": the suffixes of surgical terms (laminectomy,
# foraminotomy, arthroplasty, arthrodesis) and the nouns policies use for operations.
_SURGERY_RE = re.compile(
    r"\w+(?:ectomy|otomy|ostomy|plasty|desis|pexy|rrhaphy)|fusions?|replacements?|decompressions?|implantations?|"
    r"operations?|surgeries|surgical|resections?|reconstructions?|revisions?"
)
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


# Treatments policies try first, named by what they are rather than as "conservative therapy".
_CONSERVATIVE_WORDS = {
    "compression", "stockings", "bracing", "brace", "splinting", "splint", "physiotherapy", "exercises",
    "orthotics", "repositioning", "nsaids", "analgesics",
}  # fmt: skip


def _expanded(text_words: list[str]) -> list[str]:
    """The words and the label words they stand for ("previous" is also "prior", "laminectomy" "surgery")."""
    text_words = text_words + [_SAME_AS[w] for w in text_words if w in _SAME_AS]
    if any(w in _CONSERVATIVE_WORDS for w in text_words):
        # One word of the label, as "physical therapy" says "therapy": with weeks beside it, the weeks tried.
        text_words = [*text_words, "conservative"]
    return text_words + ["surgery" for w in text_words if _SURGERY_RE.fullmatch(w)]


def _coverage(label_words: list[str], text_words: list[str]) -> float:
    """How much of a fact's label the text says: the share of its words found (fuzzily) in the text."""
    label_words = [w for w in label_words if w not in _UNIT_WORDS]
    if not label_words or not text_words:
        return 0.0
    text_words = _expanded(text_words)
    hits = sum(1 for word in label_words if process.extractOne(word, text_words, scorer=fuzz.ratio, score_cutoff=80))
    return hits / len(label_words)


# Words a yes/no fact's key may end with that say its state, not what it is about ("claudication_present").
_STATE_WORDS = {"present", "status", "documented", "confirmed", "flag", "met", "positive", "negative", "history"}
_READING_WORDS = {"score", "level", "value", "result", "count", "reading"}


def _names(fact: FactSpec) -> tuple[list[str], set[str]]:
    words = _words(fact.label)
    # The label's initials ("Body mass index" -> "bmi") and the key's words name the fact as well.
    label = [w for w in _WORD_RE.findall(fact.label.lower()) if w not in {"of", "the", "on"}]
    initials = "".join(w[0] for w in label)
    # A measure is named by its instrument's initials without the word for its reading
    # ("Oswestry Disability Index score" is the "ODI").
    measure = "".join(w[0] for w in label[:-1]) if label and label[-1] in _READING_WORDS else ""
    # Abbreviations the label spells out in brackets ("Apnea-hypopnea index (AHI)").
    bracketed = {a.lower() for a in re.findall(r"\(([A-Za-z0-9]{2,8})\)", fact.label)}
    aliases = {initials, measure, fact.key.lower(), *bracketed}
    return words, {a for a in aliases if len(a) >= 3 and a not in _UNIT_WORDS}


_OR_RE = re.compile(
    r",?\s+or\s+(?!(?:more|greater|longer|older|younger|higher|lower|less|fewer|above|below|under)\b)", re.I
)
_COMMA_OR_RE = re.compile(r"[,;]\s+or\s+", re.I)
_CLOSING_CODES_RE = re.compile(r"\(\s*[A-TV-Z]\d[0-9A-Z](?:\.[0-9A-Z]{1,4})?[^()]*\)[\s;,.]*(?:and|or)?\s*$")
_WITH_MORE_RE = re.compile(r"\bwith\s+(?:at\s+least|one|two|a|an)\b", re.I)


def _compound(text: str, fact: FactSpec) -> bool:
    """A criterion that joins the fact's test with another condition, which no single fact test states."""
    label_words, aliases = _names(fact)
    # "neck or low back pain for 3 months" joins nouns, not conditions; a yes/no fact is one
    # condition, so any "or" beside it adds another, and for a number only ", or" does.
    splitter = _OR_RE if fact.value_type == "boolean" else _COMMA_OR_RE
    closing = _CLOSING_CODES_RE.search(text) if fact.value_type == "code_list" else None
    parts: list[str] = []
    for part in (p for p in splitter.split(text) if p.strip()):
        # "at the level or levels treated" offers two forms of one noun, not two conditions.
        if parts and (_same_noun(parts[-1], part) or _alternative_nouns(parts[-1], part)):
            parts[-1] = f"{parts[-1]} {part}"
        else:
            parts.append(part)
    # "A discrepancy of 5 mm or more, or a reverse one of 0 mm or less (M26.1, M26.2)": the codes that
    # close the criterion, one for each alternative, name every alternative.
    named = closing is not None and len(_ICD_RE.findall(closing.group(0))) >= len(parts)
    if len(parts) > 1 and not named:
        for part in parts:
            words = _words(part)
            if _coverage(label_words, words) < 0.3 and not set(words) & aliases:
                return True
    with_more = _WITH_MORE_RE.search(text)
    if with_more is None:
        return False
    # "inadequate control, with an HbA1c of 7 percent or higher": the clause states the test itself;
    # "BMI of 35 or greater with at least one comorbidity" adds a condition after it.
    if fact.value_type in ("number", "integer"):
        return _comparison(text[: with_more.start()]) is not None or _comparison(text[with_more.start() :]) is None
    # "Type 2 diabetes with a foot ulcer (E11.621)": the codes that close the criterion name the whole
    # diagnosis, its "with" clause included.
    if closing is not None:
        return with_more.start() > closing.start()
    return True


_TIME_UNITS = {"years", "months", "weeks", "days"}
_WHOSE_WORDS = {"member", "members", "patient", "patients", "beneficiary", "individual", "s", "has", "have", "been"}
# A reading taken with a device in use ("residual AHI ... while using PAP"), unlike a lab value
# measured while on a medicine, which is the member's value the fact holds.
_ON_TREATMENT_RE = re.compile(r"\bresidual\b|\bwhile\s+(?:using|wearing)\b", re.I)
# Words that say the member is on a treatment ("using", "receiving", "injections", "medication").
_TREATMENT_WORDS = {
    "injections", "medication", "medications", "drugs", "pharmacotherapy", "dialysis", "using", "wearing",
    "receiving", "taking", "taken", "took", "treated",
}  # fmt: skip
_NOT_SYMPTOM_WORDS = {"diagnosed", "diagnosis", "stable", "steady", "unchanged", "maintained"}
_FOR_A_TIME_RE = re.compile(r"\bfor\s+(?:a\s+period\s+of\s+|a\s+duration\s+of\s+)?$", re.I)


def _duration_fact(
    text: str, comparison: tuple[str, float, str], catalogue: Sequence[FactSpec]
) -> tuple[float, FactSpec] | None:
    """A condition stated "for more than 6 months" that names no other fact tests how long it has lasted."""
    digits = _digits(text)
    match = _comparison_match(digits)
    unit = comparison[2]
    if match is None or unit not in _TIME_UNITS or not _FOR_A_TIME_RE.search(digits[: match.start()]):
        return None
    # What lasts is the clause's subject: "despite medical therapy for 3 months" times the therapy.
    clause_start = max((m.end() for m in re.finditer(r"[;,]|\bdespite\b", digits[: match.start()])), default=0)
    measured = _words(digits[clause_start : match.start()])
    # A duration set off by commas ("on insulin pump therapy, with ..., for at least 6 months") times
    # the criterion's main clause; the time on a treatment is no duration of symptoms.
    timed = measured or _words(digits[: match.start()])
    if any(_SAME_AS.get(word, word) == "therapy" or word in _TREATMENT_WORDS for word in timed):
        return None
    # "Diagnosed for at least 4 years", "weight has been stable for 6 months": the time since a
    # diagnosis or of a steady state, not how long symptoms have lasted.
    if any(word in _NOT_SYMPTOM_WORDS for word in timed):
        return None
    # Whose and in what state it lasts ("the member's seizures have been present") names no other fact.
    measured = [word for word in measured if word not in _STATE_WORDS and word not in _WHOSE_WORDS]
    if any(_coverage(_names(fact)[0], measured) >= 0.3 for fact in catalogue if "duration" not in fact.label.lower()):
        return None
    for fact in catalogue:
        fact_unit = _UNIT_OF.get(fact.unit.lower(), fact.unit.lower())
        if (
            fact.value_type in ("number", "integer")
            and "duration" in fact.label.lower()
            and (unit == fact_unit or (unit, fact_unit) in _CONVERT)
        ):
            return 0.6, fact
    return None


_CONDITION_RE = re.compile(r",\s*(?:when|if|where|whenever|once|for\s+members\s+whose)\b", re.I)


def _conditional(text: str, fact: FactSpec) -> bool:
    """A criterion whose number only says when it applies: "Weight counseling, when the BMI is 30 or more".

    What the criterion asks for is its main clause; the fact it names in a trailing condition is no test of it.
    """
    condition = _CONDITION_RE.search(text)
    if condition is None or _comparison(text[: condition.start()]) is not None:
        return False
    label_words, aliases = _names(fact)
    words = _words(text[: condition.start()])
    return _coverage(label_words, words) < 0.3 and not set(words) & aliases


def _alternative_nouns(before: str, after: str) -> bool:
    """ "MRI or CT confirms ...": a lone word before "or" and the word after it name one kind of thing."""
    lone, first = _WORD_RE.findall(before.lower()), _WORD_RE.findall(after.lower())[:1]
    return len(lone) == 1 and bool(first) and lone[0] in _SAME_AS and _SAME_AS[lone[0]] == _SAME_AS.get(first[0])


def _same_noun(before: str, after: str) -> bool:
    last, first = _WORD_RE.findall(before.lower())[-1:], _WORD_RE.findall(after.lower())[:1]
    return bool(last and first and last[0] != first[0] and fuzz.ratio(last[0], first[0]) >= 85)


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
            if fact_unit not in _TIME_UNITS and _ON_TREATMENT_RE.search(text):
                # "Residual AHI of 15 or more while using PAP" is the reading under treatment; the fact
                # holds the member's own value.
                continue
            near = _around_comparison(text)
            if _coverage(label_words, near) == 0 and not set(near) & aliases:
                # The fact is named, but the number measures something else beside it:
                # "symptomatic ... despite medical therapy for at least 3 months".
                continue
            if comparison[2] and comparison[2] == fact_unit:
                score += 0.35
        elif fact.value_type == "boolean":
            # "Non-smoker" names the fact by its key's noun ("current_smoker") and denies it.
            head = fact.key.lower().split("_")[-1]
            if len(head) >= 4 and re.search(rf"\bnon-?\s?{re.escape(head)}\b", text, re.I):
                score = max(score, 0.9)
            # "Does not smoke" names a "smoker" fact by its verb; a number beside it ("stopped smoking
            # 4 weeks ago") is a test no yes/no fact states, which the check below leaves out.
            elif len(head) >= 5 and head.endswith("er") and re.search(rf"\b{re.escape(head[:-1])}[sd]?\b", text, re.I):
                score = max(score, 0.6)
            # A yes/no fact is about the thing its key ends with: "repeat ablation at the same level
            # ... the previous ablation" shares the label's other words but names no surgery.
            subject = next((w for w in reversed(fact.key.lower().split("_")) if w not in _STATE_WORDS), "")
            if (
                score < 0.9
                and len(subject) >= 4
                and not process.extractOne(subject, _expanded(text_words), scorer=fuzz.ratio, score_cutoff=80)
            ):
                continue
            if comparison is not None and score < 0.9:
                continue
        else:
            continue
        if score >= 0.6 and (best is None or score > best[0]):
            best = (score, fact)
    if best is None and comparison is not None:
        best = _duration_fact(text, comparison, catalogue)
    if best is None or _compound(text, best[1]) or _conditional(text, best[1]):
        return None
    score, fact = best
    confidence = min(0.95, 0.55 + score * 0.4)
    if fact.value_type == "code_list":
        # In the order the criterion names them, as an editor copies them.
        return fact.key, "any_in", list(dict.fromkeys(c.rstrip("Xx") for c in codes)), confidence
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
