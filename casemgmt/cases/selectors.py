"""Reads of the case domain. Visibility rules live here and nowhere else."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import date

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import Count, IntegerField, OuterRef, Prefetch, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from casemgmt.cases.models import (
    OPEN_STATUSES,
    Attachment,
    Authorization,
    AuthorizationStatus,
    Case,
    CaseEvent,
    DeadlineRule,
    Decision,
    DecisionLine,
    Flag,
    GoldCardExemption,
    GoldCardStatus,
    MemberCoverage,
    ServiceLine,
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookSubscription,
)
from casemgmt.kernel.roles import REVIEWER_ROLES, Role, user_roles
from policies_app.engine import LineRequest, RequestData
from policies_app.models import FactDefinition


def cases_visible_to(user: User | AnonymousUser) -> QuerySet[Case]:
    """Reviewers and managers see every case; an integration client only its own; others none."""
    roles = user_roles(user)
    if roles & REVIEWER_ROLES:
        return Case.objects.all()
    if Role.INTEGRATION_CLIENT in roles:
        return Case.objects.filter(submitted_by=user.pk)
    return Case.objects.none()


def case_get_for(user: User | AnonymousUser, case_number: str) -> Case | None:
    return cases_visible_to(user).filter(case_number=case_number).first()


def current_flags() -> Prefetch[str, QuerySet[Flag], str]:
    return Prefetch(
        "flags",
        queryset=Flag.objects.filter(superseded_at__isnull=True).select_related("service_line", "policy_version"),
        to_attr="current_flags",
    )


def case_detail(user: User | AnonymousUser, case_number: str) -> Case | None:
    return (
        cases_visible_to(user)
        .filter(case_number=case_number)
        .select_related("submitted_by", "assignee", "deadline_rule")
        .select_related("appeal_of", "extension_of")
        .prefetch_related(
            Prefetch("lines", queryset=ServiceLine.objects.select_related("origin__origin")),
            current_flags(),
            Prefetch(
                "decisions",
                queryset=Decision.objects.select_related("decided_by").prefetch_related(
                    "lines__service_line", "citations"
                ),
            ),
            Prefetch("events", queryset=CaseEvent.objects.select_related("actor")),
        )
        .first()
    )


def line_authorizations(lines: Iterable[ServiceLine]) -> dict[int, Authorization]:
    """For each line (by id), the latest authorization of its service: every authorization shares
    the line of the initial request (`origin_line`), whichever case issued it. One query."""
    roots: dict[int, int] = {}
    for line in lines:
        root = line
        while root.origin_id is not None and root.origin is not None:
            root = root.origin
        roots[line.pk] = root.pk
    latest: dict[int, Authorization] = {}
    for authorization in (
        Authorization.objects.filter(origin_line_id__in=set(roots.values()))
        .select_related("case")
        .order_by("issued_at", "pk")
    ):
        latest[authorization.origin_line_id] = authorization
    return {line_id: latest[root] for line_id, root in roots.items() if root in latest}


def line_determinations(case_ids: Iterable[int]) -> dict[int, DecisionLine]:
    """Each line's place (by line id) in its case's decision of record: the decision no later
    one supersedes. One query for every case."""
    ids = list(case_ids)
    if not ids:
        return {}
    return {
        line.service_line_id: line
        for line in DecisionLine.objects.filter(
            decision__case_id__in=ids, decision__superseded_by__isnull=True
        ).select_related("decision")
    }


def case_request_data(case: Case, lines: Iterable[ServiceLine] | None = None) -> RequestData:
    """The engine's view of a case; `lines` are its service lines when the caller holds them."""
    return RequestData(
        line_of_business=case.line_of_business,
        lines=tuple(
            LineRequest(
                sequence=line.sequence,
                code_system=line.code_system,
                code=line.code,
                date_of_service=line.date_of_service,
                description=line.description,
            )
            for line in (case.lines.all() if lines is None else lines)
        ),
        diagnosis_codes=tuple(case.diagnosis_codes),
        facts=dict(case.clinical_facts),
        member_birth_date=case.member_birth_date,
        notes=case.clinical_notes,
    )


