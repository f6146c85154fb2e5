"""Cases: submit, list, read, decide, add information, cancel, pend."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet
from drf_spectacular.utils import (
    extend_schema,
    extend_schema_serializer,
)
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from casemgmt.api.errors import error_responses
from casemgmt.api.replay import IDEMPOTENCY_PARAMETER, idempotent_response
from casemgmt.api.serializers import (
    CPT_PATTERN,
    HCPCS_PATTERN,
    MAX_DIAGNOSES,
    MAX_LINES,
    MAX_NOTES,
    MAX_UNITS,
    NOT_BLANK_PATTERN,
    ApprovedUnitsField,
    CaseOutputSerializer,
    ClinicalFactsField,
    DecisionOutputSerializer,
    DiagnosisCodesField,
    LineNumberField,
    ModifierField,
    NpiField,
    ProcedureCodeField,
    StrictSerializer,
)
from casemgmt.audit.models import AuditAction, AuditObject
from casemgmt.audit.recording import AuditedApiMixin, AuditSpec, ReplayAudit, audit_annotate
from casemgmt.cases import selectors
from casemgmt.cases.models import (
    ADVERSE_OUTCOMES,
    INITIAL_REVIEW_TYPES,
    NO_REVIEW_OUTCOMES,
    PARTIAL_OUTCOMES,
    Case,
    CaseStatus,
    LineOutcome,
    ReviewType,
    ServiceLine,
    Urgency,
)
from casemgmt.cases.services.decisions import CitationInput, DecisionLineInput, decision_record
from casemgmt.cases.services.intake import CaseInput, LineInput, MemberInput, ProviderInput, case_submit
from casemgmt.cases.services.pend import case_pend_for_information
from casemgmt.cases.services.transitions import case_cancel, case_information_add
from casemgmt.kernel.http import AuthenticatedRequest
from policies_app.models import LineOfBusiness


class CaseCollectionApi(AuditedApiMixin, APIView):
    """`POST /cases` submits a request; `GET /cases` lists the caller's visible cases."""

    # The list is recorded with the case numbers it returned; a submission by case_submit.
    audit_spec = AuditSpec(AuditAction.LIST, AuditObject.CASE, case_kwarg=None)

    pagination_class = PageNumberPagination  # read by the schema generator: GET is paginated

    @extend_schema_serializer(component_name="CaseCollectionInput")
    class InputSerializer(StrictSerializer):
        @extend_schema_serializer(component_name="CaseCollectionInputMember")
        class MemberSerializer(StrictSerializer):
            member_id = serializers.CharField(max_length=50)
            first_name = serializers.CharField(max_length=100)
            last_name = serializers.CharField(max_length=100)
            birth_date = serializers.DateField()

        @extend_schema_serializer(component_name="CaseCollectionInputProvider")
        class ProviderSerializer(StrictSerializer):
            npi = NpiField(max_length=10)
            name = serializers.CharField(max_length=200)

        @extend_schema_serializer(component_name="CaseCollectionInputLine")
        class LineSerializer(StrictSerializer):
            # A code's form depends on its code system (policies_app.codes.code_problem).
            schema_any_of = [
                {"properties": {"code_system": {"enum": ["CPT"]}, "code": {"pattern": CPT_PATTERN}}},
                {"properties": {"code_system": {"enum": ["HCPCS"]}, "code": {"pattern": HCPCS_PATTERN}}},
            ]

            code_system = serializers.ChoiceField(choices=["CPT", "HCPCS"])
            code = ProcedureCodeField(max_length=10)
            modifiers = serializers.ListField(child=ModifierField(max_length=2), max_length=4, default=list)
            units = serializers.IntegerField(min_value=1, max_value=MAX_UNITS)
            date_of_service = serializers.DateField()
            description = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")

        external_id = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
        urgency = serializers.ChoiceField(choices=Urgency.values)
        line_of_business = serializers.ChoiceField(choices=LineOfBusiness.values)
        # Appeals and extensions open through their own endpoints, from the case or authorization.
        review_type = serializers.ChoiceField(
            choices=[str(t) for t in INITIAL_REVIEW_TYPES], default=ReviewType.PROSPECTIVE
        )
        plan_id = serializers.CharField(
            max_length=50,
            required=False,
            allow_blank=True,
            default="",
            help_text="The plan or contract: a Medicare Advantage contract number, a state for Medicaid.",
        )
        member = MemberSerializer()
        requesting_provider = ProviderSerializer()
        servicing_provider = ProviderSerializer(required=False, allow_null=True)
        diagnosis_codes = DiagnosisCodesField(
            child=serializers.CharField(max_length=10), max_length=MAX_DIAGNOSES, default=list
        )
        service_lines = LineSerializer(many=True, min_length=1, max_length=MAX_LINES)  # type: ignore[call-arg]
        clinical_facts = ClinicalFactsField(default=dict)
        clinical_notes = serializers.CharField(max_length=MAX_NOTES, required=False, allow_blank=True, default="")

    @extend_schema_serializer(component_name="CaseCollectionFilter")
    class FilterSerializer(StrictSerializer):
        status = serializers.ChoiceField(choices=CaseStatus.values, required=False)
        urgency = serializers.ChoiceField(choices=Urgency.values, required=False)
        updated_since = serializers.DateTimeField(required=False)
        page = serializers.IntegerField(min_value=1, required=False)

    @extend_schema(
        operation_id="cases_submit",
        request=InputSerializer,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={201: CaseOutputSerializer, **error_responses(400, 401, 403, 409, 413, 415, 422, 429, 503)},
        summary="Submit a prior-authorization request",
    )
    def post(self, request: AuthenticatedRequest) -> Response:
        def submit() -> tuple[int, Any]:
            serializer = self.InputSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            case = case_submit(client=request.user, data=_case_input(serializer.validated_data))
            # The case comes back with its lines, current flags and what triage answered: the same
            # body as GET, without reading any of it again.
            return status.HTTP_201_CREATED, CaseOutputSerializer(
                case,
                context={
                    "authorizations": case.intake_authorizations,
                    "determinations": case.intake_determinations,
                },
            ).data

        return idempotent_response(request, submit, replay=ReplayAudit(AuditObject.CASE, "case_number"))

    @extend_schema(
        operation_id="cases_list",
        parameters=[FilterSerializer],
        responses={200: CaseOutputSerializer(many=True), **error_responses(400, 401, 404, 429, 503)},
        summary="List the cases you may see",
    )
    def get(self, request: AuthenticatedRequest) -> Response:
        filters = self.FilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        cases: QuerySet[Case] = (
            selectors.cases_visible_to(request.user)
            .select_related("appeal_of", "extension_of")
            .prefetch_related(
                Prefetch("lines", queryset=ServiceLine.objects.select_related("origin__origin")),
                selectors.current_flags(),
            )
            .order_by("-updated_at", "-id")
        )
        values = filters.validated_data
        if "status" in values:
            cases = cases.filter(status=values["status"])
        if "urgency" in values:
            cases = cases.filter(urgency=values["urgency"])
        if "updated_since" in values:
            cases = cases.filter(updated_at__gte=values["updated_since"])
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(cases, request, view=self)
        audit_annotate(request, object_ids=[case.case_number for case in page or []])
        cases_on_page = page or []
        # One query each for the authorizations and the determinations of every line on the page.
        authorizations = selectors.line_authorizations(line for case in cases_on_page for line in case.lines.all())
        determinations = selectors.line_determinations(case.pk for case in cases_on_page)
        context = {"authorizations": authorizations, "determinations": determinations}
        return paginator.get_paginated_response(
            [CaseOutputSerializer(case, context=context).data for case in cases_on_page]
        )


