"""Accounts and credentials: API tokens, the role groups' admin permissions, demo users."""

from __future__ import annotations

import secrets

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from casemgmt.audit.models import AuditAction, AuditObject
from casemgmt.audit.services import MASKED, audit_record
from casemgmt.cases.models import (
    ApiToken,
)
from casemgmt.kernel.errors import (
    NotFoundError,
    ValidationFailed,
)
from casemgmt.kernel.roles import Role, require_role

# --- API tokens ---------------------------------------------------------------------------


def api_token_create(*, user: User, label: str = "") -> tuple[ApiToken, str]:
    """Issue a bearer token. The raw token is returned once and never stored."""
    if not user.is_active:
        raise ValidationFailed({"user": ["the account is inactive"]})
    raw = "pa_" + secrets.token_urlsafe(32)
    with transaction.atomic():
        token = ApiToken.objects.create(user=user, label=label, prefix=raw[:10], key_hash=ApiToken.hash_of(raw))
        # The actor is whoever issues it (a command, an admin); `user` is the client it is for.
        audit_record(
            action=AuditAction.CREATE,
            object_type=AuditObject.API_TOKEN,
            object_id=token.pk,
            changes={"client": (None, user.get_username()), "label": (None, label), "prefix": (None, token.prefix)},
        )
    return token, raw


# --- roles and demo users ----------------------------------------------------------------

# What each role may do in the admin. Reviewers read policies there; editors maintain them;
# managers also keep the deadline rules.
ROLE_ADMIN_PERMISSIONS: dict[str, list[tuple[str, str, tuple[str, ...]]]] = {
    Role.POLICY_EDITOR: [
        *[
            ("policies_app", model, ("view", "add", "change", "delete"))
            for model in ("policy", "policyversion", "policycode", "policyterm", "criterion", "factdefinition")
        ],
        # Requirement rules are never deleted: a rule is retired, and its history stays.
        ("policies_app", "requirementrule", ("view", "add", "change")),
    ],
    Role.NURSE: [
        ("policies_app", m, ("view",)) for m in ("policy", "policyversion", "factdefinition", "requirementrule")
    ],
    Role.PHYSICIAN: [
        ("policies_app", m, ("view",)) for m in ("policy", "policyversion", "factdefinition", "requirementrule")
    ],
    Role.MANAGER: [
        *[("policies_app", m, ("view",)) for m in ("policy", "policyversion", "factdefinition", "requirementrule")],
        ("casemgmt", "deadlinerule", ("view", "add", "change")),
        # After the decision: how long authorizations last and how long appeals may be filed.
        ("casemgmt", "authorizationvalidityrule", ("view", "add", "change")),
        ("casemgmt", "appealwindow", ("view", "add", "change")),
        # The review decision reason codes (X12 886) reviewers may give: deactivated, never deleted.
        ("casemgmt", "reviewreasoncode", ("view", "add", "change")),
        # Triage at intake: the window and the action for duplicate requests, one rule per line of business.
        ("casemgmt", "duplicaterule", ("view", "change")),
        # Automatic approval at intake: one plan-wide switch.
        ("casemgmt", "intakesettings", ("view", "change")),
        ("casemgmt", "authorization", ("view",)),
        # Gold cards: managers define programmes; exemptions are granted and revoked on /gold-cards/.
        ("casemgmt", "goldcardprogramme", ("view", "add", "change")),
        ("casemgmt", "goldcardexemption", ("view",)),
        ("casemgmt", "apitoken", ("view", "change")),
        # SMART backend clients of the FHIR door: seen and deactivated here, registered by a command.
        ("fhir", "fhirclient", ("view", "change")),
        ("casemgmt", "webhookdelivery", ("view",)),
        # Retrospective review: runs, the nightly settings and the beat schedule they run on.
        ("retro", "retrorun", ("view", "add", "change")),
        ("retro", "retroschedule", ("view", "change")),
        ("retro", "retroreviewitem", ("view",)),
        ("django_celery_beat", "periodictask", ("view", "change")),
        ("django_celery_beat", "crontabschedule", ("view", "add", "change")),
        ("django_celery_beat", "intervalschedule", ("view", "add", "change")),
    ],
    Role.INTEGRATION_CLIENT: [],
    Role.CLAIMS_SYSTEM: [],
}


def roles_sync_permissions() -> None:
    """Create the role groups and give each exactly its admin permissions."""
    from django.contrib.auth.models import Group, Permission

    for role in Role:
        group, _ = Group.objects.get_or_create(name=role.value)
        wanted = [
            f"{action}_{model}" for app, model, actions in ROLE_ADMIN_PERMISSIONS.get(role, []) for action in actions
        ]
        apps_of = {
            f"{action}_{model}": app
            for app, model, actions in ROLE_ADMIN_PERMISSIONS.get(role, [])
            for action in actions
        }
        perms = [
            p
            for p in Permission.objects.filter(codename__in=wanted).select_related("content_type")
            if p.content_type.app_label == apps_of[p.codename]
        ]
        group.permissions.set(perms)


def demo_user_ensure(*, username: str, role: Role, password: str, full_name: str) -> User:
    """Create or reset a demo user in exactly one role."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    first, _, last = full_name.partition(" ")
    user, created = get_user_model().objects.get_or_create(username=username)
    user.first_name, user.last_name = first, last
    # Staff status only opens the admin; what each role sees there is its group's permissions.
    # Clients and claims systems use the API and auditors the audit pages: none of them has
    # anything to do in the admin.
    user.is_staff = role not in (Role.INTEGRATION_CLIENT, Role.CLAIMS_SYSTEM, Role.AUDITOR)
    user.set_password(password)
    user.save()
    user.groups.set([Group.objects.get(name=role.value)])
    audit_record(
        action=AuditAction.CREATE if created else AuditAction.CHANGE,
        object_type=AuditObject.USER,
        object_id=user.pk,
        changes={"username": (None, username), "role": (None, role.value), "password": (None, MASKED)},
    )
    return user


@transaction.atomic
def api_token_revoke(*, token_id: int, user: User) -> ApiToken:
    """Revoke an integration client's token. Revoking twice keeps the first revocation time."""
    require_role(user, Role.MANAGER, action="revoke an API token")
    try:
        token = ApiToken.objects.select_for_update().get(pk=token_id)
    except ApiToken.DoesNotExist as exc:
        raise NotFoundError(f"API token {token_id} does not exist") from exc
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit_record(
            action=AuditAction.CHANGE,
            object_type=AuditObject.API_TOKEN,
            object_id=token.pk,
            user=user,
            changes={"revoked_at": (None, token.revoked_at)},
        )
    return token
