"""What the reviewers' page tests share: a signed-in browser and a published policy to flag with."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from policies_app.models import PolicyVersion
from tests import factories


def signed_in(user: User) -> Client:
    browser = Client()
    browser.force_login(user)
    return browser


@pytest.fixture
def investigational(editor: User) -> PolicyVersion:
    """The test procedure policy, published: it flags the factories' case as investigational."""
    return factories.publish(factories.draft_version(), editor)
