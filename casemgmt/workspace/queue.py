"""The work queue page and its two actions: a reviewer claims a case, a manager reassigns one.

Every response works without JavaScript: the filter form and the actions are plain POST forms
that redirect back. With htmx, the filter form swaps only the table partial and the actions swap
only their row.

No member data in a URL: the search box takes a member id, so the filter form is POSTed. Its
answer is the queue's address with the other filters only (status, urgency, line of business,
review type, flag, assignee: nothing about a member), which stays bookmarkable and pages with `?page=`; the
search term is kept in the session until it is cleared. A `q` in a query string is ignored.

The list sorts on the server by the columns `selectors.QUEUE_SORTS` names (an unknown sort is
the default order, never an error), and refreshes itself: the table partial asks for its own
address (filters, sort, page; the search from the session) every POLL_SECONDS, so cases that
arrive or are reassigned show without a reload. Saved filters are the URL-safe filters and sort
under a name, per user. "Next case" claims the most urgent unclaimed case the user may work.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any, cast

import simple_icd_10_cm as icd
from django import forms
from django.contrib import messages
from django.contrib.auth.models import User
from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.template.defaultfilters import truncatechars
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.html import format_html_join
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from casemgmt.audit.models import AuditAction, AuditObject
from casemgmt.audit.recording import audit_annotate, audited_view
from casemgmt.cases import selectors
from casemgmt.cases.models import (
    OPEN_STATUSES,
    Case,
    CaseStatus,
    FlagKind,
    FlagSeverity,
    ReviewType,
    SavedQueueFilter,
    Urgency,
)
from casemgmt.cases.services import assignment as assignment_services
from casemgmt.cases.services import queue_filters as queue_filter_services
from casemgmt.kernel.errors import DomainError, NotFoundError, ValidationFailed
from casemgmt.kernel.http import AuthenticatedHttpRequest, refusal_text, role_required
from casemgmt.kernel.roles import REVIEWER_ROLES, Role, has_role
from casemgmt.workspace.access import QUEUE_REFUSAL, case_or_404
from policies_app.models import CodeSystem, LineOfBusiness

PAGE_SIZE = 50
# Counting stops here: "more than 1,000 open cases", 20 pages. Counting every match of a filter
# over hundreds of thousands of open cases would read them all on each page view and each
# refresh (bench/queue); a work list is worked from the top, in the order the reviewer chose.
COUNT_LIMIT = 1_000
# The table asks for itself again this often, so new and reassigned cases show without a reload.
POLL_SECONDS = 20
DESCRIPTION_CHARS = 50
# A case due within this window is "at risk"; later ones are fine, earlier ones overdue.
RISK_WINDOW = timedelta(hours=24)
CLAIM_ROLES = (Role.NURSE, Role.PHYSICIAN)

_ANY = [("", "Any")]
# Where the queue's search term lives between requests (never in a URL).
SEARCH_SESSION_KEY = "queue_search"


class QueueFilterForm(forms.Form):
    """The queue's filters. Unknown values are dropped rather than failing the page."""

    status = forms.ChoiceField(
        choices=_ANY + [(s.value, s.label) for s in CaseStatus if s in OPEN_STATUSES], required=False
    )
    urgency = forms.ChoiceField(choices=_ANY + Urgency.choices, required=False)
    lob = forms.ChoiceField(choices=_ANY + LineOfBusiness.choices, required=False, label="Line of business")
    review = forms.ChoiceField(choices=_ANY + ReviewType.choices, required=False, label="Review type")
    flag = forms.ChoiceField(choices=_ANY + FlagKind.choices, required=False, label="Flag")
    assigned = forms.ChoiceField(
        choices=[("", "Anyone"), ("mine", "Mine"), ("unassigned", "Unassigned")], required=False, label="Assignee"
    )
    q = forms.CharField(required=False, max_length=50, label="Case number or member id")
    # Set by the column headers; carried by the form (hidden) so that filtering keeps the order.
    sort = forms.CharField(required=False, max_length=20, widget=forms.HiddenInput)

    # The filters that may appear in a URL: none of them says anything about a member.
    URL_FIELDS = ("status", "urgency", "lob", "review", "flag", "assigned", "sort")

    def clean_sort(self) -> str:
        # An unknown order is the default order: a stale bookmark still opens the queue.
        sort: str = self.cleaned_data.get("sort") or ""
        key = selectors.queue_sort_key(sort)
        return "" if key == selectors.QUEUE_DEFAULT_SORT else key

    def _data(self) -> dict[str, str]:
        self.is_valid()
        return {name: self.cleaned_data.get(name) or "" for name in self.fields}

    def filters(self) -> dict[str, str]:
        data = self._data()
        return {
            "status": data["status"],
            "urgency": data["urgency"],
            "line_of_business": data["lob"],
            "review_type": data["review"],
            "flag_kind": data["flag"],
            "assigned": data["assigned"],
            "search": data["q"],
            "sort": data["sort"],
        }

    def sort_key(self) -> str:
        return self._data()["sort"]

    def url_query(self) -> QueryDict:
        """The URL-safe filters that are set, in a fixed order: the query string of the queue's address."""
        data = self._data()
        query = QueryDict(mutable=True)
        for name in self.URL_FIELDS:
            if data[name]:
                query[name] = data[name]
        return query


