"""Criteria lists ("medically necessary when ALL of the following ...") as a tree, leaves mapped to facts.

A list item's nesting comes from its indent and its marker style (1. / a. / i. / bullet): an item
whose style and indent match an open level is that level's sibling; anything deeper is a child of
the item before it. A leaf that states a test of a catalogue fact (a comparison and a number with
the fact's unit, or the words of a yes/no fact) becomes that test; any other leaf is a documented
criterion that a reviewer answers from the records.
"""

from __future__ import annotations

import bisect
import csv
import re
from collections.abc import Sequence
from dataclasses import dataclass

from policies_app.importing.facts import FactSpec, map_fact
from policies_app.importing.readers import Document, Line
from policies_app.importing.result import Criterion, Source

GROUP_RE = re.compile(
    r"\b(?P<q>all|any|each|both|either|neither|none|one\s+or\s+more|one|at\s+least\s+(?P<n>\w+)|(?P<more>two|three|four|five|\d)"
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
# A criteria table's operator naming the rows it joins: "ALL of C1.1–C1.4", "AT LEAST 2 of C1.2.2.1–C1.2.2.3".
_OPERATOR_RE = re.compile(
    r"\b(?P<op>ALL|ANY|ONE|AT\s+LEAST\s+(?P<least>\d{1,2}))\s+of\s+[A-Z]{0,2}\d{1,2}(?:\.\d{1,2})*\s*[–—-]", re.I
)
# "All of the criteria in the right-hand column must be met": the quantifier of a table's criteria.
_CRITERIA_MET_RE = re.compile(
    r"\b(?P<q>all|each|any\s+one|one|any)\s+of\s+the\s+(?:criteria|conditions|requirements)\b[^.:;]{0,60}?"
    r"\b(?:must|need\s+to|has\s+to|have\s+to|should)\s+be\s+(?:met|satisfied|fulfilled)\b",
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
    r"(?:(?P<bullet>[-–+•*▪◦·\uf0b7\uf0a7\uf076\uf0d8\u25cf\u25cb\u25a0\u25c6\u25ba\u25b8\u27a2\u27a4\u2713\u2714\u2043\u2023\u2219o])|"
    r"(?P<decimal>(?:[A-Z]{1,2}(?=\d+\.\d))?\d{1,2}(?:\.\d{1,2}){1,3})\.?|(?P<num>\d{1,2})[.)]|\((?P<paren>[a-zA-Z0-9]{1,4})\)|"
    r"(?:Conditions?|Criterion|Criteria|Requirements?|Indications?)\s+(?P<named>\d{1,2}|[A-H])[.:)]|"
    r"(?P<alpha>[a-zA-Z]{1,4})[.)]|"
    # Lightweight markup nests by the marker's length: AsciiDoc's ". " / ".. " / "... " and "** " under "* ".
    r"(?P<depth>\.{1,5}|\*{2,5})(?=\s+[^\s.*a-z]))\s+(?P<body>\S.*)$"
)
# A criteria tree's operator tag ("[ALL]", "[ANY]", "[>=2]", "[AT LEAST 2]", "[2+]") states its node's quantifier.
_TAG = r"\[(?P<tag>ALL|AND|ANY|OR|ONE|(?:>=|\u2265|AT\s+LEAST)\s*(?P<least>\d{1,2})|(?P<plus>\d{1,2})\+)\]"
_TAG_RE = re.compile(rf"^\s*{_TAG}\s+(?=\S)", re.I)
# What a tree's item may carry before its words: a tag or a check box, then its outline number ("2.2.1").
_ITEM_LEAD_RE = re.compile(rf"^(?:{_TAG}|{_BOX})\s+(?:\d{{1,2}}(?:\.\d{{1,2}}){{0,4}}\.?\s+)?(?=\S)", re.I)
_BOX_ITEM_RE = re.compile(rf"^(?P<indent>\s*)(?P<box>{_BOX})\s+(?P<body>\S.*)$")
_ROMAN = {"i", "ii", "iii", "iv", "v", "vi", "vii", "viii", "ix", "x", "xi", "xii"}
_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8}
_TRAILING_CONJ_RE = re.compile(r"[;,]?\s*\b(?:and|or|and/or)\s*$|[;,.]\s*$", re.IGNORECASE)


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
    # The quantifier an operator tag states ("[ANY]"), as _group_type gives it.
    tag: tuple[str, int | None, float] | None = None


def _item(document: Document, line: Line) -> _Item | None:
    raw = document.line_text(line)
    match = _MARKER_RE.match(raw) or _BOX_ITEM_RE.match(raw)
    if match is None:
        return None
    groups = match.groupdict()
    number = ""
    if groups.get("depth"):
        # Each extra dot or star is a level deeper, as an indent would be.
        style = "depth" + groups["depth"][0]
    elif groups.get("bullet"):
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
    if groups.get("depth"):
        indent += 2 * (len(groups["depth"]) - 1)
    body = match.group("body")
    tag = None
    if (lead := _ITEM_LEAD_RE.match(body)) is not None:
        tag = _tag_group(lead)
        body, start = body[lead.end() :], start + lead.end()
    item = _Item(line, indent, style, body, start, line.end, _ordinal(token, style), number)
    item.tag = tag
    return item


