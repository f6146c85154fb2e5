"""Devices and procedure terms: brand names from lists, marks and tables, with the short names people write."""

from __future__ import annotations

import bisect
import re

from policies_app.importing.positions import CONSIDERS_RE, VERB_RE
from policies_app.importing.readers import Document, Line
from policies_app.importing.result import Field
from policies_app.importing.spans import field_at
from policies_app.importing.structure import is_heading
from policies_app.importing.terms import (
    DESCRIPTORS,
    EVERYDAY_WORDS,
    KIND_WORDS,
    MARK_SUBSTITUTION,
    MODEL_LABELS,
    NOT_PRODUCTS,
    TM_RE,
    Term,
    TermIndex,
    is_common_word,
    short_name,
    strip_marks,
)

_INTRO_RE = re.compile(
    # "Examples of stents used for this are ...": the examples' kind may come between.
    r"(?:examples?\s+(?:of\s+(?:[\w-]+\s+){1,8}?)?(?:include|are)|"
    r"such\s+as|\be\.g\.|\bfor\s+(?:example|instance)\b(?:\s+with)?|including(?:,?\s+but\s+not\s+limited\s+to)?|"
    r"includes?(?:,?\s+but\s+(?:are|is)\s+not\s+limited\s+to)?|but\s+(?:are|is)\s+not\s+limited\s+to|"
    # "the current model is sold as X": the name a product is sold under.
    r"(?:sold|marketed)\s+as|"
    # "Examples of covered units: A, B", "Light sources: A or b": a label of a plural kind opening a sentence,
    # its items on the same line.
    # A label in title case ("Related Policies:", "Products:") is a field of the document's, not a sentence's.
    r"(?:^|(?<=[.;]\s))(?-i:[A-Z][\w-]*(?:\s+(?![A-Z][a-z])[\w-]+){1,5}?(?<![sui])s:)(?=[ \t]+\S))"
    # "include, for example, A, B and C": the aside belongs to the introduction, not to the list.
    r"(?:,?\s+(?:for\s+example|for\s+instance|e\.g\.|among\s+others),?)?,?[:\s]+",
    re.I,
)
_DEVICE_CONTEXT_RE = re.compile(
    r"device|system|implant|product|procedure|technique|technolog|stimulat|kit|instrument|tool|brand|prosthe|graft|"
    r"pump|monitor|sensor|probe|spacer|cage|valve|catheter|generator|plug|test|assay|panel|scanner|recorder|"
    r"\bcaps?\b|helmet|orthos[ie]s|\bbraces?\b",
    re.I,
)
_ITEM_SPLIT_RE = re.compile(r"\s*(?:,|;)\s*(?:and\s+|or\s+)?|\s+(?:and|or)\s+(?=the\s+|an?\s+|[A-Za-z]*[A-Z0-9®™])")
_DEVICE_NOUN_RE = re.compile(
    r"\b(?:system|device|implant|spacer|stimulator|generator|probe|product|kit|valve|pump|monitor|sensor|tether|balloon|"
    r"catheter|graft|cage|plug|assay|test|panel)s?$",
    re.I,
)
_PROCEDURE_NOUNS = re.compile(
    r"(?:decompression|stabilization|fusion|procedure|laminectomy|laminotomy|discectomy|arthroplasty|ablation|"
    r"implantation|stimulation|surgery|therapy|cryoablation|denervation|injection|neurotomy|tethering)$",
    re.I,
)


def _add_term(
    terms: dict[str, tuple[Term, Field]],
    document: Document,
    name: str,
    kind: str,
    start: int,
    end: int,
    confidence: float,
    short: str | None = None,
) -> None:
    marked = name.strip(" ,.;:\"'“”").lstrip("(")
    if marked.endswith(")") and marked.count(")") > marked.count("("):
        # "(CancerNext(TM))": the closing bracket is the aside's, the one before it the mark's.
        marked = marked[:-1]
    name = strip_marks(name).strip(" ,.;:()\"'“”")
    if len(name) < 3 or len(name) > 200 or not re.search(r"[A-Za-z]", name):
        return
    short = short or (short_name(marked) if kind == "device" else name)
    index = TermIndex([term for term, _ in terms.values()])
    known = index.find(name, 95) or (index.find(short, 95) if short != name else None)
    if known is not None:
        return
    term = Term(name, short, kind)
    terms[name.lower()] = (
        term,
        field_at(document, {"name": name, "short": short, "kind": kind}, start, end, confidence),
    )


_ITEM_MARKER_RE = re.compile(r"^\s*(?:[-•*▪◦·]|\d{1,2}[.)]|[a-z][.)]|\([a-z0-9]{1,4}\))\s")


def _wrapped_text(document: Document, index: int) -> str:
    """The line's text and, while its sentence runs on, the lines a printed page wrapped it onto.

    A line ending in "include:" runs on too when the next line is the list itself written as a sentence
    ("Zolo®, Kira® and the acme vexa."), not one item a line.
    """
    lines = document.lines
    end = index
    # A table's cell read on its own line never runs on into the next cell.
    while (
        end + 1 < len(lines)
        and end - index < 3
        and not lines[end].cell
        and not lines[end + 1].heading
        and not _ITEM_MARKER_RE.match(document.line_text(lines[end + 1]))
    ):
        # A sentence quoted whole (a cell of a CSV export) closes with its full stop before the quotation mark.
        own = document.line_text(lines[end]).rstrip().rstrip('"”’')
        if own.endswith((".", ";", "!", "?")):
            break
        if own.endswith(":") and not (end == index and _run_on_list(own, document.line_text(lines[end + 1]))):
            break
        end += 1
    return document.text[lines[index].start : lines[end].end]


_RUN_ON_LIST_RE = re.compile(r"[^\t,]+(?:,\s+[^\t,]+)+")


def _run_on_list(own: str, following: str) -> bool:
    """Whether a line ends with a list's introduction and the line below runs the list on as comma-separated text."""
    intros = list(_INTRO_RE.finditer(own))
    return bool(intros) and intros[-1].end() >= len(own) and bool(_RUN_ON_LIST_RE.match(following.strip()))


