from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.contrib.auth.models import User

from casemgmt.roles import Role
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
    """Each test builds its own library; none may see an index cached by another."""
    from policies_app import selectors

    selectors._index = None
    yield
    selectors._index = None
