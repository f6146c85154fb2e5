"""A criterion's words as a test of a catalogue fact: "Age 18 years or older" is member_age >= 18.

A leaf states a test when it names a fact (the words of its label, its initials or the abbreviation
its label brackets) and, for a number, a comparison with a number in the fact's unit; a yes/no fact
is affirmed or denied by the criterion's negation. A leaf that joins the test with another condition,
or names the fact only in a condition of when it applies, states no single test and stays a
documented criterion; so does one whose test holds for one of the options only ("for the laser only"),
or that states a second measure in another unit beside it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz, process


@dataclass(frozen=True)
class FactSpec:
    key: str
    label: str
    value_type: str
    unit: str = ""


_ICD_RE = re.compile(r"\b([A-TV-Z]\d[0-9A-Z](?:\.[0-9A-Z]{1,4}[xX]?)?)\b")


_UNITS: dict[str, tuple[str, ...]] = {
    "years": ("years", "year", "yrs", "yr", "years of age", "years old"),
    "months": ("months", "month", "mos"),
    "weeks": ("weeks", "week", "wks"),
    "days": ("days", "day"),
    "mm": ("mm", "millimeters", "millimetres"),
    # "kg/m" too: a page's superscript 2 is often lost when its text is taken out.
    "kg/m2": ("kg/m2", "kg/m²", "kg/m^2", "kg/m"),
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
    # A score out of 100 is often written as a percentage ("an ODI of 30%"): the same number of points.
    ("%", "points"): 1,
}
_UNIT_OF = {spelling: unit for unit, spellings in _UNITS.items() for spelling in spellings}
_UNIT_PATTERN = "|".join(sorted((re.escape(s) for s in _UNIT_OF), key=len, reverse=True))
_NUMBER = r"(?P<num>\d+(?:\.\d+)?)"
_UNIT = rf"(?:\s*(?P<unit>{_UNIT_PATTERN})(?![a-z]))?"
_BEFORE_RE = re.compile(
    # "No greater than 40" bounds from above: the negated phrases are read whole, before "greater than".
    r"(?P<cmp>(?:no|not)\s+(?:greater|more|higher|older)\s+than|(?:does\s+)?not\s+(?:to\s+)?exceed(?:ing)?|"
    r"(?:no|not)\s+(?:lower|younger)\s+than|not\s+less\s+than|"
    r"at\s+least|a\s+minimum\s+of|minimum\s+of|no\s+(?:less|fewer)\s+than|greater\s+than\s+or\s+equal\s+to|"
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
# A time a treatment has failed over states its least ("has failed to heal after 6 months of compression"),
# and what a member did not get better after a time of is a treatment tried and failed, whatever it is
# called: "no improvement after 4 weeks of a nasal spray", "pain persists after 8 weeks of rest". A time
# that failed or that the member is no better despite is the same least, without "after": "failure of 6
# weeks of physical therapy", "failed a 12-week course of exercise", "despite 8 weeks of a brace".
_FAILED_AFTER_RE = re.compile(
    r"\b(?:(?:fail\w*|persist\w*|(?:no|not|never|without)\s+(?:adequate\s+|significant\s+)?(?:improv|respon|"
    r"relie[fv]|heal|benefit|resolv)\w*)\b[^.;]{0,40}?\bafter\s+"
    r"(?:(?:at\s+least|a\s+minimum\s+of|more\s+than|over)\s+)?"
    r"|(?:fail(?:ed|ure|s)?|unsuccessful|despite)\s+(?:of\s+)?(?:an?\s+)?)"
    + _NUMBER
    + r"\s*-?\s*(?P<unit>years?|months?|weeks?|days?)(?:\s+(?:course|trial|period))?\s+of\b",
    re.IGNORECASE,
)
_OPERATORS = {
    "at least": "gte", "a minimum of": "gte", "minimum of": "gte", "no less than": "gte", "no fewer than": "gte",
    "greater than or equal to": "gte", "≥": "gte", ">=": "gte", "more than": "gt", "greater than": "gt",
    "over": "gt", "exceeding": "gt", "above": "gt", ">": "gt", "less than or equal to": "lte", "at most": "lte",
    "no more than": "lte", "a maximum of": "lte", "maximum of": "lte", "≤": "lte", "<=": "lte", "less than": "lt",
    "fewer than": "lt", "under": "lt", "below": "lt", "<": "lt", "=": "eq", "older than": "gt",
    "younger than": "lt", "no greater than": "lte", "not greater than": "lte", "not more than": "lte",
    "no higher than": "lte", "not higher than": "lte", "no older than": "lte", "not older than": "lte",
    "not exceed": "lte", "not exceeding": "lte", "not to exceed": "lte", "does not exceed": "lte",
    "no lower than": "gte", "not lower than": "gte", "no younger than": "gte", "not younger than": "gte",
    "not less than": "gte",
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


def _other_quantity(text: str, unit: str) -> bool:
    """Whether the text states a second threshold in another unit than the test's ("oxygen saturation of 88%
    or lower and at least 8 weeks of inhaler therapy"): two measures, which one fact cannot hold."""
    text = _digits(text)
    first = _comparison_match(text)
    if first is None:
        return False
    # A bracketed quantity specifies the thing before it ("compression stockings (20 mm Hg or more)").
    inside = [m.span() for m in re.finditer(r"\([^()]*\)", text)]
    # How much a treatment failed by ("has failed to heal by 50% after 4 weeks of ...") judges the
    # treatment timed, and is no measure of its own.
    inside += [m.span() for m in _FAILED_AFTER_RE.finditer(text)]
    for pattern in (_BEFORE_RE, _AFTER_RE, _FAILED_AFTER_RE):
        for match in pattern.finditer(text):
            if match.start() < first.end() and first.start() < match.end():
                continue
            if any(start < match.start() and match.end() <= end for start, end in inside):
                continue
            other = _UNIT_OF.get((match.group("unit") or "").lower(), "")
            if other and other != unit and (other, unit) not in _CONVERT and (unit, other) not in _CONVERT:
                return True
    return False


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
    tried = _FAILED_AFTER_RE.search(text)
    if tried is not None and tried.start() <= match.start() and match.end() <= tried.end():
        after += _TRIED_WORDS
    return before + _words(match.group(0)) + after


