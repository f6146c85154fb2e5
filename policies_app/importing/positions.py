"""Coverage positions, per indication where the document distinguishes them."""

from __future__ import annotations

import re
from collections.abc import Sequence

from policies_app.importing.readers import Document, Line
from policies_app.importing.result import Field
from policies_app.importing.spans import field_at
from policies_app.importing.structure import Section, section_text_lines
from policies_app.importing.terms import strip_marks

_POSITIONS: list[tuple[str, re.Pattern[str]]] = [
    ("experimental_investigational", re.compile(r"^\W*experimental\s*(?:/|,|and|or)\s*investigati(?:onal|ve)", re.I)),
    ("investigational", re.compile(r"^\W*investigati(?:onal|ve)|^\W*unproven", re.I)),
    ("experimental_investigational", re.compile(r"^\W*experimental", re.I)),
    (
        "not_medically_necessary",
        # Emphasis may open before the negation ("is **not medically necessary**").
        re.compile(r"^(?:\*{1,2}|_{1,2})?not\s+(?:medically\s+necessary|reasonable\s+and\s+necessary|covered)", re.I),
    ),
    ("cosmetic", re.compile(r"^\W*cosmetic", re.I)),
    (
        "medically_necessary_with_criteria",
        re.compile(
            r"^\W*(?:medically\s+necessary|reasonable\s+and\s+necessary|covered|approved|authorized)\b[^.]*?\b(?:when|if|for\s+(?:individuals|patients|members|beneficiaries)\s+who|"
            r"(?:who|that)\s+meet|following|criteria|"
            # A condition stated inline: "while the member continues to benefit", "for members 18 years
            # of age or older", "with a score of 70 or higher".
            r"while\s+(?:the\s+)?(?:members?|patients?|individuals?|beneficiar(?:y|ies))\b|"
            # A limit the service must keep meeting: "only while range of motion keeps improving".
            r"only\s+(?:while|as\s+long\s+as|until)\b|"
            r"\d+\s+years?\s+(?:of\s+age\s+|old\s+)?or\s+(?:older|younger)|\d+\s+or\s+(?:higher|greater|more|less|lower)\b)",
            re.I,
        ),
    ),
    ("medically_necessary", re.compile(r"^\W*(?:medically\s+necessary|reasonable\s+and\s+necessary)", re.I)),
]
_POSITION_WORDS_RE = re.compile(
    r"medically\s+necessary|reasonable\s+and\s+necessary|experimental|investigati|unproven|cosmetic", re.I
)
_PROVEN_RE = re.compile(r"^\W*proven\s+and\s+", re.I)
# "Meridian considers X medically necessary when ...": the subject sits between the verb and the position.
CONSIDERS_RE = re.compile(
    r"\b(?P<neg>(?:does|do)\s+not\s+)?(?:considers?|covers?)\s+(?P<subject>.+?)\s+(?:as\s+)?(?P<predicate>(?:not\s+)?(?:medically\s+necessary|experimental|investigati|unproven|cosmetic|reasonable\s+and\s+necessary).*)$",
    re.I,
)
# "Covered", "approved" and "authorized" state a position only beside the criteria they depend on:
# "is covered when medically necessary and the criteria below are met", "is approved for 6 months when
# the member meets all of the following", not "is covered when billed with modifier 59".
_CRITERIA_CUE_RE = re.compile(
    r"\b(?:medically\s+necessary|criteria|criterion|following|(?:are|is)\s+met|meets?|"
    # A clinical finding the records must show: "covered when progression is documented again".
    r"(?:is|are|has\s+been|have\s+been)\s+documented|"
    # A response the member must show: "when the score improved by at least 2 points".
    r"(?:has\s+|have\s+)?(?:improved|responded)\s+(?:by|to)\b)\b",
    re.I,
)
# "The plan may authorize coverage of X for a member who meets all of the following criteria:" names
# its subject after the verb, as "considers X medically necessary" does.
_AUTHORIZES_RE = re.compile(
    r"\b(?P<neg>not\s+)?(?:authorizes?|approves?|covers?)\s+(?:coverage\s+of\s+|payment\s+for\s+)?"
    r"(?P<subject>.+?)\s+(?:when|if|for\s+(?:an?\s+|the\s+)?(?:members?|individuals?|patients?|beneficiar(?:y|ies)|adults?|children)\s+who)\b"
    r"(?P<cue>.*)$",
    re.I,
)
# "is covered when medically necessary, for example for ...": medical necessity is the only condition
# and no criteria follow, so the position is plain medical necessity.
_WHEN_NECESSARY_RE = re.compile(
    r"^\W*(?:covered|approved)\s+(?:only\s+)?(?:when|if)\s+(?:it\s+is\s+|they\s+are\s+)?medically\s+necessary\b"
    r"(?![^.]*\b(?:following|criteria|criterion|(?:are|is)\s+met|meets?)\b)",
    re.I,
)
# Medical necessity named as a noun: "X meets the definition of medical necessity when ...".
_NECESSITY_PHRASE_RE = re.compile(
    r"^(?P<subject>.+?)(?<!\bnot)(?<!\bnever)\s+(?:meets?|satisf(?:y|ies))\s+(?:the\s+)?(?:definition|criteria|standard)\s+(?:of|for)\s+"
    r"medical\s+necessity\b(?P<rest>.*)$",
    re.I,
)
# "Coverage of X is limited to members who meet all of the following": the criteria are the coverage.
_LIMITED_TO_RE = re.compile(
    r"^(?:coverage|benefits?)\s+(?:of|for)\s+(?P<subject>.+?)\s+(?:is|are)\s+limited\s+to\s+(?:the\s+)?"
    r"(?:members?|individuals?|patients?|beneficiar(?:y|ies)|enrollees?|those)\s+who\s+meet\b.*\b(?:following|criteria)\b",
    re.I,
)
VERB_RE = re.compile(
    r"\b(?:is|are|will\s+be|may\s+be|shall\s+be|be)\s+(?P<neg>not\s+)?(?:(?:considered|deemed)\s+(?:to\s+be\s+)?)?",
    re.I,
)
# A position kept through a change states it too: "X remains investigational", "continues to be not covered".
_POSITION_VERB_RE = re.compile(
    r"\b(?:is|are|will\s+be|may\s+be|shall\s+be|be|remains?|continues?\s+to\s+be)\s+(?P<neg>not\s+)?"
    r"(?:(?:considered|deemed)\s+(?:to\s+be\s+)?)?",
    re.I,
)
# "... is not covered under section A": a remark on another statement's reach, which that statement
# already positions, not a position of its own.
_OTHER_STATEMENT_RE = re.compile(
    r"not\s+covered\s+(?:under|by|in)\s+(?:section|item|part|paragraph|statement)s?\s+\(?[A-Z0-9]{1,4}\b", re.I
)
# "Low-power units are not covered under this policy": a remark on the policy's reach, with no reason
# (investigational, not medically necessary) that would make it a position.
_THIS_POLICY_RE = re.compile(
    r"not\s+covered\s+(?:under|by|in)\s+this\s+(?:policy|guidelines?|document|bulletin)\W*$", re.I
)
# "... allows coverage of services that are reasonable and necessary": a verb right after a relative
# pronoun belongs to a clause narrowing a noun, which the sentence states no position on. After a comma
# the clause adds to its noun instead ("Stenting of the siphon, which is investigational"), a position.
_RELATIVE_CLAUSE_RE = re.compile(r"(?<!,)\s+(?:that|which|who)\s*$", re.I)
# "The Acme ceramic hip is investigational (see Policy)": a remark sending the reader to the statement
# that states the position, which is read there.
_POINTS_BACK_RE = re.compile(
    r"\(\s*see\s+(?:the\s+)?(?:(?:policy|position|coverage)(?:\s+(?:statement|section))?(?:\s+above)?|above)\s*\)\W*$",
    re.I,
)
# A full stop inside a word or a number ("G47.33", "section I.D", "3.5%") ends no sentence.
# "Braces are a dental benefit and are not covered under this policy": the service belongs to another
# benefit, which the sentence names instead of stating a position on it.
_OTHER_BENEFIT_RE = re.compile(
    r"\b(?:is|are)\s+(?:an?\s+|part\s+of\s+the\s+(?:member'?s\s+)?)(?!covered\b|medical\b)(?:\w+\s+){0,2}benefit\b(?!\s+(?:of|to)\b)",
    re.I,
)
_SENTENCE_RE = re.compile(r"(?:[^.!?\n]++|[.!?](?=[^\s.!?]))+(?:[.!?](?=\s|$)|(?=\n)|$)")


