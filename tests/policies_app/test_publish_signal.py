"""Publishing a version announces itself with policy_version_published, inside its transaction."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection

from casemgmt.audit.models import AuditEvent
from casemgmt.kernel.errors import InvalidTransition
from policies_app.models import LibraryStamp, PolicyVersion, PolicyVersionStatus
from policies_app.services import policy_version_publish
from policies_app.signals import policy_version_published
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def announcements() -> Iterator[list[dict[str, Any]]]:
    heard: list[dict[str, Any]] = []

    def listen(sender: Any, **kwargs: Any) -> None:
        version = PolicyVersion.objects.get(pk=kwargs["version_id"])
        heard.append({**kwargs, "status": version.status, "in_transaction": connection.in_atomic_block})

    policy_version_published.connect(listen, dispatch_uid="test_listen")
    yield heard
    policy_version_published.disconnect(dispatch_uid="test_listen")


@pytest.fixture
def in_review(editor: User) -> PolicyVersion:
    # Submitted by a second editor: `editor` publishes it.
    return factories.submit(factories.draft_version())


def test_publishing_announces_the_version_and_its_editor_inside_the_transaction(
    in_review: PolicyVersion, editor: User, announcements: list[dict[str, Any]]
) -> None:
    policy_version_publish(version_id=in_review.pk, user=editor)
    assert len(announcements) == 1
    heard = announcements[0]
    assert (heard["version_id"], heard["user"], heard["signal"]) == (in_review.pk, editor, policy_version_published)
    assert heard["status"] == PolicyVersionStatus.PUBLISHED and heard["in_transaction"]


def test_a_refused_publish_announces_nothing(editor: User, announcements: list[dict[str, Any]]) -> None:
    draft = factories.draft_version()
    with pytest.raises(InvalidTransition):
        policy_version_publish(version_id=draft.pk, user=editor)
    assert announcements == []


def test_a_receiver_that_fails_rolls_the_publish_back(in_review: PolicyVersion, editor: User) -> None:
    def fail(sender: Any, **kwargs: Any) -> None:
        raise RuntimeError("a receiver could not do its part")

    stamp = LibraryStamp.objects.values_list("value", flat=True).first()
    audit_rows = AuditEvent.objects.count()
    policy_version_published.connect(fail, dispatch_uid="test_fail")
    try:
        with pytest.raises(RuntimeError):
            policy_version_publish(version_id=in_review.pk, user=editor)
    finally:
        policy_version_published.disconnect(dispatch_uid="test_fail")
    in_review.refresh_from_db()
    assert (in_review.status, in_review.published_at) == (PolicyVersionStatus.IN_REVIEW, None)
    assert LibraryStamp.objects.values_list("value", flat=True).first() == stamp
    assert AuditEvent.objects.count() == audit_rows
