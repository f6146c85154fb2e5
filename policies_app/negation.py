"""Which policy terms a clinical note names only to negate them (issue 17, section 6).

"No Dynesys will be used" names Dynesys but does not ask for it. The detector is NegEx, as
packaged for spaCy by negspacy, with its clinical English trigger lists; it runs on a blank
spaCy English tokenizer, so nothing is downloaded at run time. The pipeline is built once per
process, on first use. Only the words around a mention go through it (the sentence, at most
SCOPE words either side), and only when those words hold one of the library's negation
phrases: a note that names no policy term, or names one with no negation near it, never
reaches spaCy.

Two changes to the library's defaults lean towards raising the flag, because a missed negation
costs a nurse one look while a wrong one hides a flag that would have stopped an automatic
approval: a comma or semicolon ends a negation's scope ("no prior fusion, plan Dynesys"), a
negation with more than five words between it and the term does not reach it (NegEx's own
window; negspacy has none), and "versus" and "evaluate for", which name alternatives under
consideration rather than absent ones, do not negate.

This module does not import the engine (the engine imports it); the engine passes in its own
word normalization, so a term is found here exactly where the engine found it.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.tokens import Doc

# Sentence ends: punctuation followed by white space (so "3.5 mm" stays whole), or a line break.
_SENTENCES = re.compile(r"(?<=[.!?;])\s+|\n+")
_SENTENCE_PUNCTUATION = ".!?;"

# Words either side of a mention that a negation phrase may stand in (so at most five between,
# as in NegEx), and the characters looked through for them (longer words only narrow the window).
SCOPE = 6
_REACH = 40 * SCOPE
_ALPHA = re.compile(r"[a-z]+")

_SPAN_KEY = "policy_terms"
_EXTENSION = "policy_term_negated"
_TERMINATION_ADDED = [",", ";"]
_PRECEDING_REMOVED = ["versus", "evaluate for"]

Words = Callable[[str], tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class Mentions:
    """How a note mentions the terms asked about.

    negated: terms with at least one negated mention. affirmed: terms with at least one mention
    that is not negated, including any the detector could not place in a clause.
    """

    affirmed: frozenset[str]
    negated: frozenset[str]

    @property
    def negated_only(self) -> frozenset[str]:
        """The terms every mention of which is negated: these raise no flag."""
        return self.negated - self.affirmed


@dataclass(frozen=True, slots=True)
class Detector:
    """The spaCy pipeline, and its negation phrases as words, by first word, for a quick check."""

    nlp: Language
    negex: Callable[[Doc], Doc]
    triggers: Mapping[str, tuple[list[str], ...]]

    def may_negate(self, text: str) -> bool:
        """Whether text holds a negation phrase: if not, NegEx would find nothing in it."""
        words = _ALPHA.findall(text.lower())
        firsts = self.triggers.keys() & words
        if not firsts:
            return False
        triggers = self.triggers
        for i, word in enumerate(words):
            if word in firsts:
                for phrase in triggers[word]:
                    if words[i : i + len(phrase)] == phrase:
                        return True
        return False


_lock = threading.Lock()
_detector: Detector | None = None


def detector() -> Detector:
    """Built on first use and kept for the process."""
    global _detector
    if _detector is None:
        with _lock:
            if _detector is None:
                _detector = _build()
    return _detector


def _build() -> Detector:
    import negspacy.negation  # noqa: F401  (registers the "negex" factory with spaCy)
    import spacy
    from negspacy.termsets import termset

    # A copy: termset's own add/remove methods change the library's shared default lists.
    patterns = {kind: list(phrases) for kind, phrases in termset("en_clinical").get_patterns().items()}
    patterns["termination"] += [p for p in _TERMINATION_ADDED if p not in patterns["termination"]]
    patterns["preceding_negations"] = [p for p in patterns["preceding_negations"] if p not in _PRECEDING_REMOVED]
    # No sentencizer: each doc is one sentence or part of one already.
    nlp = spacy.blank("en")
    negex = nlp.add_pipe(
        "negex",
        config={"neg_termset": patterns, "extension_name": _EXTENSION, "span_keys": [_SPAN_KEY]},
    )
    # Only a preceding or following phrase negates (pseudo-negations and terminations only undo or
    # stop one), so a window holding neither cannot be negated.
    triggers: dict[str, list[list[str]]] = {}
    for phrase in patterns["preceding_negations"] + patterns["following_negations"]:
        words = _ALPHA.findall(phrase.lower())
        if words:
            triggers.setdefault(words[0], []).append(words)
    return Detector(nlp, negex, {first: tuple(phrases) for first, phrases in triggers.items()})


@functools.lru_cache(maxsize=4096)
def _pattern(term: str) -> re.Pattern[str]:
    """Where a normalized term stands in raw text: its words in any case, apart by anything but
    letters and digits. A faster way to place most mentions than normalizing token by token."""
    body = r"[\W_]+".join(re.escape(word) for word in term.split(" "))
    return re.compile(rf"(?<![^\W_]){body}(?![^\W_])", re.IGNORECASE)


def _term_spans(doc: Doc, terms: Collection[str], words: Words) -> list[tuple[str, int, int]]:
    """(term, first token, end token) of every mention in doc, found on the engine's own words:
    the way to place a mention the pattern misses, such as one written with accents."""
    flat: list[str] = []
    owner: list[int] = []
    for token in doc:
        for word in words(token.text):
            flat.append(word)
            owner.append(token.i)
    found: list[tuple[str, int, int]] = []
    for term in terms:
        parts = term.split(" ")
        n = len(parts)
        for i in range(len(flat) - n + 1):
            if flat[i] == parts[0] and flat[i : i + n] == parts:
                found.append((term, owner[i], owner[i + n - 1] + 1))
    return found


def _window(text: str, start: int, end: int) -> tuple[str, int, int]:
    """Up to SCOPE words either side of the mention text[start:end], within its sentence and
    spaced by single spaces; and where the mention stands in that window."""
    low, high = max(0, start - _REACH), min(len(text), end + _REACH)
    before, after = text[low:start], text[end:high]
    before = before[before.rfind("\n") + 1 :]
    newline = after.find("\n")
    if newline >= 0:
        after = after[:newline]
    head, tail = before.split(), after.split()
    # A word cut in two by the reach is not a word of the note.
    if head and low > 0 and len(before) == start - low and not text[low - 1].isspace() and not before[0].isspace():
        head.pop(0)
    if tail and high < len(text) and newline < 0 and not text[high].isspace() and not after[-1].isspace():
        tail.pop()
    head = head[-SCOPE:]
    for i in range(len(head) - 1, -1, -1):
        if head[i][-1] in _SENTENCE_PUNCTUATION:
            head = head[i + 1 :]
            break
    tail = tail[:SCOPE]
    for i, word in enumerate(tail):
        if word[-1] in _SENTENCE_PUNCTUATION:
            tail = tail[: i + 1]
            break
    mention = " ".join(text[start:end].split())
    first = len(" ".join(head)) + 1 if head else 0
    return " ".join([*head, mention, *tail]), first, first + len(mention)


def _judge(
    text: str, mentions: list[tuple[str, int, int]], by_words: Collection[str], words: Words
) -> list[tuple[str, bool]]:
    """(term, negated) for each mention in text, placed by characters or (by_words) on the engine's words."""
    judge = detector()
    if not judge.may_negate(text):
        return [(term, False) for term, _, _ in mentions] + [(term, False) for term in by_words]

    doc = judge.nlp.make_doc(text)
    # NegEx reads its scope from sentence boundaries, and the whole doc is one sentence: spaCy
    # takes the boundaries as set once any token after the first is marked.
    if len(doc) > 1:
        doc[1].is_sent_start = False
    spans = [
        span
        for term, start, end in mentions
        if (span := doc.char_span(start, end, label=term, alignment_mode="expand")) is not None
    ]
    if by_words:
        from spacy.tokens import Span

        spans += [Span(doc, start, end, label=term) for term, start, end in _term_spans(doc, by_words, words)]
    if not spans:
        return []
    doc.spans[_SPAN_KEY] = spans
    doc = judge.negex(doc)
    return [(span.label_, bool(span._.get(_EXTENSION))) for span in doc.spans[_SPAN_KEY]]


