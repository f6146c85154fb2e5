"""After the decision: appeal it (a new appeal case), or reopen it (the case returns to review)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from casemgmt.api.cases import case_body, visible_case
from casemgmt.api.errors import error_responses
from casemgmt.api.replay import IDEMPOTENCY_PARAMETER, idempotent_response
from casemgmt.api.serializers import MAX_LINES, CaseOutputSerializer, StrictSerializer
from casemgmt.audit.models import AuditObject
from casemgmt.audit.recording import ReplayAudit
from casemgmt.cases.models import AppealRequester, Case, Urgency
from casemgmt.cases.services.appeals import APPEAL_REASON_MAX, appeal_open
from casemgmt.cases.services.reopenings import REOPEN_REASON_MAX, case_reopen
from casemgmt.kernel.http import AuthenticatedRequest
from casemgmt.kernel.roles import Role, require_role


@extend_schema_serializer(component_name="AppealCase")
class AppealCaseOutputSerializer(CaseOutputSerializer):
    """An appeal case: the case fields, and what it appeals, by whom and why."""

    appeal_of = serializers.CharField(source="appeal_of.case_number", help_text="The case whose decision is appealed.")
    appeal_requested_by = serializers.CharField()
    appeal_reason = serializers.CharField()
    late_filing_reason = serializers.CharField(
        help_text="For a filing after its window accepted by a manager: the good cause; otherwise empty."
    )


def appeal_body(appeal: Case) -> Any:
    return AppealCaseOutputSerializer(appeal).data


@extend_schema_field(
    {
        "type": "array",
        "items": {"type": "integer", "minimum": 1, "maximum": MAX_LINES},
        "minItems": 1,
        "maxItems": MAX_LINES,
        "uniqueItems": True,
    }
)
class AppealedLinesField(serializers.ListField):
    """The sequences of the lines appealed, each once (the appeal service refuses a line named twice)."""


class CaseAppealsApi(APIView):
    """`POST` opens an appeal of a decided case's adverse lines."""

    @extend_schema_serializer(component_name="CaseAppealInput")
    class InputSerializer(StrictSerializer):
        lines = AppealedLinesField(
            child=serializers.IntegerField(min_value=1, max_value=MAX_LINES),
            min_length=1,
            max_length=MAX_LINES,
            help_text="The sequences of the lines appealed: each denied, partially approved or modified.",
        )
        reason = serializers.CharField(
            max_length=APPEAL_REASON_MAX, help_text="Why the decision should be reconsidered, as the requester said."
        )
        urgency = serializers.ChoiceField(choices=Urgency.values)
        requested_by = serializers.ChoiceField(choices=AppealRequester.values)
        late_filing_reason = serializers.CharField(
            max_length=APPEAL_REASON_MAX,
            required=False,
            allow_blank=True,
            default="",
            help_text="Managers only: the good cause for accepting an appeal filed after its window.",
        )

    @extend_schema(
        operation_id="cases_appeals_create",
        request=InputSerializer,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={
            201: AppealCaseOutputSerializer,
            **error_responses(400, 401, 403, 404, 409, 413, 415, 422, 429, 503),
        },
        summary="Appeal the adverse lines of a decided case (opens an appeal case)",
        description="Only denied, partially approved or modified lines can be appealed (400 names the line). "
        "A filing after the window of the case's line of business is 409, with `window_days`, "
        "`decided_on`, `window_closed_on` and `filed_on`; a manager may accept it for good cause "
        "(`late_filing_reason`).",
    )
    def post(self, request: AuthenticatedRequest, case_number: str) -> Response:
        case = visible_case(request, case_number)

        def file() -> tuple[int, Any]:
            serializer = self.InputSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            v = serializer.validated_data
            appeal = appeal_open(
                case_id=case.pk,
                user=request.user,
                lines=list(v["lines"]),
                reason=v["reason"],
                urgency=v["urgency"],
                requested_by=v["requested_by"],
                late_filing_reason=v["late_filing_reason"],
            )
            return status.HTTP_201_CREATED, appeal_body(appeal)

        return idempotent_response(request, file, replay=ReplayAudit(AuditObject.CASE, "case_number"))


class CaseReopenApi(APIView):
    """`POST` returns a decided case to review, with the reason recorded."""

    @extend_schema_serializer(component_name="CaseReopenInput")
    class InputSerializer(StrictSerializer):
        reason = serializers.CharField(
            max_length=REOPEN_REASON_MAX,
            help_text="Why the case is reopened: a clerical error, new and material information.",
        )
        good_cause = serializers.BooleanField(
            required=False,
            default=False,
            help_text="Good cause (new and material evidence) allows a longer limit than any reason.",
        )
        row_version = serializers.IntegerField(
            min_value=0, required=False, help_text="The case's version as you last read it; refused if it changed."
        )

    @extend_schema(
        operation_id="cases_reopen",
        request=InputSerializer,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={200: CaseOutputSerializer, **error_responses(400, 401, 403, 404, 409, 413, 415, 422, 429, 503)},
        summary="Reopen a decided case (physician reviewers and managers)",
        description="Within the plan's limits from the decision: one year for any reason, four years for good "
        "cause (409 past it, with `decided_on` and `limit_passed_on`). The case returns to review; its "
        "next decision supersedes the old one and its authorizations.",
    )
    def post(self, request: AuthenticatedRequest, case_number: str) -> Response:
        case = visible_case(request, case_number)
        # Before the body is read: a role that may not reopen is told so whatever it sent.
        require_role(request.user, Role.PHYSICIAN, Role.MANAGER, action="reopen a decided case")

        def reopen() -> tuple[int, Any]:
            serializer = self.InputSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            v = serializer.validated_data
            case_reopen(
                case_id=case.pk,
                user=request.user,
                reason=v["reason"],
                good_cause=v["good_cause"],
                expected_row_version=v.get("row_version"),
            )
            return status.HTTP_200_OK, case_body(visible_case(request, case_number))

        return idempotent_response(request, reopen, replay=ReplayAudit(AuditObject.CASE, "case_number"))
