"""SMART Backend Services' two open doors: the configuration a client discovers
(/fhir/r4/.well-known/smart-configuration) and the token endpoint (/fhir/r4/auth/token)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import QueryDict
from django.urls import reverse
from rest_framework import exceptions
from rest_framework.parsers import FormParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle
from rest_framework.views import APIView

from casemgmt.fhir.auth import CLIENT_ALGORITHMS, TokenRefused, access_token_grant
from casemgmt.fhir.codes import (
    GRANT_CLIENT_CREDENTIALS,
    SMART_AUTH_METHODS,
    SMART_CAPABILITIES,
    SUPPORTED_SCOPES,
)
from casemgmt.fhir.http import PlainJSONRenderer, fhir_exception_handler


class AddressRateThrottle(AnonRateThrottle):
    """Anonymous calls, counted per address at the v1 API's anonymous rate (API_ANON_RATE_LIMIT)."""

    scope = "fhir_anon"

    def get_rate(self) -> str:
        return str(settings.API_ANON_RATE_LIMIT)


def token_endpoint(request: Request) -> str:
    """The token endpoint's absolute URL: what a client assertion's `aud` must be."""
    return request.build_absolute_uri(reverse("fhir:token"))


def oauth_error(error: str, description: str, status_code: int, headers: dict[str, str] | None = None) -> Response:
    return Response({"error": error, "error_description": description}, status=status_code, headers=headers)


def oauth_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """The framework's refusals (wrong method or media type, too many requests) in the shape of
    RFC 6749 section 5.2; anything else as the rest of the FHIR door answers it."""
    if not isinstance(exc, exceptions.APIException):
        return fhir_exception_handler(exc, context)
    headers = {}
    wait = getattr(exc, "wait", None)
    if isinstance(exc, exceptions.Throttled) and wait is not None:
        headers["Retry-After"] = str(int(wait) + 1)
    if isinstance(exc, exceptions.UnsupportedMediaType):
        return oauth_error("invalid_request", "send the parameters as application/x-www-form-urlencoded", 400)
    status_code = 400 if isinstance(exc, exceptions.ParseError) else exc.status_code
    return oauth_error("invalid_request", str(exc.detail), status_code, headers)


class TokenView(APIView):
    """POST grant_type=client_credentials with a signed client assertion: an access token."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    throttle_classes = [AddressRateThrottle]
    parser_classes = [FormParser]
    renderer_classes = [PlainJSONRenderer]

    def get_exception_handler(self) -> Any:
        return oauth_exception_handler

    def post(self, request: Request) -> Response:
        form = request.data
        params = {name: form.getlist(name) for name in form} if isinstance(form, QueryDict) else {}
        try:
            raw, token = access_token_grant(params=params, audience=token_endpoint(request))
        except TokenRefused as exc:
            headers = {"WWW-Authenticate": 'Bearer realm="fhir"'} if exc.status_code == 401 else None
            return oauth_error(exc.error, exc.description, exc.status_code, headers)
        return Response(
            {
                "access_token": raw,
                "token_type": "bearer",
                "expires_in": token.expires_in,
                "scope": " ".join(sorted(token.scopes)),
            }
        )

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)
        # RFC 6749 section 5.1: no cache may keep a token.
        response["Cache-Control"] = "no-store"
        response["Pragma"] = "no-cache"
        return response


class SmartConfigurationView(APIView):
    """What a SMART backend client discovers before it asks for a token (SMART App Launch 2.x)."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    throttle_classes = [AddressRateThrottle]
    renderer_classes = [PlainJSONRenderer]

    def get_exception_handler(self) -> Any:
        return fhir_exception_handler

    def get(self, request: Request) -> Response:
        return Response(
            {
                "token_endpoint": token_endpoint(request),
                "token_endpoint_auth_methods_supported": list(SMART_AUTH_METHODS),
                "token_endpoint_auth_signing_alg_values_supported": list(CLIENT_ALGORITHMS),
                "grant_types_supported": [GRANT_CLIENT_CREDENTIALS],
                "scopes_supported": list(SUPPORTED_SCOPES),
                "capabilities": list(SMART_CAPABILITIES),
            }
        )