# A paragraph the reader keeps as one line may still hold the page's line breaks ("... medically
# necessary for the treatment of major\ndepressive disorder when ..."): such a break goes on with the
# sentence, unless the sentence ended before it or a list item starts after it.
_INLINE_WRAP_RE = re.compile(r"(?<![.!?:;\n])\n(?![ \t]*(?:[-•*▪◦·]|\(?\d{1,2}[.)]|\(?[a-z][.)])\s|[ \t]*\n)")


def _sentences(document: Document, lines: Sequence[Line]) -> list[tuple[int, int, str]]:
    found: list[tuple[int, int, str]] = []
    for line in lines:
        # One character for one, so that offsets into the line still hold.
        text = _INLINE_WRAP_RE.sub(" ", document.line_text(line))
        for match in _SENTENCE_RE.finditer(text):
            sentence = match.group(0)
            stripped = sentence.strip()
            if stripped:
                start = line.start + match.start() + sentence.index(stripped)
                found.append((start, start + len(stripped), stripped))
    return found


# A sentence printed over several lines goes on where the line before stopped mid-sentence and the
# next line starts in lower case ("Testing of members with no history suggestive of a syndrome" /
# "is not medically necessary."), or where the line before stopped on a word no sentence ends with
# ("... replacement (single level, with an" / "FDA-approved device) ..."). A list item starts anew.
_CONTINUES_RE = re.compile(r"^\s*[a-z(]")
_UNFINISHED_RE = re.compile(
    r"(?:,|\b(?:a|an|the|of|and|or|with|without|for|to|in|on|by|than|when|if|who|that|is|are|be|as|at|from))$", re.I
)
_ITEM_START_RE = re.compile(r"^\s*(?:[-•*▪◦·]|\(?\d{1,2}[.)]|\(?[a-z][.)]|\(?[ivx]{1,4}[.)])\s")
# A plain-text paragraph filled to its width: a line this long that stops short of a full stop wraps
# onto the next even where that line opens on a name ("... necessary for suspected" / "Crohn's disease ...").
# Only a line stating a position in its words is read so: a line of other prose keeps its own reading.
_FILLED_LINE = 60