def _tag_group(match: re.Match[str]) -> tuple[str, int | None, float] | None:
    """The group an operator tag states: "[ALL]" every branch, "[ANY]" one, "[>=2]" at least two."""
    tag = match.group("tag")
    if not tag:
        return None
    least = match.group("least") or match.group("plus")
    if least:
        return ("any_of", None, 0.9) if int(least) == 1 else ("at_least", int(least), 0.95)
    return ("all_of", None, 0.95) if tag.upper() in ("ALL", "AND") else ("any_of", None, 0.95)


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
    if (tagged := _TAG_RE.match(text)) is not None:
        return _tag_group(tagged)
    text = _unemphasized(text)
    match = GROUP_RE.search(text) or _TRAILING_GROUP_RE.search(text)
    if match is None and (required := _MUST_BE_MET_RE.search(text)):
        every = required.group("q").lower() in ("all", "each", "both")
        return ("all_of" if every else "any_of"), None, 0.85
    if match is None and (operator := _OPERATOR_RE.search(text)):
        least = operator.group("least")
        if least:
            return ("any_of", None, 0.9) if int(least) == 1 else ("at_least", int(least), 0.9)
        every = operator.group("op").lower() == "all"
        return ("all_of" if every else "any_of"), None, 0.9
    if match is None and (stated := _CRITERIA_MET_RE.search(text)):
        every = stated.group("q").lower() in ("all", "each")
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
    if quantifier in ("neither", "none"):
        # Every item must be absent: the items read as conditions met, so an editor words them as such.
        return "all_of", None, 0.6
    if quantifier in ("any", "either", "one", "one or more"):
        return "any_of", None, 0.95
    count = match.group("n").lower()
    number = int(count) if count.isdigit() else _WORDS.get(count)
    if number is None:
        return None
    return ("any_of", None, 0.9) if number == 1 else ("at_least", number, 0.95)


# Markdown and AsciiDoc emphasis ("**all** of the following", "*one* of the following") marks words; it is
# not part of them.
_EMPHASIS_RE = re.compile(
    r"(?:\*\*|__)(?=\S)(.+?)(?<=\S)(?:\*\*|__)|(?<![\w*])\*(?=[^\s*])([^*\n]+?)(?<=\S)\*(?![\w*])"
)
# A footnote's marker or inline text belongs to the page's notes, not to the criterion: AsciiDoc's
# "footnote:[...]", "[1]" / "[^1]", superscript digits after a word (not a unit's power: "kg/m²"), one
# flattened onto the label's last word ("pathologist1", as a PDF's text gives it), and a run of daggers or
# stars after a word.
_FOOTNOTE_RE = re.compile(
    r"\s*footnote:\[[^\]]*\]|\s*\[\^?\d{1,2}\]|(?:(?<=[A-Za-z]{3})|(?<=[.)\]]))[\u00b9\u00b2\u00b3\u2070\u2074-\u2079]+|(?<=[a-z]{4})\d(?=[,;:]?$)|(?<=[\w.)\]])[*\u2020\u2021]{1,3}(?=[\s,;.:]|$)"
)


# Empty cells a PDF ran onto a row's line ("... or older — —").
_EMPTY_CELLS_RE = re.compile(r"(?:\s+[—–])+\s*$")


def _unemphasized(text: str) -> str:
    return _EMPHASIS_RE.sub(lambda m: m.group(1) or m.group(2), text)


def _clean_label(text: str) -> str:
    if (operator := _OPERATOR_RE.search(text)) is not None and operator.start() > 0:
        # The operator's cell and the cells after it are the row's, not the criterion's words.
        text = text[: operator.start()]
    text = _EMPTY_CELLS_RE.sub("", text)
    text = _FOOTNOTE_RE.sub("", _unemphasized(_TAG_RE.sub("", text, count=1)))
    return _TRAILING_CONJ_RE.sub("", " ".join(text.split())).strip()


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
    if (tree := _decision_tree(document, lines, catalogue)) is not None:
        root, first, after = tree
        before = _criteria_lists(document, lines[:first], catalogue)
        found = [*before, root, *_criteria_lists(document, lines[after:], catalogue)]
    else:
        found = _criteria_lists(document, lines, catalogue)
    for node in found:
        _absent_items_documented(node)
    return found


_NEITHER_RE = re.compile(r"\b(?:neither|none)\s+of\b", re.I)


def _absent_items_documented(node: Criterion) -> None:
    """Items that must be absent ("Neither of the following:") test no fact: the fact would read present."""
    for child in node.children:
        _absent_items_documented(child)
    if node.children and _NEITHER_RE.search(node.label):
        for child in node.children:
            if child.node_type == "leaf":
                child.node_type, child.fact, child.operator, child.value = "documented", None, "", None
                child.confidence = min(child.confidence, 0.85)


# A decision tree's branch: "Yes → Step 3", "No -> Not covered", "Yes: go to question 4".
_BRANCH_RE = re.compile(
    r"^\s*(?P<answer>yes|no)\b\s*(?:[→⇒➔➜]|->|=>|[-–—:,]?\s*(?:go|proceed|continue|skip)\s+to\b)\s*(?P<target>.*)$",
    re.I,
)
# The "No" branch on the line of the "Yes" one; two badges may be run together ("Yes → GrantNo → Question 4").
_NO_BRANCH_RE = re.compile(
    r"(?:\b(?i:no)|(?<=[a-z])No)\s*(?:[→⇒➔➜]|->|=>|[-–—:,]?\s*(?i:go|proceed|continue|skip)\s+to\b)\s*(.*)$"
)
# Where a branch leads: to another step of the tree, or to an outcome.
_STEP_TARGET_RE = re.compile(r"^(?:step|question|box|node)\s+\w+", re.I)


