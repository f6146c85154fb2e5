"""Member coverage from the plan's enrollment system: `POST /api/v1/eligibility`."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from casemgmt.api.errors import error_responses
from casemgmt.api.replay import IDEMPOTENCY_PARAMETER, idempotent_response
from casemgmt.api.serializers import StrictSerializer
from casemgmt.cases.services.eligibility import MEMBER_ID_MAX, PLAN_ID_MAX, CoverageRow, coverage_rows_load
from casemgmt.kernel.http import AuthenticatedRequest
from casemgmt.kernel.roles import Role, require_role
from policies_app.models import LineOfBusiness

MAX_COVERAGES = 10_000


@extend_schema_serializer(component_name="CoverageInput")
class CoverageInputSerializer(StrictSerializer):
    """One coverage period of a member, as the enrollment system states it."""

    member_id = serializers.CharField(max_length=MEMBER_ID_MAX)
    line_of_business = serializers.ChoiceField(choices=LineOfBusiness.values)
    plan_id = serializers.CharField(
        max_length=PLAN_ID_MAX,
        required=False,
        allow_blank=True,
        default="",
        help_text="The plan or contract (a Medicare Advantage contract number, a state for Medicaid).",
    )
    coverage_start = serializers.DateField()
    coverage_end = serializers.DateField(
        required=False,
        allow_null=True,
        default=None,
        help_text="The last day covered, not before coverage_start; null or left out while open-ended.",
    )


@extend_schema_serializer(component_name="EligibilityLoad")
class EligibilityLoadOutputSerializer(serializers.Serializer):
    rows = serializers.IntegerField(help_text="Coverage rows received.")
    periods = serializers.IntegerField(
        help_text="Distinct coverage periods among them (a period sent twice counts once)."
    )
    inserted = serializers.IntegerField(help_text="Periods new to the plan's coverage table.")
    updated = serializers.IntegerField(help_text="Periods already there, whose end changed.")
    unchanged = serializers.IntegerField(help_text="Periods already there as sent.")


class EligibilityApi(APIView):
    """`POST` loads member coverage, all or nothing."""

    @extend_schema_serializer(component_name="EligibilityInput")
    class InputSerializer(StrictSerializer):
        coverages = CoverageInputSerializer(many=True, min_length=1, max_length=MAX_COVERAGES)  # type: ignore[call-arg]

    @extend_schema(
        operation_id="eligibility_load",
        request=InputSerializer,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={
            200: EligibilityLoadOutputSerializer,
            **error_responses(400, 401, 403, 409, 413, 415, 422, 429, 503),
        },
        summary="Load member coverage from the enrollment system, up to 10,000 periods at a time (managers)",
        description="All or nothing: one invalid period refuses the batch (400, naming each as "
        "`coverages[i].field`) and loads nothing. A period is its member, line of business, plan and "
        "start: sending one again changes nothing, and sending it with another end (a termination) "
        "takes that end. With ELIGIBILITY_CHECK on, intake flags a service line whose date of "
        "service no period of the member under the case's line of business covers.",
    )
    def post(self, request: AuthenticatedRequest) -> Response:
        # Before the body is read: a role that may not load is told so whatever it sent.
        require_role(request.user, Role.MANAGER, action="load member coverage")

        def load() -> tuple[int, Any]:
            serializer = self.InputSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            rows = [
                CoverageRow(
                    member_id=c["member_id"],
                    line_of_business=c["line_of_business"],
                    plan_id=c["plan_id"],
                    coverage_start=c["coverage_start"],
                    coverage_end=c["coverage_end"],
                )
                for c in serializer.validated_data["coverages"]
            ]
            result = coverage_rows_load(rows=rows, source="api", user=request.user)
            return status.HTTP_200_OK, EligibilityLoadOutputSerializer(result).data

        # The answer is counts, no member: its replay is no read of member data.
        return idempotent_response(request, load, replay=None)
