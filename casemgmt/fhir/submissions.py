"""`Claim/$submit`: a PAS Request Bundle becomes a case exactly as a v1 request does (the same
intake service, so the same validation, deadlines, flags and triage), and an update or a
cancellation acts on the case an earlier bundle opened.

A bundle is kept as it arrived (FhirSubmission) with the case it opened or changed; a retry of
the same bundle (its Bundle.identifier) is answered from there, never stored twice.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, transaction
from django.utils import timezone
from fhir.resources.R4B.bundle import Bundle

from casemgmt.cases.models import OPEN_STATUSES, Case, CaseStatus, LineOutcome
from casemgmt.cases.selectors import line_current_determinations
from casemgmt.cases.services.attachments import attachment_add
from casemgmt.cases.services.intake import case_submit
from casemgmt.cases.services.transitions import case_cancel
from casemgmt.fhir.codes import CERTIFICATION_CANCEL
from casemgmt.fhir.models import FhirClient, FhirItem, FhirSubmission, FhirSubmissionKind
from casemgmt.fhir.parsing import FhirInvalid, FhirProblem, FhirRefused, resource_parse
from casemgmt.fhir.pas_in import PasItem, PasRequest, fhir_paths, identifier_key, pas_request_read
from casemgmt.fhir.pas_out import ItemState, intake_state
from casemgmt.fhir.questionnaires import questionnaire_response_facts
from casemgmt.kernel.errors import ConflictError, ValidationFailed

# Adverse outcomes: a request holding one is not updated; the provider sends a new request
# (or appeals).
NOT_UPDATABLE = frozenset({LineOutcome.DENIED, LineOutcome.UPHELD})


@dataclass(frozen=True)
class Submitted:
    """What $submit answers from: the submission, whether it repeats an earlier one, and, for a
    request intake has just answered, its items' state as intake wrote it."""

    submission: FhirSubmission
    replayed: bool = False
    state: list[ItemState] | None = None


def pas_submit(*, client: FhirClient, document: dict[str, Any]) -> Submitted:
    """Accept a PAS request bundle.

    FhirInvalid (400, nothing stored) for a bundle that is not valid FHIR or breaks the PAS
    rules or intake's validation, each problem at the element's FHIRPath; PasNotReviewable for a
    member the plan cannot review; FhirRefused for a retry that differs or an update the
    request's state does not allow."""
    bundle = resource_parse(document, Bundle)
    key = identifier_key(bundle.identifier)
    earlier = FhirSubmission.objects.filter(client=client, bundle_identifier=key).first() if key else None
    if earlier is not None:
        return Submitted(_replayed(earlier, document), replayed=True)
    request, responses = pas_request_read(bundle=bundle, client=client)
    facts: dict[str, Any] = {}
    problems: list[FhirProblem] = []
    for response, path in responses:
        found, wrong = questionnaire_response_facts(response=response, path=path)
        facts.update(found)
        problems += wrong
    if problems:
        raise FhirInvalid(problems)
    if facts:
        request.case = dataclasses.replace(request.case, clinical_facts={**request.case.clinical_facts, **facts})
    try:
        if request.kind == FhirSubmissionKind.REQUEST:
            return _request_new(client, request, document)
        return _request_change(client, request, document)
    except (IntegrityError, FhirRefused):
        # The same bundle, sent twice at once: the other one was stored first (its case holds
        # the Claim identifier, or its submission the bundle identifier).
        earlier = FhirSubmission.objects.filter(client=client, bundle_identifier=key).first()
        if earlier is None:
            raise
        return Submitted(_replayed(earlier, document), replayed=True)


def _replayed(earlier: FhirSubmission, document: dict[str, Any]) -> FhirSubmission:
    if earlier.bundle != document:
        raise FhirRefused(
            f"Bundle.identifier {earlier.bundle_identifier!r} was already used for another bundle "
            f"(request {earlier.case.case_number}); a new request needs a new identifier",
            status_code=409,
            code="duplicate",
            path="Bundle.identifier",
        )
    return earlier


