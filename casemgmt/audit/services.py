"""Writing the audit log. One function, `audit_record`, writes every row.

How to record (for services in any app, retrospective review included)::

    from casemgmt.audit.models import AuditAction, AuditObject
    from casemgmt.audit.services import audit_record

    audit_record(
        action=AuditAction.CHANGE,          # view, list, create, change, delete, export, download, ...
        object_type=AuditObject.CASE,       # or any short lowercase name, e.g. "retro_review"
        object_id=case.case_number,         # the identifier people use: case number, decision id
        case_number=case.case_number,       # the case it concerns, so the case's history shows it
        user=user,                          # the acting user; omit to take the request's user;
                                            # None for the system (a task acting on its own)
        changes={"status": (old, new)},     # for changes: field -> (old value, new value)
        detail={"reason": "..."},           # anything else worth keeping (JSON-serialisable)
    )

Call it inside the transaction that makes the change: if the change rolls back, so does its
row, and if the row cannot be written the change fails. Who and where (IP, user agent, path,
channel) come from the request, task or command context (casemgmt.audit.context); the caller
does not pass them. The row is append-only: nothing can update it, and on PostgreSQL nothing
can delete it.

Values longer than VALUE_MAX characters (a clinical note, say) are stored as their SHA-256 and
length: the audit log proves what changed without becoming a second copy of the record.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any, cast

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import Model

from casemgmt.audit.context import SYSTEM_ACTOR, current
from casemgmt.audit.models import AuditAction, AuditEvent
from casemgmt.kernel.roles import user_roles

VALUE_MAX = 500
OBJECT_ID_MAX = 100
# Stands for a secret (a password, a signing key) that changed: the log says so, never what it is.
MASKED = "(secret; not recorded)"


class _FromContext(enum.Enum):
    USER = "from-context"


FROM_CONTEXT = _FromContext.USER

# Exact types (not an enum member that is also a str) that go into the JSON column as they are.
_AS_IS = frozenset({str, int, float, bool})
_ACTIONS = frozenset(AuditAction.values)


def _plain(value: Any) -> Any:
    """A value as it goes into the JSON column."""
    if value is None or type(value) in _AS_IS:
        return value
    if isinstance(value, Model):
        return str(value.pk)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=str) if isinstance(value, (set, frozenset)) else value
        return [_plain(v) for v in items]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def bounded(value: Any) -> Any:
    """A value as the audit log keeps it: as is, or, when long, its SHA-256 and length."""
    value = _plain(value)
    if isinstance(value, (str, dict, list)):
        text = value if isinstance(value, str) else repr(value)
        if len(text) > VALUE_MAX:
            digest = hashlib.sha256(text.encode()).hexdigest()
            return {"sha256": digest, "length": len(text)}
    return value


def changes_between(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """The fields whose value differs, as field -> (old, new)."""
    return {
        name: (before.get(name), after.get(name))
        for name in sorted(set(before) | set(after))
        if _plain(before.get(name)) != _plain(after.get(name))
    }


def _actor(user: User | AnonymousUser | _FromContext | None) -> tuple[User | None, str, frozenset[str]]:
    if user is FROM_CONTEXT:
        request = current().request
        user = getattr(request, "user", None) if request is not None else None
        if user is None:
            return None, SYSTEM_ACTOR, frozenset()
    if user is None:
        return None, SYSTEM_ACTOR, frozenset()
    if not user.is_authenticated:
        return None, "", frozenset()
    account = cast(User, user)
    return account, account.get_username(), frozenset(role.value for role in user_roles(account))


def audit_record(
    *,
    action: AuditAction | str,
    object_type: str,
    object_id: str | int = "",
    case_number: str = "",
    user: User | AnonymousUser | _FromContext | None = FROM_CONTEXT,
    username: str | None = None,
    roles: Iterable[str] | None = None,
    changes: Mapping[str, tuple[Any, Any]] | None = None,
    detail: Mapping[str, Any] | None = None,
    object_ids: Iterable[str] = (),
    status_code: int | None = None,
) -> AuditEvent:
    """Write one audit row. See the module docstring for how and when; the arguments are
    audit_event_build's."""
    event = audit_event_build(
        action=action,
        object_type=object_type,
        object_id=object_id,
        case_number=case_number,
        user=user,
        username=username,
        roles=roles,
        changes=changes,
        detail=detail,
        object_ids=object_ids,
        status_code=status_code,
    )
    event.save(force_insert=True)
    return event


def audit_event_build(
    *,
    action: AuditAction | str,
    object_type: str,
    object_id: str | int = "",
    case_number: str = "",
    user: User | AnonymousUser | _FromContext | None = FROM_CONTEXT,
    username: str | None = None,
    roles: Iterable[str] | None = None,
    changes: Mapping[str, tuple[Any, Any]] | None = None,
    detail: Mapping[str, Any] | None = None,
    object_ids: Iterable[str] = (),
    status_code: int | None = None,
) -> AuditEvent:
    """One audit row, not yet saved: for a caller that inserts many with `bulk_create` (a
    retrospective review chunk's results); everyone else calls audit_record.

    `username` names an actor with no account row (a failed sign-in's attempted name);
    `roles` overrides the roles read from the user (the one role a decision was made in).
    """
    if action not in _ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    context = current()
    actor, actor_username, actor_roles = _actor(user)
    if username is not None:
        actor_username = username
    merged_detail = {**context.detail, **{k: bounded(v) for k, v in (detail or {}).items()}}
    return AuditEvent(
        actor=actor,
        actor_username=actor_username[:150],
        roles=" ".join(sorted(set(roles) if roles is not None else actor_roles)),
        channel=context.channel,
        action=str(action),
        object_type=str(object_type),
        object_id=str(object_id)[:OBJECT_ID_MAX],
        case_number=case_number,
        object_ids=" ".join(object_ids),
        ip=context.ip,
        user_agent=context.user_agent,
        method=context.method,
        path=context.path,
        status_code=status_code,
        request_id=context.request_id,
        changes={name: {"old": bounded(old), "new": bounded(new)} for name, (old, new) in (changes or {}).items()},
        detail=merged_detail,
    )
