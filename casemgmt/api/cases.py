"""Cases: submit, list, read, decide, add information, cancel, pend."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
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

from casemgmt.api import fast_serializers
from casemgmt.api.errors import error_responses
from casemgmt.api.replay import IDEMPOTENCY_PARAMETER, _idempotent_response
from casemgmt.api.serializers import (
    MAX_DIAGNOSES,
    MAX_LINES,
    MAX_NOTES,
    CaseOutputSerializer,
    DecisionOutputSerializer,
    StrictSerializer,
)
from casemgmt.audit.models import AuditAction, AuditObject
from casemgmt.audit.recording import AuditedApiMixin, AuditSpec, ReplayAudit, audit_annotate
from casemgmt.cases import selectors
from casemgmt.cases.models import (
    Case,
    CaseStatus,
    LineOutcome,
    ReviewType,
    Urgency,
)
from casemgmt.cases.services.decisions import CitationInput, DecisionLineInput, decision_record
from casemgmt.cases.services.intake import CaseInput, LineInput, MemberInput, ProviderInput, case_submit
from casemgmt.cases.services.pend import case_pend_for_information
from casemgmt.cases.services.transitions import case_cancel, case_information_add
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
            npi = serializers.CharField(max_length=10)
            name = serializers.CharField(max_length=200)

        @extend_schema_serializer(component_name="CaseCollectionInputLine")
        class LineSerializer(StrictSerializer):
            code_system = serializers.ChoiceField(choices=["CPT", "HCPCS"])
            code = serializers.CharField(max_length=10)
            modifiers = serializers.ListField(child=serializers.CharField(max_length=2), max_length=4, default=list)
            units = serializers.IntegerField(min_value=1, max_value=10_000)
            date_of_service = serializers.DateField()
            description = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")

        external_id = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
        urgency = serializers.ChoiceField(choices=Urgency.values)
        line_of_business = serializers.ChoiceField(choices=LineOfBusiness.values)
        review_type = serializers.ChoiceField(choices=ReviewType.values, default=ReviewType.PROSPECTIVE)
        member = MemberSerializer()
        requesting_provider = ProviderSerializer()
        servicing_provider = ProviderSerializer(required=False, allow_null=True)
        diagnosis_codes = serializers.ListField(
            child=serializers.CharField(max_length=10), max_length=MAX_DIAGNOSES, default=list
        )
        service_lines = LineSerializer(many=True, min_length=1, max_length=MAX_LINES)  # type: ignore[call-arg]
        clinical_facts = serializers.DictField(default=dict)
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
        responses={201: CaseOutputSerializer, **error_responses(400, 401, 403, 409, 415, 422, 429)},
        summary="Submit a prior-authorization request",
    )
    def post(self, request: Request) -> Response:
        def submit() -> tuple[int, Any]:
            case = case_submit(client=request.user, data=_parse_case_input(request.data))  # type: ignore[arg-type]
            # The case comes back with its lines and flags loaded: the same body as GET, no re-read.
            return status.HTTP_201_CREATED, case_body(case)

        return _idempotent_response(request, submit, replay=ReplayAudit(AuditObject.CASE, "case_number"))

    @extend_schema(
        operation_id="cases_list",
        parameters=[FilterSerializer],
        responses={200: CaseOutputSerializer(many=True), **error_responses(400, 401, 404, 429)},
        summary="List the cases you may see",
    )
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        cases: QuerySet[Case] = (
            selectors.cases_visible_to(request.user)
            .prefetch_related("lines", selectors.current_flags())
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
        return paginator.get_paginated_response([case_body(case) for case in page or []])


# Built once for the intake path: constructing these nested serializers deep-copies every field,
# which costs as much as the validation itself. Only their stateless run_validation and
# to_representation are used on the shared instances, and the compiled forms of both
# (casemgmt/fast_serializers.py: the same results without DRF's per-field machinery).
_CASE_INPUT = CaseCollectionApi.InputSerializer()
_CASE_OUTPUT = CaseOutputSerializer()
_CASE_INPUT_FAST = fast_serializers.compile_input(_CASE_INPUT)
_CASE_OUTPUT_FAST = fast_serializers.compile_output(_CASE_OUTPUT)


def case_body(case: Case) -> Any:
    """A case as CaseOutputSerializer renders it."""
    body = _CASE_OUTPUT_FAST(case) if _CASE_OUTPUT_FAST is not None else fast_serializers.DECLINE
    return _CASE_OUTPUT.to_representation(case) if body is fast_serializers.DECLINE else body


def _case_input_validated(raw: Any) -> Any:
    v = _CASE_INPUT_FAST(raw) if _CASE_INPUT_FAST is not None else fast_serializers.DECLINE
    if v is not fast_serializers.DECLINE:
        return v
    try:
        return _CASE_INPUT.run_validation(raw)
    except serializers.ValidationError:
        # Refusals take the ordinary path, so their body is exactly DRF's for an invalid serializer.
        serializer = CaseCollectionApi.InputSerializer(data=raw)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data


def _parse_case_input(raw: Any) -> CaseInput:
    v = _case_input_validated(raw)
    servicing = v.get("servicing_provider")
    return CaseInput(
        external_id=v["external_id"],
        urgency=v["urgency"],
        line_of_business=v["line_of_business"],
        review_type=v["review_type"],
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


def _visible_case(request: Request, case_number: str) -> Case:
    case = selectors.case_detail(request.user, case_number)
    if case is None:
        # The same answer whether the case does not exist or is not yours: no probing.
        raise NotFound("No such case.")
    return case


class CaseDetailApi(AuditedApiMixin, APIView):
    audit_spec = AuditSpec(AuditAction.VIEW, AuditObject.CASE, object_kwarg="case_number")

    @extend_schema(
        operation_id="cases_retrieve",
        responses={200: CaseOutputSerializer, **error_responses(401, 404, 429)},
        summary="Read one case",
    )
    def get(self, request: Request, case_number: str) -> Response:
        return Response(case_body(_visible_case(request, case_number)))


class CaseDecisionsApi(AuditedApiMixin, APIView):
    """`GET` lists a case's decisions; `POST` records one (reviewers only)."""

    audit_spec = AuditSpec(AuditAction.LIST, AuditObject.DECISION)

    @extend_schema_serializer(component_name="CaseDecisionsInput")
    class InputSerializer(StrictSerializer):
        @extend_schema_serializer(component_name="CaseDecisionsInputLine")
        class LineSerializer(StrictSerializer):
            service_line = serializers.IntegerField(min_value=1)
            outcome = serializers.ChoiceField(choices=LineOutcome.values)
            approved_units = serializers.IntegerField(min_value=0, required=False, allow_null=True)
            reason = serializers.CharField(max_length=4000, required=False, allow_blank=True, default="")

        @extend_schema_serializer(component_name="CaseDecisionsInputCitation")
        class CitationSerializer(StrictSerializer):
            policy_version_id = serializers.IntegerField(min_value=1)
            criterion = serializers.CharField(max_length=4000, required=False, allow_blank=True, default="")

        lines = LineSerializer(many=True, min_length=1, max_length=MAX_LINES)  # type: ignore[call-arg]
        citations = CitationSerializer(many=True, max_length=20, required=False, default=list)  # type: ignore[call-arg]
        rationale = serializers.CharField(max_length=20_000, required=False, allow_blank=True, default="")

    @extend_schema(
        operation_id="cases_decisions_list",
        responses={200: DecisionOutputSerializer(many=True), **error_responses(401, 404, 429)},
    )
    def get(self, request: Request, case_number: str) -> Response:
        case = _visible_case(request, case_number)
        decisions = case.decisions.all()
        audit_annotate(request, object_ids=[decision.pk for decision in decisions])
        return Response(DecisionOutputSerializer(decisions, many=True).data)

    @extend_schema(
        operation_id="cases_decisions_create",
        request=InputSerializer,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={201: DecisionOutputSerializer, **error_responses(400, 401, 403, 404, 409, 415, 422, 429)},
        summary="Record a decision (reviewers)",
    )
    def post(self, request: Request, case_number: str) -> Response:
        case = _visible_case(request, case_number)

        def record() -> tuple[int, Any]:
            serializer = self.InputSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            v = serializer.validated_data
            decision = decision_record(
                case_id=case.pk,
                user=request.user,  # type: ignore[arg-type]
                lines=[DecisionLineInput(**line) for line in v["lines"]],
                citations=[CitationInput(**c) for c in v["citations"]],
                rationale=v["rationale"],
            )
            return status.HTTP_201_CREATED, DecisionOutputSerializer(decision).data

        return _idempotent_response(
            request, record, replay=ReplayAudit(AuditObject.DECISION, "id", case_number=case.case_number)
        )


