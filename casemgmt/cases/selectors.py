"""Reads of the case domain. Visibility rules live here and nowhere else."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import date
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import (
    Count,
    Exists,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    TextField,
    Value,
    prefetch_related_objects,
)
from django.db.models.functions import Coalesce, NullIf

from casemgmt.cases.models import (
    ADVERSE_OUTCOMES,
    OPEN_STATUSES,
    Attachment,
    Authorization,
    AuthorizationStatus,
    Case,
    CaseEvent,
    CaseEventKind,
    CaseStatus,
    Citation,
    DeadlineRule,
    Decision,
    DecisionLine,
    Flag,
    FlagSeverity,
    GoldCardExemption,
    GoldCardStatus,
    LineOutcome,
    MemberCoverage,
    ReviewerRole,
    ReviewType,
    ServiceLine,
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookSubscription,
)
from casemgmt.kernel.roles import REVIEWER_ROLES, Role, user_roles
from policies_app.engine import DOCUMENTED_FACT_PREFIX, LineRequest, RequestData
from policies_app.models import CriterionOperator, FactDefinition, FactType, PolicyCode


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
        queryset=Flag.objects.filter(superseded_at__isnull=True).select_related(
            "service_line", "policy_version__policy"
        ),
        to_attr="current_flags",
    )


def case_detail(user: User | AnonymousUser, case_number: str) -> Case | None:
    """The case with what its page reads: lines, current flags (with their versions' policies),
    decisions with their lines and every citation (in citation order), and events. A fixed
    number of queries, whatever the case holds."""
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
                    Prefetch(
                        "lines",
                        queryset=DecisionLine.objects.select_related(
                            "service_line", "reason_code", "carried_from__decision"
                        ),
                    ),
                    Prefetch("citations", queryset=Citation.objects.order_by("id")),
                ),
            ),
            Prefetch("events", queryset=CaseEvent.objects.select_related("actor")),
        )
        .first()
    )


def case_page(user: User | AnonymousUser, case_number: str) -> Case | None:
    """The case as its reviewer's page reads it, in seven queries whatever it holds: the case
    with its appeals (with whether another case reviews its lines again, and whether `user` took
    part in the decision an appeal reconsiders), its lines, current flags, events, attachments,
    the decision lines with their decisions and the authorization each issued (its own, and those
    of the other cases of the same request), and its decisions' citations.

    The decisions come with their lines (no decision is recorded without one), oldest first:
    `page_decisions(case)`, and per decision `page_lines(decision)` and `page_citations(decision)`;
    the case's appeals `page_appeals(case)` and the request's authorizations
    `page_authorizations(case)`.
    """
    user_id = user.pk if user.is_authenticated else None
    cases = (
        cases_visible_to(user)
        .select_related("submitted_by", "assignee", "deadline_rule", "appeal_of", "extension_of")
        .annotate(
            # An appeal of it, or an extension of an authorization it issued, reviews its lines
            # again and may issue authorizations for them (both read by index).
            reviewed_elsewhere=Exists(Case.objects.filter(appeal_of=OuterRef("pk")))
            | Exists(Case.objects.filter(extension_of__case=OuterRef("pk"))),
            # Who may not decide an appeal (services.appeals.appeal_deciders_excluded): the
            # deciders of the adverse decision it reconsiders and its peer-to-peer physicians.
            took_part_in_appealed=Exists(
                Decision.objects.filter(
                    case=OuterRef("appeal_of"), decided_by=user_id, lines__outcome__in=ADVERSE_OUTCOMES
                )
            ),
            discussed_appealed=Exists(
                CaseEvent.objects.filter(case=OuterRef("appeal_of"), kind=CaseEventKind.PEER_TO_PEER, actor=user_id)
            ),
        )
    )
    # The case and its appeals in one statement, each part read by index.
    rows = list(
        cases.filter(case_number=case_number)
        .order_by()
        .union(cases.filter(appeal_of__case_number=case_number).order_by(), all=True)
    )
    case = next((row for row in rows if row.case_number == case_number), None)
    if case is None:
        return None
    case.page_appeals = sorted(  # type: ignore[attr-defined]
        (row for row in rows if row is not case), key=lambda appeal: (appeal.received_at, appeal.pk)
    )
    prefetch_related_objects(
        [case],
        Prefetch("lines", queryset=ServiceLine.objects.select_related("origin__origin")),
        current_flags(),
        Prefetch("events", queryset=CaseEvent.objects.select_related("actor")),
        Prefetch("attachments", queryset=Attachment.objects.select_related("uploaded_by")),
    )
    decision_lines = DecisionLine.objects.select_related(
        "decision__decided_by", "service_line", "reason_code", "carried_from__decision", "authorization__case"
    ).order_by()
    read = decision_lines.filter(decision__case=case)
    roots: set[int] = set()
    for service_line in case.lines.all():
        while service_line.origin_id is not None and service_line.origin is not None:
            service_line = service_line.origin
        roots.add(service_line.pk)
    if case.reviewed_elsewhere or any(line.origin_id is not None for line in case.lines.all()):
        # Another case of the same request (an appeal, an extension, the case an appeal
        # reconsiders) may have issued authorizations for its services: they share the request's
        # lines. Read in the same statement as the case's own decision lines.
        read = read.union(
            decision_lines.filter(authorization__origin_line__in=roots).exclude(decision__case=case), all=True
        )
    decisions: dict[int, Decision] = {}
    lines: dict[int, list[DecisionLine]] = {}
    authorizations: list[Authorization] = []
    # Oldest decision first, each decision's lines in line order.
    for line in sorted(read, key=lambda line: (line.decision.decided_at, line.decision_id, line.service_line.sequence)):
        authorization = getattr(line, "authorization", None)
        if authorization is not None and authorization.origin_line_id in roots:
            authorizations.append(authorization)
        if line.decision.case_id != case.pk:
            continue
        line.decision = decisions.setdefault(line.decision_id, line.decision)
        lines.setdefault(line.decision_id, []).append(line)
    citations: dict[int, list[Citation]] = {}
    if decisions:
        for citation in Citation.objects.filter(decision__in=list(decisions)).order_by("id"):
            citations.setdefault(citation.decision_id, []).append(citation)
    for decision_id, decision in decisions.items():
        decision.page_lines = lines[decision_id]  # type: ignore[attr-defined]
        decision.page_citations = citations.get(decision_id, [])  # type: ignore[attr-defined]
    case.page_decisions = list(decisions.values())  # type: ignore[attr-defined]
    case.page_authorizations = sorted(  # type: ignore[attr-defined]
        authorizations, key=lambda authorization: (authorization.issued_at, authorization.pk), reverse=True
    )
    return case


def page_decisions(case: Case) -> list[Decision]:
    """The decisions `case_page` read with the case, oldest first."""
    decisions: list[Decision] = getattr(case, "page_decisions", [])
    return decisions


def page_lines(decision: Decision) -> list[DecisionLine]:
    """A decision's lines as `case_page` read them, in line order."""
    lines: list[DecisionLine] = getattr(decision, "page_lines", [])
    return lines


def page_citations(decision: Decision) -> list[Citation]:
    """A decision's citations as `case_page` read them, in citation order."""
    citations: list[Citation] = getattr(decision, "page_citations", [])
    return citations


def page_appeals(case: Case) -> list[Case]:
    """The appeals of the case as `case_page` read them, oldest first."""
    appeals: list[Case] = getattr(case, "page_appeals", [])
    return appeals


def page_authorizations(case: Case) -> list[Authorization]:
    """Every authorization issued for the case's services, on this case or another case of the
    same request, as `case_page` read them, newest first."""
    authorizations: list[Authorization] = getattr(case, "page_authorizations", [])
    return authorizations


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
        ).select_related("decision", "carried_from__decision")
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

