"""Who is acting, and from where, for the audit rows written while a request, task or command runs.

A context variable holds it, so services record "who and where" without taking a request
argument. Set by AuditContextMiddleware for pages, the admin and the API; by the Celery
task_prerun signal for tasks; anything else (manage.py, a shell, a test calling a service)
falls back to the command channel with the system actor.
"""

from __future__ import annotations

import ipaddress
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from typing import Any

from django.conf import settings
from django.http import HttpRequest

from casemgmt.audit.models import AuditChannel

USER_AGENT_MAX = 300
PATH_MAX = 500
SYSTEM_ACTOR = "system"


@dataclass(frozen=True)
class AuditContext:
    channel: str
    # The request whose user acts; read when a row is written, so an API token authenticated
    # inside the view (DRF sets the Django request's user) is seen.
    request: HttpRequest | None = None
    ip: str | None = None
    user_agent: str = ""
    method: str = ""
    path: str = ""
    request_id: str = ""
    detail: dict[str, Any] = field(default_factory=dict)


_current: ContextVar[AuditContext | None] = ContextVar("casemgmt_audit_context", default=None)


def _trusted_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return list(getattr(settings, "TRUSTED_PROXIES", []))


def _is_trusted(address: str, networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def _valid_ip(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def client_ip(request: HttpRequest) -> str | None:
    """The client's address: REMOTE_ADDR, unless that is a trusted proxy (TRUSTED_PROXIES).

    Only then is X-Forwarded-For read, right to left, skipping the trusted proxies: the first
    address no trusted proxy vouches for is the client. Anyone can send the header, so without
    a trusted proxy in front it is ignored.
    """
    remote = _valid_ip(request.META.get("REMOTE_ADDR", "") or "")
    networks = _trusted_networks()
    if remote is None or not networks or not _is_trusted(remote, networks):
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    for hop in reversed(forwarded):
        address = _valid_ip(hop)
        if address is None:
            # Garbage in the chain: trust nothing before it.
            return remote
        if not _is_trusted(address, networks):
            return address
        remote = address
    return remote


def channel_for_path(path: str) -> str:
    if path.startswith("/admin/"):
        return AuditChannel.ADMIN
    if path.startswith(("/api/", "/fhir/", "/cds-services")):
        return AuditChannel.API
    return AuditChannel.WEB


def context_for_request(request: HttpRequest) -> AuditContext:
    return AuditContext(
        channel=channel_for_path(request.path),
        request=request,
        ip=client_ip(request),
        user_agent=request.META.get("HTTP_USER_AGENT", "")[:USER_AGENT_MAX],
        method=request.method or "",
        # request.path has no query string, and nothing here ever reads one.
        path=request.path[:PATH_MAX],
        request_id=uuid.uuid4().hex,
    )


def _default_context() -> AuditContext:
    command = sys.argv[1] if len(sys.argv) > 1 and sys.argv[0].endswith("manage.py") else ""
    # Only the command's name: its arguments may be anything, a member's name included.
    return AuditContext(channel=AuditChannel.COMMAND, detail={"command": command} if command else {})


def current() -> AuditContext:
    context = _current.get()
    return context if context is not None else _default_context()


@contextmanager
def audit_scope(context: AuditContext) -> Iterator[AuditContext]:
    """Run a block with this context, restoring the one before afterwards (they nest)."""
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)


def command_scope(name: str) -> Any:
    """For a management command: rows it writes say channel "command" and name it."""
    return audit_scope(
        AuditContext(channel=AuditChannel.COMMAND, request_id=uuid.uuid4().hex, detail={"command": name})
    )


def task_context(task_name: str, task_id: str | None) -> AuditContext:
    return AuditContext(
        channel=AuditChannel.TASK,
        request_id=(task_id or uuid.uuid4().hex).replace("-", "")[:32],
        detail={"task": task_name},
    )


def with_detail(**detail: Any) -> None:
    """Add to the current scope's detail (for example the API token in use) for the rest of it.

    Outside a scope (no request, task or command set one) it does nothing: setting the variable
    there would outlive the caller.
    """
    context = _current.get()
    if context is not None:
        # The scope's reset() restores what was there before the scope, so this ends with it.
        _current.set(replace(context, detail={**context.detail, **detail}))
