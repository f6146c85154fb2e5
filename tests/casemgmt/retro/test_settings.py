"""The retrospective review settings: defaults, and the start-up checks on bad values."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

SETTINGS_FILE = Path(__file__).resolve().parents[3] / "casemgmt" / "settings.py"
RETRO_ENV = ("RETRO_CHUNK_SIZE", "RETRO_STALL_SECONDS", "RETRO_CHUNK_MAX_ATTEMPTS", "RETRO_CHUNK_PAUSE_SECONDS")


@pytest.fixture
def env(monkeypatch):
    for name in (*RETRO_ENV, "CELERY_TASK_TIME_LIMIT", "CELERY_VISIBILITY_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SECRET_KEY", "settings-test-key")
    return monkeypatch


def load() -> dict:
    return runpy.run_path(str(SETTINGS_FILE))


def test_defaults_keep_the_sweeper_behind_the_task_time_limit(env):
    loaded = load()
    assert loaded["RETRO_CHUNK_SIZE"] == 2000
    assert loaded["RETRO_STALL_SECONDS"] == loaded["CELERY_TASK_TIME_LIMIT"] + 300
    assert (loaded["RETRO_CHUNK_MAX_ATTEMPTS"], loaded["RETRO_CHUNK_PAUSE_SECONDS"]) == (5, 0)
    assert loaded["CELERY_BEAT_SCHEDULER"] == "django_celery_beat.schedulers:DatabaseScheduler"
    assert "django_celery_beat" in loaded["INSTALLED_APPS"] and "casemgmt.retro" in loaded["INSTALLED_APPS"]


def test_a_stall_threshold_within_the_task_time_limit_is_refused(env):
    env.setenv("CELERY_TASK_TIME_LIMIT", "600")
    env.setenv("RETRO_STALL_SECONDS", "600")
    with pytest.raises(ImproperlyConfigured, match="RETRO_STALL_SECONDS"):
        load()


@pytest.mark.parametrize(
    ("name", "raw"), [("RETRO_CHUNK_SIZE", "0"), ("RETRO_CHUNK_SIZE", "lots"), ("RETRO_CHUNK_MAX_ATTEMPTS", "0")]
)
def test_bad_values_are_refused_naming_the_variable(env, name, raw):
    env.setenv(name, raw)
    with pytest.raises(ImproperlyConfigured, match=name):
        load()