# The orders a reviewer may sort the queue by: key -> columns. Anything else falls back to
# QUEUE_DEFAULT_SORT; a "-" before a key reverses every column (the id tie-break too), so each
# order is one index scan forwards or backwards (bench/queue lists the indexes).
QUEUE_SORTS: dict[str, tuple[str, ...]] = {
    "due": ("due_at", "id"),
    "received": ("received_at", "id"),
    "case": ("case_number",),
    "member": ("member_last_name", "member_first_name", "id"),
    "provider": ("requesting_provider_name", "id"),
    "type": ("review_type", "due_at", "id"),
    "status": ("status", "due_at", "id"),
}
QUEUE_DEFAULT_SORT = "due"


def queue_sort_key(sort: str) -> str:
    """`sort` if it is one of QUEUE_SORTS (optionally reversed with "-"), else the default."""
    return sort if sort.removeprefix("-") in QUEUE_SORTS else QUEUE_DEFAULT_SORT


def queue_order(sort: str) -> list[str]:
    key = queue_sort_key(sort)
    descending = key.startswith("-")
    return [("-" if descending else "") + column for column in QUEUE_SORTS[key.removeprefix("-")]]


def queue_cases(
    user: User | AnonymousUser,
    *,
    status: str = "",
    urgency: str = "",
    line_of_business: str = "",
    review_type: str = "",
    flag_kind: str = "",
    assigned: str = "",
    search: str = "",
    sort: str = "",
) -> QuerySet[Case]:
    """Open cases for the work queue, filtered, in the order `sort` names (most urgent deadline
    first by default; an unknown sort is the default).

    `assigned` is "mine", "unassigned" or blank; `search` is an exact case number or member id.
    Count and slice this; then `queue_rows` the slice, with the same sort, for what a row shows.
    """
    if not (user_roles(user) & REVIEWER_ROLES):
        return Case.objects.none()
    cases = cases_visible_to(user).filter(status__in=OPEN_STATUSES)
    if status:
        cases = cases.filter(status=status)
    if urgency:
        cases = cases.filter(urgency=urgency)
    if line_of_business:
        cases = cases.filter(line_of_business=line_of_business)
    if review_type:
        cases = cases.filter(review_type=review_type)
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
    return cases.order_by(*queue_order(sort))


