"""The page a locked-out sign-in gets (django-axes calls `lockout_response`, AXES_LOCKOUT_CALLABLE).

Our own page rather than axes' default: the same layout as the sign-in page, the wait in
minutes, no echo of the username typed, and no JSON variant with a permissive CORS header.
"""

from __future__ import annotations

from math import ceil
from typing import Any

from axes.helpers import get_cool_off
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

LOCKED_OUT_STATUS = 429


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: dict[str, Any] | None = None
) -> HttpResponse:
    cool_off = get_cool_off(request)
    minutes = ceil(cool_off.total_seconds() / 60) if cool_off else None
    return render(
        request,
        "registration/locked_out.html",
        {"failure_limit": settings.AXES_FAILURE_LIMIT, "cooloff_minutes": minutes},
        status=LOCKED_OUT_STATUS,
    )
