"""Production settings: `manage.py check --deploy` is clean, and secrets come only from the environment.

There is no "production mode": each setting reads its own variable, and its default is the safe
one. So a production environment is just DEBUG unset, a strong SECRET_KEY (or SECRET_KEY_FILE)
and ALLOWED_HOSTS; everything else (HTTPS redirect, HSTS, secure cookies, the CSP, lockout)
is already on. The check runs in a subprocess with a clean environment, as a server would start.
"""

from __future__ import annotations

import os
import runpy
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SETTINGS_FILE = ROOT / "casemgmt" / "settings.py"
# Variables the settings read that the test process may have set (pytest-env, a developer's shell).
SETTINGS_VARIABLES = (
    "DEBUG",
    "SECRET_KEY",
    "SECRET_KEY_FILE",
    "ALLOWED_HOSTS",
    "DATABASE_URL",
    "DATABASE_URL_FILE",
    "CELERY_BROKER_URL",
    "CELERY_BROKER_URL_FILE",
    "CACHE_URL",
    "CACHE_URL_FILE",
    "SECURE_COOKIES",
    "SECURE_SSL_REDIRECT",
    "BEHIND_TLS_PROXY",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "TRUSTED_PROXIES",
)


# The only variables taken from the test run: the rest (pytest-env's, the browser tests'
# DJANGO_ALLOW_ASYNC_UNSAFE, a developer's DATABASE_URL) would not be on a server.
PASSED_THROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")


def production_env(**extra: str) -> dict[str, str]:
    """A server's environment: no DEBUG, a strong key, its host name; nothing else set."""
    env = {name: os.environ[name] for name in PASSED_THROUGH if name in os.environ}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "casemgmt.settings",
            "SECRET_KEY": secrets.token_urlsafe(64),
            "ALLOWED_HOSTS": "pa.example.org",
            "PYTHONPATH": str(ROOT),
        }
    )
    env.update(extra)
    return env


