"""The auditor's pages: browse and filter the audit log, read one row, export rows as CSV.

Only auditors may use them. Reading the audit log is itself recorded: the log shows member data
(old and new values of changes), and whoever watches the watchers needs the same trail.

The filters are in the query string: they name people, actions, objects (case numbers, ids),
dates and addresses, never a member. Pages go by keyset ("older than this row"), so a page costs
the same on a log of any size; the total is not counted for the same reason.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, QueryDict, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from casemgmt.audit.export import as_of_now, csv_lines
from casemgmt.audit.models import AuditAction, AuditChannel, AuditEvent, AuditObject
from casemgmt.audit.recording import audit_annotate, audited_view
from casemgmt.audit.selectors import AuditFilters, audit_events
from casemgmt.kernel.http import AuthenticatedHttpRequest, role_required
from casemgmt.kernel.roles import Role

PAGE_SIZE = 50
_ANY = [("", "Any")]
AUDITORS_ONLY = "Only auditors may read the audit log."


class AuditFilterForm(forms.Form):
    actor = forms.CharField(required=False, max_length=150, label="Who (user name contains)")
    role = forms.ChoiceField(choices=_ANY + Role.choices, required=False)
    action = forms.ChoiceField(choices=_ANY + AuditAction.choices, required=False)
    object_type = forms.CharField(
        required=False,
        max_length=40,
        label="Object type",
        help_text="case, decision, letter, attachment, … or an admin model such as casemgmt.deadlinerule",
        widget=forms.TextInput(attrs={"list": "audit-object-types"}),
    )
    object_id = forms.CharField(required=False, max_length=100, label="Object (case number or id)")
    channel = forms.ChoiceField(choices=_ANY + AuditChannel.choices, required=False)
    date_from = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, label="Until (included)", widget=forms.DateInput(attrs={"type": "date"}))
    ip = forms.GenericIPAddressField(required=False, label="IP address")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and end < start:
            self.add_error("date_to", "The end date is before the start date.")
        return data

    def filters(self) -> AuditFilters:
        data = self.cleaned_data
        return AuditFilters(
            actor=data.get("actor") or "",
            role=data.get("role") or "",
            action=data.get("action") or "",
            object_type=(data.get("object_type") or "").strip().lower(),
            object_id=data.get("object_id") or "",
            channel=data.get("channel") or "",
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
            ip=data.get("ip") or "",
        )


def _form_or_400(request: HttpRequest) -> AuditFilterForm:
    form = AuditFilterForm(request.GET)
    if not form.is_valid():
        raise _BadFilters(form)
    return form


class _BadFilters(Exception):
    def __init__(self, form: AuditFilterForm) -> None:
        super().__init__("bad filters")
        self.form = form


def _older_than(events: QuerySet[AuditEvent], cursor: str) -> QuerySet[AuditEvent] | None:
    """Rows after the row `cursor` (an id) in newest-first order; None if there is no such row."""
    if not cursor.isdigit():
        return None
    row = AuditEvent.objects.filter(pk=int(cursor)).values("at", "id").first()
    if row is None:
        return None
    return events.filter(Q(at__lt=row["at"]) | Q(at=row["at"], id__lt=row["id"]))


def _filter_query(request: HttpRequest) -> QueryDict:
    query = request.GET.copy()
    query.pop("after", None)
    return query


@require_GET
@never_cache
@audited_view(action=AuditAction.LIST, object_type=AuditObject.AUDIT_LOG, case_kwarg=None)
@role_required(Role.AUDITOR, refusal=AUDITORS_ONLY)
def audit_event_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    try:
        form = _form_or_400(request)
    except _BadFilters as exc:
        return render(request, "audit/events.html", {"form": exc.form, "events": []}, status=400)
    filters = form.filters()
    events = audit_events(filters)
    cursor = request.GET.get("after", "")
    if cursor:
        older = _older_than(events, cursor)
        if older is None:
            raise Http404("No such audit row to page from.")
        events = older
    rows = list(events[: PAGE_SIZE + 1])
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    audit_annotate(request, object_ids=[row.pk for row in rows], detail={"filters": filters.as_dict()})
    query = _filter_query(request)
    return render(
        request,
        "audit/events.html",
        {
            "form": form,
            "events": rows,
            "paged": bool(cursor),
            "next_after": rows[-1].pk if more and rows else None,
            "filter_query": query,
            "object_types": AuditObject.values,
        },
    )


@require_GET
@never_cache
@audited_view(action=AuditAction.VIEW, object_type=AuditObject.AUDIT_LOG, object_kwarg="event_id", case_kwarg=None)
@role_required(Role.AUDITOR, refusal=AUDITORS_ONLY)
def audit_event_detail(request: AuthenticatedHttpRequest, event_id: int) -> HttpResponse:
    event = AuditEvent.objects.filter(pk=event_id).first()
    if event is None:
        raise Http404("No such audit row.")
    changes = [
        {
            "field": name,
            "old": _shown(value.get("old")),
            "new": _shown(value.get("new")),
            # Structured values (clinical facts, lists) are shown as recorded, in the log's notation.
            "old_is_data": isinstance(value.get("old"), dict | list) and not _is_digest(value.get("old")),
            "new_is_data": isinstance(value.get("new"), dict | list) and not _is_digest(value.get("new")),
        }
        for name, value in sorted(event.changes.items())
        if isinstance(value, dict)
    ]
    # From the log's list (htmx), the detail opens in place under its row.
    in_place = request.headers.get("HX-Request") == "true"
    response = render(
        request,
        "audit/_event_detail_row.html" if in_place else "audit/event_detail.html",
        {"event": event, "changes": changes, "detail": json.dumps(event.detail, indent=2, sort_keys=True)},
    )
    patch_vary_headers(response, ["HX-Request"])
    return response


def _is_digest(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"sha256", "length"}


def _shown(value: Any) -> str:
    if value is None:
        return "—"
    if _is_digest(value):
        return f"{value['length']} characters, SHA-256 {value['sha256']} (too long to keep in the log)"
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True)


@require_GET
@never_cache
@audited_view(action=AuditAction.EXPORT, object_type=AuditObject.AUDIT_LOG, case_kwarg=None)
@role_required(Role.AUDITOR, refusal=AUDITORS_ONLY)
def audit_event_export(request: AuthenticatedHttpRequest) -> HttpResponse | StreamingHttpResponse:
    """Every row the filters match, oldest first, as CSV; streamed, so any range fits."""
    try:
        form = _form_or_400(request)
    except _BadFilters as exc:
        problems = "; ".join(f"{field}: {' '.join(str(e) for e in errs)}" for field, errs in exc.form.errors.items())
        return HttpResponse(f"Bad filters: {problems}\n", status=400, content_type="text/plain; charset=utf-8")
    filters = form.filters()
    events = as_of_now(audit_events(filters).order_by("at", "id"))
    # The export row says what was exported and how much, before the first byte leaves.
    audit_annotate(request, detail={"filters": filters.as_dict(), "rows": events.count()})
    response = StreamingHttpResponse(csv_lines(events), content_type="text/csv; charset=utf-8")
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="audit-log-{stamp}.csv"'
    response["Cache-Control"] = "private, no-store"
    return response
