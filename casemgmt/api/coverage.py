"""Which policy and version govern a service on a date."""

from __future__ import annotations

from drf_spectacular.utils import (
    extend_schema,
    extend_schema_serializer,
)
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from casemgmt.api.errors import error_responses
from casemgmt.api.serializers import CitationOutputSerializer, ProcedureCodeField, StrictSerializer
from casemgmt.kernel.http import AuthenticatedRequest
from casemgmt.kernel.roles import user_roles
from policies_app.codes import code_problem
from policies_app.models import LineOfBusiness
from policies_app.selectors import coverage_lookup


class CoverageApi(APIView):
    """Which policy and version govern a service on a date, and its coverage position."""

    @extend_schema_serializer(component_name="CoverageFilter")
    class FilterSerializer(StrictSerializer):
        code = ProcedureCodeField(max_length=10)
        code_system = serializers.ChoiceField(choices=["CPT", "HCPCS"])
        date_of_service = serializers.DateField()
        line_of_business = serializers.ChoiceField(choices=LineOfBusiness.values)

    @extend_schema_serializer(component_name="CoverageOutput")
    class OutputSerializer(serializers.Serializer):
        @extend_schema_serializer(component_name="CoverageOutputPolicy")
        class PolicySerializer(serializers.Serializer):
            kind = serializers.CharField()
            message = serializers.CharField()
            citation = CitationOutputSerializer(allow_null=True)

        code = serializers.CharField()
        code_system = serializers.CharField()
        date_of_service = serializers.DateField()
        line_of_business = serializers.CharField()
        governed = serializers.BooleanField()
        policies = PolicySerializer(many=True)

    @extend_schema(
        operation_id="coverage_lookup",
        parameters=[FilterSerializer],
        responses={200: OutputSerializer, **error_responses(400, 401, 403, 429, 503)},
    )
    def get(self, request: AuthenticatedRequest) -> Response:
        if not user_roles(request.user):
            raise PermissionDenied("Your account has no role in this system.")
        filters = self.FilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        v = filters.validated_data
        code = v["code"].strip().upper()
        problem = code_problem(v["code_system"], code)
        if problem:
            raise serializers.ValidationError({"code": [problem]})
        flags = coverage_lookup(
            code_system=v["code_system"],
            code=code,
            date_of_service=v["date_of_service"],
            line_of_business=v["line_of_business"],
        )
        body = {
            "code": code,
            "code_system": v["code_system"],
            "date_of_service": v["date_of_service"],
            "line_of_business": v["line_of_business"],
            "governed": bool(flags),
            "policies": [{"kind": f.kind, "message": f.message, "citation": f.citation} for f in flags],
        }
        return Response(self.OutputSerializer(body).data)