def case_body(case: Case) -> Any:
    """A case as the API shows it; `case` carries its lines and current flags (selectors.case_detail)."""
    lines = case.lines.all()
    context = {
        "authorizations": selectors.line_authorizations(lines),
        "determinations": selectors.line_determinations([case.pk]),
    }
    return CaseOutputSerializer(case, context=context).data


def _case_input(v: dict[str, Any]) -> CaseInput:
    """The service's input from CaseCollectionApi.InputSerializer's validated data."""
    servicing = v.get("servicing_provider")
    return CaseInput(
        external_id=v["external_id"],
        urgency=v["urgency"],
        line_of_business=v["line_of_business"],
        review_type=v["review_type"],
        plan_id=v["plan_id"].strip(),
        member=MemberInput(**v["member"]),
        requesting_provider=ProviderInput(**v["requesting_provider"]),
        servicing_provider=ProviderInput(**servicing) if servicing else None,
        diagnosis_codes=tuple(v["diagnosis_codes"]),
        service_lines=tuple(
            LineInput(
                code_system=line["code_system"],
                code=line["code"].strip().upper(),
                units=line["units"],
                date_of_service=line["date_of_service"],
                modifiers=tuple(m.upper() for m in line["modifiers"]),
                description=line["description"],
            )
            for line in v["service_lines"]
        ),
        clinical_facts=dict(v["clinical_facts"]),
        clinical_notes=v["clinical_notes"],
    )


def visible_case(request: Request, case_number: str) -> Case:
    case = selectors.case_detail(request.user, case_number)
    if case is None:
        # The same answer whether the case does not exist or is not yours: no probing.
        raise NotFound("No such case.")
    return case