# A sentence is closed by its stop, also where a quotation or a bracket closes after it (`... are met."`).
_CLOSED_RE = re.compile(r"[.!?:;][\"'”’)\]]*$")
# A title underlined in plain text (reStructuredText, Markdown's setext headings).
_UNDERLINE_RE = re.compile(r"^[ \t]*([-=~^*#])\1{2,}[ \t]*$")


def _filled_line(document: Document, sentence: str, line: Line, following: Line | None) -> bool:
    """Whether `sentence`, open at the end of its line, is a filled paragraph's line wrapping onto `line`."""
    return (
        document.layout == "text"
        and len(sentence) >= _FILLED_LINE
        and bool(_POSITION_WORDS_RE.search(sentence))
        and "\t" not in sentence
        and "\t" not in document.line_text(line)
        and not _ITEM_START_RE.match(sentence)
        and not (following is not None and _UNDERLINE_RE.match(document.line_text(following)))
    )


def _wrapped_sentences(document: Document, lines: Sequence[Line]) -> list[tuple[int, int, str]]:
    """The sentences of `lines`, each whole even where the document wraps it over several lines."""
    found: list[tuple[int, int, str]] = []
    after: dict[int, Line] = {id(a): b for a, b in zip(document.lines, document.lines[1:], strict=False)}
    chosen = {id(line) for line in lines}
    open_sentence: tuple[int, int, str] | None = None
    for line in lines:
        own = _sentences(document, [line])
        text = document.line_text(line)
        if (
            open_sentence is not None
            and own
            and not line.heading
            and not _ITEM_START_RE.match(text)
            and (
                _CONTINUES_RE.match(text)
                or _UNFINISHED_RE.search(open_sentence[2])
                or open_sentence[2].count("(") > open_sentence[2].count(")")
                or _filled_line(document, open_sentence[2], line, after.get(id(line)))
            )
        ):
            start, _, text = open_sentence
            own[0] = (start, own[0][1], f"{text} {own[0][2]}")
            found.pop()
        found.extend(own)
        following = after.get(id(line))
        last = own[-1] if own else None
        open_sentence = (
            last
            if last is not None and not _CLOSED_RE.search(last[2]) and following is not None and id(following) in chosen
            else None
        )
    return found


