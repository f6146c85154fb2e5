"""Reads for retrospective review: which cases a run covers, and what the pages show."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import date
from decimal import Decimal

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import DateField, Max, Q, QuerySet
from django.db.models.functions import Greatest, TruncDate

from casemgmt.cases.models import Case, CaseStatus, Citation, Flag, FlagKind, ServiceLine
from casemgmt.kernel.roles import REVIEWER_ROLES, Role, has_role, user_roles
from casemgmt.retro.models import (
    OPEN_ITEM_STATUSES,
    RetroReviewItem,
    RetroRun,
    RetroRunStatus,
    RetroSchedule,
    RetroTrigger,
)
from policies_app.engine import PolicyIndex
from policies_app.models import Policy, PolicyVersion, PolicyVersionStatus
from policies_app.selectors import engine_index, version_data, versions_with_content

# A decided case keeps its decision when its file is closed; both are reviewed.
DECIDED_STATUSES = (CaseStatus.DECIDED, CaseStatus.CLOSED)


def schedule() -> RetroSchedule:
    row = RetroSchedule.objects.filter(pk=1).first()
    return row if row is not None else RetroSchedule(pk=1)


# --- sampling -------------------------------------------------------------------------------

_SAMPLE_SCALE = 1_000_000


def in_sample(case_id: int, seed: int, percent: Decimal) -> bool:
    """Whether a case falls in a run's random sample.

    A hash of (seed, case id), not a draw from a generator: the same seed puts the same case in
    or out whatever else the selection holds, so a run's sample can be reproduced later.
    """
    digest = hashlib.blake2b(f"{seed}:{case_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % _SAMPLE_SCALE < int(percent * (_SAMPLE_SCALE // 100))


def sample(case_ids: Iterable[int], seed: int, percent: Decimal | None) -> set[int]:
    if percent is None:
        return set(case_ids)
    return {case_id for case_id in case_ids if in_sample(case_id, seed, percent)}


# --- which cases a policy governs -----------------------------------------------------------


def _decided_lines(date_from: date | None, date_to: date | None, line_of_business: str) -> QuerySet[ServiceLine]:
    lines = ServiceLine.objects.filter(case__status__in=DECIDED_STATUSES)
    if date_from is not None:
        lines = lines.filter(date_of_service__gte=date_from)
    if date_to is not None:
        lines = lines.filter(date_of_service__lte=date_to)
    if line_of_business:
        lines = lines.filter(case__line_of_business=line_of_business)
    return lines


def _code_filter(index: PolicyIndex, lines: QuerySet[ServiceLine], policy_ids: set[int] | None) -> Q | None:
    """A filter for the lines whose code a version of the given policies lists (any policy: None).

    The distinct codes are few however many lines there are, so each is matched once with the
    engine's own code matching (ranges included) and the lines are then filtered by value.
    """
    by_system: dict[str, list[str]] = {}
    for system, code in lines.values_list("code_system", "code").distinct().order_by():
        policies = index.code_match(system, code).policies
        if (policy_ids is None and policies) or (policy_ids is not None and policy_ids & policies.keys()):
            by_system.setdefault(system, []).append(code)
    q: Q | None = None
    for system, codes in by_system.items():
        part = Q(code_system=system, code__in=codes)
        q = part if q is None else q | part
    return q


def _policy_index(policy_id: int) -> PolicyIndex:
    """Every published or retired version of one policy: a code any of them listed counts."""
    versions = versions_with_content().filter(
        policy_id=policy_id, status__in=[PolicyVersionStatus.PUBLISHED, PolicyVersionStatus.RETIRED]
    )
    return PolicyIndex((version_data(v) for v in versions), stamp=-1)


def cases_under_policy(
    *, policy_id: int, date_from: date | None, date_to: date | None, line_of_business: str = ""
) -> set[int]:
    """Decided cases with a service dated in the window that the policy governs.

    A line is under the policy when a published or retired version of it lists the line's code,
    when the case's current flags name the policy for that line, or when the case's current
    decision cites a version of it.
    """
    lines = _decided_lines(date_from, date_to, line_of_business)
    ids: set[int] = set()
    code_q = _code_filter(_policy_index(policy_id), lines, {policy_id})
    if code_q is not None:
        ids.update(lines.filter(code_q).values_list("case_id", flat=True).distinct().order_by())
    flagged = Flag.objects.filter(superseded_at__isnull=True, service_line__in=lines.values("pk")).filter(
        Q(policy_version__policy_id=policy_id) | Q(kind=FlagKind.NO_VERSION_IN_EFFECT, details__policy_id=policy_id)
    )
    ids.update(flagged.values_list("case_id", flat=True).distinct().order_by())
    cited = Citation.objects.filter(
        policy_version__policy_id=policy_id,
        decision__superseded_by__isnull=True,
        decision__case_id__in=lines.values("case_id"),
    )
    ids.update(cited.values_list("decision__case_id", flat=True).distinct().order_by())
    return ids


def cases_citing_version(case_ids: set[int], version_id: int) -> set[int]:
    """Those of the cases whose current decision cites the version."""
    if not case_ids:
        return set()
    return set(
        Citation.objects.filter(
            policy_version_id=version_id, decision__superseded_by__isnull=True, decision__case_id__in=list(case_ids)
        ).values_list("decision__case_id", flat=True)
    )


# --- run selections -------------------------------------------------------------------------


def select_on_demand(run: RetroRun) -> set[int]:
    """One policy's cases in a window; a re-run of a publish or nightly run selects as it did."""
    if run.policy_version_id is not None:
        return select_for_publish(run)
    if run.policy_id is None:
        return select_nightly(run)
    ids = cases_under_policy(
        policy_id=run.policy_id, date_from=run.date_from, date_to=run.date_to, line_of_business=run.line_of_business
    )
    return sample(ids, run.seed, run.sample_percent)


