"""Lockout after repeated failed sign-ins (django-axes; casemgmt/security/lockout.py and the AXES_ settings).

Failures count per username and client address together (LOGIN_FAILURE_LIMIT, default 5): the
limit-th failure answers with the lockout page, and from then on even the right password is
refused from that address until the cool-off ends (LOGIN_LOCKOUT_MINUTES) or an administrator
resets it. Bearer tokens involve no password and are never locked.
"""

from __future__ import annotations

import ipaddress
import runpy
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from axes.exceptions import AxesBackendRequestParameterRequired
from axes.models import AccessAttempt
from django.contrib.auth.models import User
from django.core.management import call_command
from django.http import HttpRequest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from casemgmt.security.services import api_token_create
from tests import factories

pytestmark = pytest.mark.django_db

LIMIT = 5
SETTINGS_FILE = Path(__file__).resolve().parents[3] / "casemgmt" / "settings.py"


@pytest.fixture(autouse=True)
def _limit(settings: Any) -> None:
    settings.AXES_FAILURE_LIMIT = LIMIT
    settings.AXES_COOLOFF_TIME = timedelta(minutes=30)


def sign_in(
    browser: Client, username: str, password: str, *, path: str = "/login/", address: str = "198.51.100.7"
) -> Any:
    return browser.post(path, {"username": username, "password": password}, REMOTE_ADDR=address)


def fail(browser: Client, username: str, times: int, **kwargs: Any) -> list[int]:
    return [sign_in(browser, username, "not-the-password", **kwargs).status_code for _ in range(times)]


def signed_in(browser: Client) -> bool:
    return "_auth_user_id" in browser.session


def test_failures_below_the_limit_only_show_the_form_error(nurse: User) -> None:
    browser = Client()
    statuses = fail(browser, nurse.username, LIMIT - 1)
    assert statuses == [200] * (LIMIT - 1)
    response = sign_in(browser, nurse.username, factories.PASSWORD)
    assert response.status_code == 302
    assert signed_in(browser)


def test_the_limit_th_failure_locks_the_account_out(nurse: User) -> None:
    statuses = fail(Client(), nurse.username, LIMIT)
    assert statuses[-1] == 429
    assert statuses[:-1] == [200] * (LIMIT - 1)


def test_the_right_password_is_refused_during_the_lockout(nurse: User) -> None:
    browser = Client()
    fail(browser, nurse.username, LIMIT)
    response = sign_in(browser, nurse.username, factories.PASSWORD)
    assert response.status_code == 429
    assert not signed_in(browser)


def test_the_lockout_page_explains_and_gives_nothing_away(nurse: User) -> None:
    response = fail_and_get(nurse)
    text = response.content.decode()
    assert "Sign-in locked" in text
    assert "30 minutes" in text
    assert nurse.username not in text  # what was typed is not echoed back
    assert "not-the-password" not in text
    assert response["Content-Security-Policy"]


def fail_and_get(user: User) -> Any:
    browser = Client()
    fail(browser, user.username, LIMIT - 1)
    return sign_in(browser, user.username, "not-the-password")


def test_a_success_resets_the_count(nurse: User) -> None:
    browser = Client()
    fail(browser, nurse.username, LIMIT - 1)
    assert sign_in(browser, nurse.username, factories.PASSWORD).status_code == 302
    browser.logout()
    assert fail(browser, nurse.username, LIMIT - 1) == [200] * (LIMIT - 1)
    assert sign_in(browser, nurse.username, factories.PASSWORD).status_code == 302


def test_the_same_account_from_another_address_is_not_locked(nurse: User) -> None:
    """An attacker guessing from one address cannot lock the nurse out of her own workstation."""
    fail(Client(), nurse.username, LIMIT, address="203.0.113.66")
    browser = Client()
    assert sign_in(browser, nurse.username, factories.PASSWORD, address="198.51.100.7").status_code == 302
    assert signed_in(browser)


def test_other_accounts_from_the_locked_address_are_not_locked(nurse: User, physician: User) -> None:
    """A colleague's typos behind the same office address lock only the colleague's sign-in."""
    fail(Client(), nurse.username, LIMIT)
    browser = Client()
    assert sign_in(browser, physician.username, factories.PASSWORD).status_code == 302


def test_the_admin_sign_in_counts_and_is_locked_too(editor: User) -> None:
    browser = Client()
    statuses = fail(browser, editor.username, LIMIT, path="/admin/login/")
    assert statuses[-1] == 429
    assert sign_in(browser, editor.username, factories.PASSWORD, path="/admin/login/").status_code == 429
    # The pages' sign-in shares the count: the account is locked there as well, from that address.
    assert sign_in(browser, editor.username, factories.PASSWORD).status_code == 429


def test_the_lockout_ends_after_the_cool_off(nurse: User) -> None:
    fail(Client(), nurse.username, LIMIT)
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=31))
    browser = Client()
    assert sign_in(browser, nurse.username, factories.PASSWORD).status_code == 302


