"""DTR over FHIR: `POST /fhir/r4/Questionnaire/$questionnaire-package`, and the payer's
Questionnaires read by id (`GET Questionnaire/<id>`) or searched by canonical (`GET Questionnaire?url=`)."""

from __future__ import annotations

from django.urls import reverse
from django.utils import timezone
from fhir.resources.R4B.parameters import Parameters
from rest_framework.request import Request
from rest_framework.response import Response

from casemgmt.fhir.auth import client_of
from casemgmt.fhir.http import FhirView
from casemgmt.fhir.parsing import FhirInvalid, FhirProblem, resource_json, resource_parse
from casemgmt.fhir.questionnaires import questionnaire_package, questionnaire_read, questionnaire_search

# The search parameters the Questionnaire search takes (`url` is required: the guide's canonical).
SEARCH_PARAMETERS = ("url", "version")


def fhir_base(request: Request) -> str:
    return request.build_absolute_uri(reverse("fhir:metadata")).rsplit("/metadata", 1)[0]


class QuestionnairePackageView(FhirView):
    """The payer's Questionnaires for a coverage and its orders (Da Vinci DTR)."""

    scope = ("Questionnaire", "read")

    def post(self, request: Request) -> Response:
        parameters = resource_parse(request.data, Parameters)
        package = questionnaire_package(
            parameters=parameters,
            client=client_of(request),
            base_url=fhir_base(request),
            today=timezone.localdate(),
        )
        return Response(resource_json(package))


class QuestionnaireSearchView(FhirView):
    """GET /fhir/r4/Questionnaire?url=<canonical>[&version=<version>]: a searchset Bundle."""

    scope = ("Questionnaire", "read")

    def get(self, request: Request) -> Response:
        params = request.query_params
        problems = [
            FhirProblem(path=name, message=f"is not a search parameter here (only {', '.join(SEARCH_PARAMETERS)})")
            for name in params
            if name not in SEARCH_PARAMETERS
        ]
        problems += [
            FhirProblem(path=name, message="is given more than once")
            for name in params
            if len(params.getlist(name)) > 1
        ]
        if not params.get("url"):
            problems.append(FhirProblem(path="url", message="is required: the questionnaire's canonical URL"))
        if problems:
            raise FhirInvalid(problems)
        bundle = questionnaire_search(
            url=params["url"],
            version=params.get("version", ""),
            base_url=fhir_base(request),
            today=timezone.localdate(),
        )
        return Response(resource_json(bundle))


class QuestionnaireView(FhirView):
    """GET /fhir/r4/Questionnaire/<id>: a policy's questionnaire as the version in effect today has it."""

    scope = ("Questionnaire", "read")

    def get(self, request: Request, questionnaire_id: str) -> Response:
        questionnaire = questionnaire_read(
            questionnaire=questionnaire_id, base_url=fhir_base(request), today=timezone.localdate()
        )
        return Response(resource_json(questionnaire))
