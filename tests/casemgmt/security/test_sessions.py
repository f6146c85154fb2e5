"""Automatic logoff (HIPAA 164.312(a)(2)(iii)) and the session cookie's flags.

A session lives SESSION_IDLE_SECONDS (default 15 minutes) after it was last saved; a request
moves the expiry on, at most every twentieth of the window and at most once a minute
(casemgmt.security.sessions), so activity at any pace keeps it alive; and a session left idle
past it is gone on the server, whatever the browser still holds.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone

from casemgmt.security.sessions import touch_every
from tests import factories

pytestmark = pytest.mark.django_db


def signed_in(user: User) -> Client:
    browser = Client()
    browser.force_login(user)
    return browser


def test_a_request_moves_the_expiry_on(nurse: User, settings: Any) -> None:
    browser = signed_in(nurse)
    Session.objects.update(expire_date=timezone.now() + timedelta(seconds=30))
    assert browser.get("/queue/").status_code == 200
    expiry = Session.objects.get().expire_date
    assert expiry > timezone.now() + timedelta(seconds=settings.SESSION_COOKIE_AGE - 60)


def test_an_idle_session_is_signed_out(nurse: User) -> None:
    browser = signed_in(nurse)
    Session.objects.update(expire_date=timezone.now() - timedelta(seconds=1))
    response = browser.get("/queue/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


def test_an_idle_session_cannot_act(nurse: User, integration_client: User) -> None:
    case = factories.case(integration_client)
    browser = signed_in(nurse)
    Session.objects.update(expire_date=timezone.now() - timedelta(seconds=1))
    response = browser.post(f"/cases/{case.case_number}/note", {"text": "Too late."})
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")
    assert not case.events.filter(kind="note").exists()


def test_the_idle_limit_is_fifteen_minutes_by_default(settings: Any) -> None:
    assert settings.SESSION_COOKIE_AGE == 15 * 60


def test_requests_within_the_throttle_do_not_write_the_session(nurse: User) -> None:
    browser = signed_in(nurse)
    assert browser.get("/queue/").status_code == 200
    saved = Session.objects.get().expire_date
    Session.objects.update(expire_date=saved - timedelta(seconds=5))

    assert browser.get("/queue/").status_code == 200

    assert Session.objects.get().expire_date == saved - timedelta(seconds=5)


def test_a_request_after_the_throttle_moves_the_expiry_on(nurse: User, settings: Any, monkeypatch) -> None:
    browser = signed_in(nurse)
    assert browser.get("/queue/").status_code == 200
    Session.objects.update(expire_date=timezone.now() + timedelta(seconds=30))
    later = time.time() + touch_every(settings.SESSION_COOKIE_AGE)
    monkeypatch.setattr("casemgmt.security.sessions.time.time", lambda: later)

    assert browser.get("/queue/").status_code == 200

    assert Session.objects.get().expire_date > timezone.now() + timedelta(seconds=settings.SESSION_COOKIE_AGE - 60)


@pytest.mark.parametrize("window", [1, 60, 120, 15 * 60, 8 * 3600])
def test_the_throttle_is_a_small_part_of_the_window_and_at_most_a_minute(window: int) -> None:
    assert 0 < touch_every(window) <= min(60, window / 20)


class Clock:
    """One clock for the middleware (time.time) and for Django's session expiry (timezone.now)."""

    def __init__(self) -> None:
        self.seconds = time.time()

    def time(self) -> float:
        return self.seconds

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.seconds, UTC)


@pytest.fixture
def clock(monkeypatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr("casemgmt.security.sessions.time.time", fake.time)
    monkeypatch.setattr("django.utils.timezone.now", fake.now)
    return fake


@pytest.mark.parametrize("pace", [1, 10, 29, 50, 56])
def test_activity_at_any_pace_keeps_a_one_minute_session_alive(
    nurse: User, settings: Any, clock: Clock, pace: int
) -> None:
    # A throttle as long as the window signs out a user active every few seconds after one
    # window; any pace inside the window less its throttle must keep the session for good.
    settings.SESSION_COOKIE_AGE = 60
    browser = signed_in(nurse)
    for _ in range(5 * 60 // pace):
        clock.seconds += pace
        assert browser.get("/queue/").status_code == 200


def test_a_one_minute_session_ends_a_minute_after_the_last_request(nurse: User, settings: Any, clock: Clock) -> None:
    settings.SESSION_COOKIE_AGE = 60
    browser = signed_in(nurse)
    for _ in range(12):
        clock.seconds += 10
        assert browser.get("/queue/").status_code == 200

    clock.seconds += 60 - touch_every(60)
    assert browser.get("/queue/").status_code == 200  # idle for less than the window, less its throttle
    clock.seconds += 60
    response = browser.get("/queue/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


def test_the_session_cookie_is_secure_http_only_and_same_site(nurse: User, settings: Any) -> None:
    settings.SESSION_COOKIE_SECURE = True  # the default whenever DEBUG is off (tests run plain HTTP)
    browser = Client()
    browser.post("/login/", {"username": nurse.username, "password": factories.PASSWORD})
    cookie = browser.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie["secure"] is True
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert int(cookie["max-age"]) == settings.SESSION_COOKIE_AGE