def _decision_tree(
    document: Document, lines: Sequence[Line], catalogue: Sequence[FactSpec]
) -> tuple[Criterion, int, int] | None:
    """Steps of a decision tree, each a question with Yes / No branches, as the conditions of its approval.

    Each step's question (or the lists it asks about) must be answered Yes on the way to approval;
    a step whose "No" leads to another step has that step as its alternative. The branches are the
    tree's paths, not criteria. Returns the tree, the index of its first line and the index after
    its last branch.
    """
    branches = [n for n, line in enumerate(lines) if _BRANCH_RE.match(document.line_text(line))]
    if len(branches) < 2:
        return None
    first = branches[0]
    while first > 0 and _adjacent(lines[first - 1], lines[first]) and not lines[first].heading:
        first -= 1
    steps: list[tuple[Criterion, bool]] = []
    start = first
    for branch in branches:
        step = _tree_step(document, lines[start:branch], catalogue)
        # "Yes → Step 2 / No → Not covered" is one line or two; either names where "No" leads.
        outcome = document.line_text(lines[branch])
        following = document.line_text(lines[branch + 1]) if branch + 1 < len(lines) else ""
        no = _NO_BRANCH_RE.search(outcome)
        if no is None and (answer := _BRANCH_RE.match(following)) and answer.group("answer").lower() == "no":
            no = answer
        if step is not None:
            steps.append((step, bool(no and _STEP_TARGET_RE.match(no.groups()[-1].strip()))))
        start = branch + 1
        if start < len(lines) and _BRANCH_RE.match(document.line_text(lines[start])):
            start += 1
    if len(steps) < 2:
        return None
    children: list[Criterion] = []
    group: Criterion | None = None
    for step, otherwise in steps:
        if group is not None:
            group.children.append(step)
        elif otherwise:
            group = Criterion("any_of", "This step, or the step its No answer leads to", step.source, 0.7)
            group.children = [step]
            children.append(group)
        else:
            children.append(step)
        if not otherwise:
            group = None
    if group is not None and len(group.children) == 1:
        # The last step's "No" leads to no step after it: it has no alternative.
        children[-1] = group.children[0]
    end = min(start, len(lines))
    span = _source(document, lines[first].start, lines[end - 1].end)
    root = Criterion("all_of", "Every step of the decision tree answered Yes", span, 0.7)
    root.children = children
    return root, first, end


def _tree_step(document: Document, lines: Sequence[Line], catalogue: Sequence[FactSpec]) -> Criterion | None:
    """One step's condition: the lists its questions introduce, else its question itself."""
    if not lines:
        return None
    groups = _criteria_lists(document, lines, catalogue)
    if len(groups) == 1:
        return groups[0]
    if groups:
        # "Is any of these present? ... Or are both of these present?": the second question is an alternative.
        alternatives = any(group.label.lower().startswith("or ") for group in groups[1:])
        node = Criterion("any_of" if alternatives else "all_of", "", groups[0].source, 0.7)
        node.label = " / ".join(group.label for group in groups)
        node.children = groups
        return node
    question = next((line for line in reversed(lines) if document.line_text(line).rstrip().endswith("?")), lines[-1])
    text = document.line_text(question)
    start = question.start + len(text) - len(text.lstrip())
    item = _Item(question, 0, "step", text.strip(), start, question.end)
    node = Criterion("documented", "", _source(document, start, question.end), 0.0)
    _reset_node(document, item, node, catalogue)
    return node


def _criteria_lists(document: Document, lines: Sequence[Line], catalogue: Sequence[FactSpec]) -> list[Criterion]:
    roots: list[Criterion] = []
    ordinals: list[int | None] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        text = document.line_text(line)
        if (records := _parent_records(document, lines, i, catalogue)) is not None:
            found, i = records
            roots.extend(found)
            continue
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
            caption = _caption(document, line)
            column = _criterion_column(document.line_text(line)) or 0
            cell = document.line_text(line).split("\t")[column].strip()
            named = noun.group("noun").lower() if (noun := _CRITERION_COLUMN_RE.match(cell)) else ""
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
        if (inline := _read_inline(document, lines, i, end, catalogue)) is not None:
            root, i = inline
            roots.append(root)
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
            # A table whose rows are read as items (numbered records) has only its header as a row.
            i = rows if root.children else _read_items(document, lines, rows, root, catalogue, opening, ordinals)
        elif (rows := _read_term_rows(document, lines, end + 1, root, catalogue)) is not None or (
            rows := _read_label_pairs(document, lines, end + 1, root, catalogue)
        ) is not None:
            i = rows
        else:
            i = _read_items(document, lines, end + 1, root, catalogue, opening, ordinals)
        if referenced:
            _group_referenced(root, ordinals)
        if root.children and not _EXCLUDING_INTRO_RE.search(label):
            roots.append(root)
    return roots