def _predicate_position(predicate: str) -> str | None:
    predicate = _PROVEN_RE.sub("", predicate)
    for position, pattern in _POSITIONS:
        if pattern.search(predicate):
            return position
    return None


def position_of(sentence: str) -> tuple[str, str] | None:
    """(position, subject) a sentence states, as in "X is considered investigational for Y"."""
    if considers := CONSIDERS_RE.search(sentence):
        predicate = considers.group("predicate")
        position = _predicate_position(("not " if considers.group("neg") else "") + predicate)
        if position is not None:
            return position, considers.group("subject")
    for verb in _POSITION_VERB_RE.finditer(sentence):
        if _RELATIVE_CLAUSE_RE.search(sentence[: verb.start()]):
            continue
        predicate = _PROVEN_RE.sub("", sentence[verb.end() :])
        if verb.group("neg"):
            predicate = "not " + predicate
        for position, pattern in _POSITIONS:
            if pattern.search(predicate):
                if (
                    position == "not_medically_necessary"
                    and predicate.lower().startswith("not covered")
                    and (
                        "when" in predicate[:30]
                        or _OTHER_STATEMENT_RE.match(predicate)
                        or _THIS_POLICY_RE.match(predicate)
                    )
                ):
                    continue
                if (
                    position.startswith("medically_necessary")
                    and re.match(r"^\W*(?:covered|approved|authorized)", predicate, re.I)
                    and not _CRITERIA_CUE_RE.search(predicate)
                ):
                    continue
                if position == "medically_necessary_with_criteria" and _WHEN_NECESSARY_RE.match(predicate):
                    position = "medically_necessary"
                return position, sentence[: verb.start()].strip()
    if phrased := _NECESSITY_PHRASE_RE.search(sentence):
        with_criteria = _CRITERIA_CUE_RE.search(phrased.group("rest")) or re.search(
            r"\b(?:when|if)\b", phrased.group("rest"), re.I
        )
        return ("medically_necessary_with_criteria" if with_criteria else "medically_necessary"), phrased.group(
            "subject"
        )
    if limited := _LIMITED_TO_RE.search(sentence):
        return "medically_necessary_with_criteria", limited.group("subject")
    authorizes = _AUTHORIZES_RE.search(sentence)
    if authorizes and not authorizes.group("neg") and _CRITERIA_CUE_RE.search(authorizes.group("cue")):
        return "medically_necessary_with_criteria", authorizes.group("subject")
    return None


# What follows "for" but is no indication: a duration ("for up to 6 months", "for 12 months at a
# time"), an aside ("for example"), or the people who meet the criteria ("for a member who meets
# all of the following"), which the criteria themselves describe.
_NOT_INDICATION_RE = re.compile(
    r"^(?:up\s+to\s+|at\s+least\s+|no\s+more\s+than\s+)?(?:\d+|one|two|three|four|six|twelve)\s+(?:\w+\s+)?"
    r"(?:days?|weeks?|months?|years?|sessions?|treatments?|visits?)\b|^(?:example|instance)\b|"
    r"^(?:an?\s+|the\s+)?(?:members?|individuals?|patients?|beneficiar(?:y|ies)|adults?|children|persons?)$",
    re.I,
)


def _indication(sentence: str, subject: str) -> str:
    for tail in re.finditer(
        r"\bfor\s+(?:the\s+treatment\s+of\s+|the\s+)?(?P<i>[^;.:]+?)"
        # A list of indications ("for A, B and C") runs to the verb; an aside after a comma ends it.
        r"(?:\s+(?:is|are|when|if|because|due|who|considered|medically|experimental|investigational|unproven)\b|"
        r",\s*(?:including|such\s+as|except|unless|which|when|if|because|as|but|and\s+(?:is|are))\b|[;.:)(]|$)",
        sentence,
        re.I,
    ):
        indication = tail.group("i").strip(" ,")
        if _NOT_INDICATION_RE.match(indication):
            continue
        if len(indication.split()) <= 14:
            return indication
        break
    # "It is the policy of the Plan that X is ...": X is the subject.
    subject = re.sub(r"^it\s+is\s+the\s+policy\s+of\s+.+?\s+that\s+", "", subject, flags=re.I)
    return strip_marks(subject).strip(" ,")[:200]


