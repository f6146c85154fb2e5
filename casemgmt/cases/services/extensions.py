"""Extension requests: more units, or a later end, for an authorization.

../shared/DOMAIN.md, "After the decision": more units or a longer period is an extension request,
reviewed like a new one. The request is a case of its own (review type "extension") that names
the authorization; its approval supersedes the authorization with a new one
(`casemgmt.cases.services.authorizations.authorizations_apply`), a denial leaves it as it was.
"""

from __future__ import annotations

from datetime import date

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from casemgmt.cases.models import (
    Authorization,
    AuthorizationStatus,
    Case,
    CaseEventKind,
    ReviewType,
    ServiceLine,
    Urgency,
)
from casemgmt.cases.selectors import open_extension_case
from casemgmt.cases.services.deadlines import deadline_for
from casemgmt.cases.services.derived_cases import case_derive
from casemgmt.cases.services.events import case_event_add
from casemgmt.cases.validation import Problems
from casemgmt.kernel.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationFailed
from casemgmt.kernel.roles import REVIEWER_ROLES, Role, user_roles

EXTENSION_REASON_MAX = 4000
# The most units one service line may ask for (the API's MAX_UNITS).
EXTENSION_UNITS_MAX = 10_000
# Detail keys of the extension case's RECEIVED event: what was asked for. The decision that
# approves the extension reads the requested end from there (authorizations._issue).
REQUESTED_UNITS = "requested_units"
REQUESTED_VALID_TO = "requested_valid_to"


def _authorization_for(user: User, authorization_number: str) -> Authorization:
    """The authorization, locked, if `user` may ask to extend it.

    An integration client asks for the requests it submitted; reviewers and managers record a
    request received by phone. To another client the authorization does not exist.
    """
    roles = user_roles(user)
    authorization = (
        Authorization.objects.select_for_update(of=("self",))
        .filter(authorization_number=authorization_number.strip().upper())
        .select_related("case", "origin_line")
        .first()
    )
    if authorization is None or (not roles & REVIEWER_ROLES and authorization.client_id != user.pk):
        raise NotFoundError("No such authorization.", field="authorization_number")
    return authorization


def authorization_extension_request(
    *,
    authorization_number: str,
    user: User,
    units: int | None,
    valid_to: date | None,
    reason: str,
    urgency: str,
) -> Case:
    """Open an extension case for an active authorization: `units` is the total number of units
    wanted (more than approved), `valid_to` a later end; at least one of them.

    The case carries one service line, the authorization's service, that names the original
    request's line as its origin; only one extension of an authorization is under review at a time.
    """
    if not user_roles(user) & (REVIEWER_ROLES | {Role.INTEGRATION_CLIENT}):
        raise PermissionDeniedError("Only the requester, a reviewer or a manager may ask to extend an authorization.")
    reason = reason.strip()
    problems = Problems()
    if units is None and valid_to is None:
        message = "ask for more units, a later end, or both"
        problems.add("units", message)
        problems.add("valid_to", message)
    if not reason:
        problems.add("reason", "say why the service needs more units or time")
    elif len(reason) > EXTENSION_REASON_MAX:
        problems.add("reason", f"at most {EXTENSION_REASON_MAX} characters")
    if urgency not in Urgency.values:
        problems.add("urgency", f"must be one of {', '.join(Urgency.values)}")
    if units is not None and not 0 < units <= EXTENSION_UNITS_MAX:
        problems.add("units", f"must be between 1 and {EXTENSION_UNITS_MAX}")
    if problems:
        raise ValidationFailed(problems.errors)

    with transaction.atomic():
        authorization = _authorization_for(user, authorization_number)
        if authorization.current_status != AuthorizationStatus.ACTIVE:
            raise ConflictError(
                f"authorization {authorization.authorization_number} is "
                f"{AuthorizationStatus(authorization.current_status).label.lower()}; only an active "
                "authorization can be extended (ask for a new authorization instead)",
                field="authorization_number",
                status=authorization.current_status,
            )
        if units is not None and units <= authorization.approved_units:
            problems.add(
                "units",
                f"the total units wanted must be more than the {authorization.approved_units} already approved",
            )
        if valid_to is not None and valid_to <= authorization.valid_to:
            problems.add(
                "valid_to",
                f"must be later than the authorization's current end, {authorization.valid_to.isoformat()}",
            )
        if problems:
            raise ValidationFailed(problems.errors)
        pending = open_extension_case(authorization.pk)
        if pending is not None:
            raise ConflictError(
                f"an extension of {authorization.authorization_number} is already under review in "
                f"{pending.case_number}",
                field="authorization_number",
                case_number=pending.case_number,
            )

        now = timezone.now()
        source = authorization.case
        origin = authorization.origin_line
        due_at, rule = deadline_for(
            received_at=now,
            urgency=urgency,
            line_of_business=source.line_of_business,
            review_type=ReviewType.EXTENSION,
        )
        line = ServiceLine(
            sequence=origin.sequence,
            code_system=authorization.code_system,
            code=authorization.code,
            modifiers=authorization.modifiers,
            units=units if units is not None else authorization.approved_units,
            date_of_service=origin.date_of_service,
            description=origin.description,
            origin=origin,
        )
        requested = {
            "extension_of": authorization.authorization_number,
            REQUESTED_UNITS: units,
            REQUESTED_VALID_TO: valid_to.isoformat() if valid_to is not None else None,
            "reason": reason,
        }
        extension = case_derive(
            source=source,
            actor=user,
            review_type=ReviewType.EXTENSION,
            urgency=urgency,
            lines=[line],
            received_at=now,
            due_at=due_at,
            rule=rule,
            received_detail=requested,
            extension_of=authorization,
        )
        case_event_add(
            source,
            CaseEventKind.EXTENSION_REQUESTED,
            user,
            now,
            extension=extension.case_number,
            authorization=authorization.authorization_number,
            line=origin.sequence,
            urgency=urgency,
            approved_units=authorization.approved_units,
            valid_to=authorization.valid_to.isoformat(),
            **{REQUESTED_UNITS: units, REQUESTED_VALID_TO: requested[REQUESTED_VALID_TO]},
        )
        return extension


def extension_requested_end(case: Case) -> date | None:
    """The later end an extension case asked for, if it asked for one."""
    if case.review_type != ReviewType.EXTENSION:
        return None
    received = case.events.filter(kind=CaseEventKind.RECEIVED).order_by("at", "id").first()
    value = received.detail.get(REQUESTED_VALID_TO) if received is not None else None
    return date.fromisoformat(value) if value else None