def read_list_terms(document: Document, terms: dict[str, tuple[Term, Field]], skip: set[str]) -> None:
    """Products named in lists ("devices include A, B and C", one a line below "include:") and product tables."""
    # A marked word in lower case ("mild®") is an ordinary word too often to mark the names it leads.
    marked_brands = {
        word for match in _TM_WORD_RE.finditer(document.text) if not (word := match.group(1).split()[-1]).islower()
    }
    # The same brand written in lower case ("Zolo®" above, "zolo max" in a list) is still that brand, unless the
    # brand is a word of the language.
    lower_brands = {brand.lower() for brand in marked_brands if not is_common_word(brand)}
    makers = {maker for maker in _makers(document) if len(maker.split()) == 1}
    for index, line in enumerate(document.lines):
        own = document.line_text(line)
        if not _INTRO_RE.search(own) and not _intro_across_break(document, index, own):
            continue
        text = _wrapped_text(document, index)
        for intro in _INTRO_RE.finditer(text):
            if intro.start() >= len(own):
                # An introduction on a wrapped line is read from that line.
                break
            before = text[max(0, intro.start() - 160) : intro.start()]
            sentence_start = max(before.rfind(". "), -1)
            # An "(e.g., ...)" aside gives examples of anything (conditions, scales, drugs): its list is of
            # products only when one of its items is marked as one, whatever the sentence names.
            # "for example" is such an aside too.
            context = bool(_DEVICE_CONTEXT_RE.search(before[sentence_start + 1 :] + intro.group(0))) and not re.match(
                r"e\.g\.|for\s", intro.group(0)
            )
            if _IDENTIFIER_LIST_RE.search(before):
                # "serial number formats such as AB-1234-5": identifiers on a device's label, not its name.
                continue
            if _CRITERIA_LIST_RE.search(before) and not re.match(r"examples|includes?\b", intro.group(0), re.I):
                # "criteria such as Veritas® or Calder": decision-support products, not devices ("devices billed
                # under these criteria include ..." names devices: the list is its subject's).
                continue
            end_match = re.search(r"\.[\"”’]?(?:\s|$)|$", text[intro.end() :])
            tail_end = intro.end() + (end_match.start() if end_match else len(text))
            # "a device (e.g., A™, B and C) is considered ...": a list in brackets ends with its bracket.
            tail_end = min(tail_end, _closing_bracket(text, intro.start(), intro.end()))
            # A second list in the same sentence ("...; other devices include ...") is read on its own.
            if following := _INTRO_RE.search(text, intro.end(), tail_end):
                tail_end = (
                    text.rfind(" ", intro.end(), following.start())
                    if following.start() > intro.end()
                    else following.start()
                )
                tail_end = max(tail_end, intro.end())
                clause = _NEXT_SUBJECT_RE.search(text[intro.end() : tail_end])
                if clause:
                    tail_end = intro.end() + clause.start()
            offset = intro.end()
            pieces: list[tuple[str, int]] = []
            for piece in _ITEM_SPLIT_RE.split(text[intro.end() : tail_end]):
                piece_start = text.find(piece, offset) if piece else -1
                if piece_start >= 0:
                    pieces.append((piece, piece_start))
                    offset = piece_start + len(piece)
            if _LIST_BELOW_RE.fullmatch(text[intro.end() : tail_end]) and own.rstrip().endswith(":"):
                # "Devices include:" with one product a line in the list below it.
                pieces = _item_lines(document, index)
            pieces = _split_lower_case_items(pieces)
            candidates: list[tuple[str, int, bool, bool]] = []
            coded: list[tuple[str, int]] = []
            lower: list[tuple[str, int, bool]] = []
            loose: list[tuple[str, int]] = []
            kind_shorts: dict[int, str] = {}
            mate_kinds: set[str] = set()
            for piece, piece_start in pieces:
                if _in_aside(text, intro.end(), piece_start):
                    # "Zolo® (Acme Medical, Inc.)": a comma inside a maker's aside splits no item.
                    continue
                for part, part_start in _list_item_parts(piece, piece_start):
                    item = re.sub(r"^(?:and\s+|or\s+)?(?:[Tt]he\s+)?", "", part.strip())
                    # "the Zolo® or Kira 5 lasers": the plural after the last name is the kind of every item.
                    item = _SHARED_KIND_RE.sub("", item)
                    # "the older acme vexa-2": the product's generation is the sentence's word, not the name's.
                    item = _GENERATION_RE.sub("", item)
                    # An item that starts as a clause ("..., are considered cosmetic") names nothing.
                    item = _ITEM_END_RE.split(" " + item)[0].strip(" ,;")
                    if item.endswith(")") and item.count(")") > item.count("("):
                        # "(for example Zolo™ and the vexa o2), is": the bracket closes the aside, not the name.
                        item = item[:-1].rstrip()
                    mark_short = ""
                    if (unkinded := _without_kind_after_mark(item)) != item:
                        mate_kinds.add(item.split()[-1].lower())
                        mark_short = short_name(unkinded)
                    # "the zolo x9 embolic filter": a lower-case brand's name ends at its model, the kind of
                    # product after it.
                    if (
                        (described := _DESCRIBED_LOWER_MODEL_RE.match(item))
                        and all(is_common_word(word) for word in re.split(r"[\s-]+", item[: described.end()]) if word)
                        and not is_common_word(item[described.end() :].split()[0])
                    ):
                        item = item[described.end() :]
                    item = _without_describing_words(item)
                    if (lower_model := _LOWER_MODEL_NAME_RE.fullmatch(item)) and _LOWER_MODEL_KIND_RE.search(item):
                        item = lower_model.group(1)
                    # "the implantable Eversense E3 system": a word or two describing the product precede its brand.
                    if described := _DESCRIBED_BRAND_RE.match(item):
                        item = item[described.end() :]
                    plain = strip_marks(item)
                    noun = bool(_DEVICE_NOUN_RE.search(plain))
                    words = plain.split()
                    # A name led by a brand the document marks elsewhere is marked too: "Zolo® 21" in one
                    # list, "e.g. Zolo WIDE" in another.
                    has_sign = bool(TM_RE.search(item)) or bool(
                        words and (words[0] in marked_brands or words[0] in lower_brands)
                    )
                    # A product's full name runs long ("X™ Pro Left Atrial Appendage Closure Device") when a
                    # sign or a device noun marks it; an unmarked phrase that long is a clause, not a name.
                    if not words or len(words) > (9 if has_sign or noun else 7):
                        continue
                    # "conditions such as migraine, Kessler syndrome and asthma": an unmarked condition is no
                    # product ("Zolo® Lung Cancer", a test's name, is marked).
                    if not has_sign and _CONDITION_RE.search(plain):
                        continue
                    if words[0].lower() in NOT_PRODUCTS or plain.lower() in skip or _CRITERIA_WORDS_RE.search(plain):
                        continue
                    start = line.start + part_start + part.find(item[:3])
                    if mark_short:
                        kind_shorts[start] = mark_short
                    branded = any(c.isupper() for c in words[0]) or bool(re.search(r"[a-z]\d|\d[a-z]", words[0], re.I))
                    if not has_sign and not branded:
                        named = re.match(r"(?:(?:and|or)\s+)?the\s", part.strip())
                        # A brand its maker writes in lower case: "the breg fusion oa plus", "the kiva VCF system".
                        if (
                            named
                            and (plain.islower() or noun or _lower_led_model(words))
                            and len(words) <= 4
                            and not _PLURAL_RE.search(plain)
                            and (noun or not _ordinary_words(plain))
                        ):
                            kind_words = item.split()
                            if (
                                len(kind_words) == 2
                                and kind_words[1].lower() in KIND_WORDS
                                and kind_words[0].isalpha()
                                and len(kind_words[0]) >= 4
                                and not is_common_word(kind_words[0])
                            ):
                                # "the zolo balloon": notes write a coined brand before its kind without it.
                                kind_shorts[start] = kind_words[0]
                            lower.append((item, start, noun))
                        elif coined := _coined_name(document, plain, before):
                            candidates.append((coined, start, False, True))
                        elif plain.islower() and len(words) <= 4:
                            loose.append((item, start))
                        continue
                    if not has_sign and all(w.isupper() for w in words) and len(plain) <= 4:
                        # "MRI" or "CT" names no product; "I-16" beside marked names is a model.
                        if any(c.isdigit() for c in plain):
                            coded.append((item, start))
                        continue
                    if _drug_product(document.text, start, start + len(item)):
                        continue
                    candidates.append((item, start, has_sign, noun))
            # Beside marked names, a name in lower case is a brand written as its maker writes it; in a list
            # of products, so is one that ends in a device noun ("the oncomine comprehensive assay").
            marked_list = any(sign for _, _, sign, _ in candidates)
            if marked_list:
                candidates += [(item, start, False, False) for item, start in coded]
                # "the Kelvar™ elbow and the brindle elbow", "Mervo® implants and the quintra malleable prosthesis":
                # beside marked mates, a coined word before a kind of product is the brand notes write alone.
                kinded = {
                    start: short_name(brand)
                    for item, start in [*loose, *((item, start) for item, start, _ in lower)]
                    if (brand := _brand_before_kind(item, mate_kinds))
                }
                kind_shorts |= kinded
                candidates += [(item, start, False, False) for item, start in loose if start in kinded]
                loose = [(item, start) for item, start in loose if start not in kinded]
            # A list mate's marked brand written again in lower case ("Zolo™ X, zolo x plus") is a model of it.
            brands = {strip_marks(item).split()[0].lower() for item, _, sign, _ in candidates if sign}
            # Beside marked names, a short lower-case name that is no kind of thing nor a service is a brand too
            # ("Zolo™, Kira™ and vexa"; not "and similar", "or open surgery", "suture ligation", "other devices").
            lower += [
                (item, start, False)
                for item, start in loose
                if item.split()[0].lower() in brands
                or (
                    marked_list
                    and _LOOSE_NAME_RE.fullmatch(item)
                    and not _PLURAL_RE.search(item)
                    and not _GENERIC_ITEM_RE.search(item)
                    # "with the Zolo® catheter, experimental and investigational for ...": a position's words.
                    and not _STATEMENT_WORD_RE.search(item)
                    # "Zolo® or placebo", "Zolo® or open surgery": words of the language, not a brand. An
                    # alternative after "or" is any common word; a list's last item ("A™, B™ and summit") is
                    # a brand unless it is an everyday word.
                    and not _ordinary_words(
                        item,
                        within=None
                        if re.search(r"\bor\s*$", document.text[max(0, start - 6) : start])
                        else EVERYDAY_WORDS,
                    )
                )
            ]
            # In a list of products, a lower-case name after "the" with a model number or a coined hyphenated
            # word is one too ("scanners such as the acme z-scan").
            candidates += [
                (item, start, False, False)
                for item, start, noun in lower
                if marked_list or (context and (noun or _LOWER_MODEL_RE.search(item)))
            ]
            # "systems such as the acme lodestar": led by a maker the document names, that maker's product.
            candidates += [
                (words[1], start + item.index(words[1]), False, False)
                for item, start, noun in lower
                if not marked_list
                and context
                and not noun
                and len(words := item.split()) == 2
                and words[0] in makers
                and len(words[1]) >= 5
                and words[1].isalpha()
            ]
            candidates += [
                (item, start, False, False) for item, start in loose if _parallel_name(item, candidates, context)
            ]
            # A list is of products when its sentence says so or one of its items is marked as one
            # (a sign, or a device noun): "CGMs include the Dexcom G7 and the Libre 3 system".
            # "Devices that stimulate the nerve (for example Zolo Duo) are ...": a bracket of examples after a
            # sentence about devices names them, when each is led by a word of no language.
            device_aside = bool(
                intro.group(0)[:1].lower() in "ef"
                and text[: intro.start()].rstrip().endswith("(")
                and _DEVICE_SUBJECT_RE.search(
                    re.split(
                        r"[.;:](?:\s|$)",
                        document.text[max(0, line.start + intro.start() - 300) : line.start + intro.start()],
                    )[-1]
                )
                and candidates
                and all(not is_common_word(strip_marks(item).split()[0]) for item, _, _, _ in candidates)
            )
            if not context and not device_aside and not any(sign or noun for _, _, sign, noun in candidates):
                # "with the Zolo® wand or a powered shaver such as the vexa m5": a sentence naming marked products
                # lists one more in lower case with its model, whatever kind of thing it calls it.
                if not TM_RE.search(before[sentence_start + 1 :]):
                    continue
                candidates = [
                    (item, start, False, False)
                    for item, start, _ in lower
                    if _LOWER_MODEL_RE.search(item) and not is_common_word(item.split()[0])
                ]
            shared = kind_shorts | _shared_kind_brands(candidates)
            for item, start, has_sign, _ in candidates:
                confidence = 0.9 if has_sign else 0.85
                _add_term(terms, document, item, "device", start, start + len(item), confidence, shared.get(start))
    read_table_terms(document, terms, skip)