# A subject that is any service at all ("The plan covers a procedure when it is medically necessary,
# ...", a general rule of the benefit) states no position on the policy's own service.
_NO_SUBJECT_RE = re.compile(
    r"^(?:an?|any|all)\s+(?:procedures?|services?|products?|items?|treatments?|supplies|"
    r"benefits?)(?:\s*[,/]?\s*(?:(?:or|and)\s+)?(?:procedures?|services?|products?|items?|treatments?|supplies))*"
    r"(?:\s+(?:when|if|that|which|where)\b.*)?$",
    re.I,
)
# A decision table's status cell holds the position alone ("Investigational", "Medically necessary when
# all conditions are met"); the row's indication is a cell before it.
_STATUS_CELL_MAX = 80


def _condition_only(subject: str, sentence: str) -> bool:
    """A "when" clause with no main clause after it: a heading ("When the Service Is Not Covered").

    "When the criteria are met, X is medically necessary" has its subject after the clause's comma.
    """
    if not re.match(r"^\s*(?:when|if|whether)\b", subject, re.I):
        return False
    words = re.findall(r"[A-Za-z]+", sentence)
    title_case = sum(w[0].isupper() for w in words if len(w) > 3) >= 0.8 * sum(1 for w in words if len(w) > 3)
    return "," not in subject or (title_case and not re.search(r"[.:;]$", sentence.strip()))


def _table_positions(document: Document, lines: Sequence[Line]) -> list[Field]:
    positions: list[Field] = []
    previous: Line | None = None
    for line in lines:
        if not line.cell:
            previous = None
            continue
        text = document.line_text(line).strip()
        position = _predicate_position(text) if len(text) <= _STATUS_CELL_MAX else None
        if position is not None and previous is not None and not re.match(r"^\W*covered\b", text, re.I):
            indication = document.line_text(previous).strip()
            start = line.start + document.line_text(line).index(text)
            # The row's cells are read apart, so the reading of a row is for a reviewer to check.
            positions.append(
                field_at(document, {"position": position, "indication": indication}, start, start + len(text), 0.75)
            )
        elif (
            re.search(r"[A-Za-z]{3}", text) and position is None and not re.match(r"^\W*(?:all|any)\s+of\b", text, re.I)
        ):
            previous = line if not _ITEM_START_RE.match(text) else previous
    return positions


# A coverage matrix: a row per service, a status cell per product column ("Covered", "PA required
# after 30 sessions", "Not covered – investigational").
_NOT_COVERED_CELL_RE = re.compile(r"^\W*not\s+covered\b\W*(?P<reason>.*)$", re.I)
_PA_CELL_RE = re.compile(
    r"^\W*(?:PA|prior\s+(?:authori[sz]ation|approval)|pre-?certification|pre-?authori[sz]ation)\s+(?:is\s+)?required\b",
    re.I,
)
_COVERED_CELL_RE = re.compile(r"^\W*covered\b", re.I)
# A row sending its criteria to a section of the document: "... – criteria in Section A".
_ROW_SECTION_RE = re.compile(
    r"\bcriteria\s+(?:in|of|under)\s+(?P<section>(?:section|part|table)\s+[A-Z0-9]{1,3})\b", re.I
)


def _status_cell(cell: str) -> str | None:
    cell = cell.strip()
    if not cell or len(cell) > _STATUS_CELL_MAX:
        return None
    if not_covered := _NOT_COVERED_CELL_RE.match(cell):
        return _predicate_position(not_covered.group("reason")) or "not_medically_necessary"
    if _PA_CELL_RE.match(cell):
        return "medically_necessary_with_criteria"
    if _COVERED_CELL_RE.match(cell):
        return "medically_necessary"
    return None