# The columns of an export's table that make each row a node of a tree: its own id, its parent's id, its
# operator ("ALL", "ANY", "ATLEAST", "LEAF"), the count an "at least" node needs and its words.
_RECORD_COLUMNS = {
    "id": re.compile(r"^(?:node|criterion|row|item)?[ _]?(?:id|key)$", re.I),
    "parent": re.compile(r"^parent(?:[ _]?(?:id|key|node))?$", re.I),
    "operator": re.compile(r"^(?:operator|op|logic|node[ _]?type|type|kind|group[ _]?type)$", re.I),
    "min_met": re.compile(r"^(?:min(?:imum)?[ _]?(?:met|count)?|at[ _]?least|threshold|required[ _]?count)$", re.I),
    "text": re.compile(r"^(?:value|text|label|description|criterion|wording|statement)$", re.I),
}
_DELIMITERS = (",", ";", "|", "\t")
# An operator cell's word: every branch, one of them, at least N of them, or none (a leaf).
_RECORD_OPERATOR_RE = re.compile(
    r"^(?:(?P<all>all|and|all[ _]of)|(?P<any>any|or|one|any[ _]of|one[ _]of)|(?P<least>at[ _]?least|min|n[ _]of)"
    r"|(?P<leaf>leaf|condition|criterion|test|item))$",
    re.I,
)


def _record_header(text: str) -> tuple[str, dict[str, int]] | None:
    """The delimiter and the tree's columns of an export's header row, when it names an id, a parent and words."""
    if "parent" not in text.lower():
        return None
    for delimiter in _DELIMITERS:
        if delimiter not in text:
            continue
        names = [name.strip().strip('"') for name in next(csv.reader([text], delimiter=delimiter))]
        columns: dict[str, int] = {}
        for role, pattern in _RECORD_COLUMNS.items():
            at = next((n for n, name in enumerate(names) if pattern.match(name) and n not in columns.values()), None)
            if at is not None:
                columns[role] = at
        if {"id", "parent", "text"} <= columns.keys():
            columns["width"] = len(names)
            return delimiter, columns
    return None


def _parent_records(
    document: Document, lines: Sequence[Line], i: int, catalogue: Sequence[FactSpec]
) -> tuple[list[Criterion], int] | None:
    """A tree exported as rows that name their parent (a CSV of a policy system): each root with its nodes.

    Under a header naming an id, a parent id and the words, a row is a node of the criteria when its
    operator column names a group or a leaf, or its parent is such a node; other rows (the
    policy's metadata, codes, notes) are no criteria. Returns the trees and the index after the rows.
    """
    header = _record_header(document.line_text(lines[i]))
    if header is None:
        return None
    delimiter, columns = header
    nodes: dict[str, Criterion] = {}
    parents: list[tuple[str, str]] = []
    end = i + 1
    while end < len(lines) and _adjacent(lines[end - 1], lines[end]):
        raw = document.line_text(lines[end])
        cells = next(csv.reader([raw], delimiter=delimiter), [])
        if len(cells) != columns["width"]:
            if raw.lstrip().startswith("#"):
                end += 1
                continue
            break
        end += 1
        key, parent, words = (cells[columns[role]].strip() for role in ("id", "parent", "text"))
        operator = cells[columns["operator"]].strip() if "operator" in columns else ""
        named = _RECORD_OPERATOR_RE.match(operator)
        if not key or not words or (named is None and parent not in nodes):
            continue
        start = lines[end - 1].start + max(raw.rfind(words), 0)
        item = _Item(lines[end - 1], 0, "record", words, start, start + len(words))
        node = Criterion("documented", "", _source(document, item.text_start, item.text_end), 0.0)
        _reset_node(document, item, node, catalogue)
        least = cells[columns["min_met"]].strip() if "min_met" in columns else ""
        if named is not None and named.group("all"):
            _make_group(node, "all_of", None, 0.95)
        elif named is not None and named.group("any"):
            _make_group(node, "any_of", None, 0.95)
        elif named is not None and named.group("least") and least.isdigit():
            _make_group(
                node, "any_of" if int(least) == 1 else "at_least", None if int(least) == 1 else int(least), 0.95
            )
        nodes[key] = node
        parents.append((key, parent))
    roots: list[Criterion] = []
    for key, parent in parents:
        if parent in nodes and parent != key:
            owner = nodes[parent]
            if owner.node_type in ("leaf", "documented"):
                _make_group(owner, "all_of", None, 0.6)
            owner.children.append(nodes[key])
        else:
            roots.append(nodes[key])
    return [root for root in roots if root.children], end


# An introduction that lists when the service is not covered ("... is not medically necessary when any of
# the following is present:") lists contraindications or exclusions: its items are no conditions to meet.
_EXCLUDING_INTRO_RE = re.compile(
    r"\b(?:is|are)\s+(?:considered\s+)?(?:not\s+(?:medically\s+necessary|covered|reasonable)|investigational"
    r"|experimental|unproven)\b[^.:;]*?\b(?:when|if)\b[^.:;]*\bfollowing\b",
    re.I,
)