_TITLE_WORD_RE = re.compile(r"[A-Z][^\W\d_A-Z]+")
_AFTER_MARK_MODEL_RE = re.compile(r"[A-Z0-9][A-Za-z0-9-]{0,2}|\S*\d\S*")


def _without_kind_after_mark(item: str) -> str:
    """A list item up to its last mark when only lower-case words follow it: they say what kind of product it is.

    "the Kelvar™ elbow", "Mervo® malleable implants": the maker marks the brand, and notes write it without the
    kind. A single everyday word before the mark ("Balance™ knee brace") keeps its kind, so that notes do not
    match the word alone; one written in capitals ("NOVA™ elbow") is a brand whatever the word.
    """
    marks = list(TM_RE.finditer(item))
    if not marks:
        return item
    after = item[marks[-1].end() :].split()
    before = strip_marks(item[: marks[-1].start()])
    if not after or not before or not all(_KIND_AFTER_MARK_RE.fullmatch(word) for word in after):
        return item
    if len(before.split()) == 1 and not before.isupper() and is_common_word(before, within=EVERYDAY_WORDS):
        return item
    return item[: marks[-1].end()]


_KIND_AFTER_MARK_RE = re.compile(r"[a-z]+(?:-[a-z]+)*")


def _brand_before_kind(item: str, mate_kinds: set[str]) -> str:
    """The coined lower-case brand before the kind of product a list item names, or "" when it names none.

    "brindle elbow" beside "the Kelvar™ elbow": the mate's kind after its mark; "quintra malleable prosthesis":
    a kind of device and the words describing it. The brand before a mate's kind may be a rarer word of the
    language ("tundra"); before a device's kind alone it is no word at all ("titanium implant" is a material's).
    """
    # A sentence quoted whole (a cell of a CSV export) ends its last item with its full stop and quotation mark.
    words = item.rstrip(" .,;:\"'”’").split()
    if not 2 <= len(words) <= 4 or item != item.lower():
        return ""
    kind = words[-1]
    mates = kind in mate_kinds or kind.rstrip("s") in {mate.rstrip("s") for mate in mate_kinds}
    if not mates and not _PRODUCT_KIND_RE.search(kind):
        return ""
    brand = words[:-1]
    while len(brand) > 1 and brand[-1].isalpha() and _DESCRIBING_RE.search(brand[-1]):
        brand.pop()
    first = brand[0]
    if (
        len(first) < 3
        or not first[0].isalpha()
        or first in NOT_PRODUCTS
        or is_common_word(first, within=EVERYDAY_WORDS if mates else None)
        or _GENERIC_ITEM_RE.search(first)
    ):
        return ""
    return " ".join(brand)


def _shared_kind_brands(candidates: list[tuple[str, int, bool, bool]]) -> dict[int, str]:
    """The brands of marked list mates that repeat one kind after their marks, by where each item starts.

    "the Zolo® Cervical Disc, the Kira LP™ Cervical Disc and the Vexa™ Artificial Disc": the capitalised words
    every mate writes after its mark, ending in the same noun, name the kind of product, not the brand. A name
    ending in a generic word ("System") is left to the short name's own rules.
    """
    brands: dict[int, tuple[str, str]] = {}
    for item, start, sign, _ in candidates:
        marks = list(TM_RE.finditer(item)) if sign else []
        if not marks or not strip_marks(item[: marks[-1].start()]):
            continue
        after = strip_marks(item[marks[-1].end() :]).split()
        model = 0
        while model < len(after) - 1 and _AFTER_MARK_MODEL_RE.fullmatch(after[model]):
            model += 1
        kind = after[model:]
        # One word after a mark ("Zolo® Plus") may be the model's own; a kind is described ("Cervical Disc").
        if (
            len(kind) > 1
            and all(_TITLE_WORD_RE.fullmatch(word) for word in kind)
            and kind[-1].lower() not in DESCRIPTORS
        ):
            brand = " ".join([*strip_marks(item[: marks[-1].start()]).split(), *after[:model]])
            # "Balance® Knee Brace" stays whole: one everyday word alone would match it in any note.
            if len(brand.split()) > 1 or not is_common_word(brand, within=EVERYDAY_WORDS):
                brands[start] = (brand, kind[-1].lower())
    nouns = [noun for _, noun in brands.values()]
    names = [brand.lower() for brand, _ in brands.values()]
    # "Zolo® Lung Panel and Zolo® Breast Panel": one brand's products are told apart by the words after its mark.
    return {
        start: brand
        for start, (brand, noun) in brands.items()
        if nouns.count(noun) >= 2 and names.count(brand.lower()) == 1
    }


def _intro_across_break(document: Document, index: int, own: str) -> bool:
    """Whether a list's introduction starts on this line and a soft line break splits it ("such" / "as A, B")."""
    lines = document.lines
    last = own.rsplit(None, 1)[-1].lower().rstrip(",:") if own.strip() else ""
    # "Examples of stents and protection" / "devices are A, B and C": the break falls inside the examples' kind.
    if (last not in _INTRO_WORDS and not _EXAMPLES_OF_END_RE.search(own)) or (
        index + 1 >= len(lines) or lines[index].cell or lines[index + 1].heading
    ):
        return False
    joined = own + "\n" + document.line_text(lines[index + 1])[:80]
    return any(intro.start() < len(own) < intro.end() for intro in _INTRO_RE.finditer(joined))


_EXAMPLES_OF_END_RE = re.compile(r"\bexamples?\s+of(?:\s+[\w-]+){0,7}\s*$", re.I)
# The words an introduction is made of, one of which ends a line the introduction runs on from.
_INTRO_WORDS = {
    "such", "examples", "example", "e.g.", "including", "include", "includes", "but", "are", "is", "not", "limited",
    "for", "instance", "among",
}  # fmt: skip


_IDENTIFIER_LIST_RE = re.compile(
    r"\b(?:serial|part|catalog(?:ue)?|lot|reference|order(?:ing)?)\s+(?:numbers?|nos?\.?|codes?|ids?)"
    r"(?:\s+formats?)?\s*[,(]?\s*$",
    re.I,
)
# The devices a sentence is about, with no verb of its own before the bracket: the bracket is the subject's.
_DEVICE_SUBJECT_RE = re.compile(
    r"\b(?:devices?|units?|systems?|implants?|stimulators?)\b"
    r"(?:(?!\b(?:is|are|was|were|be|been|has|have|had)\b)[^.;:])*$",
    re.I,
)
# A bracket that opens a list of examples ("devices (for example A, B and C)") is no aside to one item.
_EXAMPLES_RE = re.compile(r"\(\s*(?:for\s+example|for\s+instance|e\.g\.|such\s+as|including|like)\b", re.I)


def _in_aside(text: str, start: int, end: int) -> bool:
    """Whether text[end] sits in a bracketed aside to an item, one opened after the list began at `start`."""
    if end > len(text):
        # An item on a line of its own below the introduction is in no aside of the introduction's line.
        return False
    depth = 0
    for opened in range(end - 1, start - 1, -1):
        depth += {")": 1, "(": -1}.get(text[opened], 0)
        if depth < 0:
            return not _EXAMPLES_RE.match(text, opened)
    return False


def _lower_led_model(words: list[str]) -> bool:
    """A lower-case brand followed by its model only: "the zolo II", "the vexa 3X"."""
    return len(words) > 1 and words[0].islower() and all(_MODEL_WORD_RE.fullmatch(word) for word in words[1:])


