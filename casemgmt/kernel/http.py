"""What every page and API view starts from: a request whose user is signed in, and the role check."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Concatenate, ParamSpec, cast

from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseBase
from rest_framework.request import Request

from casemgmt.kernel.roles import Role, has_role

P = ParamSpec("P")


class AuthenticatedHttpRequest(HttpRequest):
    """A page request behind `login_required` (django-stubs' documented pattern)."""

    user: User


class AuthenticatedRequest(Request):
    """An API request that passed authentication: DRF's `IsAuthenticated` holds for it."""

    user: User


PageView = Callable[Concatenate[AuthenticatedHttpRequest, P], HttpResponseBase]


def role_required(
    *roles: Role, refusal: str
) -> Callable[[PageView[P]], Callable[Concatenate[HttpRequest, P], HttpResponseBase]]:
    """A page for people signed in with one of `roles`; anyone else signed in gets 403 with `refusal`."""

    def decorator(view: PageView[P]) -> Callable[Concatenate[HttpRequest, P], HttpResponseBase]:
        @wraps(view)
        def checked(request: HttpRequest, *args: P.args, **kwargs: P.kwargs) -> HttpResponseBase:
            if not has_role(request.user, *roles):
                raise PermissionDenied(refusal)
            # login_required runs first: the user is a signed-in account here.
            return view(cast(AuthenticatedHttpRequest, request), *args, **kwargs)

        return login_required(checked)

    return decorator
