"""Fixtures for tests that need PostgreSQL, Redis and a real Celery worker (owned by CI work)."""

from __future__ import annotations
