"""Device and procedure names: found in the document's lists, indexed for matching the way people write them."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

from rapidfuzz import fuzz, process, utils

# A markup substitution stands for the sign in a document's source ("Zolo\\ |reg|" in reStructuredText).
MARK_SUBSTITUTION = r"\\?[ \u00a0]?\|(?:reg|tm|trade|sm)\|"
# A degree sign straight after a letter is a brand's mark ("iovera°"); after a number it is an angle.
TM_RE = re.compile(rf"\s*(?:\[?[®™℠]\]?|\^\(?[®™]\)?\^?|\((?:R|TM)\)|{MARK_SUBSTITUTION})|(?<=[A-Za-z])°")
# Generic words after a brand in a product's full name; notes name the product by its brand.
DESCRIPTORS = {
    "dynamic", "soft", "spine", "spinal", "stabilization", "system", "systems", "device", "devices", "kit",
    "tool", "implant", "implants", "platform", "procedure", "therapy", "stimulator", "instrumentation",
    # The kind of device and the energy it uses: "Zolo Valve System", "vexa RF catheter" are written "Zolo", "vexa".
    "valve", "valves", "catheter", "catheters", "rf", "radiofrequency",
}  # fmt: skip
KIND_DESCRIPTORS = {"valve", "valves", "catheter", "catheters"}
ENERGY_WORDS = {"rf", "radiofrequency"}
# Kinds of product a lower-case brand is written before ("halvor brace"): the kind, never the brand.
KIND_WORDS = {
    "brace", "braces", "orthosis", "boot", "boots", "vest", "pump", "meter", "monitor", "sensor", "stent", "stents",
    "balloon", "disc", "appliance", "splint", "garment", "sleeve", "headset", "wrap", "glove", "helmet", "lens",
    "lenses", "filter", "laser", "scanner", "processor",
}  # fmt: skip
_PARTICIPLE_RE = re.compile(r"[A-Za-z]{2,}ed")
# Capitalised words that start list items but name no product.
NOT_PRODUCTS = {
    "medicare", "medicaid", "fda", "cms", "u.s.", "us", "food", "national", "american", "federal", "the", "other",
    "these", "this", "some", "all", "any", "both", "each", "mri", "ct", "x-ray", "icd-10", "cpt", "hcpcs",
}  # fmt: skip


# A short name is a word notes use when it is among the first 10,000 ("balance", "placebo"); a rarer word
# (a gemstone, a star) names a product well enough.
EVERYDAY_WORDS = 10_000


@functools.cache
def common_word_rank() -> dict[str, int]:
    """Common English words by frequency rank, the most frequent 0 (the file's header says where they come from).

    Read on first use, so a process that never imports a document (every web and worker process
    loads the admin, and with it this module) does not pay for it at start-up.
    """
    lines = Path(__file__).with_name("common_words.txt").read_text(encoding="utf-8").split("\n")
    return {word: rank for rank, word in enumerate(line for line in lines if line and not line.startswith("#"))}


def is_common_word(word: str, *, within: int | None = None) -> bool:
    """Whether the word is one of the `within` most frequent common English words (any of them by default)."""
    rank = common_word_rank().get(word.lower())
    return rank is not None and (within is None or rank < within)


def strip_marks(text: str) -> str:
    return " ".join(TM_RE.sub("", text).split())


@dataclass(frozen=True)
class Term:
    name: str
    short: str
    kind: str


_LOWER_WORD_RE = re.compile(r"[a-z]+(?:-[a-z]+)*")
_PLAIN_WORD_RE = re.compile(r"[A-Z][a-z]+")
_DIGIT_RE = re.compile(r"\d")
_KIND_OF_RE = re.compile(r"(\w{3,})-(?:type|style)", re.I)
_MODEL_RE = re.compile(r"[A-Z0-9][A-Za-z0-9-]{0,2}|\S*\d\S*|[A-Z0-9-]+")


def short_name(full: str) -> str:
    """The brand people write in notes, never one common word alone when the name says more.

    "halvern balance" stays "halvern balance" and "Balance™ knee brace" is not "Balance": a short name
    "balance" would match the word wherever a clinical note uses it.
    """
    short = _brand(full)
    if len(short.split()) == 1 and is_common_word(short, within=EVERYDAY_WORDS):
        words = strip_marks(full).split()
        while len(words) > 2 and words[-1].lower() in DESCRIPTORS:
            words.pop()
        return " ".join(words)
    words = short.split()
    # "the swift veltra glide hd": an everyday word before a lower-case name of rarer words is a word describing
    # it (or a maker named by one); notes write the name without it.
    if (
        len(words) >= 3
        and short.islower()
        and is_common_word(words[0], within=EVERYDAY_WORDS)
        and words[1].isalpha()
        and len(words[1]) >= 4
        and not is_common_word(words[1], within=EVERYDAY_WORDS)
    ):
        return " ".join(words[1:])
    return short


def _brand(full: str) -> str:
    """The brand people write in notes: "Eversense® 365 implantable CGM" is written "Eversense 365".

    The brand ends before the first lower-case word or the generic words at the end of the name;
    when that still leaves a long name ("WATCHMAN FLX™ Pro Left Atrial Appendage Closure"), a
    trademark sign ends the brand, with one model word after it ("FLX™ Pro").
    """
    sign = TM_RE.search(full)
    if sign is not None and 0 < len(strip_marks(full[: sign.start()]).split()) <= 2:
        later = TM_RE.search(full, sign.end())
        if later is not None and strip_marks(full[sign.end() : later.start()]):
            # "Halvor™ Brisa® 4": a maker's (or a family's) mark, then the product's; notes write "Brisa 4".
            return _brand(full[sign.end() :])
    words = strip_marks(full).split()
    brand = list(words)
    # A brand in lower case ends, like any other, at the lower-case words after its model ("zolo X2 insulin pump").
    first = 0
    if words and words[0].islower():
        # A model in lower case carries a digit ("zolo x9 embolic filter").
        first = next(
            (i for i, word in enumerate(words) if i > 0 and (not word.islower() or _DIGIT_RE.search(word))), len(words)
        )
    if first < len(words):
        lower = next((i for i, word in enumerate(words) if i > first and _LOWER_WORD_RE.fullmatch(word)), None)
        if lower is not None:
            brand = words[:lower]
    kind_dropped = False
    while len(brand) > 1 and brand[-1].lower() in DESCRIPTORS:
        dropped = brand.pop().lower()
        kind_dropped |= dropped in KIND_DESCRIPTORS
        # "Cooled RF", "Pulsed Radiofrequency": how the energy is given describes the technique too.
        if dropped in ENERGY_WORDS and len(brand) > 1 and _PARTICIPLE_RE.fullmatch(brand[-1]):
            brand.pop()
    if brand and (kind_of := _KIND_OF_RE.fullmatch(brand[-1])):
        # "the Zolo Vexa-type brace": a brace of that brand's type; the brand is the name.
        brand[-1] = kind_of.group(1)
    if sign is not None and sign.start() > 0 and full[sign.end() :].strip():
        after = strip_marks(full[sign.end() :]).split()
        model = after[:1] if after and _MODEL_RE.fullmatch(after[0]) else []
        # "Zolo® Endobronchial Valve System": once the kind of device is left out, the plain capitalised words
        # that described it go with it.
        described = kind_dropped and all(_PLAIN_WORD_RE.fullmatch(word) for word in after)
        if len(brand) > 3 or (len(brand) > 1 and described):
            return " ".join([*strip_marks(full[: sign.start()]).split(), *model])
    return " ".join(_without_maker(brand, whole=len(brand) == len(words)))


# A brand's own form: a capital inside a word ("ZenTrak") or a stop or colon inside one ("v:flow").
_OWN_FORM_RE = re.compile(r"(?=(?:.*[A-Za-z]){3})[A-Za-z]*(?:[a-z][A-Z]|[A-Za-z][:.+][A-Za-z])[\w:.+-]*")
_ACRONYM_RE = re.compile(r"[A-Z]{3,}")
_NUMBER_RE = re.compile(r"\d[\w.-]*")
_LOWER_NAME_RE = re.compile(r"(?=\S{3})[a-z]+(?:-[a-z]+)*")
MODEL_LABELS = {"model", "models", "series", "type", "version", "generation", "mark"}


def _without_maker(words: list[str], *, whole: bool) -> list[str]:
    """The brand without the maker's name written before it, when what follows shows a brand's own form.

    "Halvor Medical ZenTrak": plain capitalised words, then a word with a capital inside it; "Halvor ABPX
    7100": then an acronym with its model number. A name all in lower case is written as its maker writes
    it, maker first: "halvor zolo-scan 2" (a name with a hyphen or a model number of its own after the
    first word) and a `whole` name of two words whose second is a word of its own ("halvor vexamini"; a
    model's "plus" or "mini" is not). A brand's model ("Zolo G7") or a plain word ("Corvane CRT") after
    the first word shows nothing, and the name is kept whole.
    """
    lead = 0
    while lead < min(2, len(words) - 1) and _PLAIN_WORD_RE.fullmatch(words[lead]):
        lead += 1
    if lead:
        rest = words[lead:]
        if _OWN_FORM_RE.fullmatch(rest[0]) or (
            _ACRONYM_RE.fullmatch(rest[0]) and len(rest) > 1 and _NUMBER_RE.fullmatch(rest[1])
        ):
            return rest
    if (
        len(words) > 1
        and words[0].isalpha()
        and words[0].islower()
        and _LOWER_NAME_RE.fullmatch(words[1])
        # "zolo model 31": the word that labels a model is no brand of its own.
        and words[1] not in MODEL_LABELS
        and not any(c.isupper() for word in words for c in word)
        and (
            "-" in words[1]
            or any(_NUMBER_RE.fullmatch(word) for word in words[2:])
            # "halvor brace" is a brace, not a product "brace" of a maker "halvor".
            or (whole and len(words) == 2 and len(words[1]) >= 5 and words[1] not in DESCRIPTORS | KIND_WORDS)
        )
    ):
        return words[1:]
    return words


class TermIndex:
    """Full and short names of a version's terms, matched against free text with rapidfuzz.

    A note writes "dynesys" or "Dynesys system" for the "Dynesys® System"; the index scores
    every name against the text's word windows and keeps the best per term.
    """

    def __init__(self, terms: list[Term]) -> None:
        self.terms = terms
        self.names: list[str] = []
        self.owner: list[int] = []
        for i, term in enumerate(terms):
            for name in dict.fromkeys([term.name, term.short]):
                if name:
                    self.names.append(utils.default_process(name))
                    self.owner.append(i)

    def find(self, name: str, threshold: float = 90) -> Term | None:
        """The indexed term this name denotes, if any."""
        if not self.names:
            return None
        best = process.extractOne(
            utils.default_process(strip_marks(name)), self.names, scorer=fuzz.ratio, score_cutoff=threshold
        )
        return self.terms[self.owner[best[2]]] if best else None

    def match(self, text: str, threshold: float = 90) -> list[tuple[Term, float]]:
        """Terms named in free text, best score first."""
        words = utils.default_process(strip_marks(text)).split()
        found: dict[int, float] = {}
        for index, name in enumerate(self.names):
            size = len(name.split())
            windows = [" ".join(words[i : i + size]) for i in range(max(1, len(words) - size + 1))]
            best = process.extractOne(name, windows, scorer=fuzz.ratio, score_cutoff=threshold)
            if best:
                owner = self.owner[index]
                found[owner] = max(found.get(owner, 0.0), float(best[1]))
        return sorted(((self.terms[i], score) for i, score in found.items()), key=lambda pair: -pair[1])
