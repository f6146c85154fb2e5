"""`Claim/$inquire`: a PAS Inquiry Request Bundle read as a query by example, and the calling
client's PAS requests it matches, each answered by the latest submission of its request.

The guide answers no open-ended inquiry: the patient's member id and the NPI of the provider
(the request's requesting or servicing provider) are required, read as `$submit` reads them. The Claim's identifier narrows the search to one
request (its trace number, or the case or authorization number our answer gave); each item is an
example of a line (trace number, service code or range, dates, review action), and a request
matches when one of its lines meets everything one example asks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.db.models import Q, QuerySet
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.claim import Claim, ClaimItem

from casemgmt.fhir.codes import INQUIRY_NO_SERVICE, Ext, System
from casemgmt.fhir.models import FhirClient, FhirSubmission, FhirSubmissionKind
from casemgmt.fhir.parsing import FhirInvalid, FhirProblem, resource_parse
from casemgmt.fhir.pas_in import CLAIM, Reader, as_date, concept_code, extension, extension_code, identifier_key
from casemgmt.fhir.pas_out import submission_state

# Item extensions whose dates (or periods) bound the dates of service an example asks about.
CERTIFICATION_DATES = (
    Ext.CERTIFICATION_ISSUE_DATE,
    Ext.CERTIFICATION_EFFECTIVE_DATE,
    Ext.CERTIFICATION_EXPIRATION_DATE,
)


@dataclass(frozen=True)
class LineExample:
    """One inquiry item: what a line of a matching request has (an empty field asks nothing)."""

    trace_number: str = ""
    code_system: str = ""
    first_code: str = ""
    last_code: str = ""
    first_day: date | None = None
    last_day: date | None = None
    review_action: str = ""

    def condition(self) -> Q:
        """A FhirSubmission condition that one of its items meets whole (used in one filter())."""
        condition = Q()
        if self.trace_number:
            condition &= Q(items__trace_number=self.trace_number)
        if self.first_code:
            condition &= Q(
                items__service_line__code_system=self.code_system,
                items__service_line__code__range=(self.first_code, self.last_code),
            )
        if self.first_day is not None:
            condition &= Q(items__service_line__date_of_service__gte=self.first_day)
        if self.last_day is not None:
            condition &= Q(items__service_line__date_of_service__lte=self.last_day)
        return condition


@dataclass(frozen=True)
class Inquiry:
    member_id: str
    provider_npi: str
    identifier_key: str  # the Claim's identifier as system|value, "" when it sends none
    identifier_value: str
    examples: tuple[LineExample, ...]


def pas_inquire(*, client: FhirClient, document: Any) -> list[FhirSubmission]:
    """The client's requests an inquiry bundle matches, each as its latest submission, newest
    first; FhirInvalid (400) naming every problem for a bundle that is not valid FHIR or does not
    name the member and the requesting provider."""
    inquiry = pas_inquiry_read(bundle=resource_parse(document, Bundle), client=client)
    return inquiry_matches(client=client, inquiry=inquiry)


def pas_inquiry_read(*, bundle: Bundle, client: FhirClient) -> Inquiry:
    reader = Reader(bundle, client)
    entries = bundle.entry or []
    claim = entries[0].resource if entries else None
    if not isinstance(claim, Claim):
        raise FhirInvalid(
            [FhirProblem(path=CLAIM, message="must be the Claim inquiry: a PAS inquiry bundle starts with it")]
        )
    if bundle.type != "collection":
        reader.problem("Bundle.type", f"must be 'collection' (a PAS inquiry bundle), not {bundle.type!r}")
    member = reader.member(claim, reader.coverage(claim))
    provider = reader.provider(claim.provider, f"{CLAIM}.provider", "requesting provider")
    examples = tuple(line_example(reader, item, f"{CLAIM}.item[{i}]") for i, item in enumerate(claim.item or []))
    if reader.problems:
        raise FhirInvalid(reader.problems)
    assert provider is not None  # a missing one is a problem above
    identifier = claim.identifier[0] if claim.identifier else None
    return Inquiry(
        member_id=member.member_id,
        provider_npi=provider.npi,
        identifier_key=identifier_key(identifier),
        identifier_value=str(identifier.value or "") if identifier is not None else "",
        examples=examples or (LineExample(),),
    )


def line_example(reader: Reader, item: ClaimItem, path: str) -> LineExample:
    system, first, last = "", "", ""
    if concept_code(item.productOrService, System.DATA_ABSENT_REASON) != INQUIRY_NO_SERVICE:
        system, first, _display = reader.service_code(item, path)
        end = extension(item.extension, Ext.PRODUCT_OR_SERVICE_CODE_END)
        last = concept_code(end.valueCodeableConcept).upper() if end is not None else ""
        if end is not None and last < first:
            reader.problem(
                f"{path}.extension[{(item.extension or []).index(end)}].valueCodeableConcept",
                f"the range of codes ends ({last!r}) before it starts ({first!r})",
            )
        last = last or first
    first_day, last_day = example_days(item)
    if first_day is not None and last_day is not None and last_day < first_day:
        reader.problem(path, f"its dates end ({last_day}) before they start ({first_day})")
    trace = extension(item.extension, Ext.ITEM_TRACE_NUMBER)
    return LineExample(
        trace_number=str(trace.valueIdentifier.value or "") if trace and trace.valueIdentifier else "",
        code_system=system,
        first_code=first,
        last_code=last,
        first_day=first_day,
        last_day=last_day,
        review_action=extension_code(item.extension, Ext.REVIEW_ACTION_CODE),
    )


def example_days(item: ClaimItem) -> tuple[date | None, date | None]:
    """From the first to the last of the dates and periods the item gives: its service date or
    period and its certification dates (an open period leaves its end open)."""
    spans: list[tuple[date | datetime | None, date | datetime | None]] = []
    if item.servicedDate is not None:
        spans.append((item.servicedDate, item.servicedDate))
    if item.servicedPeriod is not None:
        spans.append((item.servicedPeriod.start, item.servicedPeriod.end))
    for url in CERTIFICATION_DATES:
        found = extension(item.extension, url)
        if found is not None and found.valueDate is not None:
            spans.append((found.valueDate, found.valueDate))
        elif found is not None and found.valuePeriod is not None:
            spans.append((found.valuePeriod.start, found.valuePeriod.end))
    starts = [as_date(start) for start, _end in spans if start is not None]
    ends = [as_date(end) for _start, end in spans if end is not None]
    return min(starts, default=None), max(ends, default=None)


def inquiry_matches(*, client: FhirClient, inquiry: Inquiry) -> list[FhirSubmission]:
    """The latest submission of each of the client's requests the inquiry matches, newest first.

    Cases opened through v1 are not PAS requests and have no submission: they are never found."""
    # The guide matches the ordering or the rendering provider's NPI.
    requests = FhirSubmission.objects.filter(
        Q(case__requesting_provider_npi=inquiry.provider_npi) | Q(case__servicing_provider_npi=inquiry.provider_npi),
        client=client,
        case__member_id=inquiry.member_id,
    )
    asked = requests
    if inquiry.identifier_value:
        asked = asked.filter(
            Q(claim_identifier=inquiry.identifier_key)
            | Q(case__case_number=inquiry.identifier_value)
            | Q(case__authorizations__authorization_number=inquiry.identifier_value)
        )
    matched: set[int] = set()
    for example in inquiry.examples:
        rows = asked.filter(example.condition()).values_list("pk", "items__service_line_id")
        if not example.review_action:
            matched.update(pk for pk, _line in rows)
            continue
        # The review action is the line's answer as it stands now, which only the answer's own
        # reading of the case knows.
        lines: dict[int, set[int]] = {}
        for pk, line in rows:
            lines.setdefault(pk, set()).add(line)
        for submission in FhirSubmission.objects.filter(pk__in=set(lines) - matched):
            if any(
                state.line.pk in lines[submission.pk] and state.review_action == example.review_action
                for state in submission_state(submission)
            ):
                matched.add(submission.pk)
    return latest_of(client, requests, matched)


def latest_of(client: FhirClient, requests: QuerySet[FhirSubmission], matched: set[int]) -> list[FhirSubmission]:
    """Each matched submission's request as it now stands: the latest update or cancellation that
    replaced it, followed as `$submit` followed it (the same case, or the Claim named in
    `related`); the guide answers a replaced request with its replacement."""
    if not matched:
        return []
    family = list(requests.select_related("case").defer("bundle").order_by("pk"))
    replaced_by: dict[int, FhirSubmission] = {}
    for later in family:
        if later.kind == FhirSubmissionKind.REQUEST:
            continue
        related = related_claim(client, later)
        for earlier in family:
            if earlier.pk < later.pk and (earlier.case_id == later.case_id or earlier.claim_identifier == related):
                # In pk order: the latest replacement is the one kept.
                replaced_by[earlier.pk] = later
    by_pk = {submission.pk: submission for submission in family}
    found: dict[int, FhirSubmission] = {}
    for pk in matched:
        current = by_pk[pk]
        while current.pk in replaced_by:
            current = replaced_by[current.pk]
        found[current.pk] = current
    return sorted(found.values(), key=lambda s: (s.received_at, s.pk), reverse=True)


def related_claim(client: FhirClient, submission: FhirSubmission) -> str:
    """The earlier Claim an update or cancellation names, read as `$submit` read it."""
    bundle = resource_parse(submission.bundle, Bundle)
    claim = (bundle.entry or [])[0].resource
    return Reader(bundle, client).kind(claim)[1] if isinstance(claim, Claim) else ""
