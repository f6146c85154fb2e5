"""`Claim/$inquire`: the current answer of the calling client's PAS requests that match an inquiry."""

from __future__ import annotations

from fhir.resources.R4B.parameters import Parameters, ParametersParameter
from rest_framework.request import Request
from rest_framework.response import Response

from casemgmt.audit.models import AuditAction, AuditObject
from casemgmt.audit.recording import AuditedApiMixin, AuditSpec, audit_annotate
from casemgmt.fhir.auth import client_of
from casemgmt.fhir.codes import INQUIRE_RETURN
from casemgmt.fhir.http import FhirView
from casemgmt.fhir.inquiries import pas_inquire
from casemgmt.fhir.parsing import resource_json
from casemgmt.fhir.pas_out import inquiry_response_bundle
from casemgmt.fhir.views import parameter_resource


class ClaimInquireView(AuditedApiMixin, FhirView):
    """POST /fhir/r4/Claim/$inquire: a PAS Inquiry Request Bundle (or Parameters holding it as
    `resource`) in; Parameters out with one `return` PAS Inquiry Response Bundle per matching
    request, none when nothing matches. Every answer is audited as a list of the cases it shows."""

    scope = ("Claim", "read")
    audit_spec = AuditSpec(AuditAction.LIST, AuditObject.CASE, case_kwarg=None, methods=("POST",))

    def post(self, request: Request) -> Response:
        document = request.data
        if isinstance(document, dict) and document.get("resourceType") == "Parameters":
            document = parameter_resource(document)
        submissions = pas_inquire(client=client_of(request), document=document)
        audit_annotate(request, object_ids=[submission.case.case_number for submission in submissions])
        answer = Parameters(
            parameter=[
                ParametersParameter(name=INQUIRE_RETURN, resource=inquiry_response_bundle(submission))
                for submission in submissions
            ]
            or None
        )
        return Response(resource_json(answer))
