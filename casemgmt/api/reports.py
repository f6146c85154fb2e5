"""The CMS-0057-F public report over the API: `GET /api/v1/reports/cms-0057f?year=YYYY`.

Aggregates only, no member data: the table a plan publishes on its website (42 CFR 422.122(c),
438.210(f), 457.495; 45 CFR 156.223). Managers read it; every read is audited.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from casemgmt.api.errors import error_responses
from casemgmt.api.serializers import StrictSerializer
from casemgmt.audit.models import AuditAction, AuditObject
from casemgmt.audit.recording import AuditedApiMixin, AuditSpec
from casemgmt.cases import metrics
from casemgmt.kernel.errors import PermissionDeniedError, ValidationFailed
from casemgmt.kernel.http import AuthenticatedRequest
from casemgmt.kernel.roles import Role, has_role
from policies_app.models import LineOfBusiness

MIN_YEAR = 1990
MAX_YEAR = 2200


class ReportQuerySerializer(StrictSerializer):
    year = serializers.IntegerField(min_value=MIN_YEAR, max_value=MAX_YEAR)
    line_of_business = serializers.ChoiceField(choices=LineOfBusiness.choices, required=False)
    plan_id = serializers.CharField(max_length=50, required=False, allow_blank=True)


@extend_schema_serializer(component_name="CmsReportFigure")
class FigureSerializer(serializers.Serializer):
    name = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]  # a declared field, popped by DRF's metaclass
    value = serializers.FloatField(
        allow_null=True, help_text="A percent, a count of requests, or a duration in seconds (unit)."
    )
    unit = serializers.ChoiceField(choices=["percent", "requests", "seconds"])
    count = serializers.IntegerField(allow_null=True, help_text="A percentage's numerator.")
    total = serializers.IntegerField(allow_null=True, help_text="A percentage's denominator.")
    formula = serializers.CharField()
    source = serializers.CharField()  # type: ignore[assignment]  # a declared field, popped by DRF's metaclass


@extend_schema_serializer(component_name="CmsReportTable")
class TableSerializer(serializers.Serializer):
    line_of_business = serializers.CharField()
    line_of_business_label = serializers.CharField()
    plan_id = serializers.CharField(help_text='Blank when the requests carry none ("(no plan id)" in plan_label).')
    plan_label = serializers.CharField()
    figures = FigureSerializer(many=True)


@extend_schema_serializer(component_name="CmsReport")
class ReportSerializer(serializers.Serializer):
    year = serializers.IntegerField()
    period_start = serializers.DateField()
    period_end = serializers.DateField(help_text="Not included.")
    tables = TableSerializer(many=True)


def _figure(f: metrics.CmsFigure) -> dict[str, Any]:
    value: float | int | None
    unit = f.unit
    if unit == "duration":
        value = f.value.total_seconds() if isinstance(f.value, timedelta) else None
        unit = "seconds"
    else:
        value = f.value if not isinstance(f.value, timedelta) else None
    return {
        "name": f.name,
        "label": f.label,
        "value": value,
        "unit": unit,
        "count": f.count,
        "total": f.total,
        "formula": f.formula,
        "source": f.source,
    }


def report_body(report: metrics.CmsReport, year: int) -> dict[str, Any]:
    return {
        "year": year,
        "period_start": report.period.start.isoformat(),
        "period_end": report.period.end.isoformat(),
        "tables": [
            {
                "line_of_business": row.line_of_business,
                "line_of_business_label": row.line_of_business_label,
                "plan_id": row.plan_id or "",
                "plan_label": row.plan_label,
                "figures": [_figure(f) for f in metrics.cms_figures(row)],
            }
            for row in report.rows
        ],
    }


class CmsReportApi(AuditedApiMixin, APIView):
    audit_spec = AuditSpec(AuditAction.VIEW, AuditObject.REPORT, case_kwarg=None)

    @extend_schema(
        operation_id="reports_cms_0057f",
        summary="The CMS-0057-F prior-authorization metrics for a calendar year",
        parameters=[
            OpenApiParameter(
                "year",
                {"type": "integer", "minimum": MIN_YEAR, "maximum": MAX_YEAR},
                required=True,
                description=f"The calendar year, {MIN_YEAR} to {MAX_YEAR}.",
            ),
            OpenApiParameter("line_of_business", str, enum=LineOfBusiness.values, required=False),
            OpenApiParameter("plan_id", str, required=False, description="A plan or contract; blank for none."),
        ],
        responses={200: ReportSerializer, **error_responses(400, 401, 403, 429, 503)},
    )
    def get(self, request: AuthenticatedRequest) -> Response:
        if not has_role(request.user, Role.MANAGER):
            raise PermissionDeniedError("Only a manager may read the CMS-0057-F report.")
        query = ReportQuerySerializer(data=request.query_params.dict())
        if not query.is_valid():
            raise ValidationFailed({key: [str(e) for e in errors] for key, errors in query.errors.items()})
        data = query.validated_data
        year = data["year"]
        report = metrics.cms_report(
            metrics.Period.calendar_year(year),
            line_of_business=data.get("line_of_business", ""),
            plan_id=data.get("plan_id"),
        )
        return Response(report_body(report, year))
