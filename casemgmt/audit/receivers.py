"""Signal receivers that record; they decide nothing.

Sign-in, failed sign-in and sign-out come from Django's auth signals, whichever view or backend
was used (the sign-in page, the admin's, a lockout by django-axes). Celery's task signals give
the rows a task writes the task channel and the system actor, also when tasks run in-process.
"""

from __future__ import annotations

from contextvars import Token
from typing import Any

from celery.signals import task_postrun, task_prerun
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest

from casemgmt.audit import context
from casemgmt.audit.models import AuditAction, AuditObject
from casemgmt.audit.services import audit_record


def _scoped(request: HttpRequest | None) -> Any:
    """The request's context when the middleware has not set one (a login outside the middleware)."""
    if request is not None and context.current().request is not request:
        return context.audit_scope(context.context_for_request(request))
    return context.audit_scope(context.current())


@receiver(user_logged_in, dispatch_uid="audit_user_logged_in")
def _signed_in(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    with _scoped(request):
        audit_record(action=AuditAction.SIGN_IN, object_type=AuditObject.USER, object_id=user.pk, user=user)


@receiver(user_logged_out, dispatch_uid="audit_user_logged_out")
def _signed_out(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    if user is None:
        return
    with _scoped(request):
        audit_record(action=AuditAction.SIGN_OUT, object_type=AuditObject.USER, object_id=user.pk, user=user)


@receiver(user_login_failed, dispatch_uid="audit_user_login_failed")
def _sign_in_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    # Django has already replaced the password in `credentials`; only the name is read.
    attempted = str(credentials.get("username", ""))[:150]
    exists = bool(attempted) and get_user_model().objects.filter(username=attempted).exists()
    with _scoped(request):
        audit_record(
            action=AuditAction.SIGN_IN_FAILED,
            object_type=AuditObject.USER,
            user=None,
            username=attempted,
            detail={"account_exists": exists},
        )


_task_tokens: dict[str, Token[Any]] = {}


@task_prerun.connect(dispatch_uid="audit_task_prerun")
def _task_started(sender: Any = None, task_id: str | None = None, task: Any = None, **kwargs: Any) -> None:
    token = context._current.set(context.task_context(getattr(task, "name", "task"), task_id))
    _task_tokens[task_id or ""] = token


@task_postrun.connect(dispatch_uid="audit_task_postrun")
def _task_finished(sender: Any = None, task_id: str | None = None, **kwargs: Any) -> None:
    token = _task_tokens.pop(task_id or "", None)
    if token is not None:
        context._current.reset(token)
