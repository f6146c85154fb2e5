"""Duplicates at intake: a request that repeats one still open or approved for the same member.

../shared/DOMAIN.md, "Triage at intake" ("Duplicates: the same member, service and dates as a
request already open or approved"); issue 17, section 3.

A new line repeats an earlier request's line when:
- the member is the same, whichever client sent either request;
- the service is the same: the same code system and code. The issue also names "an overlapping
  range", but a service line carries one code, so two lines overlap only when their codes are
  the same;
- the dates of service are at most the line of business's `DuplicateRule.window_days` apart,
  either way;
- the earlier request is still open, or its line's service has an active authorization (status
  active and valid today), which is how an approved request stays "approved" after it is decided.

Appeals and extensions are not earlier requests of their own: they review a request again, and
the request they review is the one a new request may repeat.

Intake calls `duplicate_matches` before its transaction, `duplicate_refusal` before storing
anything, and adds `duplicate_flags` to the case's flags.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from django.db.models import OuterRef, Q, Subquery
from django.utils import timezone

from casemgmt.cases.models import (
    INITIAL_REVIEW_TYPES,
    OPEN_STATUSES,
    Authorization,
    AuthorizationStatus,
    Case,
    DuplicateAction,
    DuplicateRule,
    Flag,
    FlagKind,
    FlagSeverity,
    ServiceLine,
)
from casemgmt.kernel.errors import ConflictError


class LineSpec(Protocol):
    """What the duplicate check reads of a new line; an unsaved `ServiceLine` is one."""

    @property
    def sequence(self) -> int: ...

    @property
    def code_system(self) -> str: ...

    @property
    def code(self) -> str: ...

    @property
    def date_of_service(self) -> date: ...


@dataclass(frozen=True)
class DuplicateMatch:
    """An earlier request's line that a new line repeats."""

    case_number: str
    line: int
    code_system: str
    code: str
    date_of_service: date
    still_open: bool
    # The active authorization of the earlier line's service, where there is one.
    authorization_number: str | None = None
    authorization_valid_to: date | None = None

    @property
    def service(self) -> str:
        on = self.date_of_service.isoformat()
        return f"{self.case_number} (line {self.line}, {self.code_system} {self.code} on {on})"

    @property
    def standing(self) -> str:
        """Why the earlier request still counts: open, approved, or both (a reopened approval)."""
        if self.authorization_number is None:
            return "still open"
        assert self.authorization_valid_to is not None
        authorization = f"authorization {self.authorization_number}, valid to {self.authorization_valid_to.isoformat()}"
        return f"still open; {authorization}" if self.still_open else f"approved: {authorization}"

    def as_detail(self) -> dict[str, Any]:
        return {
            "case_number": self.case_number,
            "line": self.line,
            "code_system": self.code_system,
            "code": self.code,
            "date_of_service": self.date_of_service.isoformat(),
            "still_open": self.still_open,
            "authorization_number": self.authorization_number,
            "authorization_valid_to": (
                self.authorization_valid_to.isoformat() if self.authorization_valid_to is not None else None
            ),
        }


def duplicate_rule(line_of_business: str) -> DuplicateRule:
    """The plan's rule for `line_of_business`; without one, the model's defaults (30 days, flag)."""
    rule = DuplicateRule.objects.filter(line_of_business=line_of_business).first()
    return rule if rule is not None else DuplicateRule(line_of_business=line_of_business)