def _matrix_positions(document: Document, lines: Sequence[Line]) -> tuple[list[Field], dict[str, str]]:
    """One position per matrix row whose product cells agree, and the sections the rows send criteria to."""
    positions: list[Field] = []
    referred: dict[str, str] = {}
    rows: list[tuple[Line, list[str], list[str]]] = []
    for line in lines:
        cells = document.line_text(line).split("\t")
        read = [_status_cell(cell) for cell in cells[1:]]
        if len(cells) >= 3 and all(read) and re.search(r"[A-Za-z]{3}", cells[0]):
            rows.append((line, cells, [s for s in read if s]))
    if len(rows) < 2:
        return positions, referred
    for line, cells, statuses in rows:
        kinds = set(statuses)
        section = _ROW_SECTION_RE.search(cells[0])
        if kinds <= {"medically_necessary", "medically_necessary_with_criteria"}:
            position = (
                "medically_necessary_with_criteria"
                if section or "medically_necessary_with_criteria" in kinds
                else "medically_necessary"
            )
        elif len(kinds) == 1:
            position = statuses[0]
        else:
            continue
        if section:
            referred[section.group("section").lower()] = position
        indication = re.sub(r"\s*[–—-]\s*criteria\s+(?:in|of|under)\b.*$", "", cells[0], flags=re.I).strip()
        # The row's cells are read as statuses, which a reviewer should check.
        positions.append(
            field_at(document, {"position": position, "indication": indication}, line.start, line.end, 0.75)
        )
    return positions, referred


def _heading_before(document: Document, start: int) -> str:
    heading = ""
    for line in document.lines:
        if line.start > start:
            break
        text = document.line_text(line)
        # A plain-text page marks its sections by label alone ("Section A – ..."), not as headings.
        if line.heading or (len(text) < 80 and _section_label(text) and not text.rstrip().endswith(".")):
            heading = text
    return heading


# "Covered means no review is needed": a legend defining the words of a table states no position.
_DEFINES_RE = re.compile(r"(?<!\bby\s)\bmeans\b(?!\s+of\b)|\bstands\s+for\b", re.I)
# "FEP members are not covered by this matrix": the document's reach, not a position on a service.
_OUT_OF_SCOPE_RE = re.compile(
    r"\b(?:members|enrollees|plans|beneficiaries)\s+(?:is|are)\s+not\s+(?:covered|reviewed|managed)\s+(?:by|under|with)\s+"
    r"(?:this|these)\s+(?:matrix|policy|guidelines?|pathway|document|criteria)\b",
    re.I,
)


# "A request that reaches Approve is medically necessary": the subject's own clause is the condition.
_CONDITIONAL_SUBJECT_RE = re.compile(
    r"^(?:an?|any|each|every)\s+(?:requests?|cases?|claims?|members?|patients?|individuals?)\s+(?:that|who|which)\s+"
    r"(?:reach(?:es)?|meets?|passes|satisf(?:y|ies)|qualif(?:y|ies))\b",
    re.I,
)


# A full sentence of prose: a capital, at least five more words, a full stop, no table cells.
_PROSE_LINE_RE = re.compile(r"^[ \t]*[A-Z][^\t\n]*?(?:\s+[^\s\t]+){5,}[^\t\n]*\.[ \t]*$")
_CODE_LIKE_RE = re.compile(r"\b(?:\d{4}[0-9A-Z]|[A-Z]\d{4}|[A-Z]\d{2}\.\w{1,4})\b")


def _unbracketed(text: str) -> str:
    """The line without its asides: a code in brackets ("without dysplasia (K22.70) is ...") names the
    condition a sentence is about, where a code table's row starts with its code."""
    return re.sub(r"\([^()]*\)", "", text)


def _section_label(heading: str) -> str:
    label = re.match(r"^\W*((?:section|part|table)\s+[A-Z0-9]{1,3})\b", heading, re.I)
    return label.group(1).lower() if label else ""


# A criteria set's outcome label: "Outcome if met: MEDICALLY NECESSARY (approve rental)". Reaching it
# takes the criteria above, so the position is one with criteria; "if not met" states none.
_OUTCOME_RE = re.compile(
    r"^\W*(?:outcome|decision|determination|result|disposition|action)\s+(?:if|when)\s+"
    r"(?:(?:all\s+)?(?:the\s+)?(?:criteria|conditions|requirements)\s+(?:are\s+)?)?met\s*[:\t]\s*(?P<status>[^\n]+)$",
    re.I,
)
_RULE_LINE_RE = re.compile(r"^\W*$")


