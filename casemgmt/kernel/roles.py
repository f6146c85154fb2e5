"""Roles are Django groups; every permission decision in services goes through here."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser, Group, User
from django.db import connection
from django.db.models import TextChoices

from casemgmt.kernel.errors import PermissionDeniedError


class Role(TextChoices):
    NURSE = "nurse_reviewer", "Nurse reviewer"
    PHYSICIAN = "physician_reviewer", "Physician reviewer"
    POLICY_EDITOR = "policy_editor", "Policy editor"
    MANAGER = "manager", "Manager"
    INTEGRATION_CLIENT = "integration_client", "Integration client"
    # Reads the audit log (HIPAA 164.312(b)); sees no case pages and changes nothing.
    AUDITOR = "auditor", "Auditor"


REVIEWER_ROLES = frozenset({Role.NURSE, Role.PHYSICIAN, Role.MANAGER})
POLICY_READER_ROLES = frozenset({Role.NURSE, Role.PHYSICIAN, Role.MANAGER, Role.POLICY_EDITOR})

AnyUser = User | AnonymousUser


def _group_names(user_id: int) -> set[str]:
    # Raw SQL: every request asks this, and compiling the ORM's version cost more than running it.
    q = connection.ops.quote_name
    membership = User.groups.through._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT g.name FROM {q(Group._meta.db_table)} g JOIN {q(membership)} m ON m.group_id = g.id "
            "WHERE m.user_id = %s",
            [user_id],
        )
        return {name for (name,) in cursor.fetchall()}


# Bit i of a role mask stands for _ROLE_BITS[i] (the order is internal: masks are never stored).
_ROLE_BITS = tuple(Role)


def role_mask_sql() -> tuple[str, list[str]]:
    """A scalar subquery giving the roles of the user whose id is its last parameter, as a bit
    mask, and its parameters but that id. For a read that must also know the caller's roles
    (intake's pre-write read), so the roles cost no query of their own. Portable SQL: a group
    name is compared whole, never parsed out of a joined string."""
    q = connection.ops.quote_name
    membership = User.groups.through._meta.db_table
    cases = " ".join("WHEN %s THEN " + str(1 << i) for i in range(len(_ROLE_BITS)))
    sql = (
        f"(SELECT COALESCE(SUM(CASE g.name {cases} ELSE 0 END), 0) FROM {q(Group._meta.db_table)} g"
        f" JOIN {q(membership)} m ON m.group_id = g.id WHERE m.user_id = %s)"
    )
    return sql, [role.value for role in _ROLE_BITS]


def remember_role_mask(user: User, mask: int) -> None:
    """Hold the roles read by a `role_mask_sql` column as the user's roles for this request."""
    roles = frozenset(role for i, role in enumerate(_ROLE_BITS) if int(mask) & (1 << i))
    setattr(user, "_casemgmt_roles", roles)  # noqa: B010


def user_roles(user: AnyUser) -> frozenset[Role]:
    if not user.is_authenticated or not user.is_active:
        return frozenset()
    cached: frozenset[Role] | None = getattr(user, "_casemgmt_roles", None)
    if cached is None:
        names = _group_names(user.pk)
        cached = frozenset(role for role in Role if role.value in names)
        # Roles are read many times per request; remember them on the user object.
        setattr(user, "_casemgmt_roles", cached)  # noqa: B010
    return cached


def has_role(user: AnyUser, *roles: Role) -> bool:
    return bool(user_roles(user) & set(roles))


def require_role(user: AnyUser, *roles: Role, action: str) -> None:
    if not has_role(user, *roles):
        allowed = ", ".join(Role(r).label.lower() for r in roles)
        raise PermissionDeniedError(f"Only a {allowed} may {action}.")


def reviewer_role(user: AnyUser) -> Role | None:
    """The role a reviewer acts in; a physician who is also a nurse acts as physician."""
    roles = user_roles(user)
    if Role.PHYSICIAN in roles:
        return Role.PHYSICIAN
    if Role.NURSE in roles:
        return Role.NURSE
    return None