# The words of a label a failed treatment's time stands for.
_TRIED_WORDS = ["failed", "therapy"]


def _tried_words(text: str) -> list[str]:
    """ "Failed therapy" when the text times a treatment that did not work, else nothing."""
    return _TRIED_WORDS if _FAILED_AFTER_RE.search(_digits(text)) else []


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
    "training": "therapy", "rehabilitation": "therapy",
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


# A word built on a treatment's stem names a therapy: "phototherapy", "pharmacotherapy", "iontophoresis",
# "plasmapheresis" are each a kind of therapy the member is given.
_THERAPY_RE = re.compile(r"\w+(?:therapy|therapies|phoresis|pheresis)")


def _expanded(text_words: list[str]) -> list[str]:
    """The words and the label words they stand for ("previous" is also "prior", "laminectomy" "surgery")."""
    text_words = text_words + [_SAME_AS[w] for w in text_words if w in _SAME_AS]
    text_words += ["therapy" for w in text_words if w != "therapy" and _THERAPY_RE.fullmatch(w)]
    # A treatment is named in the singular or the plural ("exercise", "exercises").
    if any(
        w in _CONSERVATIVE_WORDS or f"{w}s" in _CONSERVATIVE_WORDS or w.removesuffix("s") in _CONSERVATIVE_WORDS
        for w in text_words
    ):
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
_BARE_BOUND_RE = re.compile(r"\b(?:older|younger|more|less|greater|fewer|higher|lower|longer|shorter)\b", re.I)
_WITH_MORE_RE = re.compile(r"\bwith\s+(?:at\s+least|one|two|a|an)\b", re.I)


