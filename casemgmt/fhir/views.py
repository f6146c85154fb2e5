"""The PAS endpoints: the CapabilityStatement and `Claim/$submit`."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from django.utils import timezone
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from casemgmt.audit.models import AuditAction, AuditObject
from casemgmt.audit.services import audit_record
from casemgmt.fhir.auth import CLIENT_ALGORITHMS, client_of
from casemgmt.fhir.capability import capability_statement
from casemgmt.fhir.http import FhirView
from casemgmt.fhir.parsing import PasNotReviewable, resource_json
from casemgmt.fhir.pas_out import error_response_bundle, response_bundle
from casemgmt.fhir.submissions import pas_submit


class MetadataView(FhirView):
    """GET /fhir/r4/metadata: what this server supports, open to anyone (FHIR's capabilities)."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]

    def get(self, request: Request) -> Response:
        base = request.build_absolute_uri(reverse("fhir:metadata")).rsplit("/metadata", 1)[0]
        statement = capability_statement(
            base_url=base,
            token_url=request.build_absolute_uri(reverse("fhir:token")),
            algorithms=CLIENT_ALGORITHMS,
            now=timezone.now(),
        )
        return Response(resource_json(statement))


class ClaimSubmitView(FhirView):
    """POST /fhir/r4/Claim/$submit: a PAS Request Bundle in, a PAS Response Bundle out."""

    scope = ("Claim", "write")

    def post(self, request: Request) -> Response:
        document: Any = request.data
        if isinstance(document, dict) and document.get("resourceType") == "Parameters":
            document = parameter_resource(document)
        try:
            submitted = pas_submit(client=client_of(request), document=document)
        except PasNotReviewable as exc:
            bundle = error_response_bundle(request=document, problems=exc.problems, reject_reason=exc.reject_reason)
            return Response(resource_json(bundle))
        submission = submitted.submission
        if submitted.replayed:
            # The first answer recorded the case's creation; a retry is shown the case again.
            case_number = submission.case.case_number
            audit_record(
                action=AuditAction.VIEW, object_type=AuditObject.CASE, object_id=case_number, case_number=case_number
            )
        bundle = response_bundle(submission, submitted.state)
        return Response(resource_json(bundle), status=200 if submitted.replayed else 201)


def parameter_resource(parameters: dict[str, Any]) -> Any:
    """The `resource` parameter of an operation called with Parameters (the Bundle itself is the
    usual body; both are allowed)."""
    for parameter in parameters.get("parameter") or []:
        if isinstance(parameter, dict) and parameter.get("name") == "resource":
            return parameter.get("resource")
    return parameters
