"""Which policy and version govern a service on a date, whether it needs prior authorization, and
the documentation its criteria read."""

from __future__ import annotations

from django.core.validators import RegexValidator
from drf_spectacular.utils import (
    extend_schema,
    extend_schema_serializer,
)
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from casemgmt.api.errors import error_responses
from casemgmt.api.serializers import (
    ICD10CM_PATTERN,
    CitationOutputSerializer,
    ProcedureCodeField,
    StrictSerializer,
)
from casemgmt.kernel.http import AuthenticatedRequest
from casemgmt.kernel.roles import user_roles
from policies_app.codes import code_problem, normalize_code
from policies_app.engine import VersionData
from policies_app.models import CoveragePosition, FactType, LineOfBusiness, Requirement
from policies_app.selectors import (
    coverage_lookup,
    criteria_facts,
    governing_version,
    library_stamp,
    requirement_index,
)

_ICD10CM = ICD10CM_PATTERN.removeprefix("^").removesuffix("$")
# Codes of ICD-10-CM form separated by commas; whether each is in the code set the view checks.
DIAGNOSIS_LIST_PATTERN = rf"^(?:{_ICD10CM}(?:,{_ICD10CM})*)?$"


class CoverageApi(APIView):
    """Which policy and version govern a service on a date, and its coverage position."""

    @extend_schema_serializer(component_name="CoverageFilter")
    class FilterSerializer(StrictSerializer):
        code = ProcedureCodeField(max_length=10)
        code_system = serializers.ChoiceField(choices=["CPT", "HCPCS"])
        date_of_service = serializers.DateField()
        line_of_business = serializers.ChoiceField(choices=LineOfBusiness.values)
        diagnosis_codes = serializers.CharField(
            required=False,
            allow_blank=True,
            max_length=400,
            validators=[RegexValidator(DIAGNOSIS_LIST_PATTERN, "ICD-10-CM codes separated by commas")],
            help_text="ICD-10-CM codes of the request, comma-separated: a requirement rule may depend on them.",
        )

    @extend_schema_serializer(component_name="CoverageOutput")
    class OutputSerializer(serializers.Serializer):
        @extend_schema_serializer(component_name="CoverageOutputPolicy")
        class PolicySerializer(serializers.Serializer):
            kind = serializers.CharField()
            message = serializers.CharField()
            citation = CitationOutputSerializer(allow_null=True)

        @extend_schema_serializer(component_name="CoverageRequirement")
        class RequirementSerializer(serializers.Serializer):
            # The enum is stated once, on pa_required; one choice set under two names is a schema warning.
            requirement = serializers.CharField(help_text="The same value as pa_required.")
            label = serializers.CharField()  # type: ignore[assignment]  # a declared field, popped by DRF's metaclass
            rule_id = serializers.IntegerField(allow_null=True)
            description = serializers.CharField()
            is_default = serializers.BooleanField(
                help_text="No rule names this service: the plan-wide default rule or the built-in default applies."
            )

        @extend_schema_serializer(component_name="CoverageGoverning")
        class GoverningSerializer(serializers.Serializer):
            policy_version_id = serializers.IntegerField()
            policy_number = serializers.CharField()
            policy_title = serializers.CharField()
            version = serializers.CharField()
            coverage_position = serializers.ChoiceField(choices=CoveragePosition.values)
            coverage_position_label = serializers.CharField()
            effective_start = serializers.DateField(allow_null=True)
            effective_end = serializers.DateField(allow_null=True)

        @extend_schema_serializer(component_name="CoverageDocumentation")
        class DocumentationSerializer(serializers.Serializer):
            key = serializers.CharField()
            label = serializers.CharField()  # type: ignore[assignment]  # a declared field, popped by DRF's metaclass
            unit = serializers.CharField(allow_blank=True)
            type = serializers.ChoiceField(choices=FactType.values)
            type_label = serializers.CharField()
            derived = serializers.BooleanField(help_text="Read from the request itself (age, diagnoses), not sent.")

        code = serializers.CharField()
        code_system = serializers.CharField()
        date_of_service = serializers.DateField()
        line_of_business = serializers.CharField()
        governed = serializers.BooleanField()
        policies = PolicySerializer(many=True)
        pa_required = serializers.ChoiceField(
            choices=Requirement.values, help_text="Whether the service needs prior authorization (the plan's rules)."
        )
        requirement = RequirementSerializer()
        governing = GoverningSerializer(allow_null=True)
        documentation = DocumentationSerializer(many=True)

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
        diagnoses = _diagnoses(v.get("diagnosis_codes", ""))
        flags = coverage_lookup(
            code_system=v["code_system"],
            code=code,
            date_of_service=v["date_of_service"],
            line_of_business=v["line_of_business"],
        )
        answer = requirement_index(library_stamp()).lookup(
            code_system=v["code_system"],
            code=code,
            date_of_service=v["date_of_service"],
            line_of_business=v["line_of_business"],
            diagnoses=diagnoses,
        )
        governing = governing_version(flags, line_of_business=v["line_of_business"], day=v["date_of_service"])
        body = {
            "code": code,
            "code_system": v["code_system"],
            "date_of_service": v["date_of_service"],
            "line_of_business": v["line_of_business"],
            "governed": bool(flags),
            "policies": [{"kind": f.kind, "message": f.message, "citation": f.citation} for f in flags],
            "pa_required": answer.requirement,
            "requirement": {
                "requirement": answer.requirement,
                "label": answer.label,
                "rule_id": answer.rule_id,
                "description": answer.description,
                "is_default": answer.is_default,
            },
            "governing": None if governing is None else _governing_body(governing),
            "documentation": [
                {
                    "key": fact.key,
                    "label": fact.label,
                    "unit": fact.unit,
                    "type": fact.value_type,
                    "type_label": fact.get_value_type_display(),
                    "derived": fact.derived,
                }
                for fact in (criteria_facts(governing) if governing is not None else [])
            ],
        }
        return Response(self.OutputSerializer(body).data)


def _diagnoses(raw: str) -> tuple[str, ...]:
    codes = [c for c in raw.split(",") if c]
    problems = [p for p in (code_problem("ICD10CM", c) for c in codes) if p]
    if problems:
        raise serializers.ValidationError({"diagnosis_codes": problems})
    return tuple(normalize_code("ICD10CM", c) for c in codes)


def _governing_body(version: VersionData) -> dict[str, object]:
    position = version.coverage_position
    return {
        "policy_version_id": version.version_id,
        "policy_number": version.policy_number,
        "policy_title": version.policy_title,
        "version": version.version_label,
        "coverage_position": position,
        "coverage_position_label": CoveragePosition(position).label
        if position in CoveragePosition.values
        else position,
        "effective_start": version.effective_start,
        "effective_end": version.effective_end,
    }
