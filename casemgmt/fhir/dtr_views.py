"""DTR over FHIR: `POST /fhir/r4/Questionnaire/$questionnaire-package`."""

from __future__ import annotations

from django.urls import reverse
from django.utils import timezone
from fhir.resources.R4B.parameters import Parameters
from rest_framework.request import Request
from rest_framework.response import Response

from casemgmt.fhir.auth import client_of
from casemgmt.fhir.http import FhirView
from casemgmt.fhir.parsing import resource_json, resource_parse
from casemgmt.fhir.questionnaires import questionnaire_package


class QuestionnairePackageView(FhirView):
    """The payer's Questionnaires for a coverage and its orders (Da Vinci DTR)."""

    scope = ("Questionnaire", "read")

    def post(self, request: Request) -> Response:
        parameters = resource_parse(request.data, Parameters)
        endpoint = request.build_absolute_uri(reverse("fhir:questionnaire_package"))
        package = questionnaire_package(
            parameters=parameters,
            client=client_of(request),
            base_url=endpoint.rpartition("/Questionnaire/")[0],
            today=timezone.localdate(),
        )
        return Response(resource_json(package))