def test_axes_reset_username_unlocks_at_once(nurse: User) -> None:
    fail(Client(), nurse.username, LIMIT)
    call_command("axes_reset_username", nurse.username)
    browser = Client()
    assert sign_in(browser, nurse.username, factories.PASSWORD).status_code == 302


def test_deleting_the_attempt_in_the_admin_unlocks(nurse: User) -> None:
    fail(Client(), nurse.username, LIMIT)
    admin = User.objects.create_superuser("it.admin", password="admin-pass-for-tests-1")
    superuser = Client()
    superuser.force_login(admin)
    attempt = AccessAttempt.objects.get(username=nurse.username)
    response = superuser.post(f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert sign_in(Client(), nurse.username, factories.PASSWORD).status_code == 302


def test_a_bearer_token_works_while_its_account_is_locked(integration_client: User) -> None:
    fail(Client(), integration_client.username, LIMIT)
    _, raw = api_token_create(user=integration_client)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert api.get("/api/v1/cases", REMOTE_ADDR="198.51.100.7").status_code == 200


def test_x_forwarded_for_from_an_untrusted_client_does_not_dodge_the_lockout(nurse: User, settings: Any) -> None:
    settings.TRUSTED_PROXIES = []
    browser = Client()
    for n in range(LIMIT):
        response = browser.post(
            "/login/",
            {"username": nurse.username, "password": "not-the-password"},
            REMOTE_ADDR="203.0.113.66",
            HTTP_X_FORWARDED_FOR=f"192.0.2.{n}",
        )
    assert response.status_code == 429


def test_behind_a_trusted_proxy_the_forwarded_address_is_counted(nurse: User, settings: Any) -> None:
    settings.TRUSTED_PROXIES = [ipaddress.ip_network("10.0.0.0/8")]
    for _ in range(LIMIT):  # the attacker, through the proxy
        Client().post(
            "/login/",
            {"username": nurse.username, "password": "not-the-password"},
            REMOTE_ADDR="10.0.0.2",
            HTTP_X_FORWARDED_FOR="203.0.113.66",
        )
    # The nurse reaches the same proxy from her own address: not locked.
    browser = Client()
    response = browser.post(
        "/login/",
        {"username": nurse.username, "password": factories.PASSWORD},
        REMOTE_ADDR="10.0.0.2",
        HTTP_X_FORWARDED_FOR="198.51.100.7",
    )
    assert response.status_code == 302
    assert AccessAttempt.objects.get().ip_address == "203.0.113.66"


# --- configuration -------------------------------------------------------------------------------


def load_settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> dict[str, Any]:
    monkeypatch.setenv("SECRET_KEY", "k" * 50)
    for name in ("LOGIN_FAILURE_LIMIT", "LOGIN_LOCKOUT_MINUTES"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(SETTINGS_FILE))


def test_lockout_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = load_settings(monkeypatch)
    assert loaded["AXES_FAILURE_LIMIT"] == 5
    assert loaded["AXES_COOLOFF_TIME"] == timedelta(minutes=30)
    assert loaded["AXES_LOCKOUT_PARAMETERS"] == [["username", "ip_address"]]
    assert loaded["AUTHENTICATION_BACKENDS"][0] == "axes.backends.AxesStandaloneBackend"
    assert loaded["MIDDLEWARE"][-1] == "axes.middleware.AxesMiddleware"


def test_lockout_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = load_settings(monkeypatch, LOGIN_FAILURE_LIMIT="10", LOGIN_LOCKOUT_MINUTES="0")
    assert loaded["AXES_FAILURE_LIMIT"] == 10
    assert loaded["AXES_COOLOFF_TIME"] is None  # until an administrator unlocks


def test_a_zero_failure_limit_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured, match="LOGIN_FAILURE_LIMIT must be at least 1"):
        load_settings(monkeypatch, LOGIN_FAILURE_LIMIT="0")


def test_a_try_during_the_lockout_starts_the_wait_again(nurse: User) -> None:
    """Even with the right password: guessing on through a lockout gains nothing."""
    fail(Client(), nurse.username, LIMIT)
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=20))
    assert sign_in(Client(), nurse.username, factories.PASSWORD).status_code == 429
    assert AccessAttempt.objects.get().attempt_time > timezone.now() - timedelta(minutes=1)


def test_the_test_clients_login_needs_a_request_under_axes(nurse: User) -> None:
    """For tests: `Client.login` authenticates without a request, which django-axes refuses (it
    could not count the attempt); pass one, or use `force_login`, which involves no password."""
    with pytest.raises(AxesBackendRequestParameterRequired):
        Client().login(username=nurse.username, password=factories.PASSWORD)
    assert Client().login(request=HttpRequest(), username=nurse.username, password=factories.PASSWORD)
