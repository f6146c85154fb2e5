"""CDS Hooks 2.0 for Da Vinci CRD: discovery, and the services an EHR calls with a JWT it signs.

CDS Hooks is plain JSON (application/json), not FHIR JSON, and its errors are plain JSON too:
`{"detail": ..., "errors": {path: [messages]}}`.
"""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from django.utils import timezone
from rest_framework import authentication, exceptions, status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView, exception_handler, set_rollback

from casemgmt.audit import context as audit_context
from casemgmt.fhir.auth import ClientJwtRefused, client_jwt_verify
from casemgmt.fhir.codes import FHIR_BASE_PATH
from casemgmt.fhir.crd import SERVICES, CdsInvalid, cds_discovery, crd_hook_answer
from casemgmt.fhir.models import FhirClient
from casemgmt.kernel.json_input import ApiJSONParser, JsonRefused


class CdsHooksAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <JWT>` signed by a registered EHR (its `iss` is its client id) for
    this service's URL (`aud`), as CDS Hooks 2.0 asks; a `jti` is accepted once."""

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Any, FhirClient] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        keyword, _, raw = header.partition(" ")
        if keyword != self.keyword or not raw.strip():
            return None
        try:
            client, _claims = client_jwt_verify(
                token=raw.strip(), audience=request.build_absolute_uri(request.path), issuer_is_subject=False
            )
        except ClientJwtRefused as exc:
            raise exceptions.AuthenticationFailed(f"The CDS Hooks JWT is refused: {exc}.") from None
        audit_context.with_detail(fhir_client=client.client_id)
        return client.user, client

    def authenticate_header(self, request: Request) -> str:
        return f'{self.keyword} realm="cds-services"'


def cds_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Errors as JSON naming each element that is wrong; nothing is kept of a refused call."""
    if isinstance(exc, CdsInvalid | JsonRefused):
        set_rollback()
        return Response({"detail": str(exc), "errors": exc.errors}, status=status.HTTP_400_BAD_REQUEST)
    return exception_handler(exc, context)


class CdsView(APIView):
    parser_classes = [ApiJSONParser]
    renderer_classes = [JSONRenderer]

    def get_exception_handler(self) -> Any:
        return cds_exception_handler

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        # A method the service does not have is refused before the caller is asked who it is.
        method = (request.method or "").lower()
        if method not in self.http_method_names or not hasattr(self, method):
            raise exceptions.MethodNotAllowed(request.method or "")
        super().initial(request, *args, **kwargs)

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Cache-Control"] = "no-store"
        return response


class CdsDiscoveryView(CdsView):
    """GET /cds-services: the services, their hooks, prefetch and configuration options."""

    authentication_classes: list[type[authentication.BaseAuthentication]] = []
    permission_classes = [AllowAny]

    def get(self, request: Request) -> Response:
        return Response(cds_discovery())


class CdsServiceView(CdsView):
    """POST /cds-services/<id>: the coverage requirements of the draft orders."""

    authentication_classes = [CdsHooksAuthentication]
    permission_classes = [IsAuthenticated]

    def post(self, request: Request, service_id: str) -> Response:
        service = SERVICES.get(service_id)
        if service is None:
            raise exceptions.NotFound(f"No CDS service {service_id!r}: see GET /cds-services.")
        client = request.auth
        if not isinstance(client, FhirClient):
            raise exceptions.NotAuthenticated("A JWT signed by a registered EHR is required.")
        now = timezone.now()
        answer = crd_hook_answer(
            client=client,
            service=service,
            body=request.data,
            fhir_base=request.build_absolute_uri(FHIR_BASE_PATH),
            requirements_url=request.build_absolute_uri(reverse("requirements_list")),
            now=now,
            today=timezone.localdate(now),
        )
        return Response(answer)
