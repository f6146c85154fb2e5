"""The v1 REST API. Each view parses input, calls one service or selector, and renders output."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler
from django.db.models import QuerySet
from django.http import FileResponse, HttpRequest
from django.http.response import HttpResponseBase
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_serializer,
)
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import MultiPartParser
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from casemgmt import fast_serializers, selectors, services
from casemgmt.api_errors import error_responses
from casemgmt.audit.models import AuditAction, AuditObject
from casemgmt.audit.recording import AuditedApiMixin, AuditSpec, ReplayAudit, audit_annotate, audit_replay
from casemgmt.idempotency import idempotent
from casemgmt.models import (
    X12_REVIEW_ACTION,
    Case,
    CaseStatus,
    DecisionLine,
    LineOutcome,
    ReviewType,
    Urgency,
    WebhookSubscription,
)
from casemgmt.roles import user_roles
from policies_app.codes import code_problem
from policies_app.models import LineOfBusiness
from policies_app.selectors import coverage_lookup

logger = logging.getLogger(__name__)

MAX_LINES = 50
MAX_DIAGNOSES = 25
MAX_NOTES = 20_000


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not know, so a client's typo is an error rather than lost data."""

    def to_internal_value(self, data: Any) -> Any:
        unknown = sorted(set(data) - set(self.fields)) if isinstance(data, dict) else []
        errors = {name: ["This field is not part of the request."] for name in unknown}
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            # Report every problem at once, the unknown fields beside the invalid ones.
            raise serializers.ValidationError({**exc.detail, **errors}) from exc  # type: ignore[dict-item]
        if errors:
            raise serializers.ValidationError(errors)
        return value


class CitationOutputSerializer(serializers.Serializer):
    policy_version_id = serializers.IntegerField()
    payer = serializers.CharField()
    policy_number = serializers.CharField()
    policy_title = serializers.CharField()
    version = serializers.CharField()
    effective_start = serializers.DateField(allow_null=True)
    effective_end = serializers.DateField(allow_null=True)
    coverage_position = serializers.CharField()
    criterion = serializers.CharField()


class FlagOutputSerializer(serializers.Serializer):
    service_line = serializers.IntegerField(source="service_line.sequence")
    kind = serializers.CharField()
    severity = serializers.CharField()
    message = serializers.CharField()
    citation = CitationOutputSerializer(allow_null=True)


class ServiceLineOutputSerializer(serializers.Serializer):
    sequence = serializers.IntegerField()
    code_system = serializers.CharField()
    code = serializers.CharField()
    modifiers = serializers.ListField(child=serializers.CharField())
    units = serializers.IntegerField()
    date_of_service = serializers.DateField()
    description = serializers.CharField()


class CaseOutputSerializer(serializers.Serializer):
    case_number = serializers.CharField()
    external_id = serializers.CharField()
    status = serializers.CharField()
    urgency = serializers.CharField()
    line_of_business = serializers.CharField()
    review_type = serializers.CharField()
    received_at = serializers.DateTimeField()
    due_at = serializers.DateTimeField()
    decided_at = serializers.DateTimeField(allow_null=True)
    updated_at = serializers.DateTimeField()
    service_lines = ServiceLineOutputSerializer(many=True, source="lines.all")
    flags = FlagOutputSerializer(many=True, source="current_flags")


IDEMPOTENCY_PARAMETER = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    description="A retry with the same key and body returns the first response and creates nothing; "
    "the same key with another body is 422; a retry while the first is running is 409.",
)


def _idempotent_response(
    request: Request, operation: Callable[[], tuple[int, Any]], *, replay: ReplayAudit | None
) -> Response:
    """Run a POST once per Idempotency-Key. `replay` says what its answer shows, for the audit
    row of a replay (a read of the stored answer); None only for an answer with no member data."""
    code, body, replayed = idempotent(
        client=request.user,  # type: ignore[arg-type]
        key=request.headers.get("Idempotency-Key"),
        method=request.method or "POST",
        path=request.path,
        body=request.data,
        operation=operation,
    )
    return _replayable_response(request, code, body, replayed, replay)