def _outcome_positions(document: Document, lines: Sequence[Line]) -> list[Field]:
    positions: list[Field] = []
    chosen = {line.start for line in lines}
    previous = ""
    for line in document.lines:
        text = document.line_text(line)
        outcome = _OUTCOME_RE.match(text)
        status = _predicate_position(outcome.group("status")) if outcome else None
        if outcome and status and status.startswith("medically_necessary") and line.start in chosen:
            value = {"position": "medically_necessary_with_criteria", "indication": previous}
            positions.append(field_at(document, value, line.start, line.end, 0.8))
        elif not _RULE_LINE_RE.match(text) and not re.match(r"^\W*outcome\b", text, re.I):
            previous = strip_marks(text).strip()[:200]
    return positions


# "All of the criteria in the right-hand column must be met": in a document that names no position
# of its own (a bulletin announcing revised criteria), the criteria it holds a request to are its
# coverage.
_CRITERIA_MUST_BE_MET_RE = re.compile(
    r"^\W*(?:all|each|every|both)\s+(?:of\s+)?(?:the\s+|these\s+)?(?:following\s+|revised\s+|new\s+)?"
    r"(?:criteria|criterion|conditions|requirements)\b[^.;:]*?\bmust\s+(?:all\s+)?be\s+met\b",
    re.I,
)


def _criteria_statement(document: Document, sentences: list[tuple[int, int, str]]) -> list[Field]:
    for start, end, sentence in sentences:
        if _CRITERIA_MUST_BE_MET_RE.match(sentence):
            indication = strip_marks(_heading_before(document, start)).strip()
            value = {"position": "medically_necessary_with_criteria", "indication": indication}
            # Read from the criteria's wording, not from a position's: a reviewer confirms it.
            return [field_at(document, value, start, end, 0.6)]
    return []


def _restated_outcomes(document: Document, outcomes: list[Field], stated: list[Field]) -> list[Field]:
    """Outcome labels whose own statement follows them: the statement states the position, the label only
    repeats it ("Outcome if met: MEDICALLY NECESSARY" over "Purchase is medically necessary when ...")."""
    kept: list[Field] = []
    for at, outcome in enumerate(outcomes):
        limit = outcomes[at + 1].source.start if at + 1 < len(outcomes) else len(document.text)
        following = [p for p in stated if outcome.source.end <= p.source.start < limit]
        near = bool(following) and document.text.count("\n", outcome.source.end, following[0].source.start) <= 3
        if not (near and following[0].value["position"] == outcome.value["position"]):
            kept.append(outcome)
    return kept


# A reply's separator over the message it answers ("-----Original Message-----", "On <date>, <name> wrote:").
REPLY_QUOTE_RE = re.compile(
    r"^[ \t>]*(?:-{2,}[ \t]*Original[ \t]+Message[ \t]*-{2,}|On[ \t][^\n]{4,160}\bwrote:)[ \t]*$", re.I | re.M
)


def _without_quoted_reply(document: Document, positions: list[Field]) -> list[Field]:
    """A reply that states positions of its own replaces the message it quotes: the quoted statements are old."""
    quoted = REPLY_QUOTE_RE.search(document.text)
    if quoted is None or not any(p.source.start < quoted.start() for p in positions):
        return positions
    return [p for p in positions if p.source.start < quoted.start()]


# A paragraph's first line taken for a title: indented like the paragraph, it runs on into a line at its
# own indent that opens in lower case ("    Replacement of the device is considered" / "    medically
# necessary for ..."), where a title stands apart from the text under it.
_RUNS_ON_RE = re.compile(r"(?P<indent>[ \t]+)\S[^\n]*[^\s.:;!?]\n(?P=indent)[a-z]")


def _runs_on(document: Document, section: Section) -> bool:
    heading = section.heading_line
    if heading is None or heading.heading or not section.lines:
        return False
    return bool(_RUNS_ON_RE.match(document.text, heading.start, section.lines[0].end + 1))


def _paragraphs_rejoined(document: Document, found: list[Section]) -> list[Section]:
    """The sections, each one headed by a paragraph's first line read back into the section before it."""
    joined: list[Section] = []
    for section in found:
        if joined and _runs_on(document, section):
            before = joined.pop()
            assert section.heading_line is not None
            lines = [*before.lines, section.heading_line, *section.lines]
            joined.append(Section(before.kind, before.heading, before.heading_line, lines))
        else:
            joined.append(section)
    return joined