def fact_catalogue(keys: Collection[str] | None = None) -> dict[str, str]:
    """Facts a request may send, by key, with their value type; only those in `keys` if given."""
    if keys is not None and not keys:
        return {}
    facts = FactDefinition.objects.filter(derived=False)
    if keys is not None:
        facts = facts.filter(key__in=list(keys))
    return dict(facts.values_list("key", "value_type"))


def attachments_visible_to(user: User | AnonymousUser) -> QuerySet[Attachment]:
    """Attachments follow their case: whoever may see the case may see its attachments."""
    return Attachment.objects.filter(case__in=cases_visible_to(user)).select_related("uploaded_by")


def case_attachments(user: User | AnonymousUser, case_number: str) -> QuerySet[Attachment]:
    return attachments_visible_to(user).filter(case__case_number=case_number).order_by("uploaded_at", "id")


def attachment_get_for(user: User | AnonymousUser, case_number: str, attachment_id: int) -> Attachment | None:
    return case_attachments(user, case_number).filter(pk=attachment_id).first()


# --- the work queue page --------------------------------------------------------------------


def queue_cases(
    user: User | AnonymousUser,
    *,
    status: str = "",
    urgency: str = "",
    line_of_business: str = "",
    flag_kind: str = "",
    assigned: str = "",
    search: str = "",
) -> QuerySet[Case]:
    """Open cases for the work queue, filtered, most urgent deadline first.

    `assigned` is "mine", "unassigned" or blank; `search` is an exact case number or member id.
    Count and slice this; then `queue_rows` the slice for what a row shows.
    """
    from django.db.models import Exists, OuterRef, Q

    if not (user_roles(user) & REVIEWER_ROLES):
        return Case.objects.none()
    cases = Case.objects.filter(status__in=OPEN_STATUSES)
    if status:
        cases = cases.filter(status=status)
    if urgency:
        cases = cases.filter(urgency=urgency)
    if line_of_business:
        cases = cases.filter(line_of_business=line_of_business)
    if flag_kind:
        # Any current flag of that kind, not only the worst: "show me the investigational ones".
        current = Flag.objects.filter(case=OuterRef("pk"), superseded_at__isnull=True, kind=flag_kind)
        cases = cases.filter(Exists(current))
    if assigned == "mine":
        cases = cases.filter(assignee=user.pk)
    elif assigned == "unassigned":
        cases = cases.filter(assignee__isnull=True)
    term = search.strip()
    if term:
        # Exact matches only: both are identifiers, and a partial member id match would show
        # another member's case to a reviewer who typed a prefix.
        cases = cases.filter(Q(case_number=term.upper()) | Q(member_id=term))
    return cases.order_by("due_at", "id")


def queue_rows(cases: QuerySet[Case]) -> QuerySet[Case]:
    """The given cases (typically one page's slice of `queue_cases`), ready to show, in one query.

    Each carries its assignee and `worst_flag_kind` / `worst_flag_severity` (its most severe
    current flag; NULL without one) as correlated subqueries: the page costs the same query
    whatever the number of cases or flags, where prefetching would load every flag of every
    listed case. The slice goes in as `id IN (...)` so that the subqueries run for the page's
    rows only; on the sliced query itself PostgreSQL would run them for every row an OFFSET skips.
    """
    # Imported here rather than at the top: django.db.models.Case would shadow the Case model,
    # and this file's import block is shared with other work in progress.
    from django.db.models import Case as SqlCase
    from django.db.models import IntegerField, OuterRef, Subquery, Value, When

    from casemgmt.cases.models import FlagSeverity

    # critical > warning > info as a number, so "the worst flag" is an ORDER BY in SQL.
    rank = SqlCase(
        When(severity=FlagSeverity.CRITICAL, then=Value(3)),
        When(severity=FlagSeverity.WARNING, then=Value(2)),
        When(severity=FlagSeverity.INFO, then=Value(1)),
        default=Value(0),
        output_field=IntegerField(),
    )
    worst = (
        Flag.objects.filter(case=OuterRef("pk"), superseded_at__isnull=True).annotate(rank=rank).order_by("-rank", "id")
    )
    return (
        Case.objects.filter(pk__in=cases.values("pk"))
        .select_related("assignee")
        .annotate(
            worst_flag_kind=Subquery(worst.values("kind")[:1]),
            worst_flag_severity=Subquery(worst.values("severity")[:1]),
        )
        .order_by("due_at", "id")
    )