def select_for_publish(run: RetroRun) -> set[int]:
    """Cases dated in the version's window that were decided under another version or none."""
    assert run.policy_version_id is not None
    version = PolicyVersion.objects.get(pk=run.policy_version_id)
    ids = cases_under_policy(policy_id=version.policy_id, date_from=run.date_from, date_to=run.date_to)
    return ids - cases_citing_version(ids, version.pk)


def cases_eligible_nightly(date_from: date, date_to: date) -> QuerySet[Case]:
    """Decided cases that became reviewable in the window: the later of the last date of service
    and the decision date falls in it. Each case is so picked up by exactly one nightly run."""
    return (
        Case.objects.filter(status__in=DECIDED_STATUSES, decided_at__isnull=False)
        .annotate(last_service=Max("lines__date_of_service"))
        .annotate(
            eligible_on=Greatest("last_service", TruncDate("decided_at"), output_field=DateField()),
        )
        .filter(eligible_on__gte=date_from, eligible_on__lte=date_to)
    )


def cases_under_retro_policies(cases: QuerySet[Case]) -> set[int]:
    """Those of the cases a policy marked for retrospective review governs (by code, flag or citation).

    `cases` is a queryset, used as a subquery: a night may hold a great many cases.
    """
    retro_policies = set(Policy.objects.filter(retrospective_review=True).values_list("pk", flat=True))
    if not retro_policies:
        return set()
    case_ids = cases.values("pk")
    lines = ServiceLine.objects.filter(case_id__in=case_ids)
    out: set[int] = set()
    code_q = _code_filter(engine_index(), lines, retro_policies)
    if code_q is not None:
        out.update(lines.filter(code_q).values_list("case_id", flat=True).distinct().order_by())
    out.update(
        Flag.objects.filter(
            case_id__in=case_ids, superseded_at__isnull=True, policy_version__policy_id__in=retro_policies
        )
        .values_list("case_id", flat=True)
        .distinct()
        .order_by()
    )
    out.update(
        Citation.objects.filter(
            decision__case_id__in=case_ids,
            decision__superseded_by__isnull=True,
            policy_version__policy_id__in=retro_policies,
        )
        .values_list("decision__case_id", flat=True)
        .distinct()
        .order_by()
    )
    return out


def select_nightly(run: RetroRun) -> set[int]:
    assert run.date_from is not None and run.date_to is not None
    eligible_cases = cases_eligible_nightly(run.date_from, run.date_to)
    eligible = set(eligible_cases.values_list("pk", flat=True))
    required = cases_under_retro_policies(eligible_cases) & eligible
    return required | sample(eligible - required, run.seed, run.sample_percent or Decimal(0))


def last_scheduled_run() -> RetroRun | None:
    return RetroRun.objects.filter(trigger=RetroTrigger.SCHEDULED).order_by("-date_to").first()


# --- pages ----------------------------------------------------------------------------------


def runs_visible_to(user: User | AnonymousUser) -> QuerySet[RetroRun]:
    if not has_role(user, Role.MANAGER):
        return RetroRun.objects.none()
    return RetroRun.objects.select_related("policy", "policy_version", "started_by")


def runs_active() -> QuerySet[RetroRun]:
    return RetroRun.objects.filter(status__in=[RetroRunStatus.QUEUED, RetroRunStatus.RUNNING])


def items_visible_to(user: User | AnonymousUser) -> QuerySet[RetroReviewItem]:
    """Reviewers and managers see the retrospective queue; nobody else sees any of it."""
    if not (user_roles(user) & REVIEWER_ROLES):
        return RetroReviewItem.objects.none()
    return RetroReviewItem.objects.select_related("case", "assignee", "run")


def open_items(user: User | AnonymousUser, *, assigned: str = "", status: str = "") -> QuerySet[RetroReviewItem]:
    items = items_visible_to(user).filter(status__in=OPEN_ITEM_STATUSES)
    if status:
        items = items.filter(status=status)
    if assigned == "mine":
        items = items.filter(assignee=user.pk)
    elif assigned == "unassigned":
        items = items.filter(assignee__isnull=True)
    return items.order_by("due_at", "id")


def open_item_count(user: User | AnonymousUser) -> int:
    return open_items(user).count()


def item_detail(user: User | AnonymousUser, item_id: int) -> RetroReviewItem | None:
    return (
        items_visible_to(user)
        .select_related("decision__decided_by", "corrected_decision", "resolved_by", "referred_by")
        .prefetch_related("decision__lines__service_line", "decision__citations", "case__lines")
        .filter(pk=item_id)
        .first()
    )