class CaseInformationApi(APIView):
    @extend_schema_serializer(component_name="CaseInformationInput")
    class InputSerializer(StrictSerializer):
        clinical_facts = serializers.DictField(default=dict)
        clinical_notes = serializers.CharField(max_length=MAX_NOTES, required=False, allow_blank=True, default="")

    @extend_schema(
        operation_id="cases_information_add",
        request=InputSerializer,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={200: CaseOutputSerializer, **error_responses(400, 401, 403, 404, 409, 415, 422, 429)},
        summary="Send more clinical information; flags are re-evaluated",
    )
    def post(self, request: Request, case_number: str) -> Response:
        case = _visible_case(request, case_number)

        def add() -> tuple[int, Any]:
            serializer = self.InputSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            case_information_add(
                case_id=case.pk,
                user=request.user,  # type: ignore[arg-type]
                clinical_facts=dict(serializer.validated_data["clinical_facts"]),
                clinical_notes=serializer.validated_data["clinical_notes"],
            )
            return status.HTTP_200_OK, case_body(selectors.case_detail(request.user, case_number))  # type: ignore[arg-type]

        return _idempotent_response(request, add, replay=ReplayAudit(AuditObject.CASE, "case_number"))


class CaseCancelApi(APIView):
    @extend_schema_serializer(component_name="CaseCancelInput")
    class InputSerializer(StrictSerializer):
        reason = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")

    @extend_schema(
        operation_id="cases_cancel",
        request=InputSerializer,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={200: CaseOutputSerializer, **error_responses(400, 401, 403, 404, 409, 415, 422, 429)},
        summary="Cancel (withdraw) a request",
    )
    def post(self, request: Request, case_number: str) -> Response:
        case = _visible_case(request, case_number)

        def cancel() -> tuple[int, Any]:
            serializer = self.InputSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            case_cancel(
                case_id=case.pk,
                user=request.user,  # type: ignore[arg-type]
                reason=serializer.validated_data["reason"],
            )
            return status.HTTP_200_OK, case_body(selectors.case_detail(request.user, case_number))  # type: ignore[arg-type]

        return _idempotent_response(request, cancel, replay=ReplayAudit(AuditObject.CASE, "case_number"))


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
        responses={200: CaseOutputSerializer, **error_responses(400, 401, 403, 404, 409, 415, 422, 429)},
        summary="Pend a case for information (reviewers); the time pended extends the deadline as its rule allows",
    )
    def post(self, request: Request, case_number: str) -> Response:
        case = _visible_case(request, case_number)

        def pend() -> tuple[int, Any]:
            serializer = self.InputSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            case_pend_for_information(
                case_id=case.pk,
                user=request.user,  # type: ignore[arg-type]
                needed=serializer.validated_data["needed"],
            )
            return status.HTTP_200_OK, case_body(selectors.case_detail(request.user, case_number))  # type: ignore[arg-type]

        return _idempotent_response(request, pend, replay=ReplayAudit(AuditObject.CASE, "case_number"))