def _case_open(client: FhirClient, request: PasRequest) -> Case:
    try:
        return case_submit(client=client.user, data=request.case)
    except ValidationFailed as exc:
        raise FhirInvalid(fhir_paths(exc.errors, request.paths)) from None
    except ConflictError as exc:
        if exc.field == "external_id":
            raise FhirRefused(
                f"a request with this Claim.identifier was already submitted: {exc.extra.get('case_number')}; "
                "send an update that names it in Claim.related, or a new identifier",
                status_code=409,
                code="duplicate",
                path="Bundle.entry[0].resource.identifier",
            ) from None
        raise


def _record(client: FhirClient, request: PasRequest, document: dict[str, Any], case: Case) -> FhirSubmission:
    submission = FhirSubmission.objects.create(
        client=client,
        case=case,
        kind=request.kind,
        bundle_identifier=request.bundle_identifier,
        claim_identifier=request.claim_identifier,
        bundle=document,
        warnings=request.warnings,
        received_at=timezone.now(),
    )
    return submission


def _items(submission: FhirSubmission, request: PasRequest, case: Case, sequences: list[int]) -> list[FhirItem]:
    lines = {line.sequence: line for line in case.lines.all()}
    items = [item for item in request.items if item.sequence in sequences]
    return FhirItem.objects.bulk_create(
        [
            FhirItem(
                submission=submission,
                service_line=lines[position],
                sequence=item.sequence,
                trace_number=item.trace_number,
            )
            for position, item in enumerate(items, start=1)
        ]
    )


def _documents(client: FhirClient, request: PasRequest, case: Case) -> None:
    """The bundle's PDF and image documents become the case's attachments, checked by content as
    any upload is. A case intake answered in full takes none: they stay in the kept bundle."""
    if case.status not in OPEN_STATUSES:
        return
    for document in request.documents:
        upload = SimpleUploadedFile("document", document.data, content_type=document.content_type)
        try:
            attachment_add(case_id=case.pk, user=client.user, upload=upload, description=document.description[:200])
        except ValidationFailed as exc:
            raise FhirInvalid(
                [
                    FhirProblem(
                        path=f"{document.path}.data", message="; ".join(m for ms in exc.errors.values() for m in ms)
                    )
                ]
            ) from None


def _request_new(client: FhirClient, request: PasRequest, document: dict[str, Any]) -> Submitted:
    with transaction.atomic():
        case = _case_open(client, request)
        submission = _record(client, request, document, case)
        items = _items(submission, request, case, [item.sequence for item in request.items])
        _documents(client, request, case)
    return Submitted(submission, state=intake_state(case, items))


def _earlier(client: FhirClient, request: PasRequest) -> FhirSubmission:
    found = (
        FhirSubmission.objects.filter(client=client, claim_identifier=request.related_claim_identifier)
        .select_related("case")
        .order_by("-received_at", "-pk")
        .first()
    )
    if found is None:
        raise FhirRefused(
            f"no request of this client has the identifier {request.related_claim_identifier!r}",
            status_code=404,
            code="not-found",
            path="Bundle.entry[0].resource.related[0].claim",
        )
    # An update of an update acts on the case the latest one opened.
    latest = (
        FhirSubmission.objects.filter(client=client, case=found.case).order_by("-received_at", "-pk").first() or found
    )
    return latest


