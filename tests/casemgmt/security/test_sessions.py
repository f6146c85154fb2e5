"""Automatic logoff (HIPAA 164.312(a)(2)(iii)) and the session cookie's flags.

A session lives SESSION_IDLE_SECONDS (default 15 minutes) after it was last saved; a request
moves the expiry on, at most once a minute (casemgmt.security.sessions), and a session left idle past it
is gone on the server, whatever the browser still holds.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone

from casemgmt.security.sessions import TOUCH_EVERY_SECONDS
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


def test_requests_within_a_minute_do_not_write_the_session(nurse: User) -> None:
    browser = signed_in(nurse)
    assert browser.get("/queue/").status_code == 200
    saved = Session.objects.get().expire_date
    Session.objects.update(expire_date=saved - timedelta(seconds=5))

    assert browser.get("/queue/").status_code == 200

    assert Session.objects.get().expire_date == saved - timedelta(seconds=5)


def test_a_request_a_minute_later_moves_the_expiry_on(nurse: User, settings: Any, monkeypatch) -> None:
    browser = signed_in(nurse)
    assert browser.get("/queue/").status_code == 200
    Session.objects.update(expire_date=timezone.now() + timedelta(seconds=30))
    later = time.time() + TOUCH_EVERY_SECONDS
    monkeypatch.setattr("casemgmt.security.sessions.time.time", lambda: later)

    assert browser.get("/queue/").status_code == 200

    assert Session.objects.get().expire_date > timezone.now() + timedelta(seconds=settings.SESSION_COOKIE_AGE - 60)


def test_the_session_cookie_is_secure_http_only_and_same_site(nurse: User, settings: Any) -> None:
    settings.SESSION_COOKIE_SECURE = True  # the default whenever DEBUG is off (tests run plain HTTP)
    browser = Client()
    browser.post("/login/", {"username": nurse.username, "password": factories.PASSWORD})
    cookie = browser.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie["secure"] is True
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert int(cookie["max-age"]) == settings.SESSION_COOKIE_AGE
