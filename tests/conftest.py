from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core import signals
from django.db import close_old_connections

from casemgmt.kernel.roles import Role
from tests import factories

pytest_plugins = ["tests.services_fixtures"]


@pytest.fixture
def nurse(db: None) -> User:
    return factories.user("nina.nurse", Role.NURSE)


@pytest.fixture
def physician(db: None) -> User:
    return factories.user("phil.physician", Role.PHYSICIAN)


@pytest.fixture
def editor(db: None) -> User:
    return factories.user("eddie.editor", Role.POLICY_EDITOR, staff=True)


@pytest.fixture
def manager(db: None) -> User:
    return factories.user("mona.manager", Role.MANAGER)


@pytest.fixture
def integration_client(db: None) -> User:
    return factories.user("ehr.client", Role.INTEGRATION_CLIENT)


@pytest.fixture
def other_client(db: None) -> User:
    return factories.user("other.portal", Role.INTEGRATION_CLIENT)


@pytest.fixture
def auditor(db: None) -> User:
    return factories.user("audrey.auditor", Role.AUDITOR)


@pytest.fixture
def outsider(db: None) -> User:
    """A signed-in account with no role: must see nothing."""
    return factories.user("olive.outsider")


@pytest.fixture(autouse=True)
def fast_password_hashing(settings) -> None:
    """Argon2 is deliberately slow; tests create many accounts and check no password strength."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def empty_cache() -> None:
    """Rate-limit counters live in the cache; a test must not inherit another's."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def fresh_engine_index() -> Iterator[None]:
    """Each test builds its own library and settings; none may see an index, a switch or an
    account cached by another."""
    from casemgmt.cases.services import triage
    from policies_app import selectors

    selectors._index = None
    selectors._requirements = None
    triage._automatic = None
    triage._reviewer = None
    yield
    selectors._index = None
    selectors._requirements = None
    triage._automatic = None
    triage._reviewer = None


@pytest.fixture
def api_over_wsgi(settings: Any, tmp_path: Path) -> Iterator[None]:
    """For tests that call the API through the real WSGI handler (schemathesis, the API fuzz).

    The handler's request signals close "obsolete" database connections, which inside the
    test's transaction would close the test's own (on PostgreSQL); Django's test client
    disconnects them the same way while it makes a request. Generated calls also need the test
    host allowed, attachments kept in a temporary folder, no rate limit (the 429 is tested in
    test_api.py) and webhook hosts that do not resolve here let through, so 201 is reached too.
    """
    settings.ALLOWED_HOSTS = ["localhost", "testserver"]
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.API_RATE_LIMIT = "1000000/min"
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)