def term_mentions(text: str, terms: Collection[str], words: Words) -> Mentions:
    """Sort the mentions in text of terms (normalized as `words` normalizes) into affirmed and negated."""
    wanted = frozenset(terms)
    if not detector().may_negate(text):
        return Mentions(wanted, frozenset())
    affirmed: set[str] = set()
    negated: set[str] = set()
    for term in wanted:
        for match in _pattern(term).finditer(text):
            window, first, last = _window(text, match.start(), match.end())
            for _, is_negated in _judge(window, [(term, first, last)], (), words):
                (negated if is_negated else affirmed).add(term)
    unplaced = wanted - affirmed - negated
    if unplaced:
        # Mentions the pattern cannot place (written with accents, say) are placed on the engine's
        # own words and judged within their whole sentence: rare enough not to need the window.
        for sentence in _SENTENCES.split(text):
            padded = " " + " ".join(words(sentence)) + " "
            present = [term for term in unplaced if f" {term} " in padded]
            for term, is_negated in _judge(sentence, [], present, words) if present else ():
                (negated if is_negated else affirmed).add(term)
    # A term the engine found but no sentence holds (one spanning two sentences) counts as affirmed.
    affirmed.update(wanted - affirmed - negated)
    return Mentions(frozenset(affirmed), frozenset(negated))
