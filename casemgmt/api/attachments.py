"""Documents attached to a case: upload, list, download."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler
from django.http import FileResponse, HttpRequest
from django.http.response import HttpResponseBase
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_serializer,
)
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import MultiPartParser
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from casemgmt.api.cases import visible_case
from casemgmt.api.errors import error_responses
from casemgmt.api.idempotency import idempotent
from casemgmt.api.replay import IDEMPOTENCY_PARAMETER, replayable_response
from casemgmt.api.serializers import StrictSerializer
from casemgmt.audit.models import AuditAction, AuditObject
from casemgmt.audit.recording import AuditedApiMixin, AuditSpec, ReplayAudit, audit_annotate
from casemgmt.cases import selectors
from casemgmt.cases.services.attachments import ATTACHMENT_DESCRIPTION_MAX, attachment_add, attachment_too_large
from casemgmt.kernel.http import AuthenticatedRequest

# --- attachments ----------------------------------------------------------------------------

# Room for the multipart framing and the description around the file itself.
logger = logging.getLogger(__name__)

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
            raise attachment_too_large(content_length, self.limit)

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        if start + len(raw_data) > self.limit:
            raise attachment_too_large(start + len(raw_data), self.limit)
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None


def _upload_sha256(upload: UploadedFile) -> str:
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    return digest.hexdigest()


@extend_schema_field({"type": "string", "format": "binary", "minLength": 1})
class _UploadField(serializers.FileField):
    """A file part of a multipart body, not empty (the schema would otherwise call it a URI)."""


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
            max_length=ATTACHMENT_DESCRIPTION_MAX, required=False, allow_blank=True, default=""
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
        responses={200: AttachmentOutputSerializer(many=True), **error_responses(400, 401, 404, 429, 503)},
        summary="List a case's attachments (metadata only)",
    )
    def get(self, request: AuthenticatedRequest, case_number: str) -> Response:
        if selectors.case_get_for(request.user, case_number) is None:
            raise NotFound("No such case.")
        attachments = selectors.case_attachments(request.user, case_number)
        audit_annotate(request, object_ids=[attachment.pk for attachment in attachments])
        return Response(AttachmentOutputSerializer(attachments, many=True).data)

    @extend_schema(
        operation_id="cases_attachments_create",
        request=InputSerializer,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={
            201: AttachmentOutputSerializer,
            **error_responses(400, 401, 403, 404, 409, 413, 415, 422, 429, 503),
        },
        summary="Attach a document (PDF, PNG, JPEG or TIFF) to an open case",
    )
    def post(self, request: AuthenticatedRequest, case_number: str) -> Response:
        case = visible_case(request, case_number)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        upload: UploadedFile = serializer.validated_data["file"]
        description: str = serializer.validated_data["description"]

        def add() -> tuple[int, Any]:
            attachment = attachment_add(case_id=case.pk, user=request.user, upload=upload, description=description)
            return status.HTTP_201_CREATED, AttachmentOutputSerializer(attachment).data

        # A retry is recognised by the file's digest, not its bytes (which would not fit the
        # fingerprint) nor its name alone (which would let a different file replay the first).
        code, body, replayed = idempotent(
            client=request.user,
            key=request.headers.get("Idempotency-Key"),
            method="POST",
            path=request.path,
            body={"file_sha256": _upload_sha256(upload), "file_name": upload.name, "description": description},
            operation=add,
        )
        return replayable_response(
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
            **error_responses(400, 401, 404, 429, 503),
        },
        summary="Download an attachment",
    )
    def get(self, request: AuthenticatedRequest, case_number: str, attachment_id: int) -> HttpResponseBase:
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