@dataclass(frozen=True)
class Countdown:
    risk: str  # "overdue", "soon" (within 24 h) or "later": also the CSS class
    text: str


def countdown(due_at: datetime, now: datetime) -> Countdown:
    """Time left to the decision deadline, in words a reviewer reads at a glance."""
    left = due_at - now
    seconds = int(abs(left.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        span = f"{days} d {hours} h"
    elif hours:
        span = f"{hours} h {minutes} min"
    else:
        span = f"{minutes} min"
    if left <= timedelta(0):
        return Countdown("overdue", f"overdue by {span}")
    return Countdown("soon" if left <= RISK_WINDOW else "later", f"{span} left")


@dataclass(frozen=True)
class QueueRow:
    """One row, with everything the template shows worked out here: Python is several times
    cheaper than template tags and filters, and a page has 50 rows."""

    case: Case
    countdown: Countdown
    due_iso: str
    due_text: str
    received_iso: str
    received_date: str
    received_time: str
    member_name: str
    service_code: str
    service_system: str
    service_text: str
    service_more: str  # "+2 more lines", or blank
    diagnosis: str  # the first diagnosis code with its ICD-10-CM description
    diagnosis_short: str  # the same, cut to fit the cell (the whole is its title)
    assignee_name: str
    flag_kind: str | None
    flag_label: str
    flag_severity: str | None
    flag_severity_label: str
    # Every case has one: "Prospective", "Retrospective", "Appeal", "Extension", with ", expedited".
    badge: str
    badge_kind: str
    badge_title: str
    detail_url: str
    claim_url: str
    reassign_url: str


# The type badge's words: short, as a badge must be; the full label is its title.
REVIEW_TYPE_BADGES = {
    ReviewType.PROSPECTIVE: "Prospective",
    ReviewType.RETROSPECTIVE: "Retrospective",
    ReviewType.APPEAL: "Appeal",
    ReviewType.EXTENSION: "Extension",
}


def _person(user: User | None) -> str:
    return (user.get_full_name() or user.get_username()) if user is not None else ""


def review_badge(case: Case) -> str:
    kind = REVIEW_TYPE_BADGES.get(ReviewType(case.review_type), "") if case.review_type in ReviewType.values else ""
    return f"{kind}, expedited" if kind and case.urgency == Urgency.EXPEDITED else kind


def diagnosis_text(codes: object) -> str:
    """The first diagnosis with its description from the ICD-10-CM code set; the bare code if it has none."""
    if not isinstance(codes, list) or not codes or not isinstance(codes[0], str):
        return ""
    code = codes[0]
    try:
        described = icd.get_description(code) if icd.is_valid_item(code) else ""
    except ValueError:
        described = ""
    more = f" (+{len(codes) - 1} more)" if len(codes) > 1 else ""
    return f"{code} {described}{more}" if described else f"{code}{more}"


def queue_row(case: Case, now: datetime) -> QueueRow:
    kind: str | None = getattr(case, "worst_flag_kind", None)
    severity: str | None = getattr(case, "worst_flag_severity", None)
    system: str = getattr(case, "first_code_system", None) or ""
    code: str = getattr(case, "first_code", None) or ""
    described = (getattr(case, "first_code_description", None) or "").strip()
    lines: int = getattr(case, "line_count", 0) or 0
    diagnosis = diagnosis_text(case.diagnosis_codes)
    due = timezone.localtime(case.due_at)
    received = timezone.localtime(case.received_at)
    detail_url = reverse("case_detail", args=[case.case_number])
    review_label = ReviewType(case.review_type).label if case.review_type in ReviewType.values else ""
    urgency_label = Urgency(case.urgency).label if case.urgency in Urgency.values else ""
    return QueueRow(
        case=case,
        countdown=countdown(case.due_at, now),
        due_iso=due.isoformat(),
        due_text=due.strftime("%Y-%m-%d %H:%M"),
        received_iso=received.isoformat(),
        received_date=received.strftime("%Y-%m-%d"),
        received_time=received.strftime("%H:%M"),
        member_name=", ".join(part for part in (case.member_last_name, case.member_first_name) if part),
        service_code=code,
        service_system=CodeSystem(system).label if system in CodeSystem.values else system,
        service_text=truncatechars(described, DESCRIPTION_CHARS),
        service_more=f"+{lines - 1} more line{'s' if lines > 2 else ''}" if lines > 1 else "",
        diagnosis=diagnosis,
        diagnosis_short=truncatechars(diagnosis, DESCRIPTION_CHARS),
        assignee_name=_person(case.assignee),
        flag_kind=kind,
        flag_label=FlagKind(kind).label if kind in FlagKind.values else (kind or ""),
        flag_severity=severity,
        flag_severity_label=FlagSeverity(severity).label if severity in FlagSeverity.values else "",
        badge=review_badge(case),
        badge_kind=case.review_type if case.review_type in ReviewType.values else "",
        badge_title=", ".join(label for label in (review_label, urgency_label) if label),
        detail_url=detail_url,
        # Both action URLs sit beside the case page's: /cases/<number>/claim and .../reassign.
        claim_url=reverse("case_claim", args=[case.case_number]),
        reassign_url=reverse("case_reassign", args=[case.case_number]),
    )


def queue_rows(cases: QuerySet[Case], now: datetime, *, sort: str = "") -> list[QueueRow]:
    """A page's rows: the cases with what a row shows, in one query."""
    return [queue_row(case, now) for case in selectors.queue_rows(cases, sort=sort)]


def _is_htmx(request: HttpRequest) -> bool:
    # A history restore (back button with htmx's cache empty) wants the whole page.
    return request.headers.get("HX-Request") == "true" and request.headers.get("HX-History-Restore-Request") != "true"


def _action_context(request: AuthenticatedHttpRequest) -> dict[str, Any]:
    """What the rows may offer this user: computed once per page, not per row."""
    is_manager = has_role(request.user, Role.MANAGER)
    return {
        "can_claim": has_role(request.user, *CLAIM_ROLES),
        "can_reassign": is_manager,
        # One query, and only for managers: the reassign menu's choices, drawn once for all rows
        # (a loop over every reviewer in each of 50 rows was most of the page's time).
        "reviewer_options": (
            format_html_join(
                "", '<option value="{}">{}</option>', ((u.pk, _person(u)) for u in selectors.assignable_reviewers())
            )
            if is_manager
            else ""
        ),
    }


def _queue_url(query: QueryDict) -> str:
    return reverse("queue") + (f"?{query.urlencode()}" if query else "")


def _queue_form(request: AuthenticatedHttpRequest) -> QueueFilterForm:
    """The filters: from the POSTed form (which also sets or clears the search), or from the
    query string plus the search kept in the session."""
    if request.method == "POST":
        posted = request.POST.copy()
        if "clear" in posted:
            posted = QueryDict(mutable=True)
        form = QueueFilterForm(posted)
        term = form.filters()["search"].strip()
        if term:
            request.session[SEARCH_SESSION_KEY] = term
        else:
            request.session.pop(SEARCH_SESSION_KEY, None)
        return form
    data = request.GET.copy()
    # A search term never comes from a URL, even one written by hand or left in a bookmark.
    data.pop("q", None)
    data["q"] = request.session.get(SEARCH_SESSION_KEY, "")
    return QueueFilterForm(data)


class QueuePaginator(Paginator):
    """Pages of the queue, counting no further than COUNT_LIMIT (`selectors.queue_count`): past
    it the list says "more than" and pages to the limit; sorting or filtering reaches the rest."""

    @cached_property
    def matched(self) -> int:
        return selectors.queue_count(cast("QuerySet[Case]", self.object_list), COUNT_LIMIT + 1)

    @cached_property
    def count(self) -> int:
        return min(self.matched, COUNT_LIMIT)

    @property
    def limited(self) -> bool:
        return self.matched > COUNT_LIMIT


@dataclass(frozen=True)
class SortHeader:
    """A sortable column's header: its link (the other direction when it is the current order)."""

    label: str
    url: str
    # "ascending", "descending" or "none": aria-sort, and the arrow shown.
    state: str


# Column -> its sort key (selectors.QUEUE_SORTS). Columns not here do not sort.
SORTABLE_COLUMNS = {
    "case": "Case",
    "member": "Member",
    "provider": "Requesting provider",
    "received": "Received",
    "type": "Type",
    "due": "Due",
    "status": "Status",
}


def sort_headers(url_query: QueryDict, sort: str) -> dict[str, SortHeader]:
    current = sort or selectors.QUEUE_DEFAULT_SORT
    headers = {}
    for key, label in SORTABLE_COLUMNS.items():
        query = url_query.copy()
        query.pop("page", None)
        if current == key:
            state, target = "ascending", f"-{key}"
        elif current == f"-{key}":
            state, target = "descending", key
        else:
            state, target = "none", key
        if target == selectors.QUEUE_DEFAULT_SORT:
            query.pop("sort", None)
        else:
            query["sort"] = target
        headers[key] = SortHeader(label, _queue_url(query), state)
    return headers


def _saved_filters(request: AuthenticatedHttpRequest) -> list[SavedQueueFilter]:
    return list(SavedQueueFilter.objects.filter(user=request.user).order_by("name"))


@require_http_methods(["GET", "POST"])
@never_cache
@audited_view(action=AuditAction.LIST, object_type=AuditObject.CASE, case_kwarg=None, methods=("GET", "POST"))
@role_required(*REVIEWER_ROLES, refusal=QUEUE_REFUSAL)
def queue(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = _queue_form(request)
    address = _queue_url(form.url_query())
    if request.method == "POST" and not _is_htmx(request):
        # Post/redirect/get: the page's address carries the URL-safe filters only.
        return redirect(address)
    sort = form.sort_key()
    cases = selectors.queue_cases(request.user, **form.filters())
    page_number = request.GET.get("page") if request.method == "GET" else None
    paginator = QueuePaginator(cases, PAGE_SIZE)
    page: Page[Case] = paginator.get_page(page_number)
    # A Paginator over a QuerySet pages it by slicing, so the page is still a QuerySet.
    rows = queue_rows(cast("QuerySet[Case]", page.object_list), timezone.now(), sort=sort)
    audit_annotate(request, object_ids=[row.case.case_number for row in rows])
    url_query = form.url_query()
    poll_query = url_query.copy()
    if page.number > 1:
        poll_query["page"] = str(page.number)
    context = {
        "form": form,
        "page": page,
        "rows": rows,
        "count_limited": paginator.limited,
        "count_limit_text": f"{COUNT_LIMIT:,}",
        "url_query": url_query,
        "headers": sort_headers(url_query, sort),
        # The table's own address (filters, sort, page): what its polling asks for.
        "poll_url": _queue_url(poll_query),
        "poll_seconds": POLL_SECONDS,
        "next_url": request.get_full_path() if request.method == "GET" else address,
        **_action_context(request),
    }
    if _is_htmx(request):
        template = "workspace/_queue_table.html"
    else:
        template = "workspace/queue.html"
        context["saved_filters"] = _saved_filters(request)
        context["saved_query"] = url_query.urlencode()
        context["can_take_next"] = context["can_claim"]
    response = render(request, template, context)
    if request.method == "POST":
        # htmx puts the queue's address (without the search) in the location bar.
        response["HX-Push-Url"] = address
    # The same URL answers with a fragment or a page: caches must keep them apart.
    patch_vary_headers(response, ["HX-Request"])
    return response


@require_POST
@role_required(*REVIEWER_ROLES, refusal=QUEUE_REFUSAL)
@role_required(*CLAIM_ROLES, refusal="Only a nurse or physician reviewer may take the next case.")
def queue_next_case(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Claim the most urgent unclaimed case this reviewer may work and open it."""
    try:
        case = assignment_services.case_claim_next(user=request.user)
    except DomainError as exc:
        messages.error(request, refusal_text(exc, "No case taken", field_names=False))
        return redirect(_back_to_queue(request))
    if case is None:
        messages.info(
            request,
            "No case is waiting for you: every open case you may work is claimed by a reviewer, pended for "
            "information or for another role. New cases appear in the list as they arrive.",
        )
        return redirect(_back_to_queue(request))
    due = timezone.localtime(case.due_at)
    messages.success(request, f"{case.case_number} is yours, due {due:%Y-%m-%d %H:%M}.")
    return redirect("case_detail", case.case_number)


@require_POST
@role_required(*REVIEWER_ROLES, refusal=QUEUE_REFUSAL)
def queue_filter_save(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Save the queue's filters and sort (never the search) under a name, for this user."""
    query = request.POST.get("query", "")
    try:
        saved = queue_filter_services.saved_queue_filter_save(
            user=request.user, name=request.POST.get("name", ""), query=query
        )
    except DomainError as exc:
        messages.error(request, refusal_text(exc, "Filter not saved"))
        return redirect(_back_to_queue(request))
    messages.success(request, f"Filter \u201c{saved.name}\u201d saved.")
    return redirect(_queue_url(QueryDict(saved.query)))


@require_POST
@role_required(*REVIEWER_ROLES, refusal=QUEUE_REFUSAL)
def queue_filter_delete(request: AuthenticatedHttpRequest, filter_id: int) -> HttpResponse:
    """Delete one of this user's saved filters; another user's is not found (404)."""
    try:
        name = queue_filter_services.saved_queue_filter_delete(user=request.user, filter_id=filter_id)
    except NotFoundError as exc:
        raise Http404(exc.message) from exc
    messages.success(request, f"Filter \u201c{name}\u201d deleted.")
    return redirect(_back_to_queue(request))


def _back_to_queue(request: HttpRequest) -> str:
    """Where a plain POST returns: the queue as the user left it (filters, page), if that is ours."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse("queue")


def _row_response(
    request: AuthenticatedHttpRequest, case_number: str, *, error: str = "", notice: str = ""
) -> HttpResponse:
    """The one re-drawn row for htmx, with the outcome said in the row itself."""
    found = queue_rows(selectors.queue_cases(request.user).filter(case_number=case_number), timezone.now())
    context = {
        "next_url": request.POST.get("next", reverse("queue")),
        "error": error,
        "notice": notice,
        **_action_context(request),
    }
    if not found:
        # No longer open (decided or cancelled meanwhile): the row says so instead of vanishing.
        context["gone_case_number"] = case_number
        return render(request, "workspace/_queue_row.html", context)
    context["row"] = found[0]
    # htmx swaps only 2xx answers by default; a refusal is therefore a 200 row carrying the message.
    return render(request, "workspace/_queue_row.html", context)


def _act(
    request: AuthenticatedHttpRequest, case_number: str, action: str, run: Callable[[Case], object]
) -> HttpResponse:
    case = case_or_404(request.user, case_number)
    try:
        run(case)
    except DomainError as exc:
        error = refusal_text(exc, f"Not {action}", field_names=False)
    else:
        error = ""
    if _is_htmx(request):
        return _row_response(request, case_number, error=error, notice="" if error else f"{action.capitalize()}.")
    if error:
        messages.error(request, error)
    else:
        messages.success(request, f"{case_number} {action}.")
    return redirect(_back_to_queue(request))


# The claim roles are checked before the case is looked up: this is the page's answer; the service checks again.
@require_POST
@role_required(*REVIEWER_ROLES, refusal=QUEUE_REFUSAL)
@role_required(*CLAIM_ROLES, refusal="Only a nurse or physician reviewer may claim a case.")
def case_claim(request: AuthenticatedHttpRequest, case_number: str) -> HttpResponse:
    return _act(
        request,
        case_number,
        "claimed",
        lambda case: assignment_services.case_claim(case_id=case.pk, user=request.user),
    )


@require_POST
@role_required(*REVIEWER_ROLES, refusal=QUEUE_REFUSAL)
@role_required(Role.MANAGER, refusal="Only a manager may reassign a case.")
def case_reassign(request: AuthenticatedHttpRequest, case_number: str) -> HttpResponse:
    assignee = request.POST.get("assignee_id", "")
    version = request.POST.get("row_version", "")

    def run(case: Case) -> None:
        if not assignee.isdigit():
            raise ValidationFailed({"assignee_id": ["choose a reviewer"]})
        assignment_services.case_reassign(
            case_id=case.pk,
            user=request.user,
            assignee_id=int(assignee),
            expected_row_version=int(version) if version.isdigit() else None,
        )

    return _act(request, case_number, "reassigned", run)