def duplicate_matches(
    *, member_id: str, line_of_business: str, lines: Sequence[LineSpec]
) -> dict[int, list[DuplicateMatch]]:
    """The earlier requests each new line repeats, by the new line's sequence (lines that repeat
    nothing are absent), each list in the order the earlier requests were received.

    Two queries whatever the number of lines: the rule, then the earlier lines of the member
    with the same services within the window, each with its active authorization.
    """
    if not lines:
        return {}
    window = timedelta(days=duplicate_rule(line_of_business).window_days)
    same_service = Q()
    for line in lines:
        same_service |= Q(
            code_system=line.code_system,
            code=line.code.upper(),
            date_of_service__range=(line.date_of_service - window, line.date_of_service + window),
        )
    # At most one authorization of a service is active (authorization_one_active_per_line); the
    # earlier lines are initial ones, so each is its own service's origin line.
    active = Authorization.objects.filter(
        origin_line=OuterRef("pk"), status=AuthorizationStatus.ACTIVE, valid_to__gte=timezone.localdate()
    )
    earlier = (
        ServiceLine.objects.filter(same_service, case__member_id=member_id, case__review_type__in=INITIAL_REVIEW_TYPES)
        .annotate(
            authorization_number=Subquery(active.values("authorization_number")[:1]),
            authorization_valid_to=Subquery(active.values("valid_to")[:1]),
        )
        .filter(Q(case__status__in=OPEN_STATUSES) | Q(authorization_number__isnull=False))
        .order_by("case__received_at", "case_id", "sequence")
        .values_list(
            "sequence",
            "code_system",
            "code",
            "date_of_service",
            "case__case_number",
            "case__status",
            "authorization_number",
            "authorization_valid_to",
        )
    )
    found: dict[int, list[DuplicateMatch]] = {}
    for sequence, code_system, code, dos, case_number, status, number, valid_to in earlier:
        match = DuplicateMatch(
            case_number=case_number,
            line=sequence,
            code_system=code_system,
            code=code,
            date_of_service=dos,
            still_open=status in OPEN_STATUSES,
            authorization_number=number,
            authorization_valid_to=valid_to,
        )
        for line in lines:
            if (
                line.code_system == code_system
                and line.code.upper() == code
                and abs(line.date_of_service - dos) <= window
            ):
                found.setdefault(line.sequence, []).append(match)
    return found


def _case_numbers(matches: Sequence[DuplicateMatch]) -> list[str]:
    return list(dict.fromkeys(m.case_number for m in matches))


def duplicate_flags(
    *, case: Case, lines: Sequence[ServiceLine], matches: dict[int, list[DuplicateMatch]], now: datetime
) -> list[Flag]:
    """One unsaved `duplicate_request` flag per repeating line of `case`, naming every earlier
    request it repeats and its authorization. A warning: the reviewer decides whether the
    request is a true duplicate (a second session of a series is not)."""
    by_sequence = {line.sequence: line for line in lines}
    flags = []
    for sequence, repeated in sorted(matches.items()):
        if not repeated:
            continue
        message = "; ".join(f"repeats {m.service}, {m.standing}" for m in repeated)
        flags.append(
            Flag(
                case=case,
                service_line=by_sequence[sequence],
                kind=FlagKind.DUPLICATE_REQUEST,
                severity=FlagSeverity.WARNING,
                message=message[0].upper() + message[1:],
                details={
                    "case_numbers": _case_numbers(repeated),
                    "authorization_numbers": list(
                        dict.fromkeys(m.authorization_number for m in repeated if m.authorization_number)
                    ),
                    "matches": [m.as_detail() for m in repeated],
                },
                created_at=now,
            )
        )
    return flags


def duplicate_refusal(*, line_of_business: str, matches: dict[int, list[DuplicateMatch]]) -> ConflictError | None:
    """The 409 to raise when the line of business refuses duplicates and a line repeats an
    earlier request, naming the earlier case numbers; None otherwise (no match, or the rule flags).

    Reads the rule only when there is a match. The answer goes to the submitting client, who may
    not be the earlier request's: it names the earlier cases and whether they are open or
    approved, not their authorizations.
    """
    repeated = [m for sequence in sorted(matches) for m in matches[sequence]]
    if not repeated or duplicate_rule(line_of_business).action != DuplicateAction.REFUSE:
        return None
    case_numbers = _case_numbers(repeated)
    lines = "; ".join(
        f"service line {sequence} repeats "
        + ", ".join(f"{m.service}, {'still open' if m.still_open else 'approved'}" for m in matches[sequence])
        for sequence in sorted(matches)
        if matches[sequence]
    )
    return ConflictError(
        f"this request repeats an earlier one for the same member, service and dates ({lines}); it was not stored",
        field="service_lines",
        case_number=case_numbers[0],
        case_numbers=case_numbers,
    )