# The column of a criteria table that holds the criterion; the others ("#", "Documentation required") do not.
# A comparison names its column for the wording's version too: "Revised criteria (from April 1)".
_CRITERION_COLUMN_RE = re.compile(
    r"^(?:(?:revised|new|proposed|updated|amended)\s+)?(?P<noun>criteri(?:on|a)|conditions?|requirements?|indications?)"
    r"(?:\s*\([^()]*\))?$",
    re.I,
)


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
    if i < len(lines) and _adjacent(lines[i - 1], lines[i]) and _RULE_LINE_RE.match(document.line_text(lines[i])):
        i += 1
    if column > 0 and i < len(lines) and _operator_cell(document.line_text(lines[i]).split("\t")[0]) is not None:
        return _read_operator_rows(document, lines, i, root, catalogue)
    # The row read last and its node, which a wrapped line continues; the top-level row a nested one joins.
    last: tuple[_Item, Criterion] | None = None
    outer: Criterion | None = None
    # A row announcing its sub-rows by a word that counts them ("both of the following:").
    announced: Criterion | None = None
    outer_marker = ""
    while i < len(lines) and _adjacent(lines[i - 1], lines[i]):
        raw = document.line_text(lines[i])
        cells = raw.split("\t")
        sub = _SUB_MARKER_RE.match(raw) if len(cells) == 1 and outer_marker and column == 1 else None
        # A sub-item's marker extends its row's ("2A", "2.1" under "2"), however narrow the gap after it.
        if sub and sub.group("marker").startswith(outer_marker) and sub.group("marker") != outer_marker:
            cells = [raw[: sub.end("marker")], raw[sub.end() :]]
            raw = raw[: sub.end("marker")] + " " * (sub.end() - sub.end("marker"))
        if len(cells) == 1 and last is not None and raw.startswith(" ") and raw.strip():
            # A fixed-width print wraps a long cell onto an indented line under its column.
            item, node = last
            item.text_end = lines[i].end
            item.text = document.text[item.text_start : item.text_end]
            _reset_node(document, item, node, catalogue)
            i += 1
            continue
        if len(cells) != len(header) or not cells[column].strip():
            break
        start = lines[i].start + sum(len(cell) + 1 for cell in cells[:column])
        start += len(cells[column]) - len(cells[column].lstrip())
        if len(cells) == 2 and raw != document.line_text(lines[i]):
            # The sub-item's text follows its marker and the blank after it, not a tab.
            start = lines[i].start + len(raw)
        item = _Item(lines[i], 0, "row", cells[column].strip(), start, start + len(cells[column].strip()))
        first = cells[0].strip().rstrip(".")
        item.ordinal = _ordinal(first, "number") if column > 0 and (first.isdigit() or len(first) == 1) else None
        node = Criterion("documented", "", _source(document, item.text_start, item.text_end), 0.0)
        _reset_node(document, item, node, catalogue)
        if column > 0 and raw.startswith(" ") and outer is not None:
            # A row indented under another ("2A" under "2 Any of these:") is its sub-item.
            if outer.node_type in ("leaf", "documented"):
                _make_group(outer, "all_of", None, 0.6)
            outer.children.append(node)
        elif announced is not None and len(announced.children) < _pair_count(announced.label):
            # The rows after "... shown by both of the following:" are its two, however a page lost their indent.
            announced.children.append(node)
        else:
            root.children.append(node)
            ordinals.append(item.ordinal)
            outer, outer_marker = node, first
            announced = node if _announces(node) else None
        last = (item, node)
        i += 1
    return i


# A cell that only names how many of the rows beside it must be met, merged over those rows: "ALL of",
# "ANY of", "AT LEAST 2 of", "Either".
_OPERATOR_CELL_RE = re.compile(
    r"^(?P<q>all|any|one|each|both|either|none|neither|at\s+least\s+(?:\d{1,2}|one|two|three|four|five))"
    r"(?:\s+of)?(?:\s+(?:the\s+following|these))?\s*:?$",
    re.I,
)


# A cell holds a criterion; a paragraph of sentences after the table is no row of it.
_SENTENCES_RE = re.compile(r"[.!?]\s+[A-Z]")


# An introduction's word that counts its items: "both" and "either" name two.
_PAIR_WORD_RE = re.compile(r"\b(?:both|either|neither)\s+(?:of\s+)?(?:the\s+following|these)\b", re.I)


def _pair_count(label: str) -> int:
    """How many items an introduction's own words count, or 0 when they do not."""
    return 2 if _PAIR_WORD_RE.search(label) else 0


def _operator_cell(cell: str) -> tuple[str, int | None, float] | None:
    """The group an operator cell states, in the words an introduction would use."""
    match = _OPERATOR_CELL_RE.match(cell.strip())
    return _group_type(f"{match.group('q')} of the following") if match else None


# A merged operator cell whose rows keep empty cells under it: the text shows where its group ends.
_PLACED_GROUP_CONFIDENCE = 0.85


