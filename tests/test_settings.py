"""The env helpers and the settings module refuse bad configuration at start-up."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from casemgmt.env import dev_secret_key, env_bool, env_int, env_list, env_secret, env_str

SETTINGS_FILE = Path(__file__).resolve().parent.parent / "casemgmt" / "settings.py"
SETTINGS_ENV = (
    "DEBUG",
    "SECRET_KEY",
    "SECRET_KEY_FILE",
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "CELERY_TASK_TIME_LIMIT",
    "CELERY_VISIBILITY_TIMEOUT",
    "SESSION_IDLE_SECONDS",
    "SECURE_COOKIES",
    "SECURE_SSL_REDIRECT",
    "ALLOWED_HOSTS",
    "DATABASE_PREPARED_STATEMENTS",
    "DATABASE_PREPARE_THRESHOLD",
)


@pytest.mark.parametrize("raw", ["1", "true", "TRUE", " yes ", "on"])
def test_env_bool_reads_true(monkeypatch, raw):
    monkeypatch.setenv("FLAG", raw)
    assert env_bool("FLAG") is True


@pytest.mark.parametrize("raw", ["0", "false", "No", "off", ""])
def test_env_bool_reads_false(monkeypatch, raw):
    monkeypatch.setenv("FLAG", raw)
    assert env_bool("FLAG", default=True) is False


def test_env_bool_unset_uses_default(monkeypatch):
    monkeypatch.delenv("FLAG", raising=False)
    assert env_bool("FLAG", default=True) is True
    assert env_bool("FLAG") is False


@pytest.mark.parametrize("raw", ["maybe", "2", "y"])
def test_env_bool_refuses_other_values(monkeypatch, raw):
    monkeypatch.setenv("FLAG", raw)
    with pytest.raises(ImproperlyConfigured, match="FLAG must be one of"):
        env_bool("FLAG")


def test_env_int_reads_and_defaults(monkeypatch):
    monkeypatch.setenv("NUMBER", "42")
    assert env_int("NUMBER", 7) == 42
    monkeypatch.setenv("NUMBER", "  ")
    assert env_int("NUMBER", 7) == 7
    monkeypatch.delenv("NUMBER")
    assert env_int("NUMBER", 7) == 7


@pytest.mark.parametrize("raw", ["ten", "1.5", "0x10"])
def test_env_int_refuses_non_integers(monkeypatch, raw):
    monkeypatch.setenv("NUMBER", raw)
    with pytest.raises(ImproperlyConfigured, match="NUMBER must be an integer"):
        env_int("NUMBER", 7)


def test_env_int_enforces_minimum(monkeypatch):
    monkeypatch.setenv("NUMBER", "59")
    with pytest.raises(ImproperlyConfigured, match="NUMBER must be at least 60; got 59"):
        env_int("NUMBER", 900, minimum=60)
    monkeypatch.setenv("NUMBER", "60")
    assert env_int("NUMBER", 900, minimum=60) == 60


def test_env_list_and_str(monkeypatch):
    monkeypatch.setenv("HOSTS", " a.example, ,b.example ")
    assert env_list("HOSTS", ["x"]) == ["a.example", "b.example"]
    monkeypatch.delenv("HOSTS")
    assert env_list("HOSTS", ["x"]) == ["x"]
    monkeypatch.delenv("NAME", raising=False)
    assert env_str("NAME", "fallback") == "fallback"


def test_env_secret_from_variable(monkeypatch):
    monkeypatch.setenv("TOKEN", "s3cret")
    monkeypatch.delenv("TOKEN_FILE", raising=False)
    assert env_secret("TOKEN") == "s3cret"


def test_env_secret_from_file_strips_whitespace(monkeypatch, tmp_path):
    secret = tmp_path / "token"
    secret.write_text("from-file\n")
    monkeypatch.delenv("TOKEN", raising=False)
    monkeypatch.setenv("TOKEN_FILE", str(secret))
    assert env_secret("TOKEN") == "from-file"


def test_env_secret_missing_file(monkeypatch, tmp_path):
    monkeypatch.delenv("TOKEN", raising=False)
    monkeypatch.setenv("TOKEN_FILE", str(tmp_path / "absent"))
    with pytest.raises(ImproperlyConfigured, match="not a readable file"):
        env_secret("TOKEN")


def test_env_secret_empty_file(monkeypatch, tmp_path):
    secret = tmp_path / "token"
    secret.write_text("  \n")
    monkeypatch.delenv("TOKEN", raising=False)
    monkeypatch.setenv("TOKEN_FILE", str(secret))
    with pytest.raises(ImproperlyConfigured, match="is empty"):
        env_secret("TOKEN")


def test_env_secret_refuses_both(monkeypatch, tmp_path):
    secret = tmp_path / "token"
    secret.write_text("from-file")
    monkeypatch.setenv("TOKEN", "inline")
    monkeypatch.setenv("TOKEN_FILE", str(secret))
    with pytest.raises(ImproperlyConfigured, match="not both"):
        env_secret("TOKEN")


def test_env_secret_unset_is_empty(monkeypatch):
    monkeypatch.delenv("TOKEN", raising=False)
    monkeypatch.delenv("TOKEN_FILE", raising=False)
    assert env_secret("TOKEN") == ""


def test_dev_secret_key_is_made_once_and_kept(tmp_path):
    path = tmp_path / ".dev-secret-key"
    first = dev_secret_key(path)
    assert first.startswith("dev-") and len(first) >= 50
    assert dev_secret_key(path) == first


def test_dev_secret_key_file_is_readable_by_its_owner_only(tmp_path):
    path = tmp_path / ".dev-secret-key"
    dev_secret_key(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == [".dev-secret-key"]


def test_dev_secret_key_refuses_a_file_that_holds_no_key(tmp_path):
    path = tmp_path / ".dev-secret-key"
    path.write_text("short\n")
    with pytest.raises(ImproperlyConfigured, match="delete it"):
        dev_secret_key(path)


def test_dev_secret_key_where_nothing_can_be_written_is_this_processs_own(tmp_path):
    missing = tmp_path / "no-such-directory" / ".dev-secret-key"
    assert dev_secret_key(missing) != dev_secret_key(missing)


# --- the settings module as a whole (executed afresh, without touching django.conf.settings) ---


@pytest.fixture
def clean_env(monkeypatch):
    for name in SETTINGS_ENV:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def load_settings() -> dict:
    return runpy.run_path(str(SETTINGS_FILE))


def test_settings_need_a_secret_key_unless_debug(clean_env):
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY"):
        load_settings()
    clean_env.setenv("DEBUG", "1")
    loaded = load_settings()
    assert loaded["SECRET_KEY"].startswith("dev-")
    assert loaded["ALLOWED_HOSTS"] == ["127.0.0.1", "localhost"]


def test_debug_settings_keep_their_development_key_across_restarts(clean_env):
    clean_env.setenv("DEBUG", "1")
    assert load_settings()["SECRET_KEY"] == load_settings()["SECRET_KEY"]


def test_embedded_default_is_sqlite_and_in_process_tasks(clean_env):
    clean_env.setenv("SECRET_KEY", "k" * 50)
    loaded = load_settings()
    assert loaded["DATABASES"]["default"]["ENGINE"] == "django.db.backends.sqlite3"
    assert loaded["CELERY_TASK_ALWAYS_EAGER"] is True
    assert loaded["DEBUG"] is False
    assert loaded["SESSION_COOKIE_SECURE"] is True


def test_database_and_broker_urls_switch_to_services(clean_env):
    clean_env.setenv("SECRET_KEY", "k" * 50)
    clean_env.setenv("DATABASE_URL", "postgres://app:pw@db.internal:5433/casemgmt")
    clean_env.setenv("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
    loaded = load_settings()
    database = loaded["DATABASES"]["default"]
    assert database["ENGINE"] == "django.db.backends.postgresql"
    assert (database["NAME"], database["HOST"], database["PORT"]) == ("casemgmt", "db.internal", 5433)
    assert loaded["CELERY_TASK_ALWAYS_EAGER"] is False


def test_postgresql_prepares_repeated_statements_by_default(clean_env):
    clean_env.setenv("SECRET_KEY", "k" * 50)
    clean_env.setenv("DATABASE_URL", "postgres://app:pw@db.internal:5433/casemgmt")
    options = load_settings()["DATABASES"]["default"]["OPTIONS"]
    assert options == {"server_side_binding": True, "prepare_threshold": 5, "options": "-c jit=off"}


def test_postgresql_jit_can_be_left_to_the_database_behind_a_pooler(clean_env):
    clean_env.setenv("SECRET_KEY", "k" * 50)
    clean_env.setenv("DATABASE_URL", "postgres://app:pw@db.internal:5433/casemgmt")
    clean_env.setenv("DATABASE_JIT_OFF", "0")
    assert "options" not in load_settings()["DATABASES"]["default"]["OPTIONS"]


def test_prepared_statements_can_be_turned_off_for_a_transaction_pooler(clean_env):
    clean_env.setenv("SECRET_KEY", "k" * 50)
    clean_env.setenv("DATABASE_URL", "postgres://app:pw@db.internal:5433/casemgmt")
    clean_env.setenv("DATABASE_PREPARED_STATEMENTS", "0")
    database = load_settings()["DATABASES"]["default"]
    assert "server_side_binding" not in database.get("OPTIONS", {})


def test_bad_prepare_threshold_is_refused(clean_env):
    clean_env.setenv("SECRET_KEY", "k" * 50)
    clean_env.setenv("DATABASE_URL", "postgres://app:pw@db.internal:5433/casemgmt")
    clean_env.setenv("DATABASE_PREPARE_THRESHOLD", "soon")
    with pytest.raises(ImproperlyConfigured, match="DATABASE_PREPARE_THRESHOLD"):
        load_settings()


def test_unreadable_database_url_is_refused(clean_env):
    clean_env.setenv("SECRET_KEY", "k" * 50)
    clean_env.setenv("DATABASE_URL", "nosuchdb://somewhere/x")
    with pytest.raises(ImproperlyConfigured, match="DATABASE_URL"):
        load_settings()


def test_visibility_timeout_must_exceed_task_time_limit(clean_env):
    clean_env.setenv("SECRET_KEY", "k" * 50)
    clean_env.setenv("CELERY_TASK_TIME_LIMIT", "600")
    clean_env.setenv("CELERY_VISIBILITY_TIMEOUT", "600")
    with pytest.raises(ImproperlyConfigured, match="CELERY_VISIBILITY_TIMEOUT"):
        load_settings()


def test_session_idle_minimum(clean_env):
    clean_env.setenv("SECRET_KEY", "k" * 50)
    clean_env.setenv("SESSION_IDLE_SECONDS", "30")
    with pytest.raises(ImproperlyConfigured, match="SESSION_IDLE_SECONDS must be at least 60"):
        load_settings()


def test_readme_documents_every_environment_variable():
    """Every variable the code reads is in the README's configuration table."""
    root = SETTINGS_FILE.parent.parent
    pattern = re.compile(r"""(?:env_(?:str|int|bool|list|secret)|environ\.get|getenv)\(\s*["']([A-Z][A-Z0-9_]*)["']""")
    read: set[str] = set()
    for package in ("casemgmt", "policies_app"):
        for source in (root / package).rglob("*.py"):
            if "migrations" not in source.parts:
                read.update(pattern.findall(source.read_text()))
    read -= {"DJANGO_SETTINGS_MODULE"}
    # A secret may come from NAME_FILE instead (env_secret): that variable is documented too.
    secret = re.compile(r"""env_secret\(\s*["']([A-Z][A-Z0-9_]*)["']""")
    for package in ("casemgmt", "policies_app"):
        for source in (root / package).rglob("*.py"):
            if "migrations" not in source.parts:
                read.update(f"{name}_FILE" for name in secret.findall(source.read_text()))
    readme = (root / "README.md").read_text()
    missing = sorted(name for name in read if f"`{name}`" not in readme)
    assert not missing, f"add these to README.md, Configuration: {missing}"
