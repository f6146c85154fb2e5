"""From a document's normalized text to fields with source spans and confidences.

Nothing here knows a payer: identity, dates, positions, lines of business, codes, terms and the
prior-authorization statement are read from the words documents use for them, in the sections
whose headings say they hold them (or the whole text when the document has no headings).
"""

from __future__ import annotations

from collections.abc import Sequence

from policies_app.importer import ImportRefused
from policies_app.importing.code_lists import read_codes
from policies_app.importing.criteria import criteria_trees
from policies_app.importing.devices import read_list_terms, read_marked_terms, read_procedure_terms
from policies_app.importing.facts import FactSpec
from policies_app.importing.identity import read_number, read_payer, read_title, read_version_label
from policies_app.importing.lines_of_business import read_lines_of_business
from policies_app.importing.policy_dates import read_dates, read_history
from policies_app.importing.positions import positions_with_criteria, read_positions
from policies_app.importing.prior_authorization import read_prior_authorization
from policies_app.importing.readers import read_document
from policies_app.importing.result import Field, ImportResult
from policies_app.importing.structure import section_text_lines, sections
from policies_app.importing.terms import Term


def extract_document(
    data: bytes, *, file: str = "", payer: str = "", catalogue: Sequence[FactSpec] = ()
) -> ImportResult:
    """Every field the document states, with its source; a document that cannot be read has `errors`."""
    try:
        document = read_document(data, file)
    except ImportRefused as exc:
        return ImportResult(file=file, layout="unreadable", errors=[exc.reason])
    result = ImportResult(file=file, layout=document.layout, text=document.text)
    found = sections(document)
    fields = result.fields
    front = next((s.lines for s in found if s.kind == "front"), [])
    if payer_field := read_payer(document, front, payer):
        fields["payer"] = payer_field
    number = read_number(document)
    if number:
        fields["number"] = number
    if title := read_title(document, found, number):
        fields["title"] = title
    history = read_history(document, found)
    read_dates(document, fields, history, found)
    if history:
        fields["history"] = history
    positions = read_positions(document, found)
    if positions:
        fields["positions"] = positions
    excluded, applies = read_lines_of_business(document)
    if excluded:
        fields["lines_of_business_excluded"] = excluded
    if applies:
        fields["lines_of_business_only"] = applies
    codes = read_codes(document, found, result.errors)
    if codes:
        fields["codes"] = codes
    terms: dict[str, tuple[Term, Field]] = {}
    skip = {str(f.value).lower() for f in (fields.get("payer"),) if isinstance(f, Field)}
    read_list_terms(document, terms, skip)
    read_marked_terms(document, terms, skip)
    read_procedure_terms(document, terms, positions, title)
    if terms:
        fields["terms"] = [f for _, f in terms.values()]
    if prior := read_prior_authorization(document, found):
        fields["prior_authorization"] = prior
    criteria_lines = section_text_lines(document, found, "criteria", "policy", "exclusions", "front", "other")
    result.criteria = criteria_trees(document, criteria_lines or document.lines, catalogue)
    if result.criteria:
        positions_with_criteria(positions)
    if not positions and not codes and not result.criteria:
        result.errors.append(
            "unknown format: no coverage position, code list or criteria were found; is this a medical policy?"
        )
    if version := read_version_label(document, fields):
        fields["version_label"] = version
    return result


def catalogue_specs(rows: Sequence[tuple[str, str, str, str]]) -> list[FactSpec]:
    return [FactSpec(key, label, value_type, unit) for key, label, value_type, unit in rows]