def assignable_reviewers() -> QuerySet[User]:
    """Who a manager may assign a case to: active nurse and physician reviewers."""
    return (
        User.objects.filter(is_active=True, groups__name__in=[Role.NURSE.value, Role.PHYSICIAN.value])
        .distinct()
        .order_by("last_name", "first_name", "username")
    )


def deadline_rule_candidates(
    *, urgency: str, line_of_business: str, review_type: str, appealed_review_type: str = ""
) -> list[DeadlineRule]:
    """The deadline rules that could govern such a request (a blank urgency, line of business or
    appealed review type matches any; the services pick the most specific)."""
    return list(
        DeadlineRule.objects.filter(
            review_type=review_type,
            urgency__in=[urgency, ""],
            line_of_business__in=[line_of_business, ""],
            appealed_review_type__in=[appealed_review_type, ""],
        )
    )


# Given-up deliveries listed per webhook, newest first.
WEBHOOK_RECENT_FAILURES = 10


def _deliveries_counted(status: str) -> Coalesce:
    """How many of a webhook's deliveries have `status` (read through that status's partial index)."""
    counted = (
        WebhookDelivery.objects.filter(subscription=OuterRef("pk"), status=status)
        .order_by()
        .values("subscription")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def webhooks_of_client(client_id: int) -> list[WebhookSubscription]:
    """A client's webhooks, oldest first, each with `pending_count`, `failed_count` (given up)
    and `recent_failures`, its latest given-up deliveries."""
    return list(
        WebhookSubscription.objects.filter(client=client_id)
        .annotate(
            pending_count=_deliveries_counted(WebhookDeliveryStatus.PENDING),
            failed_count=_deliveries_counted(WebhookDeliveryStatus.FAILED),
        )
        .prefetch_related(
            Prefetch(
                "deliveries",
                queryset=WebhookDelivery.objects.filter(status=WebhookDeliveryStatus.FAILED).order_by("-id")[
                    :WEBHOOK_RECENT_FAILURES
                ],
                to_attr="recent_failures",
            )
        )
        .order_by("id")
    )


# --- authorizations ---
# The claims question reads at most this many authorizations of one member, code and date: in
# practice one or two (an authorization and, in its last days, the extension superseding it).
AUTHORIZATION_LOOKUP_LIMIT = 50


def authorizations_visible_to(user: User | AnonymousUser) -> QuerySet[Authorization]:
    """A claims system, reviewers and managers see every authorization; an integration client
    those of the requests it submitted; others none."""
    roles = user_roles(user)
    if Role.CLAIMS_SYSTEM in roles or roles & REVIEWER_ROLES:
        return Authorization.objects.all()
    if Role.INTEGRATION_CLIENT in roles:
        return Authorization.objects.filter(client=user.pk)
    return Authorization.objects.none()


# What the API shows of an authorization (casemgmt.api.authorizations.AuthorizationOutputSerializer):
# read in one query, and only these columns, since building the SQL for every column of five
# tables costs more than running it (bench/authorizations).
AUTHORIZATION_OUTPUT_FIELDS = (
    "authorization_number",
    "status",
    "member_id",
    "code_system",
    "code",
    "modifiers",
    "approved_units",
    "valid_from",
    "valid_to",
    "line_of_business",
    "plan_id",
    "requesting_provider_npi",
    "requesting_provider_name",
    "servicing_provider_npi",
    "servicing_provider_name",
    "decision",
    "validity_basis",
    "issued_at",
    "ended_at",
    "case__case_number",
    "service_line__sequence",
    "supersedes__authorization_number",
    "superseded_by__authorization_number",
)


def _authorization_output(authorizations: QuerySet[Authorization]) -> QuerySet[Authorization]:
    return authorizations.select_related("case", "service_line", "supersedes", "superseded_by").only(
        *AUTHORIZATION_OUTPUT_FIELDS
    )


def authorization_detail(user: User | AnonymousUser, authorization_number: str) -> Authorization | None:
    return _authorization_output(
        authorizations_visible_to(user).filter(authorization_number=authorization_number.strip().upper())
    ).first()


def authorizations_for_service(
    user: User | AnonymousUser, *, member_id: str, code: str, date_of_service: date
) -> list[Authorization]:
    """The claims question: the authorizations `user` may see that cover this member's service on
    this date, newest first, in one query (the index authorization_lookup_idx).

    An authorization that has since expired still covers a service performed while it was valid;
    a voided or superseded one covers nothing (its successor, if any, does).
    """
    return list(
        _authorization_output(
            authorizations_visible_to(user).filter(
                member_id=member_id,
                code=code,
                valid_from__lte=date_of_service,
                valid_to__gte=date_of_service,
                status__in=[AuthorizationStatus.ACTIVE, AuthorizationStatus.EXPIRED],
            )
        ).order_by("-issued_at", "-id")[:AUTHORIZATION_LOOKUP_LIMIT]
    )


def open_extension_case(authorization_id: int) -> Case | None:
    """The extension request still under review for an authorization, if any."""
    return (
        Case.objects.filter(extension_of=authorization_id, status__in=OPEN_STATUSES)
        .order_by("received_at", "id")
        .first()
    )


def gold_card_exemptions_of(*, provider_npi: str, line_of_business: str) -> list[GoldCardExemption]:
    """The provider's active gold-card exemptions under active programmes of the line of business,
    oldest first, with their programmes. One query, led by the partial index
    goldcard_active_npi_idx (active exemptions only), so it costs an index probe that finds
    nothing for a provider without a gold card."""
    return list(
        GoldCardExemption.objects.select_related("programme")
        .filter(
            status=GoldCardStatus.ACTIVE,
            provider_npi=provider_npi,
            programme__active=True,
            programme__line_of_business=line_of_business,
        )
        .order_by("granted_at", "pk")
    )


def gold_card_exemption_for(
    *, provider_npi: str, line_of_business: str, code_system: str, code: str, policy_ids: Collection[int]
) -> GoldCardExemption | None:
    """The provider's active gold-card exemption that covers this service, with its programme, or
    None (see GoldCardProgramme.covers)."""
    return next(
        (
            exemption
            for exemption in gold_card_exemptions_of(provider_npi=provider_npi, line_of_business=line_of_business)
            if exemption.programme.covers(code_system=code_system, code=code, policy_ids=policy_ids)
        ),
        None,
    )


def member_coverage_on(member_id: str, day: date) -> MemberCoverage | None:
    """The member's coverage in effect on `day` from the plan's eligibility file, if loaded."""
    return (
        MemberCoverage.objects.filter(member_id=member_id, coverage_start__lte=day)
        .filter(Q(coverage_end__isnull=True) | Q(coverage_end__gte=day))
        .order_by("-coverage_start")
        .first()
    )


def line_current_determinations(lines: Collection[ServiceLine]) -> dict[int, DecisionLine]:
    """Where each line's service stands now (by line id): the latest determination of record on
    the line itself or on a line an appeal or extension case copied from it. Two queries."""
    by_id = {line.pk: line for line in lines}
    derived = list(ServiceLine.objects.filter(origin_id__in=by_id).only("pk", "case_id", "origin_id"))
    determinations = line_determinations({line.case_id for line in [*lines, *derived]})
    current: dict[int, DecisionLine] = {}
    for line in [*lines, *derived]:
        found = determinations.get(line.pk)
        root = line.pk if line.pk in by_id else line.origin_id
        if found is None or root is None:
            continue
        held = current.get(root)
        if held is None or found.decision.decided_at > held.decision.decided_at:
            current[root] = found
    return current
