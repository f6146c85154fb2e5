"""Automatic logoff (HIPAA 164.312(a)(2)(iii)) without a session write on every request.

A session lives SESSION_IDLE_SECONDS after it was last saved. Saving it on every request
(SESSION_SAVE_EVERY_REQUEST) would move that on exactly, at the price of a transaction (BEGIN,
UPDATE, COMMIT) on every page view. This middleware saves it at most once a minute instead: an
idle session therefore ends between SESSION_IDLE_SECONDS minus a minute and SESSION_IDLE_SECONDS
after the last request, never later.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

TOUCH_EVERY_SECONDS = 60
_TOUCHED = "_idle_touched"


class SessionIdleMiddleware:
    """Place after SessionMiddleware: it marks the session modified, which that one then saves."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        session = getattr(request, "session", None)
        # Only a session that exists (a signed-in user's, or one with data) is kept alive.
        if session is not None and session.session_key and not session.is_empty():
            now = int(time.time())
            if now - int(session.get(_TOUCHED, 0)) >= TOUCH_EVERY_SECONDS:
                session[_TOUCHED] = now
        return response
