"""Automatic logoff (HIPAA 164.312(a)(2)(iii)) without a session write on every request.

A session lives SESSION_IDLE_SECONDS (the window) after it was last saved. Saving it on every
request (SESSION_SAVE_EVERY_REQUEST) would move that on exactly, at the price of a transaction
(BEGIN, UPDATE, COMMIT) on every page view. This middleware saves it only once at least
touch_every() seconds have passed since the last save: a twentieth of the window, at most a
minute, and always less than the window, so a request inside the window always finds the
session alive, and activity at any pace keeps it alive. An idle session therefore ends between
the window minus touch_every() and the window after the last request, never later.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

_TOUCHED = "_idle_touched"


def touch_every(window: int) -> float:
    """Seconds between saves of an active session, for an idle window of `window` seconds."""
    return min(60.0, window / 20)


class SessionIdleMiddleware:
    """Place after SessionMiddleware: it marks the session modified, which that one then saves."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        session = getattr(request, "session", None)
        # Only a session that exists (a signed-in user's, or one with data) is kept alive.
        if session is not None and session.session_key and not session.is_empty():
            now = time.time()
            if now - float(session.get(_TOUCHED, 0)) >= touch_every(settings.SESSION_COOKIE_AGE):
                session[_TOUCHED] = now
        return response
