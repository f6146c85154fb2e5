"""Template context shared by every page."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from casemgmt.kernel.roles import user_roles as roles_of


def user_roles(request: HttpRequest) -> dict[str, object]:
    """`user_roles`: the signed-in user's role names, for showing only what a role may use.

    Lazy, so a page that never asks costs no query; roles_of caches on the user, so a page that
    asks (the nav) shares the query with the view's own permission check. Showing a link is a
    convenience only: every view checks the role again.
    """
    return {"user_roles": SimpleLazyObject(lambda: frozenset(role.value for role in roles_of(request.user)))}