def queue_count(cases: QuerySet[Case], limit: int) -> int:
    """How many of `cases` there are, counting no further than `limit` (then `limit`).

    A work list of hundreds of thousands of open cases is paged, not read to its end: counting
    every row a filter matches would cost a scan of them all on each page view.
    """
    return cases.order_by()[:limit].count()


def queue_rows(cases: QuerySet[Case], *, sort: str = "") -> QuerySet[Case]:
    """The given cases (typically one page's slice of `queue_cases`), ready to show, in one query,
    in the order `sort` names (the one the slice was taken in).

    Each carries its assignee, `worst_flag_kind` / `worst_flag_severity` (its most severe
    current flag; NULL without one), its first service line's `first_code_system`, `first_code`
    and `first_code_description` (as submitted, else as the policy library describes the code),
    and `line_count`, all as correlated subqueries:
    the page costs the same query whatever the number of cases, lines or flags, where prefetching
    would load every flag of every listed case. The slice goes in as `id IN (...)` so that the
    subqueries run for the page's rows only; on the sliced query itself PostgreSQL would run them
    for every row an OFFSET skips.
    """
    # Imported here rather than at the top: django.db.models.Case would shadow the Case model.
    from django.db.models import Case as SqlCase
    from django.db.models import When

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
    # What the policy library says the code is (the latest version listing that exact code), for
    # a line submitted without a description: COALESCE asks it only for those.
    library_description = (
        PolicyCode.objects.filter(system=OuterRef("code_system"), code=OuterRef("code"), code_end="")
        .exclude(description="")
        .order_by("-version_id")
        .values("description")[:1]
    )
    first_line = (
        ServiceLine.objects.filter(case=OuterRef("pk"))
        .order_by("sequence")
        .annotate(
            described=Coalesce(
                NullIf("description", Value("")),
                Subquery(library_description),
                Value(""),
                output_field=TextField(),
            )
        )
    )
    line_count = (
        ServiceLine.objects.filter(case=OuterRef("pk")).order_by().values("case").annotate(n=Count("id")).values("n")
    )
    return (
        Case.objects.filter(pk__in=cases.values("pk"))
        .select_related("assignee")
        .annotate(
            worst_flag_kind=Subquery(worst.values("kind")[:1]),
            worst_flag_severity=Subquery(worst.values("severity")[:1]),
            first_code_system=Subquery(first_line.values("code_system")[:1]),
            first_code=Subquery(first_line.values("code")[:1]),
            first_code_description=Subquery(first_line.values("described")[:1]),
            line_count=Coalesce(Subquery(line_count, output_field=IntegerField()), Value(0)),
        )
        .order_by(*queue_order(sort))
    )