def _replayable_response(
    request: Request, code: int, body: Any, replayed: bool, replay: ReplayAudit | None
) -> Response:
    response = Response(body, status=code)
    if replayed:
        response["Idempotent-Replayed"] = "true"
        if replay is not None:
            audit_replay(request, replay, code, body)
    return response


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
            case = services.case_submit(client=request.user, data=_parse_case_input(request.data))  # type: ignore[arg-type]
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


def _parse_case_input(raw: Any) -> services.CaseInput:
    v = _case_input_validated(raw)
    servicing = v.get("servicing_provider")
    return services.CaseInput(
        external_id=v["external_id"],
        urgency=v["urgency"],
        line_of_business=v["line_of_business"],
        review_type=v["review_type"],
        member=services.MemberInput(**v["member"]),
        requesting_provider=services.ProviderInput(**v["requesting_provider"]),
        servicing_provider=services.ProviderInput(**servicing) if servicing else None,
        diagnosis_codes=tuple(v["diagnosis_codes"]),
        service_lines=tuple(
            services.LineInput(
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


class DecisionOutputSerializer(serializers.Serializer):
    @extend_schema_serializer(component_name="DecisionOutputLine")
    class LineSerializer(serializers.Serializer):
        service_line = serializers.IntegerField(source="service_line.sequence")
        outcome = serializers.CharField()
        review_action_code = serializers.SerializerMethodField()
        approved_units = serializers.IntegerField(allow_null=True)
        reason = serializers.CharField()

        def get_review_action_code(self, obj: DecisionLine) -> str:
            return X12_REVIEW_ACTION[LineOutcome(obj.outcome)]

    @extend_schema_serializer(component_name="DecisionOutputCitation")
    class CitationSerializer(CitationOutputSerializer):
        version = serializers.CharField(source="version_label")
        content_sha256 = serializers.CharField()

    id = serializers.IntegerField()
    decided_at = serializers.DateTimeField()
    decided_by = serializers.CharField(source="decided_by.get_username")
    decided_role = serializers.CharField()
    rationale = serializers.CharField()
    supersedes = serializers.IntegerField(source="supersedes_id", allow_null=True)
    lines = LineSerializer(many=True, source="lines.all")
    citations = CitationSerializer(many=True, source="citations.all")


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
            decision = services.decision_record(
                case_id=case.pk,
                user=request.user,  # type: ignore[arg-type]
                lines=[services.DecisionLineInput(**line) for line in v["lines"]],
                citations=[services.CitationInput(**c) for c in v["citations"]],
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
            services.case_information_add(
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
            services.case_cancel(
                case_id=case.pk,
                user=request.user,  # type: ignore[arg-type]
                reason=serializer.validated_data["reason"],
            )
            return status.HTTP_200_OK, case_body(selectors.case_detail(request.user, case_number))  # type: ignore[arg-type]

        return _idempotent_response(request, cancel, replay=ReplayAudit(AuditObject.CASE, "case_number"))


class CoverageApi(APIView):
    """Which policy and version govern a service on a date, and its coverage position."""

    @extend_schema_serializer(component_name="CoverageFilter")
    class FilterSerializer(StrictSerializer):
        code = serializers.CharField(max_length=10)
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
        responses={200: OutputSerializer, **error_responses(400, 401, 403, 429)},
    )
    def get(self, request: Request) -> Response:
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


class WebhooksApi(APIView):
    """`POST` registers a webhook for status changes; `GET` lists the caller's webhooks."""

    @extend_schema_serializer(component_name="WebhookInput")
    class InputSerializer(StrictSerializer):
        url = serializers.URLField(max_length=500)

        def validate_url(self, value: str) -> str:
            try:
                urlsplit(value).port  # noqa: B018 - raises on a port out of range, which URLField lets through
            except ValueError as exc:
                raise serializers.ValidationError(str(exc)) from exc
            return value

    @extend_schema_serializer(component_name="Webhook")
    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        url = serializers.CharField()
        active = serializers.BooleanField()
        created_at = serializers.DateTimeField()

    @extend_schema_serializer(component_name="WebhookCreated")
    class CreatedSerializer(OutputSerializer):
        secret = serializers.CharField(help_text="HMAC-SHA256 signing key. Shown once: store it.")

    @extend_schema(
        operation_id="webhooks_list", responses={200: OutputSerializer(many=True), **error_responses(401, 429)}
    )
    def get(self, request: Request) -> Response:
        hooks = WebhookSubscription.objects.filter(client=request.user.pk).order_by("id")
        return Response(self.OutputSerializer(hooks, many=True).data)

    @extend_schema(
        operation_id="webhooks_create",
        request=InputSerializer,
        responses={201: CreatedSerializer, **error_responses(400, 401, 403, 415, 429)},
        summary="Register a webhook; each status change of your cases is POSTed to it, signed",
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        hook, secret = services.webhook_subscribe(
            client=request.user,  # type: ignore[arg-type]
            url=serializer.validated_data["url"],
        )
        hook.refresh_from_db()
        body = {**self.OutputSerializer(hook).data, "secret": secret}
        return Response(body, status=status.HTTP_201_CREATED)


# --- attachments ----------------------------------------------------------------------------

# Room for the multipart framing and the description around the file itself.
MULTIPART_OVERHEAD_BYTES = 64 * 1024
ATTACHMENT_MEDIA_TYPES = ("application/pdf", "image/png", "image/jpeg", "image/tiff")


class _AttachmentSizeLimit(FileUploadHandler):
    """Refuses an oversized upload as it arrives, instead of after spooling all of it to disk."""

    def __init__(self, request: HttpRequest, limit: int) -> None:
        super().__init__(request)
        self.limit = limit

    def handle_raw_input(
        self,
        input_data: Any,
        META: dict[str, Any],
        content_length: int,
        boundary: Any,
        encoding: str | None = None,
    ) -> None:
        if content_length > self.limit + MULTIPART_OVERHEAD_BYTES:
            raise services.attachment_too_large(content_length, self.limit)

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        if start + len(raw_data) > self.limit:
            raise services.attachment_too_large(start + len(raw_data), self.limit)
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None


def _upload_sha256(upload: UploadedFile) -> str:
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    return digest.hexdigest()


@extend_schema_field(OpenApiTypes.BINARY)
class _UploadField(serializers.FileField):
    """A file part of a multipart body (the schema would otherwise call it a URI)."""


@extend_schema_serializer(component_name="Attachment")
class AttachmentOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    original_name = serializers.CharField(help_text="The name the file was sent with, sanitized.")
    content_type = serializers.CharField(help_text="Detected from the content: PDF, PNG, JPEG or TIFF.")
    size = serializers.IntegerField(help_text="In bytes.")
    sha256 = serializers.CharField()
    description = serializers.CharField()
    uploaded_by = serializers.CharField(source="uploaded_by.get_username")
    uploaded_at = serializers.DateTimeField()


class CaseAttachmentsApi(AuditedApiMixin, APIView):
    """`POST` adds a document to a case (multipart/form-data); `GET` lists the case's attachments."""

    # The one multipart endpoint; every other view reads JSON only.
    parser_classes = [MultiPartParser]
    # The list of a case's documents (names, descriptions); an upload is recorded by attachment_add.
    audit_spec = AuditSpec(AuditAction.LIST, AuditObject.ATTACHMENT)

    @extend_schema_serializer(component_name="CaseAttachmentsInput")
    class InputSerializer(StrictSerializer):
        file = _UploadField(
            help_text="A PDF, PNG, JPEG or TIFF document, judged by its content (not its name or declared type), "
            "at most ATTACHMENT_MAX_BYTES (default 20 MiB; larger is 413)."
        )
        description = serializers.CharField(
            max_length=services.ATTACHMENT_DESCRIPTION_MAX, required=False, allow_blank=True, default=""
        )

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        if request.method == "POST":
            # Before anything reads the body (authentication may, for a CSRF check).
            request._request.upload_handlers.insert(
                0, _AttachmentSizeLimit(request._request, settings.ATTACHMENT_MAX_BYTES)
            )
        super().initial(request, *args, **kwargs)

    @extend_schema(
        operation_id="cases_attachments_list",
        responses={200: AttachmentOutputSerializer(many=True), **error_responses(401, 404, 429)},
        summary="List a case's attachments (metadata only)",
    )
    def get(self, request: Request, case_number: str) -> Response:
        if selectors.case_get_for(request.user, case_number) is None:
            raise NotFound("No such case.")
        attachments = selectors.case_attachments(request.user, case_number)
        audit_annotate(request, object_ids=[attachment.pk for attachment in attachments])
        return Response(AttachmentOutputSerializer(attachments, many=True).data)

    @extend_schema(
        operation_id="cases_attachments_create",
        request=InputSerializer,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={201: AttachmentOutputSerializer, **error_responses(400, 401, 403, 404, 409, 413, 415, 422, 429)},
        summary="Attach a document (PDF, PNG, JPEG or TIFF) to an open case",
    )
    def post(self, request: Request, case_number: str) -> Response:
        case = _visible_case(request, case_number)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        upload: UploadedFile = serializer.validated_data["file"]
        description: str = serializer.validated_data["description"]

        def add() -> tuple[int, Any]:
            attachment = services.attachment_add(
                case_id=case.pk,
                user=request.user,  # type: ignore[arg-type]
                upload=upload,
                description=description,
            )
            return status.HTTP_201_CREATED, AttachmentOutputSerializer(attachment).data

        # A retry is recognised by the file's digest, not its bytes (which would not fit the
        # fingerprint) nor its name alone (which would let a different file replay the first).
        code, body, replayed = idempotent(
            client=request.user,  # type: ignore[arg-type]
            key=request.headers.get("Idempotency-Key"),
            method="POST",
            path=request.path,
            body={"file_sha256": _upload_sha256(upload), "file_name": upload.name, "description": description},
            operation=add,
        )
        return _replayable_response(
            request, code, body, replayed, ReplayAudit(AuditObject.ATTACHMENT, "id", case_number=case.case_number)
        )


class _IgnoreAccept(DefaultContentNegotiation):
    """The file goes out in its own type whatever Accept says; errors still go out as JSON."""

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        renderer = next(iter(renderers))
        return renderer, renderer.media_type


class CaseAttachmentDownloadApi(AuditedApiMixin, APIView):
    content_negotiation_class = _IgnoreAccept
    audit_spec = AuditSpec(AuditAction.DOWNLOAD, AuditObject.ATTACHMENT, object_kwarg="attachment_id")

    @extend_schema(
        operation_id="cases_attachments_download",
        responses={
            **{
                (200, media_type): OpenApiResponse(OpenApiTypes.BINARY, description="The document, as an attachment.")
                for media_type in ATTACHMENT_MEDIA_TYPES
            },
            **error_responses(401, 404, 429),
        },
        summary="Download an attachment",
    )
    def get(self, request: Request, case_number: str, attachment_id: int) -> HttpResponseBase:
        attachment = selectors.attachment_get_for(request.user, case_number, attachment_id)
        if attachment is None:
            raise NotFound("No such attachment.")
        try:
            handle = attachment.file.open("rb")
        except FileNotFoundError as exc:
            logger.error(
                "attachment %s of case %s: stored file %s is missing", attachment.pk, case_number, attachment.file.name
            )
            raise NotFound("The attachment's file is missing; the plan's support has been alerted.") from exc
        response = FileResponse(
            handle, content_type=attachment.content_type, as_attachment=True, filename=attachment.original_name
        )
        # Never rendered in the API's origin, never guessed at, never cached: it is member data.
        response["X-Content-Type-Options"] = "nosniff"
        response["Content-Security-Policy"] = "default-src 'none'; sandbox"
        response["Cache-Control"] = "private, no-store"
        return response


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
            services.case_pend_for_information(
                case_id=case.pk,
                user=request.user,  # type: ignore[arg-type]
                needed=serializer.validated_data["needed"],
            )
            return status.HTTP_200_OK, case_body(selectors.case_detail(request.user, case_number))  # type: ignore[arg-type]

        return _idempotent_response(request, pend, replay=ReplayAudit(AuditObject.CASE, "case_number"))