# A relative clause after the codes ("plaque psoriasis (L40.0) that covers both palms"), or a proof the
# diagnosis must have ("(L40.0) confirmed by biopsy", "shown on imaging"), asks more of it than its code
# says: a severity, a consequence or a test the reviewer reads from the records. Where the diagnosis sits
# ("located on the heel") or that the records hold it ("documented in the chart") asks nothing more. The
# proof may be stated as a predicate too ("(M72.2) is confirmed by examination").
_AFTER_CODES_CLAUSE_RE = re.compile(
    r"\(\s*[A-TV-Z]\d[0-9A-Z](?:\.[0-9A-Z]{1,4})?[^()]*\)\s*,?\s*"
    r"(?:that|which|who|whose|(?:(?:is|are|was|were|must\s+be|has\s+been|have\s+been)\s+)?"
    r"(?:confirm|prove|proven|shown|demonstrat|establish|verifi|diagnos|seen|evidenc|document)\w*\s+"
    r"(?:by|on|with|through|at)\b)",
    re.I,
)
# "(L40.0) of the hands, feet or scalp": alternatives named after the last codes have no code of their own,
# so they are choices the codes do not tell apart (the sites that qualify, among all the codes cover), which
# the reviewer reads from the records. One place after them ("of the scalp") offers no choice, nor does an
# "; or" that joins the criterion to the next.
_AFTER_CODES_CHOICE_RE = re.compile(
    r"\(\s*[A-TV-Z]\d[0-9A-Z](?:\.[0-9A-Z]{1,4})?[^()]*\)[^()]*?\b(?:or|nor|and/or)\s+\w[^()]*$", re.I
)
# Codes named after "such as" are an example's codes ("a neuromuscular disease, such as ALS (G12.21)"):
# the criterion admits diagnoses the codes do not list.
_EXAMPLE_INTRO_RE = re.compile(r"\b(?:such\s+as|for\s+example|for\s+instance|e\.\s?g\.)", re.I)
# "and is", "and has": a second predicate of the member, a condition of its own beside the test ...
# unless it says the treatment timed did not work ("and has not improved"), the "failed" of the fact.
_SECOND_PREDICATE_RE = re.compile(r",?\s+and\s+(?=(?:is|are|was|were|has|have|had|does|do|did|will|can|must)\b)", re.I)
# A leaf that opens on a preposition ("of diabetic origin, ...") qualifies a noun of the criterion above it.
_NOT_WORKED_RE = re.compile(
    r"\b(?:not|no|never|without)\b[^.;]{0,20}?\b(?:improv|respon|reliev|heal|help|resolv|benefit|work|succe)\w*", re.I
)
_QUALIFIER_RE = re.compile(r"\s*(?:of|from|due\s+to|caused\s+by|secondary\s+to|related\s+to)\b", re.I)
_ASIDE_RE = re.compile(r"\(\s*(?:for\s+example|for\s+instance|e\.\s?g\.|eg\b|such\s+as)[^()]*\)", re.I)


def _compound(text: str, fact: FactSpec) -> bool:
    """A criterion that joins the fact's test with another condition, which no single fact test states."""
    label_words, aliases = _names(fact)
    # A bracket of examples ("(for example, with an A or B device)") illustrates the test and adds no
    # condition, unlike a bracket that states one ("(age 17 or older, or closed growth plates)").
    text = _ASIDE_RE.sub(" ", text)
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
        # "Age 18 or older, or younger with closed growth plates": an alternative that bounds the fact the
        # other way without a number of its own lets the test be met otherwise.
        if fact.value_type in ("number", "integer") and any(
            _BARE_BOUND_RE.search(part) and not re.search(r"\d", _digits(part)) for part in parts[1:]
        ):
            return True
    if fact.value_type == "code_list" and _AFTER_CODES_CLAUSE_RE.search(text):
        return True
    if fact.value_type == "code_list" and _AFTER_CODES_CHOICE_RE.search(text):
        return True
    if fact.value_type == "code_list" and _example_codes(text):
        return True
    # "The member is 10 years of age or older and is skeletally immature": each predicate is a condition,
    # and the fact states one of them only.
    predicates = [p for p in _SECOND_PREDICATE_RE.split(text) if p.strip()]
    if len(predicates) > 1 and any(
        not _names_fact(_words(p) + (["failed"] if _NOT_WORKED_RE.search(p) else []), label_words, aliases)
        for p in predicates
    ):
        return True
    if fact.value_type in ("number", "integer"):
        comparison = _comparison(text)
        if comparison is not None and _other_quantity(text, comparison[2]):
            return True
        if _joined_after_test(text, label_words, aliases):
            return True
    with_more = _WITH_MORE_RE.search(text)
    if with_more is None:
        return False
    # "inadequate control, with an HbA1c of 7 percent or higher": the clause states the test itself;
    # "BMI of 35 or greater with at least one comorbidity" adds a condition after it.
    if fact.value_type in ("number", "integer"):
        before = text[: with_more.start()]
        if _with_names_the_counted(before, text[with_more.start() :], label_words):
            return False
        if _comparison(before) is not None or _comparison(text[with_more.start() :]) is None:
            return True
        return _other_condition_before_with(before, label_words, aliases)
    # "Type 2 diabetes with a foot ulcer (E11.621)": the codes that close the criterion name the whole
    # diagnosis, its "with" clause included.
    if closing is not None:
        return with_more.start() > closing.start()
    return True


