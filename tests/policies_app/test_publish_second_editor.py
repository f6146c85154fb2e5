"""A policy version is published by a second editor, not by the one who submitted it for review."""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User

from casemgmt.audit.models import AuditEvent
from casemgmt.kernel.errors import PermissionDeniedError
from policies_app.demo.seed_policies import WELLMARK_07_01_89
from policies_app.models import LibraryStamp, PolicyVersion, PolicyVersionStatus
from policies_app.services import (
    policy_seed,
    policy_version_publish,
    policy_version_return_to_draft,
    policy_version_submit_for_review,
)
from tests import factories

pytestmark = pytest.mark.django_db

SETTINGS_FILE = Path(__file__).resolve().parents[2] / "casemgmt" / "settings.py"


def submitted_by(editor: User) -> PolicyVersion:
    version = factories.draft_version()
    return policy_version_submit_for_review(version_id=version.pk, user=editor)


def test_the_editor_who_submitted_a_version_cannot_publish_it(editor: User) -> None:
    """Issue 17 §6: publishing a version needs a second editor; the one who submitted it cannot publish it."""
    version = submitted_by(editor)

    with pytest.raises(PermissionDeniedError) as refused:
        policy_version_publish(version_id=version.pk, user=editor)

    assert refused.value.status_code == 403
    assert refused.value.message == (
        "you submitted version 2024-01 for review, so another policy editor must review and publish it"
    )
    version.refresh_from_db()
    assert (version.status, version.published_by, version.published_at) == (PolicyVersionStatus.IN_REVIEW, None, None)


def test_a_refused_publish_changes_nothing_else(editor: User) -> None:
    """Issue 17 §6: a publish refused for want of a second editor leaves the library and the audit log as they were."""
    version = submitted_by(editor)
    stamp = LibraryStamp.objects.values_list("value", flat=True).first()
    audit_rows = AuditEvent.objects.count()

    with pytest.raises(PermissionDeniedError):
        policy_version_publish(version_id=version.pk, user=editor)

    assert LibraryStamp.objects.values_list("value", flat=True).first() == stamp
    assert AuditEvent.objects.count() == audit_rows


def test_a_second_editor_publishes_what_the_first_submitted(editor: User) -> None:
    """Issue 17 §6: another policy editor may publish a version in review."""
    version = submitted_by(editor)
    second = factories.second_editor()

    published = policy_version_publish(version_id=version.pk, user=second)

    assert published.status == PolicyVersionStatus.PUBLISHED
    assert (published.submitted_by, published.published_by) == (editor, second)


def test_the_rule_follows_whoever_submitted_the_version_last(editor: User) -> None:
    """Issue 17 §6: a version returned to draft and submitted again by another editor may be published by the first."""
    version = submitted_by(editor)
    second = factories.second_editor()
    policy_version_return_to_draft(version_id=version.pk, user=second)
    policy_version_submit_for_review(version_id=version.pk, user=second)

    with pytest.raises(PermissionDeniedError):
        policy_version_publish(version_id=version.pk, user=second)
    assert policy_version_publish(version_id=version.pk, user=editor).published_by == editor


def test_a_plan_with_one_editor_turns_the_rule_off(editor: User, settings: Any) -> None:
    """Issue 17 §6: the rule is a setting, for plans too small for two editors."""
    settings.POLICY_PUBLISH_NEEDS_SECOND_EDITOR = False
    version = submitted_by(editor)

    published = policy_version_publish(version_id=version.pk, user=editor)

    assert (published.status, published.submitted_by, published.published_by) == (
        PolicyVersionStatus.PUBLISHED,
        editor,
        editor,
    )


@pytest.mark.parametrize(("raw", "expected"), [(None, True), ("0", False), ("1", True)])
def test_the_rule_is_on_unless_the_plan_turns_it_off(
    monkeypatch: pytest.MonkeyPatch, raw: str | None, expected: bool
) -> None:
    """Issue 17 §6: a setting, on by default (POLICY_PUBLISH_NEEDS_SECOND_EDITOR)."""
    monkeypatch.setenv("DEBUG", "1")
    if raw is None:
        monkeypatch.delenv("POLICY_PUBLISH_NEEDS_SECOND_EDITOR", raising=False)
    else:
        monkeypatch.setenv("POLICY_PUBLISH_NEEDS_SECOND_EDITOR", raw)

    assert runpy.run_path(str(SETTINGS_FILE))["POLICY_PUBLISH_NEEDS_SECOND_EDITOR"] is expected


def test_seeding_submits_as_one_editor_and_publishes_as_another(editor: User) -> None:
    """Issue 17 §6: seeded policies (load_demo) go through review like any other: a second editor publishes."""
    second = factories.second_editor()

    version = policy_seed(data=WELLMARK_07_01_89, user=editor, publisher=second)

    assert (version.status, version.submitted_by, version.published_by) == (
        PolicyVersionStatus.PUBLISHED,
        editor,
        second,
    )


def test_seeding_has_no_exemption_from_the_rule(editor: User) -> None:
    """Issue 17 §6: seeding by one editor alone is refused like any publish, and leaves nothing half-seeded."""
    with pytest.raises(PermissionDeniedError):
        policy_seed(data=WELLMARK_07_01_89, user=editor, publisher=editor)

    assert not PolicyVersion.objects.filter(version_label=WELLMARK_07_01_89["version_label"]).exists()
