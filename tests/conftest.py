from __future__ import annotations

import pytest
from django.contrib.auth.models import AbstractBaseUser

from casemgmt.roles import Role
from tests import factories

pytest_plugins = ["tests.services_fixtures"]


@pytest.fixture
def nurse(db: None) -> AbstractBaseUser:
    return factories.user("nina.nurse", Role.NURSE)


@pytest.fixture
def physician(db: None) -> AbstractBaseUser:
    return factories.user("phil.physician", Role.PHYSICIAN)


@pytest.fixture
def editor(db: None) -> AbstractBaseUser:
    return factories.user("eddie.editor", Role.POLICY_EDITOR, staff=True)


@pytest.fixture
def manager(db: None) -> AbstractBaseUser:
    return factories.user("mona.manager", Role.MANAGER)


@pytest.fixture
def integration_client(db: None) -> AbstractBaseUser:
    return factories.user("ehr.client", Role.INTEGRATION_CLIENT)


@pytest.fixture
def other_client(db: None) -> AbstractBaseUser:
    return factories.user("other.portal", Role.INTEGRATION_CLIENT)


@pytest.fixture
def outsider(db: None) -> AbstractBaseUser:
    """A signed-in account with no role: must see nothing."""
    return factories.user("olive.outsider")