def read_positions(document: Document, found: list[Section]) -> list[Field]:
    found = _paragraphs_rejoined(document, found)
    lines = section_text_lines(document, found, "policy", "criteria", "exclusions", "front", "other")
    if not any(s.kind in ("policy", "criteria", "exclusions") for s in found):
        lines = list(document.lines)
    else:
        # A section of its own under a code table the reader took for the codes' (a code row read as a
        # heading swallows the "Other treatments" after it) still states positions in its prose.
        lines += [
            line
            for line in section_text_lines(document, found, "codes")
            if _PROSE_LINE_RE.match(document.line_text(line))
            and not _CODE_LIKE_RE.search(_unbracketed(document.line_text(line)))
        ]
        lines.sort(key=lambda line: line.start)
    positions: list[Field] = []
    sentences = _wrapped_sentences(document, lines)
    for start, end, sentence in sentences:
        # A numbered paragraph's number ("2.1", "1") or a bullet is not part of its sentence.
        if number := re.match(r"(?:\d{1,2}(?:\.\d{1,2})*\.?|[a-z][.)]|[-•*▪◦·])\s+(?=[A-Z])", sentence):
            start += number.end()
            sentence = sentence[number.end() :]
        if len(sentence) > 600 and (colon := re.search(r":\s", sentence[:600])):
            # A statement whose criteria run on inline after its colon ("... when all of the following
            # are met: (1) ...; (2) ...") states its position before them.
            end = start + colon.start() + 1
            sentence = sentence[: colon.start() + 1]
        stated = position_of(sentence)
        if stated is None or len(sentence) > 600:
            continue
        position, subject = stated
        if (
            not subject
            or _DEFINES_RE.search(subject)
            or _OUT_OF_SCOPE_RE.search(sentence)
            or _POINTS_BACK_RE.search(sentence)
            or (position == "not_medically_necessary" and _OTHER_BENEFIT_RE.search(sentence))
            or _NO_SUBJECT_RE.match(subject.strip())
            or _condition_only(subject, sentence)
            or (
                re.search(r"\b(?:codes?|list|this\s+section|documentation|following\s+services)\b", subject, re.I)
                and position == "medically_necessary"
            )
        ):
            continue
        if position == "medically_necessary" and _CONDITIONAL_SUBJECT_RE.match(subject.strip()):
            position = "medically_necessary_with_criteria"
        indication = _indication(sentence, subject)
        # A position read from "covered" or "approved" beside criteria, without the words of a
        # coverage position, is an inference a reviewer should check first.
        confidence = 0.9 if _POSITION_WORDS_RE.search(sentence) else 0.8
        positions.append(field_at(document, {"position": position, "indication": indication}, start, end, confidence))
    positions += _restated_outcomes(document, _outcome_positions(document, lines), positions)
    positions += _table_positions(document, lines)
    if not any(p.value["position"].startswith("medically_necessary") for p in positions):
        positions += _criteria_statement(document, sentences)
    matrix, referred = _matrix_positions(document, lines)
    if matrix:
        # A section a matrix row sends its criteria to restates that row's position: the row states it.
        positions = [
            p
            for p in positions
            if referred.get(_section_label(_heading_before(document, p.source.start))) != p.value["position"]
        ]
        positions += matrix
    positions.sort(key=lambda f: f.source.start)
    return _without_quoted_reply(document, positions)


# A statement that points at conditions: "medically necessary when the following are met", "... if".
# "Covered when medically necessary" points at none.
_POINTS_AT_CRITERIA_RE = re.compile(
    r"following|criteria|when(?!\s+(?:it\s+is\s+|they\s+are\s+)?medically\s+necessary\b)|if", re.I
)


def positions_with_criteria(positions: list[Field]) -> None:
    """Once the document is known to list criteria, a plain "medically necessary" statement that points
    at conditions is "medically necessary with criteria"."""
    for p in positions:
        if p.value["position"] == "medically_necessary" and _POINTS_AT_CRITERIA_RE.search(p.source.text):
            p.value["position"] = "medically_necessary_with_criteria"
