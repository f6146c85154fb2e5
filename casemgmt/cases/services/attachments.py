"""Documents attached to a case."""

from __future__ import annotations

import hashlib
import secrets
import unicodedata

from django.conf import settings
from django.contrib.auth.models import User
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from casemgmt.audit.models import AuditAction, AuditObject
from casemgmt.audit.services import audit_record
from casemgmt.cases.models import (
    Attachment,
    Case,
    CaseEventKind,
    attachment_storage,
)
from casemgmt.cases.services.events import case_event_add
from casemgmt.cases.services.locking import case_action_check, case_lock
from casemgmt.cases.workflow import Action
from casemgmt.kernel.errors import (
    DomainError,
    NotFoundError,
    PermissionDeniedError,
    ValidationFailed,
)
from casemgmt.kernel.roles import reviewer_role


class AttachmentTooLarge(DomainError):
    status_code = 413


# What each accepted type begins with. Only the content decides: a file name or a client's
# Content-Type is a claim, and an HTML page named .pdf must never be stored as a PDF.
ATTACHMENT_SIGNATURES: tuple[tuple[bytes, str, str], ...] = (
    (b"%PDF-", "application/pdf", "pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png", "png"),
    (b"\xff\xd8\xff", "image/jpeg", "jpg"),
    (b"II*\x00", "image/tiff", "tiff"),
    (b"MM\x00*", "image/tiff", "tiff"),
)
ATTACHMENT_NAME_MAX = 200
ATTACHMENT_DESCRIPTION_MAX = 1000


def attachment_type_detect(head: bytes) -> tuple[str, str] | None:
    """(content type, file extension) of an accepted document, from its first bytes; else None."""
    for magic, content_type, extension in ATTACHMENT_SIGNATURES:
        if head.startswith(magic):
            return content_type, extension
    return None


def attachment_name_sanitize(name: str) -> str:
    """The client's file name made safe to store and to offer back on download.

    Only the last path component survives (either separator), control and format characters
    go, and the length is bounded keeping the extension.
    """
    base = unicodedata.normalize("NFC", name.replace("\\", "/").rsplit("/", 1)[-1])
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C").strip().strip(".").strip()
    if len(base) > ATTACHMENT_NAME_MAX:
        stem, dot, extension = base.rpartition(".")
        if dot and stem and len(extension) <= 16:
            base = stem[: ATTACHMENT_NAME_MAX - len(extension) - 1].rstrip() + "." + extension
        else:
            base = base[:ATTACHMENT_NAME_MAX]
    return base or "attachment"


def _attachment_guard(case: Case, user: User) -> None:
    if not (case.submitted_by_id == user.pk or reviewer_role(user) is not None):
        raise PermissionDeniedError("Only the submitting client or a nurse or physician reviewer may add attachments.")
    case_action_check(case, Action.ATTACH)


def attachment_too_large(size: int, limit: int) -> AttachmentTooLarge:
    return AttachmentTooLarge(
        f"file: the upload is {size} bytes; the largest attachment accepted is {limit} bytes", field="file"
    )


def attachment_add(*, case_id: int, user: User, upload: UploadedFile, description: str = "") -> Attachment:
    """Store a PDF, PNG, JPEG or TIFF document with an open case.

    The type is detected from the content. The file is kept under MEDIA_ROOT/attachments with
    a random name (never the client's), and removed again if the case cannot take it, so a
    refusal leaves nothing behind.
    """
    limit: int = settings.ATTACHMENT_MAX_BYTES
    description = description.strip()
    if len(description) > ATTACHMENT_DESCRIPTION_MAX:
        raise ValidationFailed({"description": [f"at most {ATTACHMENT_DESCRIPTION_MAX} characters"]})
    case = Case.objects.filter(pk=case_id).first()
    if case is None:
        raise NotFoundError("no such case")
    # Checked before the content is read, and again under the row lock before anything is kept.
    _attachment_guard(case, user)
    if upload.size is not None and upload.size > limit:
        raise attachment_too_large(upload.size, limit)

    digest, size, head = hashlib.sha256(), 0, b""
    for chunk in upload.chunks():
        if len(head) < 16:
            head += chunk[: 16 - len(head)]
        digest.update(chunk)
        size += len(chunk)
        if size > limit:
            raise attachment_too_large(size, limit)
    if size == 0:
        raise ValidationFailed({"file": ["the file is empty"]})
    detected = attachment_type_detect(head)
    if detected is None:
        raise ValidationFailed(
            {"file": ["must be a PDF, PNG, JPEG or TIFF document; judged by its content, it is none of these"]}
        )
    content_type, extension = detected

    storage = attachment_storage()
    upload.seek(0)
    stored_name = storage.save(f"attachments/{secrets.token_hex(16)}.{extension}", upload)
    try:
        with transaction.atomic():
            case = case_lock(case_id)
            _attachment_guard(case, user)
            now = timezone.now()
            attachment = Attachment.objects.create(
                case=case,
                uploaded_by=user,
                original_name=attachment_name_sanitize(upload.name or ""),
                content_type=content_type,
                size=size,
                sha256=digest.hexdigest(),
                file=stored_name,
                description=description,
                uploaded_at=now,
            )
            Case.objects.filter(pk=case.pk).update(updated_at=now)
            # The event names no file: a client's file name may itself carry member details.
            case_event_add(
                case,
                CaseEventKind.ATTACHMENT_ADDED,
                user,
                now,
                attachment=attachment.pk,
                content_type=content_type,
                size=size,
                sha256=attachment.sha256,
            )
            audit_record(
                action=AuditAction.CREATE,
                object_type=AuditObject.ATTACHMENT,
                object_id=attachment.pk,
                case_number=case.case_number,
                user=user,
                changes={
                    name: (None, getattr(attachment, name))
                    for name in ("original_name", "content_type", "size", "sha256", "description")
                },
            )
    except Exception:
        storage.delete(stored_name)
        raise
    return attachment