def _request_change(client: FhirClient, request: PasRequest, document: dict[str, Any]) -> Submitted:
    earlier = _earlier(client, request)
    case = earlier.case
    lines = list(case.lines.all())
    adverse = [d for d in line_current_determinations(lines).values() if LineOutcome(d.outcome) in NOT_UPDATABLE]
    kept = [item for item in request.items if item.certification_type != CERTIFICATION_CANCEL]
    # The decided items the update repeats unchanged: they stay answered as they were.
    unchanged: list[PasItem] = []
    cancel_all = request.kind == FhirSubmissionKind.CANCEL or not kept
    if adverse and not cancel_all:
        raise FhirRefused(
            f"request {case.case_number} was denied and cannot be updated: send a new request, or appeal the denial",
            status_code=422,
            code="business-rule",
            path="Bundle.entry[0].resource.related[0].claim",
        )
    with transaction.atomic():
        if case.status in OPEN_STATUSES:
            # The earlier request is withdrawn as it stands; what the update still asks for is
            # reviewed as a request of its own, on its own clock.
            reason = (
                f"Withdrawn by the requester's {'cancellation' if cancel_all else 'update'} {request.bundle_identifier}"
            )
            case_cancel(case_id=case.pk, user=client.user, reason=reason)
        elif not cancel_all and case.status != CaseStatus.CANCELLED:
            # A decided request stays as decided: only what the update adds or changes is reviewed.
            kept = [item for item in kept if item.info_changed in ("added", "changed")]
            unchanged = [item for item in request.items if item not in kept]
            request.warnings += [
                f"item {item.sequence}: a decided service is not cancelled through $submit; contact the plan"
                for item in request.items
                if item.certification_type == CERTIFICATION_CANCEL
            ]
            if not kept:
                raise FhirRefused(
                    f"request {case.case_number} is decided and the update adds or changes no item",
                    status_code=422,
                    code="business-rule",
                    path="Bundle.entry[0].resource.item",
                )
        elif cancel_all and case.status != CaseStatus.CANCELLED:
            raise FhirRefused(
                f"request {case.case_number} is already decided ({case.get_status_display().lower()}): "
                "an issued authorization is not withdrawn through $submit; contact the plan",
                status_code=422,
                code="business-rule",
                path="Bundle.entry[0].resource",
            )
        if cancel_all:
            case.refresh_from_db()
            submission = _record(client, request, document, case)
            FhirItem.objects.bulk_create(
                [
                    FhirItem(
                        submission=submission,
                        service_line=item.service_line,
                        sequence=item.sequence,
                        trace_number=item.trace_number,
                    )
                    for item in earlier.items.all()
                ]
            )
            return Submitted(submission)
        sequences = [item.sequence for item in kept]
        positions = [i for i, item in enumerate(request.items) if item.sequence in sequences]
        narrowed = dataclasses.replace(
            request,
            case=dataclasses.replace(
                request.case, service_lines=tuple(request.case.service_lines[i] for i in positions)
            ),
            paths=_renumbered(request.paths, positions),
        )
        new_case = _case_open(client, narrowed)
        submission = _record(client, request, document, new_case)
        items = _items(submission, request, new_case, sequences)
        _documents(client, request, new_case)
        if unchanged:
            # The answer names every item of the request (the guide): the unchanged ones as the
            # earlier case answered them.
            before = {item.sequence: item for item in earlier.items.all()}
            FhirItem.objects.bulk_create(
                [
                    FhirItem(
                        submission=submission,
                        service_line=before[item.sequence].service_line,
                        sequence=item.sequence,
                        trace_number=item.trace_number,
                    )
                    for item in unchanged
                    if item.sequence in before
                ]
            )
            return Submitted(submission)
    return Submitted(submission, state=intake_state(new_case, items))


def _renumbered(paths: dict[str, str], positions: list[int]) -> dict[str, str]:
    """Intake's paths for the kept lines (service_lines[0] is the first kept item)."""
    renumbered = {k: v for k, v in paths.items() if not k.startswith("service_lines[")}
    for new, old in enumerate(positions):
        prefix = f"service_lines[{old}]"
        for name, path in paths.items():
            if name.startswith(prefix):
                renumbered[f"service_lines[{new}]" + name[len(prefix) :]] = path
    return renumbered
