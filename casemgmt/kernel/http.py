"""What every page and API view starts from: a request whose user is signed in, the role check,
and what a page says when a service refuses."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Concatenate, ParamSpec, cast

from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseBase
from rest_framework.request import Request

from casemgmt.kernel.errors import DomainError, ValidationFailed
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
    """A page for people signed in with one of `roles`: anyone not signed in is sent to sign in,
    anyone else signed in gets 403 with `refusal`.

    Put it right above the view function, under the method check and `audited_view`: a refusal
    is then recorded as a denied view of what the page shows. Stacked, the outer check runs first.
    """

    def decorator(view: PageView[P]) -> Callable[Concatenate[HttpRequest, P], HttpResponseBase]:
        @wraps(view)
        def checked(request: HttpRequest, *args: P.args, **kwargs: P.kwargs) -> HttpResponseBase:
            if not has_role(request.user, *roles):
                raise PermissionDenied(refusal)
            # login_required runs first: the user is a signed-in account here.
            return view(cast(AuthenticatedHttpRequest, request), *args, **kwargs)

        return login_required(checked)

    return decorator


def refusal_text(exc: DomainError, what: str, *, field_names: bool = True) -> str:
    """What a page tells its user when a service refuses: `what` was not done ("Not recorded"),
    and why; with `field_names`, each problem of bad input is said with the field it is about.

    A refusal for want of permission is no message: it stays a 403.
    """
    if exc.status_code == 403:
        raise PermissionDenied(exc.message) from exc
    if isinstance(exc, ValidationFailed):
        problems = (
            f"{field}: {' '.join(said)}" if field_names else " ".join(said) for field, said in exc.errors.items()
        )
        return f"{what}: " + "; ".join(problems)
    return f"{what}: {exc.message}"