def _with_names_the_counted(before: str, clause: str, label_words: list[str]) -> bool:
    """Whether a "with" clause says what the thing the test counts was, and asks nothing beside it.

    "12 weeks of drug therapy with an anti-inflammatory" names the therapy's means: the clause follows
    straight on the label's noun after the threshold and states no threshold of its own. "A BMI of 35 or
    more with a comorbidity" follows the threshold itself, and adds a condition.
    """
    match = _comparison_match(_digits(before))
    if match is None or _comparison(clause) is not None:
        return False
    nouns = _words(_digits(before)[match.end() :])[-1:]
    return bool(nouns) and _coverage(label_words, nouns) > 0


def _joined_after_test(text: str, label_words: list[str], aliases: set[str]) -> bool:
    """Whether "and" straight after the threshold adds a condition of its own.

    "18 years of age or older and skeletally mature" shares its verb with the test, so no second predicate
    shows it; "at least 35 and no more than 40" states a range, a second threshold. "For at least 4 weeks and
    failed" only says the time timed a treatment that did not work.
    """
    digits = _digits(text)
    match = _comparison_match(digits)
    if match is None:
        return False
    joined = re.match(r"\s*,?\s*and\s+(?P<rest>.*)", digits[match.end() :], re.I | re.S)
    if joined is None:
        return False
    rest = joined.group("rest")
    if _comparison(rest) is not None:
        return True
    words = _words(rest) + (["failed"] if _NOT_WORKED_RE.search(rest) else [])
    # A bare "and" closing the line joins the criterion to the next one.
    return bool(words) and not _names_fact(words, label_words, aliases)


def _names_fact(words: list[str], label_words: list[str], aliases: set[str]) -> bool:
    return _coverage(label_words, words) >= 0.3 or bool(set(words) & aliases)


def _example_codes(text: str) -> bool:
    """Whether the criterion's codes all follow an "e.g." / "such as": the codes of its examples."""
    first_code = next((m for m in _ICD_RE.finditer(text) if re.search(r"\d", m.group(1)[1:])), None)
    return first_code is not None and _EXAMPLE_INTRO_RE.search(text[: first_code.start()]) is not None


def _other_condition_before_with(before: str, label_words: list[str], aliases: set[str]) -> bool:
    """Whether what a "with" clause's test follows is a condition of its own.

    Set off by a comma, the clause restates what precedes it as the test ("Obesity, with a BMI of 30 or
    more"); joined straight to a noun it narrows that noun ("Type 2 diabetes with an HbA1c of 9% or less"),
    so the criterion asks for both, and so does a leaf that first qualifies a noun of the criterion above
    it ("of diabetic origin, with an HbA1c ..."). Whom it is about ("members with a BMI ...") is no condition.
    """
    words = [w for w in _words(before) if w not in _WHOSE_WORDS]
    if not words or _names_fact(words, label_words, aliases):
        return False
    return re.search(r"[,;:]\s*$", before) is None or _QUALIFIER_RE.match(before) is not None