def _read_operator_rows(
    document: Document, lines: Sequence[Line], i: int, root: Criterion, catalogue: Sequence[FactSpec]
) -> int:
    """Rows of a criteria table whose first column merges an operator cell ("ALL of") over the rows it joins.

    The first row's operator is the table's own. A later row's operator cell opens a group of the
    rows from it on; one more operator cell in the same row opens a group inside that one. A row
    that keeps the merged cells above it as empty cells says by them which group it is in; a row
    whose merged cells the text left out holds only its criterion and joins the group open above
    it: where a merged cell ends cannot be seen then, so such a group is marked unsure until a row
    under it shows its empty cells. Returns the index after the rows.
    """
    # Each open group with the column of its operator cell; the table's own stands in the first.
    open_groups: list[tuple[Criterion, int]] = [(root, 0)]
    first = True
    while i < len(lines) and (i == 0 or _adjacent(lines[i - 1], lines[i])):
        raw = document.line_text(lines[i])
        cells = [cell.strip() for cell in raw.split("\t")]
        lead = next((n for n, cell in enumerate(cells) if cell), len(cells))
        words = cells[lead:]
        if not words or not all(words):
            break
        operators = [_operator_cell(cell) for cell in words[:-1]]
        if _operator_cell(words[-1]) is not None:
            break
        if len(words) == 1 and (
            lines[i].heading
            or (i + 1 < len(lines) and _criterion_column(document.line_text(lines[i + 1])) is not None)
            or words[0].endswith(":")
            or _SENTENCES_RE.search(words[0])
        ):
            # A heading, the next table's caption above its header, or a paragraph after the table.
            break
        if lead:
            # The empty cells under merged ones: the row is in the groups whose operators stand left of them.
            open_groups = [(group, column) for group, column in open_groups if column < lead]
            for group, _ in open_groups[1:]:
                group.confidence = _PLACED_GROUP_CONFIDENCE
        for depth, (cell, operator) in enumerate(zip(words[:-1], operators, strict=True)):
            if operator is None:
                return i
            if first and depth == 0 and not lead:
                _make_group(root, *operator)
                root.confidence = operator[2]
                continue
            # Without empty cells a later operator stands in the column after the table's own.
            column = max(lead + depth, 1)
            open_groups = [(group, at) for group, at in open_groups if at < column]
            start = lines[i].start + raw.find(cell)
            group = Criterion(operator[0], cell, _source(document, start, start + len(cell)), 0.5, operator[1])
            open_groups[-1][0].children.append(group)
            open_groups.append((group, column))
        start = lines[i].start + raw.rfind(words[-1])
        item = _Item(lines[i], 0, "row", words[-1], start, start + len(words[-1]))
        node = Criterion("documented", "", _source(document, start, item.text_end), 0.0)
        _reset_node(document, item, node, catalogue)
        open_groups[-1][0].children.append(node)
        first = False
        i += 1
    return i


# An inline enumeration's marker: "(1)", "(a)", "2)", "b)" after the start, a blank or a joining mark.
_INLINE_MARKER_RE = re.compile(
    r"(?:(?<=^)|(?<=[\s:;,]))(?:\((?P<paren>\d{1,2}|[a-z])\)|(?P<close>\d{1,2}|[a-z])\))(?=\s)"
)
# Where an introduction ends and its inline list begins: "... are met: (1) the member ...".
_INLINE_START_RE = re.compile(r":\s+(?=\(?(?:1|a)\)\s)")
# The sentence the list closes: a full stop before a capital or at a line's end.
_SENTENCE_STOP_RE = re.compile(r"\.(?=\s+[A-Z]|\s*$)")
# The joining words and marks between inline items, which belong to neither item.
_INLINE_JOIN_RE = re.compile(r"(?:[\s;,]|\b(?:and|or|and/or)\b)*$", re.I)


def _inline_markers(text: str, start: int, end: int) -> list[re.Match[str]]:
    """The longest run of markers of one kind counting 1, 2, 3 (or a, b, c) from the first one found."""
    found: list[re.Match[str]] = []
    kind = ""
    for match in _INLINE_MARKER_RE.finditer(text, start, end):
        token = match.group("paren") or match.group("close")
        this = ("paren" if match.group("paren") else "close") + ("digit" if token.isdigit() else "alpha")
        ordinal = int(token) if token.isdigit() else ord(token) - ord("a") + 1
        if not found:
            if ordinal == 1:
                found, kind = [match], this
            continue
        if this == kind and ordinal == len(found) + 1:
            found.append(match)
    return found


def _inline_spans(text: str, markers: list[re.Match[str]], end: int) -> list[tuple[int, int]]:
    """Each item's text between its marker and the next, without the joining "; and" between them."""
    spans = []
    for n, marker in enumerate(markers):
        stop = markers[n + 1].start() if n + 1 < len(markers) else end
        body = text[marker.end() : stop]
        joining = _INLINE_JOIN_RE.search(body) if n + 1 < len(markers) else None
        body = body[: joining.start()] if joining else body.rstrip()
        start = marker.end() + len(body) - len(body.lstrip())
        spans.append((start, marker.end() + len(body)))
    return spans


def _inline_node(
    document: Document, offset: int, text: str, span: tuple[int, int], catalogue: Sequence[FactSpec]
) -> Criterion:
    """One inline item; one holding an inline list of its own ("either (a) ... or (b) ...") is a group of it."""
    start, end = span
    markers = _inline_markers(text, start, end)
    if len(markers) < 2:
        item = _Item(
            Line(offset + start, offset + end, False, 0), 0, "inline", text[start:end], offset + start, offset + end
        )
        node = Criterion("documented", "", _source(document, offset + start, offset + end), 0.0)
        _reset_node(document, item, node, catalogue)
        return node
    head = text[start : markers[0].start()]
    joiner = text[markers[-2].end() : markers[-1].start()]
    alternatives = re.search(r"\b(?:either|one\s+of|any\s+of)\s*$", head, re.I) or re.search(r"\bor\s*$", joiner, re.I)
    node_type = "any_of" if alternatives else "all_of"
    label = _clean_label(head) or text[start:end]
    group = Criterion(node_type, label, _source(document, offset + start, offset + end), 0.85)
    group.children = [_inline_node(document, offset, text, sub, catalogue) for sub in _inline_spans(text, markers, end)]
    return group


