"""Authorizations: the claims question, one authorization, and extension requests."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import (
    extend_schema,
    extend_schema_field,
    extend_schema_serializer,
)
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from casemgmt.api.cases import case_body
from casemgmt.api.errors import error_responses
from casemgmt.api.replay import IDEMPOTENCY_PARAMETER, idempotent_response
from casemgmt.api.serializers import (
    MAX_UNITS,
    NOT_BLANK_PATTERN,
    CaseOutputSerializer,
    ProcedureCodeField,
    StrictSerializer,
)
from casemgmt.audit.models import AuditAction, AuditObject
from casemgmt.audit.recording import AuditedApiMixin, AuditSpec, ReplayAudit, audit_annotate
from casemgmt.cases import selectors
from casemgmt.cases.models import Authorization, AuthorizationStatus, Urgency
from casemgmt.cases.services.extensions import EXTENSION_REASON_MAX, authorization_extension_request
from casemgmt.kernel.http import AuthenticatedRequest
from casemgmt.kernel.roles import Role, user_roles
from policies_app.codes import code_problem

# Who asks the claims question: the claims system (any authorization) and an integration client
# (its own). Reviewers read authorizations on the case they belong to.
LOOKUP_ROLES = frozenset({Role.CLAIMS_SYSTEM, Role.INTEGRATION_CLIENT})


@extend_schema_serializer(component_name="AuthorizationOutputProvider")
class AuthorizationProviderSerializer(serializers.Serializer):
    npi = serializers.CharField()
    name = serializers.CharField()


class AuthorizationOutputSerializer(serializers.Serializer):
    """An authorization as the API shows it; `instance` comes from a selector that loads its
    case, service line and the authorizations it supersedes and is superseded by."""

    authorization_number = serializers.CharField()
    status = serializers.ChoiceField(
        choices=AuthorizationStatus.values,
        source="current_status",
        help_text="As of today: an active authorization whose period has ended is expired.",
    )
    member_id = serializers.CharField()
    code_system = serializers.CharField()
    code = serializers.CharField()
    modifiers = serializers.ListField(child=serializers.CharField())
    approved_units = serializers.IntegerField()
    valid_from = serializers.DateField()
    valid_to = serializers.DateField()
    line_of_business = serializers.CharField()
    plan_id = serializers.CharField()
    requesting_provider = serializers.SerializerMethodField()
    servicing_provider = serializers.SerializerMethodField()
    case_number = serializers.CharField(source="case.case_number")
    service_line = serializers.IntegerField(source="service_line.sequence")
    decision = serializers.IntegerField(source="decision_id")
    validity_basis = serializers.CharField()
    supersedes = serializers.CharField(source="supersedes.authorization_number", allow_null=True)
    superseded_by = serializers.SerializerMethodField()
    issued_at = serializers.DateTimeField()
    ended_at = serializers.DateTimeField(allow_null=True)

    @extend_schema_field(AuthorizationProviderSerializer)
    def get_requesting_provider(self, obj: Authorization) -> dict[str, str]:
        return {"npi": obj.requesting_provider_npi, "name": obj.requesting_provider_name}

    @extend_schema_field(AuthorizationProviderSerializer(allow_null=True))
    def get_servicing_provider(self, obj: Authorization) -> dict[str, str] | None:
        if not obj.servicing_provider_npi:
            return None
        return {"npi": obj.servicing_provider_npi, "name": obj.servicing_provider_name}

    @extend_schema_field({"type": "string", "nullable": True})
    def get_superseded_by(self, obj: Authorization) -> str | None:
        try:
            return obj.superseded_by.authorization_number
        except Authorization.DoesNotExist:
            return None


def _visible_authorization(request: Request, authorization_number: str) -> Authorization:
    authorization = selectors.authorization_detail(request.user, authorization_number)
    if authorization is None:
        # The same answer whether it does not exist or is not the caller's: no probing.
        raise NotFound("No such authorization.")
    return authorization


class AuthorizationCollectionApi(AuditedApiMixin, APIView):
    """`GET /authorizations?member_id=&code=&date_of_service=`: is there a valid authorization
    for this member, service and date?"""

    # Every lookup is recorded with the member asked about and the authorizations shown.
    audit_spec = AuditSpec(AuditAction.LIST, AuditObject.AUTHORIZATION, case_kwarg=None)

    @extend_schema_serializer(component_name="AuthorizationLookupFilter")
    class FilterSerializer(StrictSerializer):
        # Not trimmed by the field: a member id is matched exactly as the plan wrote it.
        member_id = serializers.CharField(max_length=50, trim_whitespace=False)
        code = ProcedureCodeField(max_length=10, help_text="A CPT or HCPCS Level II code.")
        date_of_service = serializers.DateField()

        def validate_code(self, value: str) -> str:
            code = value.strip().upper()
            if all(code_problem(system, code) for system in ("CPT", "HCPCS")):
                raise serializers.ValidationError(f"{value!r} is not a CPT or HCPCS Level II code")
            return code

    @extend_schema(
        operation_id="authorizations_lookup",
        parameters=[FilterSerializer],
        responses={200: AuthorizationOutputSerializer(many=True), **error_responses(400, 401, 403, 429, 503)},
        summary="Is there a valid authorization for this member, service and date? "
        "(claims systems: any; integration clients: their own)",
    )
    def get(self, request: AuthenticatedRequest) -> Response:
        if not user_roles(request.user) & LOOKUP_ROLES:
            raise PermissionDenied(
                "Only a claims system or an integration client looks up authorizations; "
                "reviewers read them on the case."
            )
        filters = self.FilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        v = filters.validated_data
        member_id, code = v["member_id"].strip(), v["code"]
        found = selectors.authorizations_for_service(
            request.user, member_id=member_id, code=code, date_of_service=v["date_of_service"]
        )
        audit_annotate(
            request,
            object_ids=[a.authorization_number for a in found],
            detail={"member_id": member_id, "code": code, "date_of_service": v["date_of_service"].isoformat()},
        )
        return Response(AuthorizationOutputSerializer(found, many=True).data)


class AuthorizationDetailApi(AuditedApiMixin, APIView):
    audit_spec = AuditSpec(
        AuditAction.VIEW, AuditObject.AUTHORIZATION, object_kwarg="authorization_number", case_kwarg=None
    )

    @extend_schema(
        operation_id="authorizations_retrieve",
        responses={200: AuthorizationOutputSerializer, **error_responses(400, 401, 404, 429, 503)},
        summary="Read one authorization",
    )
    def get(self, request: AuthenticatedRequest, authorization_number: str) -> Response:
        authorization = _visible_authorization(request, authorization_number)
        audit_annotate(
            request, object_id=authorization.authorization_number, case_number=authorization.case.case_number
        )
        return Response(AuthorizationOutputSerializer(authorization).data)


class AuthorizationExtensionsApi(APIView):
    """`POST`: ask for more units or a later end; opens an extension case, reviewed like any other."""

    @extend_schema_serializer(component_name="AuthorizationExtensionsInput")
    class InputSerializer(StrictSerializer):
        # More units, a later end, or both (authorization_extension_request); a reason always.
        schema_any_of = [
            {"required": ["units"], "properties": {"reason": {"pattern": NOT_BLANK_PATTERN}}},
            {"required": ["valid_to"], "properties": {"reason": {"pattern": NOT_BLANK_PATTERN}}},
        ]

        units = serializers.IntegerField(
            min_value=1,
            max_value=MAX_UNITS,
            required=False,
            help_text="The total units wanted: more than the authorization approves.",
        )
        valid_to = serializers.DateField(required=False, help_text="A later end than the authorization's.")
        reason = serializers.CharField(max_length=EXTENSION_REASON_MAX)
        urgency = serializers.ChoiceField(choices=Urgency.values)

    @extend_schema(
        operation_id="authorizations_extensions_create",
        request=InputSerializer,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={201: CaseOutputSerializer, **error_responses(400, 401, 403, 404, 409, 413, 415, 422, 429, 503)},
        summary="Ask for more units or a later end (opens an extension case)",
    )
    def post(self, request: AuthenticatedRequest, authorization_number: str) -> Response:
        authorization = _visible_authorization(request, authorization_number)

        def request_extension() -> tuple[int, Any]:
            serializer = self.InputSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            v = serializer.validated_data
            case = authorization_extension_request(
                authorization_number=authorization.authorization_number,
                user=request.user,
                units=v.get("units"),
                valid_to=v.get("valid_to"),
                reason=v["reason"],
                urgency=v["urgency"],
            )
            return status.HTTP_201_CREATED, case_body(case)

        return idempotent_response(request, request_extension, replay=ReplayAudit(AuditObject.CASE, "case_number"))
