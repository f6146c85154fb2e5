"""A case's attachments, shown to reviewers from the case page."""

from __future__ import annotations

from csp.constants import SELF
from csp.decorators import csp_replace
from django.http import FileResponse, Http404
from django.views.decorators.cache import never_cache
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_GET

from casemgmt.audit.models import AuditAction, AuditObject
from casemgmt.audit.recording import audited_view
from casemgmt.cases import selectors
from casemgmt.kernel.http import AuthenticatedHttpRequest, role_required
from casemgmt.kernel.roles import REVIEWER_ROLES
from casemgmt.workspace.access import CASE_REFUSAL

INLINE_TYPES = frozenset({"application/pdf", "image/png", "image/jpeg"})


@require_GET
@never_cache
# A PDF shows in an iframe on the case page, and nowhere else (old browsers read X-Frame-Options).
@xframe_options_sameorigin
@csp_replace({"frame-ancestors": [SELF]})
@audited_view(action=AuditAction.DOWNLOAD, object_type=AuditObject.ATTACHMENT, object_kwarg="attachment_id")
@role_required(*REVIEWER_ROLES, refusal=CASE_REFUSAL)
def attachment_view(request: AuthenticatedHttpRequest, case_number: str, attachment_id: int) -> FileResponse:
    """Stream an attachment to a reviewer: images and PDFs inline, anything else as a download."""
    attachment = selectors.attachment_get_for(request.user, case_number, attachment_id)
    if attachment is None:
        raise Http404("No such attachment.")
    try:
        handle = attachment.file.open("rb")
    except FileNotFoundError as exc:
        raise Http404("The attachment's file is missing.") from exc
    response = FileResponse(
        handle,
        content_type=attachment.content_type,
        as_attachment=attachment.content_type not in INLINE_TYPES,
        filename=attachment.original_name,
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    if attachment.content_type != "application/pdf":
        # The browser's PDF viewer does not run in a sandbox; every other type can.
        response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
