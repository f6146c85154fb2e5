"""Reads of the case domain. Visibility rules live here and nowhere else."""

from __future__ import annotations

import functools
from collections.abc import Collection, Iterable
from dataclasses import dataclass, replace
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.db import connection, connections
from django.db.models import Prefetch, QuerySet

from casemgmt.cases.models import (
    OPEN_STATUSES,
    Attachment,
    Case,
    CaseEvent,
    DeadlineRule,
    Decision,
    Flag,
    ServiceLine,
    WebhookSubscription,
)
from casemgmt.kernel import db_rows
from casemgmt.kernel.roles import REVIEWER_ROLES, Role, role_mask_sql, user_roles
from policies_app.engine import LineRequest, RequestData
from policies_app.models import FactDefinition, LibraryStamp


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
        .prefetch_related(
            "lines",
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


def deadline_rule_candidates(*, urgency: str, line_of_business: str, review_type: str) -> list[DeadlineRule]:
    """The deadline rules that could govern such a request (a blank urgency or line of business
    matches any; the services pick the most specific)."""
    scope = {"urgency": urgency, "line_of_business": line_of_business, "review_type": review_type}
    return list(_intake_facts_read(client_id=None, **scope).rules)


@dataclass(frozen=True)
class IntakeFacts:
    """What intake must know before it writes, for one client and one kind of request."""

    rules: tuple[DeadlineRule, ...]  # the candidate deadline rules (deadline_rule_candidates)
    library: tuple[int, str]  # the library stamp: is this process's engine index current?
    client_has_webhooks: bool
    client_roles: int  # a mask for roles.remember_role_mask
    # PostgreSQL: a digest of the candidate rules' rows, which intake_facts_guard compares.
    rules_digest: str | None
    # Taken from this process's memory rather than read now: only a write guarded by
    # intake_facts_guard may rely on it.
    remembered: bool = False


# (client id, review type, urgency, line of business) -> the facts last read for them.
_remembered_facts: dict[tuple[int, str, str, str], IntakeFacts] = {}
_REMEMBERED_FACTS_MAX = 4096


def intake_facts(
    *, urgency: str, line_of_business: str, review_type: str, client_id: int, remembered_ok: bool
) -> IntakeFacts:
    """The facts intake needs, in one read; with `remembered_ok`, the ones this process read last
    time for the same client and kind of request, without reading.

    Why remember: the read was a round trip of its own on every submission (bench/intake). A
    remembered fact can be out of date (a manager edits a rule, an editor publishes, a client
    registers a webhook or loses a role), so the caller may use one only in a write that checks
    every fact again in the same statement (intake_facts_guard) and reads afresh when it fails.
    """
    key = (client_id, review_type, urgency, line_of_business)
    if remembered_ok:
        known = _remembered_facts.get(key)
        if known is not None:
            return known
    facts = _intake_facts_read(
        client_id=client_id, urgency=urgency, line_of_business=line_of_business, review_type=review_type
    )
    if len(_remembered_facts) >= _REMEMBERED_FACTS_MAX:
        _remembered_facts.clear()
    _remembered_facts[key] = replace(facts, remembered=True)
    return facts


def intake_facts_guard(
    facts: IntakeFacts, *, urgency: str, line_of_business: str, review_type: str, client_id: int
) -> tuple[str, list[Any]]:
    """An SQL condition (PostgreSQL) and its parameters, true only while `facts` still hold for a
    client without webhooks: the same candidate rules, row for row, the same library stamp, the
    same roles, and no active webhook. A write that carries it is consistent with the facts as
    if it had read them in its own statement."""
    parts = _facts_sql(connection.alias)
    if parts.digest is None or facts.rules_digest is None:
        raise ValueError("intake facts can be verified in a write on PostgreSQL only")
    sql = (
        f"{parts.stamp_token} IS NOT DISTINCT FROM %s AND NOT {parts.webhooks} AND {parts.roles} = %s"
        f" AND {parts.digest} = %s"
    )
    params = [
        facts.library[1] if facts.library != _NO_STAMP else None,
        client_id,
        *parts.role_params,
        client_id,
        facts.client_roles,
        review_type,
        urgency,
        line_of_business,
        facts.rules_digest,
    ]
    return sql, params


# What a database without a stamp row reads as the library stamp.
_NO_STAMP = (0, "")


@dataclass(frozen=True)
class _FactsSql:
    stamp_token: str
    webhooks: str  # takes the client id
    roles: str  # takes role_params, then the client id
    role_params: list[str]
    digest: str | None  # takes the review type, urgency and line of business; PostgreSQL only
    read: str  # the whole read: webhooks, roles, digest, then the rules' scope


@functools.cache
def _facts_sql(alias: str) -> _FactsSql:
    # Built once per process: a RawQuerySet cost as much Python as the rest of intake's reads.
    conn = connections[alias]
    q = conn.ops.quote_name
    rule, stamp, hooks = (q(m._meta.db_table) for m in (DeadlineRule, LibraryStamp, WebhookSubscription))
    scope = "{t}.review_type = %s AND {t}.urgency IN (%s, '') AND {t}.line_of_business IN (%s, '')"
    roles, role_params = role_mask_sql()
    # The whole row as text, so any change to any column of any candidate rule changes it.
    digest = (
        f"(SELECT md5(string_agg(x::text, ',' ORDER BY x.id)) FROM {rule} x WHERE {scope.format(t='x')})"
        if conn.vendor == "postgresql"
        else None
    )
    stamp_value = f"(SELECT value FROM {stamp} WHERE id = 1)"
    stamp_token = f"(SELECT token FROM {stamp} WHERE id = 1)"
    webhooks = f"EXISTS (SELECT 1 FROM {hooks} w WHERE w.client_id = %s AND w.active)"
    # One row even when no rule matches (the LEFT JOIN), so the other facts are read regardless.
    read = (
        f"SELECT {db_rows.columns(DeadlineRule, alias, 'r')}, {stamp_value}, {stamp_token}, {webhooks}, {roles},"
        f" {digest or 'NULL'} FROM (SELECT 1 AS one) one LEFT JOIN {rule} r ON {scope.format(t='r')}"
    )
    return _FactsSql(stamp_token, webhooks, roles, role_params, digest, read)


def _intake_facts_read(*, client_id: int | None, urgency: str, line_of_business: str, review_type: str) -> IntakeFacts:
    alias = connection.alias
    parts = _facts_sql(alias)
    scope = [review_type, urgency, line_of_business]
    with connection.cursor() as cursor:
        digest_scope = scope if parts.digest else []
        cursor.execute(parts.read, [client_id, *parts.role_params, client_id, *digest_scope, *scope])
        rows = cursor.fetchall()
    width = db_rows.width(DeadlineRule)
    value, token, webhooks, roles, digest = rows[0][width:]
    return IntakeFacts(
        rules=tuple(db_rows.instance(DeadlineRule, alias, row[:width]) for row in rows if row[0] is not None),
        library=_NO_STAMP if token is None else (int(value), str(token)),
        client_has_webhooks=bool(webhooks),
        client_roles=int(roles or 0),
        rules_digest=digest,
    )