def check_deploy(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_with_the_defaults() -> None:
    result = check_deploy(production_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_check_deploy_is_clean_behind_a_tls_proxy_with_secrets_in_files(tmp_path: Path) -> None:
    key = tmp_path / "secret_key"
    key.write_text(secrets.token_urlsafe(64) + "\n")
    env = production_env(SECRET_KEY_FILE=str(key), BEHIND_TLS_PROXY="1", TRUSTED_PROXIES="10.0.0.0/8")
    del env["SECRET_KEY"]
    result = check_deploy(env)
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_deploy_fails_when_a_safe_default_is_turned_off() -> None:
    """The check is real: turning DEBUG on or the HTTPS redirect off is reported."""
    result = check_deploy(production_env(DEBUG="1", SECURE_SSL_REDIRECT="0"))
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "security.W018" in output  # DEBUG
    assert "security.W008" in output  # SECURE_SSL_REDIRECT


# --- the settings, loaded in-process (runpy, without touching django.conf.settings) ---------------


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in SETTINGS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def load(monkeypatch: pytest.MonkeyPatch, **env: str) -> dict[str, Any]:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(SETTINGS_FILE))


def test_https_defaults_are_the_safe_ones(clean_env: pytest.MonkeyPatch) -> None:
    loaded = load(clean_env, SECRET_KEY="k" * 50)
    assert loaded["SECURE_SSL_REDIRECT"] is True
    assert loaded["SECURE_REDIRECT_EXEMPT"] == [r"^healthz$"]
    assert loaded["SECURE_PROXY_SSL_HEADER"] is None  # X-Forwarded-Proto is not believed by default
    assert loaded["SECURE_HSTS_SECONDS"] == 365 * 24 * 3600
    assert loaded["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert loaded["SECURE_HSTS_PRELOAD"] is True
    assert loaded["SESSION_COOKIE_SECURE"] is True
    assert loaded["CSRF_COOKIE_SECURE"] is True
    assert loaded["SESSION_COOKIE_HTTPONLY"] is True
    assert loaded["SESSION_COOKIE_SAMESITE"] == "Lax"


def test_debug_relaxes_only_the_redirect_and_the_cookies(clean_env: pytest.MonkeyPatch) -> None:
    loaded = load(clean_env, DEBUG="1")
    assert (loaded["SECURE_SSL_REDIRECT"], loaded["SESSION_COOKIE_SECURE"]) == (False, False)
    assert loaded["SECURE_HSTS_SECONDS"] == 365 * 24 * 3600


def test_behind_a_tls_proxy_the_forwarded_scheme_is_trusted(clean_env: pytest.MonkeyPatch) -> None:
    loaded = load(clean_env, SECRET_KEY="k" * 50, BEHIND_TLS_PROXY="1")
    assert loaded["SECURE_PROXY_SSL_HEADER"] == ("HTTP_X_FORWARDED_PROTO", "https")


def test_https_settings_come_from_their_variables(clean_env: pytest.MonkeyPatch) -> None:
    loaded = load(
        clean_env,
        SECRET_KEY="k" * 50,
        SECURE_SSL_REDIRECT="0",
        SECURE_HSTS_SECONDS="0",
        SECURE_HSTS_INCLUDE_SUBDOMAINS="0",
        SECURE_HSTS_PRELOAD="0",
    )
    assert loaded["SECURE_SSL_REDIRECT"] is False
    assert loaded["SECURE_HSTS_SECONDS"] == 0
    assert (loaded["SECURE_HSTS_INCLUDE_SUBDOMAINS"], loaded["SECURE_HSTS_PRELOAD"]) == (False, False)


def test_the_database_password_can_come_from_a_file(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    url = tmp_path / "database_url"
    url.write_text("postgres://casemgmt:from-a-file@db.internal:5432/casemgmt\n")
    loaded = load(clean_env, SECRET_KEY="k" * 50, DATABASE_URL_FILE=str(url))
    database = loaded["DATABASES"]["default"]
    assert (database["PASSWORD"], database["HOST"]) == ("from-a-file", "db.internal")


def test_the_broker_and_cache_urls_can_come_from_files(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    broker = tmp_path / "broker"
    broker.write_text("redis://:broker-pass@redis:6379/0")
    cache = tmp_path / "cache"
    cache.write_text("redis://:cache-pass@redis:6379/1")
    loaded = load(clean_env, SECRET_KEY="k" * 50, CELERY_BROKER_URL_FILE=str(broker), CACHE_URL_FILE=str(cache))
    assert loaded["CELERY_BROKER_URL"] == "redis://:broker-pass@redis:6379/0"
    assert loaded["CACHES"]["default"]["LOCATION"] == "redis://:cache-pass@redis:6379/1"


def test_a_secret_in_both_the_variable_and_a_file_is_refused(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from django.core.exceptions import ImproperlyConfigured

    url = tmp_path / "database_url"
    url.write_text("postgres://casemgmt:x@db/casemgmt")
    with pytest.raises(ImproperlyConfigured, match="either DATABASE_URL or DATABASE_URL_FILE"):
        load(clean_env, SECRET_KEY="k" * 50, DATABASE_URL="postgres://a@b/c", DATABASE_URL_FILE=str(url))


def test_without_the_environment_there_is_no_secret_at_all(clean_env: pytest.MonkeyPatch) -> None:
    """Nothing secret is written in the code: with none given, there is none (and no key: refused)."""
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY"):
        load(clean_env)
    loaded = load(clean_env, SECRET_KEY="k" * 50)
    assert not loaded["DATABASES"]["default"].get("PASSWORD")
    assert loaded["CELERY_BROKER_URL"] == ""
    assert "LOCATION" not in loaded["CACHES"]["default"]
    # In DEBUG the key is random, made once per checkout into a git-ignored file, never a constant
    # from the code.
    clean_env.delenv("SECRET_KEY")
    key = load(clean_env, DEBUG="1")["SECRET_KEY"]
    assert key not in SETTINGS_FILE.read_text()
    assert key == (SETTINGS_FILE.parent.parent / ".dev-secret-key").read_text().strip()


def test_settings_read_secrets_only_through_env_secret() -> None:
    """No secret-looking setting is assigned a literal in settings.py."""
    text = SETTINGS_FILE.read_text()
    for name in ("SECRET_KEY", "_database_url", "CELERY_BROKER_URL", "_cache_url"):
        assignments = [line for line in text.splitlines() if line.startswith(f"{name} = ")]
        assert assignments, name
        assert all("env_secret(" in line or '"dev-" + secrets' in line for line in assignments), assignments