def _read_inline(
    document: Document, lines: Sequence[Line], i: int, end: int, catalogue: Sequence[FactSpec]
) -> tuple[Criterion, int] | None:
    """A list enumerated inside one paragraph: "... when all of the following are met: (1) ...; (2) ...; and (3) ...".

    The introduction is on lines i to end (a page may wrap it); the paragraph runs on over the
    lines a page wrapped it onto, to the full stop that closes the sentence after its last item.
    Returns the list and the index after its last line.
    """
    opening = _INLINE_START_RE.search(document.line_text(lines[end]))
    if opening is None:
        return None
    offset = lines[i].start
    colon = lines[end].start - offset + opening.start() + 1
    intro = " ".join(document.text[offset : offset + colon].split())
    group = _group_type(intro)
    if group is None:
        return None
    last = end
    while (
        last + 1 < len(lines)
        and last - i < 30
        and not document.line_text(lines[last]).rstrip().endswith((".", ":"))
        and _adjacent(lines[last], lines[last + 1])
        and not lines[last + 1].heading
        and _item(document, lines[last + 1]) is None
    ):
        last += 1
    text = document.text[offset : lines[last].end]
    markers = _inline_markers(text, colon, len(text))
    if len(markers) < 2:
        return None
    stop = _SENTENCE_STOP_RE.search(text, markers[-1].end())
    close = stop.start() if stop else len(text)
    node_type, min_met, confidence = group
    root = Criterion(node_type, _clean_label(intro), _source(document, offset, offset + colon), confidence, min_met)
    root.children = [
        _inline_node(document, offset, text, span, catalogue) for span in _inline_spans(text, markers, close)
    ]
    used = next((n for n in range(end, last + 1) if lines[n].end >= offset + close), last)
    return root, used + 1


def _read_term_rows(
    document: Document, lines: Sequence[Line], i: int, root: Criterion, catalogue: Sequence[FactSpec]
) -> int | None:
    """Rows of a definition grid under the introduction: each row's definition is one item, its term only a label.

    A two-column layout ("Weight | The patient weighs under 40 kg") names each condition's topic
    beside it; the condition is the definition. The rows are read from the document's own lines, as
    a term may read as a heading ("Exclusions") to the sections. Returns the index in `lines`
    after the rows, or None when there are fewer than two.
    """
    if i == 0 or i > len(lines):
        return None
    everything = document.lines
    at = bisect.bisect_left([line.start for line in everything], lines[i - 1].start) + 1
    definitions: list[Line] = []
    while at + 1 < len(everything) and everything[at].term and not everything[at + 1].term:
        definitions.append(everything[at + 1])
        at += 2
    if len(definitions) < 2:
        return None
    for line in definitions:
        raw = document.line_text(line)
        start = line.start + len(raw) - len(raw.lstrip())
        item = _Item(line, 0, "row", raw.strip(), start, line.end)
        node = Criterion("documented", "", _source(document, item.text_start, item.text_end), 0.0)
        _reset_node(document, item, node, catalogue)
        root.children.append(node)
    return bisect.bisect_right([line.start for line in lines], definitions[-1].start)


# A criterion's tag set above it, as a definition list's term is when its page is read as text: a few
# words, no sentence.
_PAIR_LABEL_RE = re.compile(r"^[A-Za-z0-9][\w/&()'’+-]*(?: [\w/&()'’+-]+){0,3}$")


def _pair_at(document: Document, lines: Sequence[Line], j: int) -> bool:
    """Whether lines j and j + 1 are a short tag and the criterion it labels ("Glycemic control" / "HbA1c of ...")."""
    if j + 1 >= len(lines) or not _adjacent(lines[j], lines[j + 1]) or lines[j].heading or lines[j + 1].heading:
        return False
    label, text = document.line_text(lines[j]), document.line_text(lines[j + 1])
    return (
        _PAIR_LABEL_RE.match(label) is not None
        and len(label) <= 40
        and _group_type(label) is None
        and text == text.strip()
        and len(text.split()) >= 3
        and len(text) > len(label)
        and _item(document, lines[j + 1]) is None
        and _SENTENCES_RE.search(text) is None
    )


def _read_label_pairs(
    document: Document, lines: Sequence[Line], i: int, root: Criterion, catalogue: Sequence[FactSpec]
) -> int | None:
    """Criteria each under a short tag of its own, as a definition list reads when its markup is gone.

    The criterion is the item, the tag only its topic. A criterion that announces sub-items ("shown
    by at least one of the following:") takes the pairs after it; where that inner list ends cannot
    be seen in the text, so its group is marked unsure. Returns the index after the pairs, or None
    when fewer than two pairs follow the introduction.
    """
    if not (_pair_at(document, lines, i) and _pair_at(document, lines, i + 2)):
        return None
    open_groups = [root]
    while _pair_at(document, lines, i) and (i == 0 or _adjacent(lines[i - 1], lines[i])):
        line = lines[i + 1]
        item = _Item(line, 0, "pair", document.line_text(line), line.start, line.end)
        node = Criterion("documented", "", _source(document, line.start, line.end), 0.0)
        _reset_node(document, item, node, catalogue)
        open_groups[-1].children.append(node)
        counted = _pair_count(open_groups[-1].label)
        if len(open_groups) > 1 and counted and len(open_groups[-1].children) >= counted:
            # "Both of the following:" has its two; the pairs after them are the outer list's again.
            open_groups.pop()
        if _announces(node):
            node.confidence = min(node.confidence, 0.85 if _pair_count(node.label) else 0.5)
            open_groups.append(node)
        i += 2
    return i