class CaseDetailApi(AuditedApiMixin, APIView):
    audit_spec = AuditSpec(AuditAction.VIEW, AuditObject.CASE, object_kwarg="case_number")

    @extend_schema(
        operation_id="cases_retrieve",
        responses={200: CaseOutputSerializer, **error_responses(400, 401, 404, 429, 503)},
        summary="Read one case",
    )
    def get(self, request: AuthenticatedRequest, case_number: str) -> Response:
        return Response(case_body(visible_case(request, case_number)))


@extend_schema_serializer(component_name="CaseDecisionsInputCitation")
class CitationInputSerializer(StrictSerializer):
    policy_version_id = serializers.IntegerField(min_value=1)
    criterion = serializers.CharField(max_length=4000, required=False, allow_blank=True, default="")


class CaseDecisionsApi(AuditedApiMixin, APIView):
    """`GET` lists a case's decisions; `POST` records one (reviewers only)."""

    audit_spec = AuditSpec(AuditAction.LIST, AuditObject.DECISION)

    @extend_schema_serializer(component_name="CaseDecisionsInput")
    class InputSerializer(StrictSerializer):
        CitationSerializer = CitationInputSerializer

        @extend_schema_serializer(component_name="CaseDecisionsInputLine")
        class LineSerializer(StrictSerializer):
            # What decision_record checks of each line by itself: an adverse outcome gives a
            # reason, a partial approval the units it approves (fewer than the line requested).
            schema_any_of = [
                {"properties": {"outcome": {"enum": [o for o in LineOutcome.values if o not in ADVERSE_OUTCOMES]}}},
                {
                    "required": ["reason"],
                    "properties": {
                        "outcome": {
                            "enum": [o for o in ADVERSE_OUTCOMES if o not in PARTIAL_OUTCOMES],
                        },
                        "reason": {"pattern": NOT_BLANK_PATTERN},
                    },
                },
                {
                    "required": ["reason", "approved_units"],
                    "properties": {
                        "outcome": {"enum": [str(o) for o in PARTIAL_OUTCOMES]},
                        "reason": {"pattern": NOT_BLANK_PATTERN},
                        "approved_units": {"type": "integer", "minimum": 1, "maximum": MAX_UNITS - 1},
                    },
                },
            ]

            service_line = LineNumberField(min_value=1)
            # "No authorization required" is intake's answer, never a reviewer's.
            outcome = serializers.ChoiceField(
                choices=[o for o in LineOutcome.values if o not in NO_REVIEW_OUTCOMES],
                help_text="An initial request's line: approved, partially_approved, denied, pended, modified, or "
                "referred (to a physician reviewer, with an optional note in reason; the decision decides at least "
                "one other line, which takes effect, and the case moves to physician review). "
                "An appealed line: overturned, partially_overturned, upheld, pended.",
            )
            approved_units = ApprovedUnitsField(min_value=0, required=False, allow_null=True)
            reason = serializers.CharField(max_length=4000, required=False, allow_blank=True, default="")
            reason_code = serializers.CharField(
                max_length=20,
                required=False,
                allow_blank=True,
                default="",
                help_text="Optional, on an adverse line: one of the plan's active review decision reason codes "
                "(X12 list 886), sent to PAS clients as the review action's reason code.",
            )
            citations = CitationInputSerializer(  # type: ignore[call-arg]
                many=True,
                max_length=20,
                required=False,
                default=list,
                help_text="What this line rests on: each version must have been in effect on the line's "
                "date of service and apply to the case's line of business.",
            )

        # An adverse outcome needs a citation (decision_record): the decision's own, which apply
        # to every adverse line, or the line's.
        schema_any_of = [
            {
                "properties": {
                    "lines": {
                        "items": {
                            "anyOf": [
                                {
                                    "properties": {
                                        "outcome": {
                                            "enum": [o for o in LineOutcome.values if o not in ADVERSE_OUTCOMES]
                                        }
                                    }
                                },
                                {"required": ["citations"], "properties": {"citations": {"minItems": 1}}},
                            ]
                        }
                    }
                }
            },
            {"required": ["citations"], "properties": {"citations": {"minItems": 1}}},
        ]

        lines = LineSerializer(many=True, min_length=1, max_length=MAX_LINES)  # type: ignore[call-arg]
        citations = CitationSerializer(many=True, max_length=20, required=False, default=list)  # type: ignore[call-arg]
        rationale = serializers.CharField(max_length=20_000, required=False, allow_blank=True, default="")

    @extend_schema(
        operation_id="cases_decisions_list",
        responses={200: DecisionOutputSerializer(many=True), **error_responses(400, 401, 404, 429, 503)},
    )
    def get(self, request: AuthenticatedRequest, case_number: str) -> Response:
        case = visible_case(request, case_number)
        decisions = case.decisions.all()
        audit_annotate(request, object_ids=[decision.pk for decision in decisions])
        return Response(DecisionOutputSerializer(decisions, many=True).data)

    @extend_schema(
        operation_id="cases_decisions_create",
        request=InputSerializer,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={201: DecisionOutputSerializer, **error_responses(400, 401, 403, 404, 409, 413, 415, 422, 429, 503)},
        summary="Record a decision (reviewers)",
    )
    def post(self, request: AuthenticatedRequest, case_number: str) -> Response:
        case = visible_case(request, case_number)

        def record() -> tuple[int, Any]:
            serializer = self.InputSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            v = serializer.validated_data
            decision = decision_record(
                case_id=case.pk,
                user=request.user,
                lines=[
                    DecisionLineInput(**{**line, "citations": tuple(CitationInput(**c) for c in line["citations"])})
                    for line in v["lines"]
                ],
                citations=[CitationInput(**c) for c in v["citations"]],
                rationale=v["rationale"],
            )
            return status.HTTP_201_CREATED, DecisionOutputSerializer(decision).data

        return idempotent_response(
            request, record, replay=ReplayAudit(AuditObject.DECISION, "id", case_number=case.case_number)
        )