# What kind of product a brand names ("the zolo pump", "vexa boots"): notes write the brand without it.
_KIND_NOUN = (
    r"(?:pump|meter|monitor|boot|garment|vest|sleeve|device|system|stimulator|generator|implant|sensor|headset|"
    r"wrap|glove)s?"
)
_KIND_NOUN_RE = re.compile(_KIND_NOUN, re.I)
# Kinds of product a coined lower-case brand is written before ("the quintra prosthesis", "brelvo microspheres").
_PRODUCT_KIND_RE = re.compile(
    rf"{_DEVICE_NOUN_RE.pattern}|\b(?:{_KIND_NOUN}|prosthes[ie]s|probes?|electrodes?|staplers?|wands?|blades?|"
    r"microspheres?|beads|particles|tubes?|stents?|shunts?|sphincters?|occluders?)$",
    re.I,
)
# A list introduced by a kind of product ("older models such as ..."): its one-word items are products.
_KIND_BEFORE_RE = re.compile(
    r"\b(?:models?|devices?|systems?|generators?|pumps?|monitors?|meters?|stimulators?|implants?|products?|brands?)"
    r"[\s,(]*$",
    re.I,
)


def _coined_name(document: Document, plain: str, before: str) -> str:
    """An unmarked brand in lower case: a coined word, no word of the language, that a list names as a product.

    "systems such as zolo boots" (the word and its kind) or "older models such as vexa" (the list's kind
    before it). A word the document keeps using ("insulin pump" in an insulin pump policy) is its subject,
    not a product named in passing.
    """
    words = plain.split()
    kind_after = len(words) == 2 and bool(_KIND_NOUN_RE.fullmatch(words[1]))
    if not kind_after and not (len(words) == 1 and _KIND_BEFORE_RE.search(before)):
        return ""
    name = words[0]
    if (
        len(name) < 4
        or not name.isalpha()
        or not name.islower()
        or is_common_word(name)
        or _PLURAL_RE.search(name)
        or _GENERIC_ITEM_RE.search(name)
        # "monitors such as telewatching": a verb's form names an activity, not a product.
        or name.endswith("ing")
        or document.text.lower().count(name) > 2
    ):
        return ""
    return name


def _parallel_name(item: str, candidates: list[tuple[str, int, bool, bool]], context: bool) -> bool:
    """A lower-case item written as a capitalised mate is, its own word before the same kind of product.

    "such as Zolo Cold Caps or vexa cold caps": the mate's kind repeated after a rare word (not "manual cold
    caps", not "other cold caps") is another maker's product written as that maker writes it.
    """
    words = item.split()
    if not context or len(words) < 2 or not words[0].isalpha():
        return False
    first = words[0]
    if first in NOT_PRODUCTS or _GENERIC_ITEM_RE.search(first) or is_common_word(first, within=EVERYDAY_WORDS):
        return False
    kind = [word.lower() for word in words[1:]]
    for mate, _, _, _ in candidates:
        mate_words = strip_marks(mate).split()
        if (
            len(mate_words) == len(words)
            and mate_words[0][:1].isupper()
            and mate_words[0].lower() != first
            and [word.lower() for word in mate_words[1:]] == kind
        ):
            return True
    return False


def _ordinary_words(name: str, *, within: int | None = None) -> bool:
    """Whether every word of a lower-case name is a common English word (of the `within` most frequent)."""
    return all(word.isalpha() and is_common_word(word, within=within) for word in name.split())


_SHARED_KIND_RE = re.compile(r"(?<=[A-Z0-9®™])\s+[a-z]{3,}(?<![sui])s$")
_GENERATION_RE = re.compile(
    r"^(?:older|newer|earlier|later|latest|current|previous|original|(?:first|second|next)-generation)\s+(?=\S)",
)
_CONDITION_RE = re.compile(
    r"\b(?:syndromes?|diseases?|disorders?|deficienc(?:y|ies)|palsy|injur(?:y|ies)|infections?|cancers?)$", re.I
)


# The words before another list in the same sentence are that list's subject: "A™ and dedicated scanners such as ...".
_NEXT_SUBJECT_RE = re.compile(r"[;,]\s*(?:\w+\s+){0,3}$|(?:[;,]|\s(?:and|or))\s+(?:[a-z][\w-]*\s+){0,3}[a-z][\w-]*\s*$")
# A name of two or more capitalised words ("Tundra Chill Wrap or acme wraps"): a name, not a clause, ends there.
_TITLE_NAME_RE = re.compile(r"(?:[A-Z][\w-]*\s+)+[A-Z][\w-]*")
_AND_LOWER_RE = re.compile(r"\s+(?:and|or)\s+(?=[a-z])")
# "Zolo™ and vexa", "the Zolo™ implant and vexa": a marked name, with its kind of product after it or not.
# The word after the mark is its kind, whatever kind ("Zolo® illuminator or vexa").
_MARK_END_RE = re.compile(rf"(?:{TM_RE.pattern})(?:\s+[a-z][a-z-]{{2,}})?$")


