"""Authorizations: what a claim is paid against, issued, superseded, voided and expired.

A decision that approves a line in whole or part issues an authorization for it. A later
decision on the same service (an appeal, a reopening, a correction, an extension) supersedes the
active authorization with a new one, or voids it when the service is no longer approved. An
authorization is never edited: only its status moves, once, from active (see
`casemgmt.kernel.db_triggers.install_ended_once`).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import Q

from casemgmt.audit.models import AuditAction, AuditEvent, AuditObject
from casemgmt.audit.services import audit_event_build, audit_record
from casemgmt.cases.models import (
    AUTHORIZING_OUTCOMES,
    Authorization,
    AuthorizationStatus,
    AuthorizationValidityRule,
    Case,
    CaseEvent,
    CaseEventKind,
    Decision,
    DecisionLine,
    LineOutcome,
    ReviewType,
    ServiceLine,
)
from casemgmt.cases.services.events import case_event_add
from casemgmt.cases.services.extensions import extension_requested_end
from casemgmt.kernel.errors import DomainError
from policies_app.codes import icd10cm_in_range, icd10cm_range_span

AUTHORIZATION_NUMBER_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U
DEFAULT_DAYS_AFTER = 90
DEFAULT_BASIS = f"Plan default: the date of service through {DEFAULT_DAYS_AFTER} days after it"


@dataclass(frozen=True)
class Validity:
    valid_from: date
    valid_to: date
    rule: AuthorizationValidityRule | None
    basis: str


def _rule_matches(
    rule: AuthorizationValidityRule, line: ServiceLine, line_of_business: str, policies: set[int]
) -> bool:
    if rule.line_of_business and rule.line_of_business != line_of_business:
        return False
    if rule.policy_id is not None and rule.policy_id not in policies:
        return False
    if rule.code_start:
        if rule.code_system != line.code_system:
            return False
        last = rule.code_end or rule.code_start
        if rule.code_system == "ICD10CM" and icd10cm_range_span(rule.code_start, last) is not None:
            # ICD-10-CM codes differ in length: a range runs in the code set's tabular order, and a
            # code alone (M48.06) holds the codes under it, as the flagging engine reads them.
            if not icd10cm_in_range(line.code, rule.code_start, last):
                return False
        # Codes of other systems have one length and shape (five characters for CPT and HCPCS),
        # so a range is the codes between its ends in text order.
        elif not (len(line.code) == len(rule.code_start) and rule.code_start <= line.code <= last):
            return False
    return True


def validity_rules(line_of_business: str) -> list[AuthorizationValidityRule]:
    """The validity rules that may apply to a line of `line_of_business`."""
    return list(AuthorizationValidityRule.objects.filter(line_of_business__in=[line_of_business, ""]).order_by("pk"))


def authorization_validity(
    *,
    line: ServiceLine,
    line_of_business: str,
    policy_ids: set[int],
    rules: list[AuthorizationValidityRule] | None = None,
) -> Validity:
    """The validity period of an authorization for `line`: the most specific matching rule (a
    policy before a code range before a line of business alone), else the plan default. `rules`
    are `validity_rules(line_of_business)` when the caller has read them for several lines."""
    candidates = [
        rule
        for rule in (validity_rules(line_of_business) if rules is None else rules)
        if _rule_matches(rule, line, line_of_business, policy_ids)
    ]
    if not candidates:
        return Validity(
            line.date_of_service, line.date_of_service + timedelta(days=DEFAULT_DAYS_AFTER), None, DEFAULT_BASIS
        )
    rule = max(candidates, key=lambda r: (r.policy_id is not None, bool(r.code_start), bool(r.line_of_business)))
    return Validity(
        line.date_of_service - timedelta(days=rule.days_before),
        line.date_of_service + timedelta(days=rule.days_after),
        rule,
        f"{rule.name}: {rule.days_before} days before to {rule.days_after} days after the date of service",
    )


def _new_number() -> str:
    bits = secrets.randbits(50)
    return "AUTH-" + "".join(AUTHORIZATION_NUMBER_ALPHABET[(bits >> shift) & 31] for shift in range(45, -1, -5))


def origin_line_of(line: ServiceLine) -> ServiceLine:
    """The line of the initial request that `line` reviews again (itself for an initial request)."""
    while line.origin_id is not None:
        assert line.origin is not None
        line = line.origin
    return line


def active_authorization(origin_line_id: int) -> Authorization | None:
    return (
        Authorization.objects.select_for_update()
        .filter(origin_line_id=origin_line_id, status=AuthorizationStatus.ACTIVE)
        .first()
    )


def _end(authorization: Authorization, *, status: AuthorizationStatus, now: datetime, reason: str) -> None:
    updated = Authorization.objects.filter(pk=authorization.pk, status=AuthorizationStatus.ACTIVE).update(
        status=status, ended_at=now, ended_reason=reason[:500]
    )
    if updated != 1:  # pragma: no cover - the row is locked by active_authorization
        raise DomainError(f"authorization {authorization.authorization_number} is no longer active")
    authorization.status, authorization.ended_at, authorization.ended_reason = status, now, reason[:500]


def _approved_units(decision_line: DecisionLine, line: ServiceLine) -> int:
    return decision_line.approved_units or line.units


def _issue(
    *,
    case: Case,
    decision: Decision,
    decision_line: DecisionLine,
    line: ServiceLine,
    origin: ServiceLine,
    supersedes: Authorization | None,
    policy_ids: set[int],
    now: datetime,
    rules: list[AuthorizationValidityRule] | None = None,
) -> Authorization:
    validity = authorization_validity(
        line=line, line_of_business=case.line_of_business, policy_ids=policy_ids, rules=rules
    )
    valid_from, valid_to = validity.valid_from, validity.valid_to
    if case.review_type == ReviewType.EXTENSION:
        if supersedes is not None:
            # An extension keeps the authorization's start and, at least, its end.
            valid_from = min(valid_from, supersedes.valid_from)
            valid_to = max(valid_to, supersedes.valid_to)
        # An approved request for a later end ends no earlier than asked.
        requested_end = extension_requested_end(case)
        if requested_end is not None and requested_end > valid_to:
            valid_to = requested_end
            basis = f"{validity.basis}; extended to {requested_end.isoformat()} as requested"
            validity = Validity(valid_from, valid_to, validity.rule, basis)
    source = origin.case
    for _attempt in range(5):
        candidate = Authorization(
            authorization_number=_new_number(),
            case=case,
            decision=decision,
            decision_line=decision_line,
            service_line=line,
            origin_line=origin,
            client_id=source.submitted_by_id,
            member_id=case.member_id,
            member_first_name=case.member_first_name,
            member_last_name=case.member_last_name,
            member_birth_date=case.member_birth_date,
            line_of_business=case.line_of_business,
            plan_id=case.plan_id,
            requesting_provider_npi=case.requesting_provider_npi,
            requesting_provider_name=case.requesting_provider_name,
            servicing_provider_npi=case.servicing_provider_npi,
            servicing_provider_name=case.servicing_provider_name,
            code_system=line.code_system,
            code=line.code,
            modifiers=line.modifiers,
            approved_units=_approved_units(decision_line, line),
            valid_from=valid_from,
            valid_to=valid_to,
            validity_rule=validity.rule,
            validity_basis=validity.basis[:300],
            status=AuthorizationStatus.ACTIVE,
            issued_at=now,
            supersedes=supersedes,
        )
        try:
            with transaction.atomic():
                candidate.save(force_insert=True)
        except IntegrityError as exc:
            if "authorization_number" in str(exc) or "authorization_unique_number" in str(exc):
                continue  # another authorization drew the same number: draw again
            raise
        return candidate
    raise DomainError("could not allocate an authorization number; try again")  # pragma: no cover


def authorizations_apply(*, case: Case, decision: Decision, user: User | None, now: datetime) -> list[Authorization]:
    """Issue, supersede or void the authorizations of the services `decision` decides.

    Runs in the decision's transaction. An approving outcome issues a new authorization that
    supersedes the service's active one. A denial on reopening or correction voids it. An upheld
    appeal or a denied extension leaves it as it was: the earlier decision stands.
    """
    issued: list[Authorization] = []
    lines = list(
        DecisionLine.objects.filter(decision=decision)
        .select_related("service_line__origin__origin")
        .prefetch_related("citations__policy_version")
    )
    flag_policies: dict[int, set[int]] = {}
    for line_id, policy_id in case.flags.filter(superseded_at__isnull=True, policy_version__isnull=False).values_list(
        "service_line_id", "policy_version__policy_id"
    ):
        flag_policies.setdefault(line_id, set()).add(policy_id)
    for decision_line in lines:
        if decision_line.carried_from_id is not None:
            # Restated from intake's decision, which issued its authorization.
            continue
        line = decision_line.service_line
        origin = origin_line_of(line)
        current = active_authorization(origin.pk)
        if decision_line.outcome in AUTHORIZING_OUTCOMES:
            policy_ids = {c.policy_version.policy_id for c in decision_line.citations.all()}
            policy_ids |= flag_policies.get(line.pk, set())
            if current is not None:
                _end(
                    current,
                    status=AuthorizationStatus.SUPERSEDED,
                    now=now,
                    reason=f"superseded by decision {decision.pk} on case {case.case_number}",
                )
            authorization = _issue(
                case=case,
                decision=decision,
                decision_line=decision_line,
                line=line,
                origin=origin,
                supersedes=current,
                policy_ids=policy_ids,
                now=now,
            )
            issued.append(authorization)
            case_event_add(case, CaseEventKind.AUTHORIZATION_ISSUED, user, now, **_issued_event(authorization, line))
            _audit(authorization, user, previous=current)
        elif (
            current is not None
            and decision_line.outcome == LineOutcome.DENIED
            and case.review_type in (ReviewType.PROSPECTIVE, ReviewType.RETROSPECTIVE)
        ):
            _end(
                current,
                status=AuthorizationStatus.VOIDED,
                now=now,
                reason=f"voided by decision {decision.pk} on case {case.case_number}",
            )
            case_event_add(
                case,
                CaseEventKind.AUTHORIZATION_ENDED,
                user,
                now,
                authorization=current.authorization_number,
                line=line.sequence,
                status=AuthorizationStatus.VOIDED.value,
            )
            audit_record(
                action=AuditAction.CHANGE,
                object_type=AuditObject.AUTHORIZATION,
                object_id=current.authorization_number,
                case_number=case.case_number,
                user=user,
                changes={"status": (AuthorizationStatus.ACTIVE.value, AuthorizationStatus.VOIDED.value)},
            )
    return issued


def _audit(authorization: Authorization, user: User | None, *, previous: Authorization | None) -> None:
    audit_record(**_audit_values(authorization, user, previous=previous))


def _audit_values(authorization: Authorization, user: User | None, *, previous: Authorization | None) -> dict[str, Any]:
    return {
        "action": AuditAction.CREATE,
        "object_type": AuditObject.AUTHORIZATION,
        "object_id": authorization.authorization_number,
        "case_number": authorization.case.case_number,
        "user": user,
        "changes": {
            "status": (None, authorization.status),
            "service": (None, f"{authorization.code_system} {authorization.code}"),
            "approved_units": (None, authorization.approved_units),
            "valid_from": (None, authorization.valid_from.isoformat()),
            "valid_to": (None, authorization.valid_to.isoformat()),
            "supersedes": (None, previous.authorization_number if previous else None),
        },
        "detail": {"validity_basis": authorization.validity_basis, "decision": authorization.decision_id},
    }


def _issued_event(authorization: Authorization, line: ServiceLine) -> dict[str, Any]:
    return {
        "authorization": authorization.authorization_number,
        "line": line.sequence,
        "supersedes": authorization.supersedes.authorization_number if authorization.supersedes else None,
        "valid_from": authorization.valid_from.isoformat(),
        "valid_to": authorization.valid_to.isoformat(),
        "approved_units": authorization.approved_units,
    }


@dataclass(frozen=True)
class NewRequestAuthorizations:
    """What issuing a new request's authorizations wrote, and its timeline events and audit rows,
    not yet saved."""

    authorizations: list[Authorization]
    events: list[CaseEvent]
    audit_rows: list[AuditEvent]


def authorizations_issue_for_new_request(
    *,
    case: Case,
    decision: Decision,
    approvals: Sequence[tuple[DecisionLine, ServiceLine, set[int]]],
    now: datetime,
) -> NewRequestAuthorizations:
    """Issue the authorizations of the lines `decision` approves as a new request is stored
    (intake's triage): each (decision line, its service line, the policies that govern it).

    The lines are new, so none has an authorization to supersede and nothing is looked up or
    locked; the timeline events and audit rows come back unsaved, for intake to insert with its
    own in one statement each.
    """
    rules = validity_rules(case.line_of_business) if approvals else []
    issued: list[Authorization] = []
    events: list[CaseEvent] = []
    audit_rows: list[AuditEvent] = []
    for decision_line, line, policy_ids in approvals:
        authorization = _issue(
            case=case,
            decision=decision,
            decision_line=decision_line,
            line=line,
            origin=line,
            supersedes=None,
            policy_ids=policy_ids,
            now=now,
            rules=rules,
        )
        issued.append(authorization)
        events.append(
            CaseEvent(
                case=case,
                kind=CaseEventKind.AUTHORIZATION_ISSUED,
                actor=None,
                at=now,
                detail=_issued_event(authorization, line),
            )
        )
        audit_rows.append(audit_event_build(**_audit_values(authorization, None, previous=None)))
    return NewRequestAuthorizations(issued, events, audit_rows)


def authorizations_expire(*, today: date, now: datetime, limit: int = 10_000) -> int:
    """Mark active authorizations whose validity ended before `today` as expired; returns how many.

    Idempotent: an authorization already ended is left as it is.
    """
    ids = list(
        Authorization.objects.filter(status=AuthorizationStatus.ACTIVE, valid_to__lt=today)
        .order_by("valid_to", "pk")
        .values_list("pk", flat=True)[:limit]
    )
    if not ids:
        return 0
    return Authorization.objects.filter(Q(pk__in=ids), status=AuthorizationStatus.ACTIVE).update(
        status=AuthorizationStatus.EXPIRED, ended_at=now, ended_reason="validity period ended"
    )