class CaseInformationApi(APIView):
    @extend_schema_serializer(component_name="CaseInformationInput")
    class InputSerializer(StrictSerializer):
        # At least one clinical fact or a note (case_information_add).
        schema_any_of = [
            {"required": ["clinical_facts"], "properties": {"clinical_facts": {"minProperties": 1}}},
            {"required": ["clinical_notes"], "properties": {"clinical_notes": {"pattern": NOT_BLANK_PATTERN}}},
        ]

        clinical_facts = ClinicalFactsField(default=dict)
        clinical_notes = serializers.CharField(max_length=MAX_NOTES, required=False, allow_blank=True, default="")

    @extend_schema(
        operation_id="cases_information_add",
        request=InputSerializer,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={200: CaseOutputSerializer, **error_responses(400, 401, 403, 404, 409, 413, 415, 422, 429, 503)},
        summary="Send more clinical information; flags are re-evaluated",
    )
    def post(self, request: AuthenticatedRequest, case_number: str) -> Response:
        case = visible_case(request, case_number)

        def add() -> tuple[int, Any]:
            serializer = self.InputSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            case_information_add(
                case_id=case.pk,
                user=request.user,
                clinical_facts=dict(serializer.validated_data["clinical_facts"]),
                clinical_notes=serializer.validated_data["clinical_notes"],
            )
            return status.HTTP_200_OK, case_body(visible_case(request, case_number))

        return idempotent_response(request, add, replay=ReplayAudit(AuditObject.CASE, "case_number"))


class CaseCancelApi(APIView):
    @extend_schema_serializer(component_name="CaseCancelInput")
    class InputSerializer(StrictSerializer):
        reason = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")

    @extend_schema(
        operation_id="cases_cancel",
        request=InputSerializer,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={200: CaseOutputSerializer, **error_responses(400, 401, 403, 404, 409, 413, 415, 422, 429, 503)},
        summary="Cancel (withdraw) a request",
    )
    def post(self, request: AuthenticatedRequest, case_number: str) -> Response:
        case = visible_case(request, case_number)

        def cancel() -> tuple[int, Any]:
            serializer = self.InputSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            case_cancel(
                case_id=case.pk,
                user=request.user,
                reason=serializer.validated_data["reason"],
            )
            return status.HTTP_200_OK, case_body(visible_case(request, case_number))

        return idempotent_response(request, cancel, replay=ReplayAudit(AuditObject.CASE, "case_number"))


# --- pend for information -------------------------------------------------------------------


class CasePendApi(APIView):
    @extend_schema_serializer(component_name="CasePendInput")
    class InputSerializer(StrictSerializer):
        needed = serializers.CharField(
            max_length=4000, help_text="What information is needed, in words the requester can act on."
        )

    @extend_schema(
        operation_id="cases_pend",
        request=InputSerializer,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={200: CaseOutputSerializer, **error_responses(400, 401, 403, 404, 409, 413, 415, 422, 429, 503)},
        summary="Pend a case for information (reviewers); the time pended extends the deadline as its rule allows",
    )
    def post(self, request: AuthenticatedRequest, case_number: str) -> Response:
        case = visible_case(request, case_number)

        def pend() -> tuple[int, Any]:
            serializer = self.InputSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            case_pend_for_information(
                case_id=case.pk,
                user=request.user,
                needed=serializer.validated_data["needed"],
            )
            return status.HTTP_200_OK, case_body(visible_case(request, case_number))

        return idempotent_response(request, pend, replay=ReplayAudit(AuditObject.CASE, "case_number"))