# A sub-item's marker at the start of an indented row: "2A", "04C", "2.1".
_SUB_MARKER_RE = re.compile(r"^\s+(?P<marker>\d{1,2}(?:[A-Za-z]|\.\d{1,2}))\s+(?=\S)")


# A rule drawn under a table's header or between sections: dashes, equals signs and blanks only.
_RULE_LINE_RE = re.compile(r"^[-=_ ]{3,}$")


def _caption(document: Document, line: Line) -> str:
    """The line above a table, past the rules drawn between them."""
    before = document.text[: line.start].rstrip("\n").split("\n")
    while before and _RULE_LINE_RE.match(before[-1]):
        before.pop()
    return before[-1] if before else ""


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
    # Whether the list's wrapped lines hang deeper than their items' markers.
    hanging = False
    # Bullets a copy dropped leave the items as indented lines: each is one item.
    bare = _bare_item(document, lines[i]) is not None if i < len(lines) else False
    while i < len(lines):
        item = _bare_item(document, lines[i]) if bare else _item(document, lines[i])
        if bare and item is not None and last is not None and _hangs_under(document, lines, i, last):
            # Without markers, a wrapped line hangs deeper than its item's first line, as a sub-item
            # would; only a line that cannot end a sentence above it says it is the wrapped rest.
            item = None
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
            cell = _ROW_CELL_RE.match(text) if last is not None and last.number[:1].isalpha() else None
            indent = len(text) - len(text.lstrip(" "))
            # Once the list's wrapped lines hang under their items' words, a line back at the markers'
            # column starts a paragraph of its own, unless it plainly finishes the sentence above.
            hung_out = hanging and last is not None and indent <= last.indent
            if (
                last is not None
                and last_node is not None
                and text.strip()
                and _adjacent(lines[i - 1], lines[i])
                and (
                    (text.startswith(" ") and not hung_out)
                    or _soft_wrapped(document.line_text(lines[i - 1]), text.lstrip(" ") if hung_out else text)
                    or (cell is not None and (cell.group("words") or cell.group("operator")))
                )
            ):
                hanging = hanging or (not bare and last is not None and indent > last.indent)
                last.text_end = lines[i].end
                last.text = document.text[last.text_start : last.text_end]
                _reset_node(document, last, last_node, catalogue)
                i += 1
                continue
            if cell is not None and _adjacent(lines[i - 1], lines[i]):
                # The row's other cells set on a line of their own: the criterion's words end above them.
                i += 1
                continue
            if (after := _note_between_items(document, lines, i, levels)) is not None:
                i = after
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


# The rest of a criteria table's row that a PDF set on lines of its own under a numbered criterion ("C1.2"):
# its operator ("ANY of C1.2.1-C1.2.3"), an empty or short documentation cell ("— —", "— Plan of care",
# "Both readings"), or the criterion's last words in brackets ("(multifocal)").
_ROW_CELL_RE = re.compile(
    r"^\s*(?:—.*|(?P<operator>(?i:all|any|at\s+least\s+\d{1,2}|one)\s+of\s+[A-Z]{0,2}\d.*)|(?P<words>\([^()]{1,40}\))"
    r"|[A-Z]\S*(?:\s+\S+){0,2})\s*$"
)
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


# How many unmarked lines a note between two items of a list may run to.
_NOTE_LINES = 3


def _note_between_items(document: Document, lines: Sequence[Line], i: int, levels: list[_Open]) -> int | None:
    """The index of the item after a note set between a list's items, when the item after it carries on the numbering.

    An editor's note or a comment's anchor paragraph ("Medical therapy includes ...") may stand
    between "4." and "5." of one list; the list goes on after it. Returns None when no item within
    a few lines continues an open level's numbering.
    """
    for j in range(i, min(i + _NOTE_LINES, len(lines) - 1)):
        if not _adjacent(lines[j], lines[j + 1]) or lines[j + 1].heading or lines[j].heading:
            return None
        if _group_type(document.line_text(lines[j])) is not None:
            return None
        if (item := _item(document, lines[j + 1])) is not None:
            return j + 1 if _continued_level(levels, item) is not None else None
    return None


def _hangs_under(document: Document, lines: Sequence[Line], i: int, last: _Item) -> bool:
    """Whether an unmarked line indented deeper than the item above carries on that item's sentence."""
    text = document.line_text(lines[i])
    indent = len(text) - len(text.lstrip(" "))
    previous = document.line_text(lines[i - 1])
    return indent > last.indent and _adjacent(lines[i - 1], lines[i]) and _soft_wrapped(previous, text.strip())


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
    text = item.text
    if item.number[:1].isalpha():
        # A criteria table's row ("C1.2 ...") ran onto one line: its documentation cell follows a dash.
        text = text.split(" — ", 1)[0]
    node.label = _clean_label(text)
    node.source = _source(document, item.text_start, item.text_end)
    group = item.tag or _group_type(item.text)
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