def queue_next_candidates(user: User | AnonymousUser) -> QuerySet[Case]:
    """The unclaimed open cases `user` may take as "next case", most urgent deadline first.

    What each role works: a nurse reviewer, cases received or in review that are not appeals
    (only a physician decides an appeal, and a physician-review case waits for one); a physician
    reviewer, cases in physician review and appeals received or in review, except appeals of a
    decision the physician took part in (decided it, or held its peer-to-peer discussion). A
    pended case waits for the requester and is not handed out. Others: none.
    """
    roles = user_roles(user)
    workable = Q(pk__in=[])
    if Role.NURSE in roles:
        workable |= Q(status__in=[CaseStatus.RECEIVED, CaseStatus.IN_REVIEW]) & ~Q(review_type=ReviewType.APPEAL)
    if Role.PHYSICIAN in roles:
        took_part = Exists(
            Decision.objects.filter(case=OuterRef("appeal_of"), decided_by=user.pk, lines__outcome__in=ADVERSE_OUTCOMES)
        ) | Exists(CaseEvent.objects.filter(case=OuterRef("appeal_of"), kind=CaseEventKind.PEER_TO_PEER, actor=user.pk))
        workable |= Q(status=CaseStatus.PHYSICIAN_REVIEW) & ~Q(review_type=ReviewType.APPEAL)
        workable |= (
            Q(status__in=[CaseStatus.RECEIVED, CaseStatus.IN_REVIEW, CaseStatus.PHYSICIAN_REVIEW])
            & Q(review_type=ReviewType.APPEAL)
            & ~took_part
        )
    if not (roles & {Role.NURSE, Role.PHYSICIAN}):
        return Case.objects.none()
    return (
        cases_visible_to(user)
        .filter(status__in=OPEN_STATUSES, assignee__isnull=True)
        .filter(workable)
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


# --- the decision form ------------------------------------------------------------------------


def decision_of_record_of(case: Case, *, decisions: Iterable[Decision] | None = None) -> Decision | None:
    """The case's latest decision, the one no other supersedes, with who made it; from
    `decisions` (every decision of the case) when the caller holds them."""
    if decisions is not None:
        held = list(decisions)
        superseded = {decision.supersedes_id for decision in held}
        standing = [decision for decision in held if decision.pk not in superseded]
        return max(standing, key=lambda decision: (decision.decided_at, decision.pk), default=None)
    return (
        Decision.objects.filter(case=case, superseded_by__isnull=True)
        .select_related("decided_by")
        .order_by("-decided_at", "-id")
        .first()
    )


def _standing(
    case: Case,
    decision: Decision | None,
    lines: Iterable[DecisionLine] | None = None,
    events: Iterable[CaseEvent] | None = None,
) -> tuple[dict[int, DecisionLine], dict[int, DecisionLine]]:
    if decision is None:
        return {}, {}
    if lines is None:
        lines = decision.lines.select_related("service_line", "carried_from__decision")
    automated = decision.decided_role == ReviewerRole.AUTOMATED
    rows = list(lines)
    outcomes = {line.outcome for line in rows}
    referral = LineOutcome.REFERRED in outcomes
    still_open = not automated and bool(outcomes & {LineOutcome.REFERRED, LineOutcome.PENDED})
    answered: dict[int, DecisionLine] = {}
    held: dict[int, DecisionLine] = {}
    for line in rows:
        sequence = line.service_line.sequence
        origin = line if automated else line.carried_from
        if origin is not None and origin.decision.decided_role == ReviewerRole.AUTOMATED:
            answered[sequence] = origin
        elif still_open and origin is not None:
            held[sequence] = origin
        elif referral and origin is None and line.outcome != LineOutcome.REFERRED:
            held[sequence] = line
    # Once a case is reopened every line is reviewed again, what intake answered included.
    if answered and (
        any(event.kind == CaseEventKind.REOPENED for event in events)
        if events is not None
        else case.events.filter(kind=CaseEventKind.REOPENED).exists()
    ):
        answered = {}
    return answered, held


def standing_lines(
    case: Case, decision: Decision | None, *, prefetched: bool = False
) -> tuple[dict[int, DecisionLine], dict[int, DecisionLine]]:
    """The lines a reviewer's next decision on the case restates rather than decides, by
    sequence, each as first decided: (those intake answered, those decided with a referral).

    Intake's answers stand until the case is reopened. While the decision of record refers lines
    to a physician (or, after such a decision, pends one), the lines decided with the referral
    stand too: they took effect (authorizations issued), and the physician decides only the
    referred lines. `decision` is the case's decision of record; `prefetched`: the case and the
    decision were read by `case_page` (its events, the decision's lines), so no query is made."""
    if prefetched:
        return _standing(case, decision, page_lines(decision) if decision else None, case.events.all())
    return _standing(case, decision)


def standing_intake_answers(case: Case, decision: Decision | None) -> dict[int, DecisionLine]:
    """The lines intake answered that a reviewer's decision restates rather than decides: none
    once the case has been reopened, when every line is reviewed again."""
    return _standing(case, decision)[0]


def decision_prefill(case: Case, *, prefetched: bool = False) -> dict[int, dict[str, Any]]:
    """What the decision form opens with, by service line id: each line as the latest decision
    (or referral) left it, so a physician sees the nurse's line decisions.

    Each value: outcome, approved_units, reason (blank on a referred line), note (a referred
    line's note to the physician), citations (policy_version_id and criterion, as cited),
    decision_id, decided_by, decided_role, decided_at, and standing: the line is restated as it
    stands and not decided again (answered at intake, or decided with a referral). Four queries
    at most; none when `prefetched` (the case read by `case_page`)."""
    decisions = page_decisions(case) if prefetched else None
    decision = decision_of_record_of(case, decisions=decisions)
    if decision is None:
        return {}
    cited: dict[int, list[Citation]] = {}
    if prefetched:
        lines = page_lines(decision)
        for citation in page_citations(decision):
            if citation.decision_line_id is not None:
                cited.setdefault(citation.decision_line_id, []).append(citation)
        answered, held = _standing(case, decision, lines, case.events.all())
    else:
        lines = list(
            decision.lines.select_related("service_line", "carried_from__decision").prefetch_related(
                Prefetch("citations", queryset=Citation.objects.order_by("id"))
            )
        )
        cited = {line.pk: list(line.citations.all()) for line in lines}
        answered, held = _standing(case, decision, lines)
    standing = set(answered) | set(held)
    decided_by = decision.decided_by.get_full_name() or decision.decided_by.get_username()
    prefill: dict[int, dict[str, Any]] = {}
    for line in lines:
        referred = line.outcome == LineOutcome.REFERRED
        prefill[line.service_line_id] = {
            "outcome": line.outcome,
            "approved_units": line.approved_units,
            "reason": "" if referred else line.reason,
            "note": line.reason if referred else "",
            "citations": [
                {"policy_version_id": c.policy_version_id, "criterion": c.criterion} for c in cited.get(line.pk, [])
            ],
            "decision_id": decision.pk,
            "decided_by": decided_by,
            "decided_role": decision.decided_role,
            "decided_at": decision.decided_at,
            "standing": line.service_line.sequence in standing,
        }
    return prefill


def referral_note(case: Case, *, prefetched: bool = False) -> str | None:
    """The note of the referral that sent the case to a physician and that no decision has answered
    yet: the summary of a referral of the case, or the notes on the lines a decision referred.
    None when there is none, or when it said nothing. One query; none when `prefetched` (the
    case read by `case_page`, with its events)."""
    kinds = [CaseEventKind.REFERRED, CaseEventKind.DECIDED, CaseEventKind.REOPENED]
    latest: tuple[str, Any] | None
    if prefetched:
        found = max(
            (event for event in case.events.all() if event.kind in kinds), key=lambda e: (e.at, e.pk), default=None
        )
        latest = (found.kind, found.detail) if found is not None else None
    else:
        latest = (
            CaseEvent.objects.filter(case=case, kind__in=kinds)
            .order_by("-at", "-id")
            .values_list("kind", "detail")
            .first()
        )
    if latest is None or latest[0] != CaseEventKind.REFERRED:
        return None
    summary = str((latest[1] or {}).get("summary") or "").strip()
    return summary or None


# --- criteria checklists ----------------------------------------------------------------------

# Flags naming a version that does not govern the line as it stands: a term the version names
# (its own position flags follow when it applies), or a line of business it excludes.
_NOT_GOVERNING = ("term_match", "line_of_business_excluded")


def _requirement_text(operator: str, expected: Any, unit: str) -> str:
    """What a criterion asks of its fact, in words: "at least 12 weeks", "is one of A, B"."""
    if operator in ("is_true", ""):
        return "yes" if operator else ""
    if operator == "is_false":
        return "no"
    words = CriterionOperator(operator).label if operator in CriterionOperator.values else operator
    shown = ", ".join(str(v) for v in expected) if isinstance(expected, list) else str(expected)
    return " ".join(filter(None, [words, shown, unit]))


def _checklist_flags(case: Case) -> list[Flag]:
    """The case's current flags that name a version governing their line, as `case_page` read them."""
    return sorted(
        (
            flag
            for flag in getattr(case, "current_flags", [])
            if flag.policy_version_id is not None and flag.kind not in _NOT_GOVERNING
        ),
        key=lambda flag: (flag.service_line.sequence, flag.pk),
    )


def page_fact_catalogue(case: Case) -> dict[str, FactDefinition]:
    """The catalogue's entries for what the case page names, by key: the facts its lines'
    checklists read and the request's clinical facts; `case` as `case_page` reads it. One query."""
    keys = {
        str(leaf.get("fact") or "")
        for flag in _checklist_flags(case)
        for leaf in (flag.details or {}).get("checklist", [])
        if isinstance(leaf, dict)
    } | set(case.clinical_facts or {})
    keys.discard("")
    return {fact.key: fact for fact in FactDefinition.objects.filter(key__in=sorted(keys))} if keys else {}


def line_checklists(
    case: Case, *, prefetched: bool = False, catalogue: dict[str, FactDefinition] | None = None
) -> dict[int, list[dict[str, Any]]]:
    """Per service line id, the policy versions governing it now and each one's criteria
    checklist, as the engine last evaluated it for the case's flags (re-evaluated whenever a fact
    is added or recorded, or a version is published). Two queries, whatever the size; one when
    `prefetched` (the case read by `case_page`, with its current flags).

    Each item: version {id, label, number, title, policy_id, coverage_position}, result (met,
    not_met, unknown; blank for a version without criteria) and leaves, in policy order, each with
    label, result, fact_key, fact_label, unit, value_type, allowed_values, value (as read, derived
    facts included), requirement (what the criterion asks, in words), note (why unknown),
    documented (a documented-review criterion) and recordable (a reviewer may record its fact).
    `catalogue`: the catalogue's entries for those facts when the caller read them
    (`page_fact_catalogue`), so no query is made.
    """
    if prefetched:
        flags = _checklist_flags(case)
    else:
        flags = list(
            Flag.objects.filter(case=case, superseded_at__isnull=True, policy_version__isnull=False)
            .exclude(kind__in=_NOT_GOVERNING)
            .select_related("policy_version__policy")
            .order_by("service_line__sequence", "id")
        )
    keys = {
        str(leaf.get("fact") or "")
        for flag in flags
        for leaf in (flag.details or {}).get("checklist", [])
        if isinstance(leaf, dict)
    }
    if catalogue is None:
        catalogue = {fact.key: fact for fact in FactDefinition.objects.filter(key__in=sorted(keys - {""}))}
    out: dict[int, list[dict[str, Any]]] = {}
    for flag in flags:
        version = flag.policy_version
        assert version is not None
        checklists = out.setdefault(flag.service_line_id, [])
        if any(c["version"]["id"] == version.pk for c in checklists):
            continue
        details = flag.details or {}
        leaves = []
        for leaf in details.get("checklist", []):
            key = str(leaf.get("fact") or "")
            documented = key.startswith(DOCUMENTED_FACT_PREFIX)
            fact = catalogue.get(key)
            unit = fact.unit if fact is not None else ""
            leaves.append(
                {
                    "label": leaf.get("label", ""),
                    "result": leaf.get("result") or "unknown",
                    "fact_key": key,
                    "fact_label": leaf.get("label", "") if documented else fact.label if fact is not None else "",
                    "unit": unit,
                    "value_type": FactType.BOOLEAN if documented else fact.value_type if fact is not None else "",
                    "allowed_values": list(fact.allowed_values or []) if fact is not None else [],
                    "value": leaf.get("actual"),
                    "requirement": ""
                    if documented
                    else _requirement_text(str(leaf.get("operator") or ""), leaf.get("expected"), unit),
                    "note": leaf.get("note", ""),
                    "documented": documented,
                    "recordable": documented or (fact is not None and not fact.derived),
                }
            )
        checklists.append(
            {
                "version": {
                    "id": version.pk,
                    "label": version.version_label,
                    "number": version.policy.number,
                    "title": version.policy.title,
                    "policy_id": version.policy_id,
                    "coverage_position": version.coverage_position,
                },
                "result": details.get("result", "") if "checklist" in details else "",
                "leaves": leaves,
            }
        )
    return out
