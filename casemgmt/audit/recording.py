"""Recording views of member data: a decorator for function views, a mixin for DRF views, a mixin for
ModelAdmins, and the middleware that sets the request context and records refusals.

Each marks its view with an `audit_spec` attribute (on the function, or on the view class), which
tests/reliability/test_audit_completeness.py reads to prove that every view in the URL map that
shows member data is recorded.

The row for a view is written after the view has built its response and before the response is
sent: if it cannot be written, the user gets an error instead of the data.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar, cast

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.forms import BaseForm
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from rest_framework.request import Request

from casemgmt.audit.context import audit_scope, context_for_request
from casemgmt.audit.models import AuditAction, AuditEvent, AuditObject
from casemgmt.audit.services import MASKED, audit_record

DENIED_STATUSES = frozenset({401, 403, 404})
# Form fields whose values never go into the log, only the fact that they changed.
SECRET_FIELD_MARKERS = ("password", "secret", "token", "key_hash")


@dataclass(frozen=True)
class AuditSpec:
    """What a member-data view shows: the action and object recorded when it answers 2xx.

    `object_kwarg` names the URL argument that identifies the object (none for a list);
    `case_kwarg` the one that names the case. `methods` are the methods that show data (a view
    that also accepts POST records its changes through its service instead).
    """

    action: str
    object_type: str
    object_kwarg: str | None = None
    case_kwarg: str | None = "case_number"
    methods: tuple[str, ...] = ("GET",)


def _django_request(request: HttpRequest | Request) -> HttpRequest:
    return cast(HttpRequest, getattr(request, "_request", request))


def audit_annotate(
    request: HttpRequest | Request,
    *,
    object_id: str | int | None = None,
    case_number: str | None = None,
    object_ids: Iterable[str | int] | None = None,
    detail: Mapping[str, Any] | None = None,
) -> None:
    """Tell the view's audit row what the view showed: the object, the case it belongs to (when
    the URL does not name it), the identifiers listed, or more detail."""
    notes: dict[str, Any] = getattr(_django_request(request), "_audit_notes", {})
    if object_id is not None:
        notes["object_id"] = str(object_id)
    if case_number is not None:
        notes["case_number"] = case_number
    if object_ids is not None:
        notes["object_ids"] = [str(i) for i in object_ids]
    if detail:
        notes["detail"] = {**notes.get("detail", {}), **detail}
    setattr(_django_request(request), "_audit_notes", notes)  # noqa: B010


def _record(request: HttpRequest, spec: AuditSpec, kwargs: Mapping[str, Any], status: int) -> AuditEvent | None:
    if request.method not in spec.methods:
        return None
    if 200 <= status < 300:
        action = spec.action
    elif status in DENIED_STATUSES:
        action = AuditAction.DENIED
    else:
        # A redirect or a refusal of bad input: nothing was shown.
        return None
    notes: dict[str, Any] = getattr(request, "_audit_notes", {})
    object_id = notes.get("object_id") or (str(kwargs.get(spec.object_kwarg, "")) if spec.object_kwarg else "")
    case_number = notes.get("case_number") or (str(kwargs.get(spec.case_kwarg, "")) if spec.case_kwarg else "")
    detail = dict(notes.get("detail", {}))
    if action == AuditAction.DENIED:
        detail["attempted"] = spec.action
    event = audit_record(
        action=action,
        object_type=spec.object_type,
        object_id=object_id,
        case_number=case_number.upper()[:20],
        object_ids=notes.get("object_ids", []) if action != AuditAction.DENIED else (),
        status_code=status,
        detail=detail,
    )
    setattr(request, "_audit_recorded", True)  # noqa: B010
    return event


V = TypeVar("V", bound=Callable[..., HttpResponseBase])


def audited_view(
    *,
    action: str,
    object_type: str,
    object_kwarg: str | None = None,
    case_kwarg: str | None = "case_number",
    methods: tuple[str, ...] = ("GET",),
) -> Callable[[V], Callable[..., HttpResponseBase]]:
    """Record every answer of a function view that shows member data; refusals (403, 404) as denied."""
    spec = AuditSpec(action, object_type, object_kwarg, case_kwarg, methods)

    def decorator(view: V) -> Callable[..., HttpResponseBase]:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            try:
                response = view(request, *args, **kwargs)
            except Http404:
                _record(request, spec, kwargs, 404)
                raise
            except PermissionDenied:
                _record(request, spec, kwargs, 403)
                raise
            _record(request, spec, kwargs, response.status_code)
            return response

        wrapper.audit_spec = spec  # type: ignore[attr-defined]
        return wrapper

    return decorator


class AuditedApiMixin:
    """For a DRF APIView that shows member data: set `audit_spec`; its GET answers are recorded.

    Errors (a 404 for a case that is not the caller's) come back through finalize_response as
    responses, so refusals are recorded here too.
    """

    audit_spec: AuditSpec

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)  # type: ignore[misc]
        _record(_django_request(request), self.audit_spec, kwargs, response.status_code)
        return response


@dataclass(frozen=True)
class ReplayAudit:
    """What a POST's answer shows, for the row its idempotent replay writes.

    A replay (the same Idempotency-Key again) sends back the stored answer, which can be a case
    with its lines and flags: the caller reads it again, so the replay is recorded as a view of
    that object, as a GET of it would be. `id_field` names the answer's field that identifies the
    object; the case is `case_number`, or the answer's own `case_number`.
    """

    object_type: str
    id_field: str
    case_number: str = ""


def audit_replay(request: HttpRequest | Request, replay: ReplayAudit, status: int, body: Any) -> AuditEvent | None:
    """Record a replayed answer that shows something (2xx); a replayed refusal shows nothing."""
    if not 200 <= status < 300:
        return None
    answer = body if isinstance(body, Mapping) else {}
    case_number = replay.case_number or str(answer.get("case_number") or "")
    event = audit_record(
        action=AuditAction.VIEW,
        object_type=replay.object_type,
        object_id=str(answer.get(replay.id_field, "")),
        case_number=case_number.upper()[:20],
        status_code=status,
        detail={"idempotent_replay": True},
    )
    setattr(_django_request(request), "_audit_recorded", True)  # noqa: B010
    return event


# --- the admin ------------------------------------------------------------------------------


def _masked(name: str) -> bool:
    return any(marker in name.lower() for marker in SECRET_FIELD_MARKERS)


def _form_changes(form: BaseForm, prefix: str = "") -> dict[str, tuple[Any, Any]]:
    changes: dict[str, tuple[Any, Any]] = {}
    cleaned = getattr(form, "cleaned_data", {})
    for name in form.changed_data:
        if _masked(name):
            changes[prefix + name] = (MASKED, MASKED)
            continue
        field = form.fields.get(name)
        old = form.initial.get(name, field.initial if field is not None else None)
        changes[prefix + name] = (old, cleaned.get(name))
    return changes


class AuditedAdminMixin(admin.ModelAdmin):
    """Records every change made in this ModelAdmin, with old and new values, in the admin's own
    transaction. With `audit_member_data = True` its list and change pages are recorded as views too.

    With `audit_saved_by_services = True` the admin's saves and deletions go through services
    that record them (in the admin's transaction, on the admin channel): the mixin then writes no
    second row for the same change.
    """

    audit_member_data: bool = False
    audit_saved_by_services: bool = False
    # The object type of its rows; the model's label when blank.
    audit_object_type: str = ""

    def _audit_type(self) -> str:
        return self.audit_object_type or self.model._meta.label_lower

    def audit_listed_id(self, obj: Model) -> str:
        """How a member-data list's row names a listed object (say, its case number)."""
        return str(obj.pk)

    def audit_case_number(self, object_id: str) -> str:
        """The case a member-data change page shows, for the case's access history."""
        return ""

    def construct_change_message(
        self, request: HttpRequest, form: Any, formsets: Any, add: bool = False
    ) -> list[dict[str, Any]]:
        changes = _form_changes(form)
        for formset in formsets or []:
            label = formset.model._meta.model_name
            for inline_form in formset.forms:
                if inline_form.instance.pk is not None and inline_form.has_changed():
                    changes.update(_form_changes(inline_form, prefix=f"{label}[{inline_form.instance.pk}]."))
            for obj in getattr(formset, "deleted_objects", []):
                changes[f"{label}[{obj.pk}]"] = (str(obj), None)
        setattr(request, "_audit_admin_changes", changes)  # noqa: B010
        return cast(list[dict[str, Any]], super().construct_change_message(request, form, formsets, add))

    def _audit_admin(self, request: HttpRequest, action: str, obj: Model) -> None:
        if self.audit_saved_by_services:
            return
        audit_record(
            action=action,
            object_type=self._audit_type(),
            object_id=str(obj.pk),
            changes=getattr(request, "_audit_admin_changes", {}),
            detail={"object": str(obj)[:200]},
        )

    def log_addition(self, request: HttpRequest, obj: Model, message: Any) -> Any:
        self._audit_admin(request, AuditAction.CREATE, obj)
        return super().log_addition(request, obj, message)

    def log_change(self, request: HttpRequest, obj: Model, message: Any) -> Any:
        self._audit_admin(request, AuditAction.CHANGE, obj)
        return super().log_change(request, obj, message)

    def log_deletions(self, request: HttpRequest, queryset: QuerySet[Any] | Iterable[Model]) -> Any:
        for obj in queryset if not self.audit_saved_by_services else ():
            audit_record(
                action=AuditAction.DELETE,
                object_type=self._audit_type(),
                object_id=str(obj.pk),
                changes={"object": (str(obj)[:200], None)},
            )
        return super().log_deletions(request, queryset)  # type: ignore[arg-type]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        response = super().changelist_view(request, extra_context)
        if self.audit_member_data and response.status_code == 200:
            changelist = (getattr(response, "context_data", None) or {}).get("cl")
            shown = [self.audit_listed_id(obj) for obj in changelist.result_list] if changelist is not None else []
            audit_record(action=AuditAction.LIST, object_type=self._audit_type(), object_ids=shown, status_code=200)
        return response

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        response = super().change_view(request, object_id, form_url, extra_context)
        if self.audit_member_data and request.method == "GET" and response.status_code == 200:
            audit_record(
                action=AuditAction.VIEW,
                object_type=self._audit_type(),
                object_id=object_id,
                case_number=self.audit_case_number(object_id),
                status_code=200,
            )
        return response


# --- the middleware -------------------------------------------------------------------------


class AuditContextMiddleware:
    """Sets who and where for the rows a request writes, and records refusals (401, 403) that no
    audited view recorded already: a probe of pages, the admin or the API leaves a trace."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        with audit_scope(context_for_request(request)):
            response = self.get_response(request)
            if response.status_code in (401, 403) and not getattr(request, "_audit_recorded", False):
                audit_record(action=AuditAction.DENIED, object_type=AuditObject.PAGE, status_code=response.status_code)
            return response
