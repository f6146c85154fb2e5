"""What every FHIR endpoint shares: FHIR JSON in and out, SMART backend tokens, scopes, and
errors as an OperationOutcome naming each problem's element."""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from django.core.exceptions import SuspiciousOperation
from django.db import DatabaseError
from rest_framework import exceptions, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView, set_rollback

from casemgmt.fhir.auth import SmartBackendAuthentication, scope_allows
from casemgmt.fhir.codes import FHIR_JSON
from casemgmt.fhir.parsing import FhirInvalid, FhirProblem, operation_outcome, resource_json
from casemgmt.kernel.errors import ConflictError, DomainError, ValidationFailed
from casemgmt.kernel.json_input import ApiJSONParser, JsonRefused

logger = logging.getLogger(__name__)

# DRF's refusals as FHIR issue types.
ISSUE_CODE = {
    status.HTTP_401_UNAUTHORIZED: "login",
    status.HTTP_403_FORBIDDEN: "forbidden",
    status.HTTP_404_NOT_FOUND: "not-found",
    status.HTTP_405_METHOD_NOT_ALLOWED: "not-supported",
    status.HTTP_406_NOT_ACCEPTABLE: "not-supported",
    status.HTTP_409_CONFLICT: "conflict",
    status.HTTP_413_REQUEST_ENTITY_TOO_LARGE: "too-costly",
    status.HTTP_415_UNSUPPORTED_MEDIA_TYPE: "not-supported",
    status.HTTP_429_TOO_MANY_REQUESTS: "throttled",
}


class FhirJSONParser(ApiJSONParser):
    """`application/fhir+json` (and plain JSON), with the API's limits on depth, NUL and numbers."""

    media_type = FHIR_JSON


class PlainJSONParser(ApiJSONParser):
    media_type = "application/json"


class FhirJSONRenderer(JSONRenderer):
    media_type = FHIR_JSON
    format = "fhir+json"
    charset = "utf-8"


class PlainJSONRenderer(JSONRenderer):
    """For clients that ask for application/json (CDS Hooks uses plain JSON)."""


def outcome_response(problems: list[FhirProblem], status_code: int, headers: dict[str, str] | None = None) -> Response:
    return Response(resource_json(operation_outcome(problems)), status=status_code, headers=headers)


def fhir_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Every refusal as an OperationOutcome, one issue per problem, with the element's FHIRPath
    where there is one; nothing a refused request sent is stored (the transaction rolls back)."""
    set_rollback()
    if isinstance(exc, FhirInvalid):
        return outcome_response(exc.problems, exc.status_code)
    if isinstance(exc, JsonRefused):
        return outcome_response(
            [
                FhirProblem(path=path, message="; ".join(messages), code="structure")
                for path, messages in exc.errors.items()
            ],
            status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, ValidationFailed):
        return outcome_response(
            [FhirProblem(path=path, message="; ".join(messages)) for path, messages in exc.errors.items()],
            status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, ConflictError):
        return outcome_response([FhirProblem(path=exc.field or "", message=exc.message, code="conflict")], 409)
    if isinstance(exc, DomainError):
        code = {403: "forbidden", 404: "not-found", 409: "conflict"}.get(exc.status_code, "processing")
        return outcome_response([FhirProblem(path=exc.field or "", message=exc.message, code=code)], exc.status_code)
    if isinstance(exc, SuspiciousOperation):
        logging.getLogger(f"django.security.{type(exc).__name__}").error(str(exc))
        return outcome_response([FhirProblem(path="", message="The request is malformed.", code="structure")], 400)
    if isinstance(exc, DatabaseError):
        logger.error("FHIR request failed: the database is unavailable", exc_info=exc)
        return outcome_response(
            [FhirProblem(path="", message="Temporarily unavailable; retry later.", code="transient")],
            status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "30"},
        )
    if isinstance(exc, exceptions.APIException):
        headers = {}
        if isinstance(exc, (exceptions.NotAuthenticated, exceptions.AuthenticationFailed)):
            headers["WWW-Authenticate"] = 'Bearer realm="fhir"'
        wait = getattr(exc, "wait", None)
        if isinstance(exc, exceptions.Throttled) and wait is not None:
            headers["Retry-After"] = str(int(wait) + 1)
        return outcome_response(
            [FhirProblem(path="", message=str(exc.detail), code=ISSUE_CODE.get(exc.status_code, "processing"))],
            exc.status_code,
            headers=headers,
        )
    return None


class FhirView(APIView):
    """Base of the FHIR endpoints. `scope` is (resource, access) the token must allow; None for
    an endpoint open to anyone (the CapabilityStatement, the SMART configuration)."""

    authentication_classes = [SmartBackendAuthentication]
    permission_classes = [IsAuthenticated]
    parser_classes = [FhirJSONParser, PlainJSONParser]
    renderer_classes = [FhirJSONRenderer, PlainJSONRenderer]
    scope: ClassVar[tuple[str, str] | None] = None

    def get_exception_handler(self) -> Any:
        return fhir_exception_handler

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        # A method the endpoint does not have is a 405 whoever asks, before any credential check.
        method = (request.method or "").lower()
        if method not in self.http_method_names or not hasattr(self, method):
            raise exceptions.MethodNotAllowed(request.method or "")
        super().initial(request, *args, **kwargs)
        if self.scope is not None:
            resource, access = self.scope
            token = request.auth
            scopes: frozenset[str] = getattr(token, "scopes", frozenset())
            if not scope_allows(scopes, resource, access):
                raise exceptions.PermissionDenied(
                    f"The access token's scopes do not allow this: it needs system/{resource}.{access}."
                )

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Cache-Control"] = "no-store"
        return response