def _split_lower_case_items(pieces: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """A list's items with a name in lower case after "and" / "or" read as an item of its own.

    "Zolo™, Kira X and vexa": after a comma; "Zolo™ or acme vexa": after a marked name. A name in
    capitals after "and" is split already; the part before must read as a name ("Zolo™ is used for pain and
    swelling" is a clause, not two items).
    """
    split: list[tuple[str, int]] = []
    for position, (piece, start) in enumerate(pieces):
        after_comma = position > 0
        joins = [
            join
            for join in _AND_LOWER_RE.finditer(piece)
            if (
                after_comma
                or _MARK_END_RE.search(piece, 0, join.start())
                or _TITLE_NAME_RE.fullmatch(piece[: join.start()].strip())
            )
            and not _ITEM_END_RE.search(" " + piece[: join.start()])
        ]
        if not joins:
            split.append((piece, start))
            continue
        split += [(piece[: joins[-1].start()], start), (piece[joins[-1].end() :], start + joins[-1].end())]
    return split


# What a list ends with that names no product: "and similar", "or equivalent", "and others", "or open surgery".
_GENERIC_ITEM_RE = re.compile(
    rf"\b(?:etc|similar|equivalent|comparable|related|alike|others?|more|so\s+on)\b|{_PROCEDURE_NOUNS.pattern}|"
    r"(?:tion|sion|ectomy|otomy|plasty|scopy)$"
)
_STATEMENT_WORD_RE = re.compile(
    r"\b(?:experimental|investigational|unproven|cosmetic|covered|necessary|excluded|ineligible|appropriate)\b"
)
# One or two words of letters, digits and hyphens: not a clause, nor an abbreviation such as "e.g".
_LOOSE_NAME_RE = re.compile(r"[a-z][a-z0-9-]*(?:\s+[a-z0-9][a-z0-9-]*)?")
_LOWER_MODEL_RE = re.compile(r"\b[a-z]-[a-z]|\d")
_LOWER_MODEL_NAME_RE = re.compile(r"([a-z][a-z-]{2,}(?:\s+[a-z]*\d[a-z0-9-]*)+)(?:\s+[a-z][a-z-]*){1,4}")
# Words describing a lower-case brand with a model before it ("the implantable zolo 5 system"), kept off its name.
_DESCRIBED_LOWER_MODEL_RE = re.compile(rf"(?:[a-z][a-z-]*\s+){{1,3}}(?={_LOWER_MODEL_NAME_RE.pattern}$)")


def _without_describing_words(item: str) -> str:
    """A coined lower-case name with its model number without the everyday words describing it ("the lower-profile
    vexa360"); a word that labels a model ("model vexa360") is kept."""
    described = _DESCRIBED_CODED_NAME_RE.match(item)
    if described is not None and all(
        is_common_word(word, within=EVERYDAY_WORDS) and word not in MODEL_LABELS
        for word in re.split(r"[\s-]+", item[: described.end()])
        if word
    ):
        return item[described.end() :]
    return item


_DESCRIBED_CODED_NAME_RE = re.compile(r"(?:[a-z]+(?:-[a-z]+)*\s+){1,3}(?=[a-z]{3,}\d[a-z0-9]*$)")
# The kind a lower-case brand and its model are sold as ("zolo 7000 two-lead unit").
_LOWER_MODEL_KIND_RE = re.compile(rf"{_DEVICE_NOUN_RE.pattern}|\b(?:units?|{_KIND_NOUN})$", re.I)


def _closing_bracket(text: str, start: int, end: int) -> int:
    """Where the bracket left open before `start` closes after `end`; the text's length when none is open."""
    line_start = text.rfind("\n", 0, start) + 1
    if text.count("(", line_start, start) <= text.count(")", line_start, start):
        return len(text)
    depth = 1
    for position in range(end, len(text)):
        depth += {"(": 1, ")": -1}.get(text[position], 0)
        if depth == 0:
            return position
    return len(text)


# A table's first column holds products when its header names it so: "Product", "Device name", "Brands"
# (a "Device" column may hold kinds of device, "Knee brace, prefabricated").
_PRODUCT_COLUMN_RE = re.compile(r"products?|brands?|(?:product|device|brand)\s+names?", re.I)
_COLUMN_TITLE_RE = re.compile(r"[A-Z(][\w()/&-]*")
_MODEL_WORD_RE = re.compile(r"[\w:+.-]*\d[\w:+.-]*|[A-Z]{2,4}")
_CODE_CELL_RE = re.compile(r"[\d.-]*\d[\d.-]*")


def read_table_terms(document: Document, terms: dict[str, tuple[Term, Field]], skip: set[str]) -> None:
    """Products in the first column of a table whose header names that column for them."""
    lines = document.lines
    for index, header in enumerate(lines):
        text = document.line_text(header)
        indent = len(text) - len(text.lstrip())
        cells = text.strip().split("\t")
        titles = text.split()
        tabbed = len(cells) > 1 and bool(_PRODUCT_COLUMN_RE.fullmatch(cells[0].strip()))
        # A fixed-width table read as plain text keeps its header as a line of column titles.
        spaced = (
            len(cells) == 1
            and 2 <= len(titles) <= 6
            and bool(_PRODUCT_COLUMN_RE.fullmatch(titles[0]))
            and all(_COLUMN_TITLE_RE.fullmatch(title) for title in titles)
        )
        if not tabbed and not spaced:
            continue
        rows: list[tuple[str, int]] = []
        for row in lines[index + 1 : index + 41]:
            row_text = document.line_text(row)
            body = row_text.strip()
            if row.heading or len(row_text) - len(row_text.lstrip()) != indent or ("\t" in body) != tabbed:
                break
            # A sentence under a line of titles is running text, not a table's row.
            if not tabbed and (re.search(r"[.,;](?:\s|$)", body) or len(body.split()) > 16):
                break
            name = body.split("\t")[0].strip() if tabbed else _row_name(body)
            rows.append((name, row.start + indent))
        if tabbed or len(rows) >= 2:
            for name, start in rows:
                words = strip_marks(name).split()
                # A cell with a comma describes a kind of product ("Pump, insulin, external"), not a brand.
                if (
                    0 < len(words) <= 8
                    and "," not in name
                    and _branded(name)
                    and words[0].lower() not in NOT_PRODUCTS
                    and " ".join(words).lower() not in skip
                ):
                    _add_term(terms, document, name, "device", start, start + len(name), 0.8)


# A brand shows itself by a mark, a model number, a capital inside a word ("MiniMed", "iLet") or a stop or colon
# inside one ("t:slim"), or by being written all in lower case; "HMO" or "Medicare Advantage" in a table of
# insurance products shows none.
_BRAND_SIGN_RE = re.compile(r"\d|[a-z][A-Z]|\w[:.+]\w")


def _branded(name: str) -> bool:
    plain = strip_marks(name)
    return bool(TM_RE.search(name) or _BRAND_SIGN_RE.search(plain) or (plain.islower() and len(plain.split()) > 1))


def _row_name(row: str) -> str:
    """A product's name at the start of a table row whose column gaps the text lost, where its case ends it.

    A name in lower case ends before the next column's capitalised words ("zolo mini Acme Medical"); a
    capitalised one before its lower-case description ("Zolo 5 insulin pump Acme"). A row with no such
    change of case cannot be split from the column beside it and gives no name.
    """
    words = row.split()
    while words and _CODE_CELL_RE.fullmatch(words[-1]):
        words.pop()
    lower_led = bool(words) and words[0].islower()
    for position, word in enumerate(words[1:], start=1):
        if _MODEL_WORD_RE.fullmatch(word) or not word[0].isalpha():
            continue
        if (lower_led and word[0].isupper()) or (not lower_led and word.islower()):
            return _ITEM_END_RE.split(" ".join(words[:position]) + " ")[0].strip()
    return ""


_LIST_BELOW_RE = re.compile(r"\s*(?:the\s+following)?\s*:?\s*", re.I)
# An item line's name ends where its description begins: "Genvara 12 - a 12-gene panel", "Luxo: wearable".
_ITEM_LINE_END_RE = re.compile(r"\s*(?:[,;:]|\s[–—-]\s)")


def _item_lines(document: Document, index: int) -> list[tuple[str, int]]:
    """The names on the list items right below line `index`, each with its start relative to that line."""
    lines = document.lines
    base = lines[index].start
    pieces: list[tuple[str, int]] = []
    for line in lines[index + 1 : index + 16]:
        marker = _ITEM_MARKER_RE.match(document.line_text(line))
        if marker is None or line.heading:
            break
        body = document.line_text(line)[marker.end() :]
        name = _ITEM_LINE_END_RE.split(body, maxsplit=1)[0]
        pieces.append((name, line.start + marker.end() - base))
    return pieces


_DESCRIBED_BRAND_RE = re.compile(r"(?:[a-z]+(?:-[a-z]+)*\s+){1,2}(?=[A-Z][a-z]+[A-Za-z0-9]*\b)")
# A plural ends in "s" ("the braces"); a name may too ("plus", "corpus", "class").
# "the zolo 500-series": "series" is a model's range, one or many.
_PLURAL_RE = re.compile(r"(?<![sui])(?<!serie)s$")
_ITEM_END_RE = re.compile(
    r"\s+\((?!(?:R|TM)\))|\s+(?:which|that|from|by|with|for|in|is|are|has|have|were|was|used|approved|cleared|marketed|made|"
    r"designed|sold|when|may|can|will|should|must|could|would|remains?|continues?)\s+"
)
# "the HiRes Ultra 3D implant with the Naída CI M90 sound processor": two products, one item.
_WITH_PRODUCT_RE = re.compile(r"\s+with\s+(?:the\s+|an?\s+)?(?=[^\W\d_]*[A-Z0-9])")


def _list_item_parts(piece: str, piece_start: int) -> list[tuple[str, int]]:
    """The item and, when it names a second branded product after "with", that product too."""
    joined = _WITH_PRODUCT_RE.search(piece)
    if joined is None:
        return [(piece, piece_start)]
    return [(piece, piece_start), (piece[joined.end() :], piece_start + joined.end())]


# The words before a sign, a version or model number last among them ("Zolo 2.0 (R)").
_TM_WORD_RE = re.compile(
    r"(?<![\w-])([A-Za-z][\w-]*(?:[ \u00a0]+[A-Z][\w-]*){0,2}(?:[ \u00a0]+\d+(?:\.\d+)*)?)"
    rf"(?:\s*(?:[®™]|\((?:R|TM)\)|{MARK_SUBSTITUTION})|(?<=[A-Za-z])°)"
)


# The device noun a product's full name ends in.
_NAME_NOUN = r"(?:System|Device|Implant|Stimulator|Generator|Pump|Monitor|Sensor|Valve|Catheter|Kit)"


# What follows a mark in a product's name: its model ("Zolo® 5", "Vexa™ 210G", "Kira™ X2") and, when they end in
# a device noun, the capitalised words of its full name ("Orla™ Spinal Anchoring System").
def _mark_tail(gap: str) -> re.Pattern[str]:
    return re.compile(
        # "Vexa® Q+", "Kira™ TnA": a model may end in a plus sign, or be initials with a small letter between.
        rf"(?:{gap}(?:\d[\w-]*(?:\.\d+)*|[A-Z]{{2,}}(?:-[A-Za-z0-9]+)+|[A-Z]{{2,3}}\d*|[A-Z]\d\w*|[A-Z](?=\+)|"
        rf"[A-Z][a-z][A-Z])\+*(?![\w+-]))*"
        rf"(?:(?:{gap}[A-Z][\w-]*){{0,4}}{gap}{_NAME_NOUN}\b)?"
    )


_MARK_TAIL_RE = _mark_tail(r"[ \u00a0]+")
# A full name that a printed line wrapped after its mark or a word of it ("the Zolo®\nAirway Clearance System"):
# its words run on only as far as a device noun, so a sentence starting on the next line is no part of it.
_DEVICE_NOUN_END_RE = re.compile(rf"{_NAME_NOUN}$")
_WRAPPED_TAIL_RE = _mark_tail(r"(?:[ \u00a0]+|[ \u00a0]*\n[ \u00a0]*)")
# A marked name that is a set of criteria or a decision-support product ("Veritas® Surgical criteria") is no device.
_CRITERIA_WORDS = r"(?:criteria|guidelines?|decision[\s-]+support(?:\s+(?:tools?|products?))?|screening\s+tools?)"
_CRITERIA_PRODUCT_RE = re.compile(rf"[\s\])]*(?:[A-Z][\w&-]*\s+){{0,3}}{_CRITERIA_WORDS}\b", re.I)
_CRITERIA_WORDS_RE = re.compile(rf"\b{_CRITERIA_WORDS}$", re.I)
_CRITERIA_LIST_RE = re.compile(rf"\b{_CRITERIA_WORDS}\s*[,(]?\s*$", re.I)
# A marked name in such a list: "tools such as Veritas® and Calder™".
_CRITERIA_BEFORE_RE = re.compile(
    rf"\b{_CRITERIA_WORDS}\s*[,(]?\s*(?:such\s+as|including|like|e\.g\.,?|for\s+example,?)[^.;:]*$", re.I
)
# A model that a printed line wrapped onto the next one ("the Zolo®\nAX-Lite"): a hyphenated or numbered word only,
# as a capitalised word there may start the next sentence.
_NEXT_LINE_MODEL_RE = re.compile(r"[ \u00a0]*\n[ \u00a0]*(?:[A-Z]{2,}(?:-[A-Za-z0-9]+)+|[A-Z]+\d\w*)(?![\w-])")
_NOTICE_RE = re.compile(r"copyright|trademark|all rights reserved|©", re.I)


def read_marked_terms(document: Document, terms: dict[str, tuple[Term, Field]], skip: set[str]) -> None:
    for line in document.lines:
        if _NOTICE_RE.search(document.line_text(line)):
            continue
        for base, text in _marked_cells(document, line, terms, skip):
            _marked_words(document, base, text, terms, skip)
    _own_form_products(document, terms, skip)
    _lower_case_models(document, terms, skip)
    _subject_products(document, terms, skip)
    _bracketed_brands(document, terms, skip)
    _coordinated_products(document, terms, skip)
    _drop_makers(document, terms)


# "the Zolo® system; the vexa one stapler", "The Kira™ implant and the k2 resurfacing cup are investigational": a
# lower-case name after "the", joined to a marked product, up to where the clause goes on or ends.
_COORDINATED_RE = re.compile(
    rf"(?:{TM_RE.pattern})(?:[ \u00a0]+[a-z][a-z-]*){{0,3}}"
    r"(?:[ \u00a0]*[;,][ \u00a0]*(?:(?:and|or)[ \u00a0]+)?|[ \u00a0]+(?:and|or)[ \u00a0]+)the[ \u00a0]+"
    r"(?P<name>[a-z][a-z0-9-]*(?:[ \u00a0]+[a-z][a-z0-9-]*){0,3}?)"
    r"(?=[ \u00a0]*(?:[.;,:(]|$)|[ \u00a0]+(?:is|are|was|were|has|have|may|can|remains?|continues?)\b)",
    re.M,
)


def _coordinated_products(document: Document, terms: dict[str, tuple[Term, Field]], skip: set[str]) -> None:
    """A product written in lower case as a marked product's mate in running text, with no list's introduction.

    The mate's first word is no word of the language ("vexa", "k2"; not "the usual care", "the ipsilateral knee");
    a kind of product at its end ("stapler") is no part of its short name.
    """
    for match in _COORDINATED_RE.finditer(document.text):
        name = match.group("name")
        first = name.split()[0]
        if (
            first in NOT_PRODUCTS
            or is_common_word(first)
            or _DESCRIBING_RE.search(first)
            or not re.search(r"[a-z]", first)
            or name.lower() in skip
        ):
            continue
        name = _without_describing_words(name)
        start = match.start("name") + match.group("name").find(name)
        brand = _brand_before_kind(name, set())
        _add_term(terms, document, name, "device", start, start + len(name), 0.75, short_name(brand) if brand else None)


# "an implantable nitinol device (zolo)": a coined lower-case word in brackets after a device noun is its brand.
_BRACKETED_BRAND_RE = re.compile(
    r"((?:[\w-]+[ \u00a0]+){1,4}?(?:device|system|implant|stimulator|stent|valve|pump|monitor|sensor))"
    r"[ \u00a0]+\((?-i:([a-z]{4,}))\)",
    re.I,
)


_DESCRIBING_RE = re.compile(r"(?:able|ible|al|ive|ous|ic|ed|ing|ary|ory|less|ful)$")


def _bracketed_brands(document: Document, terms: dict[str, tuple[Term, Field]], skip: set[str]) -> None:
    for match in _BRACKETED_BRAND_RE.finditer(document.text):
        name = match.group(2)
        initials = "".join(word[0] for word in match.group(1).lower().split())
        # "(tind)" after "temporary implantable nitinol device" spells the words out: an abbreviation, no brand.
        # "device (implantable)": a word of the language's form describes the device, whether listed or not.
        if is_common_word(name) or _DESCRIBING_RE.search(name) or initials.endswith(name) or name in skip:
            continue
        _add_term(terms, document, name, "device", match.start(2), match.end(2), 0.75)


# "the zoloCheck meter": a word of a brand's own form (lower case, then capitals) before the kind of product it is.
_OWN_FORM_PRODUCT_RE = re.compile(rf"\b[Tt]he\s+([a-z]+[A-Z][A-Za-z]*)\s+{_KIND_NOUN}\b")


def _own_form_products(document: Document, terms: dict[str, tuple[Term, Field]], skip: set[str]) -> None:
    """Unmarked brands in running text that their own form and the kind of product after them show."""
    for match in _OWN_FORM_PRODUCT_RE.finditer(document.text):
        name = match.group(1)
        if len(name) < 4 or name.lower() in skip or any(name.lower() in known for known in terms):
            continue
        _add_term(terms, document, name, "device", match.start(1), match.end(1), 0.75)


# A sentence whose subject is a product's name: "The Zolo Artificial Disc is no longer marketed."
_SUBJECT_NAME_RE = re.compile(
    r"(?:^|(?<=[.;:]\s))The[ \u00a0]+(?P<name>[^\W\d_][\w|+:-]*(?:[ \u00a0]+[\w|+:-]+){0,4}?)"
    r"[ \u00a0]+(?:is|are|has|have|was|were|remains?|continues?)\b",
    re.M,
)
_SUBJECT_BRAND_RE = re.compile(r"[A-Z][^\W\d_A-Z]+|[a-z]+(?:[|:][a-z]+)?|[a-z]+[A-Z][\w|+:-]*")
_SUBJECT_OWN_FORM_RE = re.compile(r"[a-z]+[|:+][a-z]+|[a-z]+[A-Z][\w|+:-]*")
_SUBJECT_MODEL_RE = re.compile(r"[A-Z][^\W\d_]*|[A-Z]*\d[\w-]*")
_SUBJECT_MODEL_NUMBER_RE = re.compile(r"[A-Z]{1,3}\d*|[A-Z]*\d[\w-]*")
# How far after a product a sentence naming another one still belongs to the same list of products.
_SUBJECT_REACH = 300


def _subject_products(document: Document, terms: dict[str, tuple[Term, Field]], skip: set[str]) -> None:
    """Products named as a sentence's subject right after a list of products, with no mark and no introduction.

    "Devices include the Zolo® Disc. The Kira Artificial Disc is no longer marketed. The vexa|flex disc is
    investigational.": the subject's first word is no word of the language; a capitalised brand is followed by
    capitalised words or models only (not "the Acme device", a maker's), a lower-case one by its model or its kind.
    """
    ends = sorted(field.source.end for term, field in terms.values() if term.kind == "device")
    if not ends:
        return
    starts = [line.start for line in document.lines]
    for match in _SUBJECT_NAME_RE.finditer(document.text):
        previous = bisect.bisect_right(ends, match.start()) - 1
        if previous < 0 or match.start() - ends[previous] > _SUBJECT_REACH:
            continue
        between = document.lines[
            bisect.bisect_right(starts, ends[previous]) : bisect.bisect_right(starts, match.start())
        ]
        if any(is_heading(document, line) for line in between):
            # A new section speaks of something else.
            continue
        words = match.group("name").split()
        first = words[0]
        if (
            not _SUBJECT_BRAND_RE.fullmatch(first)
            or first.lower() in NOT_PRODUCTS
            or is_common_word(first)
            or " ".join(words).lower() in skip
        ):
            continue
        rest = words[1:]
        kinds = DESCRIPTORS | KIND_WORDS
        if first[0].isupper():
            # "The Kira Artificial Disc", "The Kira 5": capitalised words to a kind of product, or a model. A word
            # the document also writes in lower case ("The Intragastric Balloon", "an intragastric balloon") is an
            # ordinary one, a brand's never.
            named = (
                all(_SUBJECT_MODEL_RE.fullmatch(word) for word in rest)
                and bool(rest and (rest[-1].lower() in kinds or _SUBJECT_MODEL_NUMBER_RE.fullmatch(rest[-1])))
                and not re.search(rf"(?<![\w|-]){re.escape(first.lower())}(?![\w|-])", document.text)
            )
        elif len(rest) == 1 and rest[0] in kinds:
            # "the vexa|flex disc": a word of a brand's own form is the brand, its kind no part of the name ("the
            # intragastric balloon" is a kind of product alone).
            named, words = bool(_SUBJECT_OWN_FORM_RE.fullmatch(first)), [first]
        else:
            # "the vexa C Pro": a lower-case brand and its model, a word the document hardly uses ("the carotid
            # C segment" is an artery's part).
            named = (
                bool(rest and _SUBJECT_MODEL_NUMBER_RE.fullmatch(rest[0]))
                and all(_SUBJECT_MODEL_RE.fullmatch(word) for word in rest)
                and document.text.lower().count(first) <= 2
            )
        if not named:
            continue
        name = " ".join(words)
        start = match.start("name")
        _add_term(terms, document, name, "device", start, start + len(name), 0.75)


# A model's designation after its brand: "model 3116", "II", "X2".
_MODEL_AFTER = r"(?:[ \u00a0]+model)?(?:[ \u00a0]+(?:[\w+-]*\d[\w+-]*|[IVX]{1,4}(?![\w-])))+"


def _lower_case_models(document: Document, terms: dict[str, tuple[Term, Field]], skip: set[str]) -> None:
    """A brand the document marks, written again in lower case with a model ("the older zolo model 31"), is that model.

    A maker writes its older models so in running text; the brand must be no word of the language, so that a
    marked "Balance®" does not make "balance 2" a product.
    """
    brands = {
        brand
        for match in _TM_WORD_RE.finditer(document.text)
        if not (brand := match.group(1).split()[-1]).islower() and not is_common_word(brand) and len(brand) >= 3
    }
    for brand in brands:
        pattern = re.compile(rf"(?<![\w-]){re.escape(brand.lower())}{_MODEL_AFTER}")
        for match in pattern.finditer(document.text):
            name = match.group(0)
            if name.lower() in skip or any(name.lower() in key for key in terms):
                continue
            _add_term(terms, document, name, "device", match.start(), match.end(), 0.75)


# A sentence about a drug ("Zolo® injection is supplied in vials"): its marked names are the drug's brands.
_DRUG_WORDS_RE = re.compile(
    r"\b(?:injections?|infusions?|vials?|drugs?(?![\w-]|\s+administration)|medications?|medicines?|pharmac\w*|"
    r"\d+\s*(?:mg|mcg)\b)",
    re.I,
)


# How a drug or a cellular product is named: its form, its dose, or the cells it is made of.
_DRUG_FORM = (
    # A solution is a drug's only when its route says so ("software solutions" are none); a tablet may be a computer.
    r"(?:(?:ophthalmic|oral|topical|injectable|intravitreal|intravenous|subcutaneous)\s+(?:solutions?|suspensions?)|"
    r"injections?|infusions?|eye\s+drops|ointments?|vials?|cells|chondrocytes|keratinocytes|fibroblasts|"
    r"\d+(?:\.\d+)?\s*(?:mg|mcg|ml|units?)\b)"
)
_DRUG_FORM_AFTER_RE = re.compile(rf"\s*(?:{_DRUG_FORM}|\((?P<aside>[^()]*)\))", re.I)
_DRUG_FORM_END_RE = re.compile(rf"\b{_DRUG_FORM}\s*$", re.I)
_DRUG_FORM_HEAD_RE = re.compile(rf"^(?:[\w-]+\s+){{0,3}}{_DRUG_FORM}(?:\s|$)", re.I)


def _drug_product(text: str, start: int, end: int) -> bool:
    """Whether the marked name at text[start:end] is a drug's or a cellular product's, by the words beside it.

    "Zolo® ophthalmic solution", "Zolo® (autologous cultured chondrocytes on a membrane)" and "a riboflavin
    solution (Zolo® and Zolo® Forte)" name a drug or cells however the sentence speaks of devices.
    """
    after = _DRUG_FORM_AFTER_RE.match(text, end)
    if after is not None and (after.group("aside") is None or _DRUG_FORM_HEAD_RE.match(after.group("aside").strip())):
        return True
    line_start = text.rfind("\n", 0, start) + 1
    opened = text.rfind("(", line_start, start)
    return (
        opened >= 0
        and text.count(")", opened, start) == 0
        and bool(_DRUG_FORM_END_RE.search(text, max(line_start, opened - 80), opened))
    )


def _drug_sentence(text: str, start: int, end: int) -> bool:
    """Whether the sentence around text[start:end] names a drug's form and no kind of device."""
    opening = max(text.rfind(". ", 0, start), text.rfind("; ", 0, start))
    closing = [found for found in (text.find(". ", end), text.find("; ", end)) if found >= 0]
    sentence = text[opening + 1 : min(closing) if closing else len(text)]
    return bool(_DRUG_WORDS_RE.search(sentence)) and not _DEVICE_CONTEXT_RE.search(sentence)


_COMPANY = r"\b[A-Z][\w&.-]*(?:[ \u00a0]+[A-Z][\w&.-]*){0,3}"
# Where a document names a company: "Halvor Medical, Inc.", "made by Halvor Medical", "Halvor (manufacturer)".
_MAKER_RES = (
    re.compile(rf"({_COMPANY}),?[ \u00a0]+(?:Inc\b\.?|Incorporated|Corporation|Corp\.|LLC|Ltd\b\.?|GmbH|plc)"),
    re.compile(rf"\b(?:manufactured|made|marketed|distributed|developed|sold)\s+by\s+(?:the\s+)?({_COMPANY})"),
    re.compile(rf"\bfrom\s+({_COMPANY})(?=\s*[,.;)]|\s+(?:is|are|was|were|and)\b)"),
    re.compile(rf"({_COMPANY})\s*\((?i:the\s+)?(?i:manufacturer|maker|supplier)\)"),
    # "Zolo™ (Acme Medical)", "Zolo® 2 (Acme)": the company in brackets after a marked product is its maker.
    re.compile(rf"(?:[®™]|\((?:R|TM)\))(?:[ \u00a0]+[A-Z0-9][\w-]*){{0,2}}\s*\(({_COMPANY})\)"),
)
_MAKER_COLUMN_RE = re.compile(r"(?:manufacturer|maker|supplier|vendor|company)s?", re.I)
# What is left after a maker's name is a product when it has a word of its own, not a model alone ("G7").
_OWN_WORD_RE = re.compile(r"[A-Z][a-z]{2,}|[A-Z]{3,}|[a-z]+[A-Z]\w*")


def _makers(document: Document) -> set[str]:
    """The companies the document names as such, in lower case."""
    makers = {match.group(1) for pattern in _MAKER_RES for match in pattern.finditer(document.text)}
    column: int | None = None
    for line in document.lines:
        cells = document.line_text(line).strip().split("\t")
        if len(cells) == 1:
            column = None
        elif (named := next((i for i, cell in enumerate(cells) if _MAKER_COLUMN_RE.fullmatch(cell)), None)) is not None:
            column = named
        elif column is not None and column < len(cells):
            makers.add(cells[column])
    found: set[str] = set()
    for maker in makers:
        words = maker.split()
        while words and words[0].lower() in NOT_PRODUCTS:
            words = words[1:]
        if words:
            found.add(" ".join(words).lower())
    return found


def _drop_makers(document: Document, terms: dict[str, tuple[Term, Field]]) -> None:
    """A device named after its maker ("Halvor™ Brisa® 4", the document naming Halvor Inc.) is named without it."""
    if not any(term.kind == "device" for term, _ in terms.values()):
        return
    makers = _makers(document)
    if not makers:
        return
    named: list[tuple[str, tuple[Term, Field]]] = []
    for key, (term, field) in terms.items():
        words = term.name.split()
        size = next((size for size in range(len(words) - 1, 0, -1) if " ".join(words[:size]).lower() in makers), 0)
        rest = " ".join(words[size:])
        offset = field.source.text.find(words[size]) if size else -1
        if term.kind != "device" or offset < 0 or not _OWN_WORD_RE.search(rest):
            named.append((key, (term, field)))
            continue
        start = field.source.start + offset
        product = Term(rest, short_name(document.text[start : field.source.end]), term.kind)
        value = {"name": product.name, "short": product.short, "kind": product.kind}
        named.append((rest.lower(), (product, field_at(document, value, start, field.source.end, field.confidence))))
    terms.clear()
    terms.update(named)


_QUALIFYING_NOUNS = ("procedure", "device", "system", "probe", "implant")
_OWN_FORM_BEFORE_RE = re.compile(r"(?<![\w-])([a-z]+[A-Z][\w-]*)[ \u00a0]+$")


def _marked_words(
    document: Document, base: int, text: str, terms: dict[str, tuple[Term, Field]], skip: set[str]
) -> None:
    """Marked names in running text: the capitalised words before each sign."""
    for match in _TM_WORD_RE.finditer(text):
        if _CRITERIA_PRODUCT_RE.match(text, match.end()):
            continue
        tail = _MARK_TAIL_RE.match(text, match.end())
        name = match.group(1)
        words = name.split()
        while words and words[0].lower() in NOT_PRODUCTS | {"a", "an", "and", "or", "of", "with", "using", "use"}:
            words = words[1:]
        # "note that Korvo™": a plain lower-case word before a capitalised brand is the sentence's, not the name's.
        while len(words) > 1 and words[0].isalpha() and words[0].islower() and not words[1].islower():
            words = words[1:]
        if not words or " ".join(words).lower() in skip:
            continue
        name = " ".join(words)
        start = base + match.end(1) - len(name)
        # "the vexaGraft prime®": a lower-case model marked after a brand of its own form is that brand's model.
        # Notes name the model so too: the brand alone ("vexaGraft") may be another model's short name.
        lead = _OWN_FORM_BEFORE_RE.search(text, max(0, start - base - 40), start - base) if name.islower() else None
        if lead is not None:
            name = f"{lead.group(1)} {name}"
            start = base + lead.start(1)
        if _CRITERIA_BEFORE_RE.search(text, max(0, start - base - 120), start - base):
            continue
        # A model written in lower case ("zolo max") does not hide its family's marked brand ("Zolo®"), nor a
        # model ("the zolo II system") another of the family's full names ("Zolo® System").
        rest = strip_marks(text[match.end() : tail.end()]) if tail and not name.islower() else ""
        probe = f"{name} {rest}".lower() if rest else name.lower()
        if any(probe in key and not (term.name.islower() and not name.islower()) for key, (term, _) in terms.items()):
            continue
        if _drug_sentence(text, match.start(1), match.end()) or _drug_product(text, match.start(1), match.end()):
            continue
        if name.islower():
            # A brand written in lower case ("mild") may be an ordinary word: qualify it by what follows.
            following = re.match(r"[\s\])]*(?:decompressive\s+)?([A-Za-z]+)", text[match.end() :])
            noun = following.group(1).lower() if following else ""
            if noun not in _QUALIFYING_NOUNS and not is_common_word(name):
                # "the zolo™ pump": a coined word is the brand itself, its kind of product no part of the name.
                _add_term(terms, document, name, "device", start, start + len(name), 0.75)
                continue
            noun = noun if noun in _QUALIFYING_NOUNS else "procedure"
            _add_term(
                terms,
                document,
                f"{name} {noun}",
                "procedure" if noun == "procedure" else "device",
                start,
                base + match.end(),
                0.75,
            )
        else:
            end = tail.end() if tail else match.end()
            full = name + text[match.end(1) : end]
            wrapped = _NEXT_LINE_MODEL_RE.match(document.text, base + end) if not text[end:].strip() else None
            if wrapped is not None:
                full += wrapped.group(0)
                end = wrapped.end() - base
            elif run_on := _wrapped_tail(document, base + match.end(), base + end):
                full = name + text[match.end(1) : match.end()] + run_on.group(0)
                end = run_on.end() - base
            model = strip_marks(full) if lead is not None else None
            _add_term(terms, document, full, "device", start, base + end, 0.8, model)


def _wrapped_tail(document: Document, start: int, end: int) -> re.Match[str] | None:
    """A full name's words after a mark at `start` that run on over a line break to a device noun, past `end`."""
    if document.layout == "html":
        # A web page's lines are its blocks (items, paragraphs, cells): none wraps into the next.
        return None
    found = _WRAPPED_TAIL_RE.match(document.text, start)
    if (
        found is None
        or found.end() <= end
        or "\n" not in found.group(0)
        or not _DEVICE_NOUN_END_RE.search(found.group(0))
    ):
        return None
    # A line break inside a name is a printed line's wrap, never the step into a heading or a table's cell.
    starts = [line.start for line in document.lines]
    first = bisect.bisect_right(starts, start) - 1
    last = bisect.bisect_right(starts, found.end() - 1) - 1
    if any(line.heading or line.cell for line in document.lines[max(first, 0) : last + 1]):
        return None
    return found


def _marked_cells(
    document: Document, line: Line, terms: dict[str, tuple[Term, Field]], skip: set[str]
) -> list[tuple[int, str]]:
    """A table's cell that starts with a marked name is the product's full name ("Proclaim™ XR SCS System").

    The cells beside it (the manufacturer, the year) are other columns, never part of the name. The
    line's other text, by cells, is returned with where it starts, to be read as running text.
    """
    text = document.line_text(line)
    if "\t" not in text:
        return [(line.start, text)]
    rest: list[tuple[int, str]] = []
    offset = line.start
    for cell in text.split("\t"):
        name = cell.strip()
        words = strip_marks(name).split()
        first = _TM_WORD_RE.match(name)
        if (
            first is not None
            and 0 < len(words) <= 9
            and words[0].lower().strip("*") not in NOT_PRODUCTS
            and " ".join(words).lower() not in skip
        ):
            start = offset + cell.find(name)
            _add_term(terms, document, name, "device", start, start + len(name), 0.85)
        else:
            rest.append((offset, cell))
        offset += len(cell) + 1
    return rest


_ACRONYM_RE = re.compile(r"\((?P<abbr>[A-Z]{2,6})[®™]?\)")
_WORDS_BEFORE_RE = re.compile(r"((?:[\w-]+\s+){1,9})$")


def read_procedure_terms(
    document: Document, terms: dict[str, tuple[Term, Field]], positions: list[Field], title: Field | None
) -> None:
    for position in positions:
        sentence = position.source.text
        verb = VERB_RE.search(sentence)
        if verb is None:
            continue
        considers = CONSIDERS_RE.search(sentence)
        head = considers.group("subject") if considers else sentence[: verb.start()]
        # The service's name ends where an aside, a purpose or a qualifier of the request begins.
        subject = _PROCEDURE_END_RE.split(head)[0].strip()
        # A numbered section's statement ("2.2 Endoscopic procedures are ...") starts after its number, a list
        # item's after its marker ("- ", "* ", a statement's label "N2").
        subject = re.sub(
            r"^(?:(?:\d+(?:\.\d+)*\.?|[-•*▪◦·]|[A-Z]\d{1,2}[.)]?)\s+)?(?:the\s+|an?\s+)?(?:use\s+of\s+)?(?:the\s+)?",
            "",
            subject,
            flags=re.I,
        )
        subject = re.sub(r"\s+(?:systems?|devices?)$", "", strip_marks(subject), flags=re.I)
        # "The zolo|flex disc has no approval and is investigational": a statement about a product named as a
        # device, not a procedure.
        named = f" {subject.lower()} "
        if any(
            f" {name.lower()} " in named
            for term, _ in terms.values()
            if term.kind == "device"
            for name in (term.name, term.short)
        ):
            continue
        if 2 <= len(subject.split()) <= 10 and not re.search(
            r"\b(?:this|these|it|services?|following|criteri(?:a|on))\b", subject, re.I
        ):
            start = (
                position.source.start + sentence.find(subject[:5]) if subject[:5] in sentence else position.source.start
            )
            _add_term(terms, document, _lower_first(subject), "procedure", start, start + len(subject), 0.8)
    # The bracketed acronym is found first and its words read back from it: scanning every word for the
    # words before an acronym is slow on a long document.
    for acronym in _ACRONYM_RE.finditer(document.text):
        match = _WORDS_BEFORE_RE.search(document.text, max(0, acronym.start() - 400), acronym.start())
        if match is None:
            continue
        abbr = acronym.group("abbr").lower()
        words = match.group(1).split()
        for size in range(2, len(words) + 1):
            window = words[-size:]
            if window[0][0].lower() != abbr[0]:
                continue
            initials = iter(part[0].lower() for word in window for part in word.split("-") if part)
            if all(letter in initials for letter in abbr) and _PROCEDURE_NOUNS.search(window[-1]):
                name = " ".join(window)
                start = match.start(1) + match.group(1).rfind(name)
                _add_term(terms, document, _lower_first(name), "procedure", start, start + len(name), 0.8)
                break
    if title is not None:
        procedure = re.split(r"\s+(?:for|of|in)\s+(?=[A-Z])", strip_marks(title.value))[0]
        if procedure != title.value and len(procedure.split()) >= 2:
            _add_term(
                terms,
                document,
                procedure.lower() if procedure.istitle() else procedure,
                "procedure",
                title.source.start,
                title.source.start + len(procedure),
                0.7,
            )


# The service's name ends where an aside, a purpose, a qualifier of the request, a relative clause or a verb of its
# own begins ("X that needs no endoscopy", "X has no approval and is investigational").
_PROCEDURE_END_RE = re.compile(
    r",|\s+\(|\s+for\s+|\s+in\s+(?:individuals|patients|members)|\s+(?:requested|used|performed|provided)\b|"
    r"\s+(?:with\s+the|that|which|who|has|have|had|is|are|was|were|must|may|can|should|will)\s"
)


def _lower_first(phrase: str) -> str:
    if len(phrase) > 1 and phrase[0].isupper() and phrase[1].islower() and not any(c.isupper() for c in phrase[1:]):
        return phrase[0].lower() + phrase[1:]
    return phrase