_TIME_UNITS = {"years", "months", "weeks", "days"}
_WHOSE_WORDS = {
    "member", "members", "patient", "patients", "beneficiary", "individual", "individuals", "s", "has", "have",
    "been", "adult", "adults", "child", "children", "adolescent", "adolescents", "person", "persons", "people",
    "presents", "presenting", "presented",
}  # fmt: skip
# A reading taken with a device in use ("residual AHI ... while using PAP"), unlike a lab value
# measured while on a medicine, which is the member's value the fact holds.
_ON_TREATMENT_RE = re.compile(r"\bresidual\b|\bwhile\s+(?:using|wearing)\b", re.I)
# Words that say the member is on a treatment ("using", "receiving", "injections", "medication").
_TREATMENT_WORDS = {
    "injections", "medication", "medications", "drugs", "pharmacotherapy", "dialysis", "using", "wearing",
    "receiving", "taking", "taken", "took", "treated",
}  # fmt: skip
# What a response lasts ("relief lasting at least 6 months") is the time a treatment worked, not of symptoms.
_NOT_SYMPTOM_WORDS = {
    "diagnosed", "diagnosis", "stable", "steady", "unchanged", "maintained", "relief", "response", "improvement",
    "benefit", "remission", "abstinent", "abstinence", "sober", "sobriety", "free",
}  # fmt: skip
# A time is stated "for 6 months" or by a verb of lasting ("has lasted 3 months or longer", "lasting 3 months").
_FOR_A_TIME_RE = re.compile(
    r"\b(?:for|last(?:ing|ed|s)?(?:\s+for)?|persist(?:ing|ed|s)?\s+for)\s+(?:a\s+period\s+of\s+|a\s+duration\s+of\s+)?$",
    re.I,
)


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


# A test confined to one of the options the criteria offer: "For the laser only, the member is 18 ...",
# "... only for the second eye", "if the oral form is used". ("Pain only when walking" describes the
# symptom and confines nothing.)
_SCOPED_RE = re.compile(
    r"\bfor\s+[^,;.()]{1,40}?\s+only\b|\bonly\s+for\b|"
    r"\b(?:if|when|where)\s+[^,;.()]{1,40}?\s+(?:is|are)\s+(?:used|chosen|selected|planned|given|requested|performed)\b",
    re.I,
)


def _scoped(text: str) -> bool:
    """A criterion whose test holds for one option only, which the fact, read for every request, cannot say."""
    return _SCOPED_RE.search(text) is not None


def _alternative_nouns(before: str, after: str) -> bool:
    """ "MRI or CT confirms ...": a lone word before "or" and the word after it name one kind of thing."""
    lone, first = _WORD_RE.findall(before.lower()), _WORD_RE.findall(after.lower())[:1]
    return len(lone) == 1 and bool(first) and lone[0] in _SAME_AS and _SAME_AS[lone[0]] == _SAME_AS.get(first[0])


def _same_noun(before: str, after: str) -> bool:
    last, first = _WORD_RE.findall(before.lower())[-1:], _WORD_RE.findall(after.lower())[:1]
    return bool(last and first and last[0] != first[0] and fuzz.ratio(last[0], first[0]) >= 85)


def map_fact(text: str, catalogue: Sequence[FactSpec]) -> tuple[str, str, object, float] | None:
    """(fact key, operator, value, confidence) for a criterion that tests a catalogue fact, else None."""
    text_words = _words(text) + _tried_words(text)
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
            if fact_unit in _TIME_UNITS and not comparison[2]:
                # A count is no time: "at least 12 sessions of physical therapy" states no weeks.
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
    if best is None or _compound(text, best[1]) or _conditional(text, best[1]) or _scoped(text):
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
        if unit and fact_unit and unit != fact_unit and _CONVERT[(unit, fact_unit)] != 1:
            # "6 months of therapy" against a fact kept in weeks: 26 weeks, a conversion the editor confirms.
            number = round(number * _CONVERT[(unit, fact_unit)])
            confidence = min(confidence, 0.75)
        value: object = int(number) if fact.value_type == "integer" or number.is_integer() else number
        return fact.key, operator, value, confidence
    negated = bool(_NEGATION_RE.search(text)) or bool(re.search(r"\bnon-", text, re.IGNORECASE))
    return fact.key, "is_false" if negated else "is_true", None, confidence
