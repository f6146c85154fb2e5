"""A reviewer's saved work-queue filters: a name and the queue's query string, kept per user.

A saved filter holds only what the queue's address may hold (status, urgency, line of business,
review type, flag, assignee, sort): never a search term, which can be a member id and so never
leaves the session. It is the reviewer's own preference, shows no member and changes no case;
its saving, replacing and deleting are audited all the same, as every change a user makes is.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from django.contrib.auth.models import User
from django.db import transaction

from casemgmt.audit.models import AuditAction, AuditObject
from casemgmt.audit.services import audit_record, changes_between
from casemgmt.cases.models import SavedQueueFilter
from casemgmt.kernel.errors import NotFoundError, ValidationFailed
from casemgmt.kernel.roles import Role, require_role

# The queue's address parameters a saved filter may hold, in the order it keeps them.
SAVED_FILTER_KEYS = ("status", "urgency", "lob", "review", "flag", "assigned", "sort")
SAVED_FILTERS_PER_USER = 50
NAME_MAX = SavedQueueFilter._meta.get_field("name").max_length or 80
QUERY_MAX = SavedQueueFilter._meta.get_field("query").max_length or 1000


def _clean_query(query: str) -> str:
    """The query string in a canonical form (known keys, fixed order, blanks dropped), or a refusal."""
    query = query.strip().removeprefix("?")
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query), max_num_fields=20)
    except ValueError:
        raise ValidationFailed({"query": ["is not a query string of the work queue"]}) from None
    unknown = sorted({key for key, _value in pairs if key not in SAVED_FILTER_KEYS})
    if unknown:
        # "q" (the search box) in particular: it can be a member id, which is never stored.
        raise ValidationFailed({"query": [f"may not hold {', '.join(unknown)}"]})
    values = {key: value for key, value in pairs if value}
    cleaned = urlencode([(key, values[key]) for key in SAVED_FILTER_KEYS if key in values])
    if len(cleaned) > QUERY_MAX:
        raise ValidationFailed({"query": [f"is longer than {QUERY_MAX} characters"]})
    return cleaned


def saved_queue_filter_save(*, user: User, name: str, query: str) -> SavedQueueFilter:
    """Save the queue's current filter under `name` for `user`; a filter of the same name is replaced."""
    require_role(user, Role.NURSE, Role.PHYSICIAN, Role.MANAGER, action="save a queue filter")
    name = " ".join(name.split())
    problems: dict[str, list[str]] = {}
    if not name:
        problems["name"] = ["is required"]
    elif len(name) > NAME_MAX:
        problems["name"] = [f"is longer than {NAME_MAX} characters"]
    try:
        cleaned = _clean_query(query)
    except ValidationFailed as exc:
        problems.update(exc.errors)
        cleaned = ""
    if problems:
        raise ValidationFailed(problems)
    with transaction.atomic():
        # One save at a time per user, so two at once cannot both pass the limit.
        list(User.objects.select_for_update().filter(pk=user.pk).values_list("pk", flat=True))
        existing = dict(SavedQueueFilter.objects.filter(user=user).values_list("name", "query"))
        if name not in existing and len(existing) >= SAVED_FILTERS_PER_USER:
            raise ValidationFailed(
                {"name": [f"you have {SAVED_FILTERS_PER_USER} saved filters already; delete one first"]}
            )
        saved, created = SavedQueueFilter.objects.update_or_create(user=user, name=name, defaults={"query": cleaned})
        audit_record(
            action=AuditAction.CREATE if created else AuditAction.CHANGE,
            object_type=AuditObject.SAVED_QUEUE_FILTER,
            object_id=saved.pk,
            user=user,
            changes=(
                {"name": (None, name), "query": (None, cleaned)}
                if created
                else changes_between({"query": existing[name]}, {"query": cleaned})
            ),
            detail={"name": name},
        )
        return saved


def saved_queue_filter_delete(*, user: User, filter_id: int) -> str:
    """Delete one of `user`'s saved filters and return its name. Another user's filter is not
    found, as if it did not exist."""
    require_role(user, Role.NURSE, Role.PHYSICIAN, Role.MANAGER, action="delete a queue filter")
    with transaction.atomic():
        saved = SavedQueueFilter.objects.select_for_update().filter(pk=filter_id, user=user).first()
        if saved is None:
            raise NotFoundError("That saved filter does not exist (it may have been deleted already).")
        audit_record(
            action=AuditAction.DELETE,
            object_type=AuditObject.SAVED_QUEUE_FILTER,
            object_id=saved.pk,
            user=user,
            changes={"name": (saved.name, None), "query": (saved.query, None)},
        )
        saved.delete()
        return saved.name
