"""Publishing a policy version queues exactly one retrospective run over the cases it may change."""

from __future__ import annotations

from functools import partial

import pytest
from django.db import IntegrityError

from casemgmt.kernel.errors import InvalidTransition
from casemgmt.retro import selectors, services
from casemgmt.retro.models import RetroRun, RetroTrigger
from policies_app.models import PolicyVersionStatus
from policies_app.services import policy_version_publish
from tests import factories
from tests.casemgmt.cases.test_concurrency import at_once
from tests.casemgmt.retro.conftest import days_ago, decided_case
from tests.services_fixtures import require_postgresql

pytestmark = pytest.mark.django_db


def test_publishing_a_version_queues_one_run_over_its_window(library, editor, nurse, integration_client):
    old_version = decided_case(integration_client, nurse, code="62330", dos=days_ago(50), cite=[library.a1])
    before_window = decided_case(integration_client, nurse, code="62330", dos=days_ago(300), cite=[library.a1])
    other_policy = decided_case(integration_client, nurse, code="22840", dos=days_ago(50))
    draft = factories.draft_version(
        library.a1.policy, version_label="A2", coverage_position="investigational", effective_start=days_ago(100)
    )

    version = factories.publish(draft, editor)

    run = RetroRun.objects.get(trigger=RetroTrigger.PUBLISH, policy_version=version)
    assert (run.date_from, run.date_to, run.policy_id, run.started_by) == (
        days_ago(100),
        None,
        version.policy_id,
        editor,
    )
    assert selectors.select_for_publish(run) == {old_version.pk}
    assert before_window.pk not in selectors.select_for_publish(
        run
    ) and other_policy.pk not in selectors.select_for_publish(run)


def test_publishing_twice_does_not_double_the_run(library, editor):
    draft = factories.draft_version(library.a1.policy, version_label="A2", effective_start=days_ago(100))
    version = factories.publish(draft, editor)
    with pytest.raises(InvalidTransition):
        policy_version_publish(version_id=version.pk, user=editor)
    assert (
        services.retro_run_for_publish(version_id=version.pk, user=editor).pk
        == RetroRun.objects.get(trigger=RetroTrigger.PUBLISH, policy_version=version).pk
    )
    assert RetroRun.objects.filter(trigger=RetroTrigger.PUBLISH, policy_version=version).count() == 1


def test_a_publish_that_fails_leaves_no_run(library, editor):
    draft = factories.submit(
        factories.draft_version(library.a1.policy, version_label="A2", effective_start=days_ago(100))
    )
    draft.statement = ""
    draft.save(update_fields=["statement"])
    with pytest.raises(Exception):
        policy_version_publish(version_id=draft.pk, user=editor)
    assert not RetroRun.objects.filter(policy_version=draft).exists()


def test_a_run_that_cannot_be_planned_rolls_the_publish_back(library, editor, monkeypatch):
    draft = factories.submit(
        factories.draft_version(library.a1.policy, version_label="A2", effective_start=days_ago(100))
    )

    def refuse(**kwargs):
        raise IntegrityError("the run could not be written")

    monkeypatch.setattr("casemgmt.retro.receivers.retro_run_for_publish", refuse)
    with pytest.raises(IntegrityError):
        policy_version_publish(version_id=draft.pk, user=editor)
    draft.refresh_from_db()
    assert draft.status == PolicyVersionStatus.IN_REVIEW
    assert not RetroRun.objects.filter(policy_version=draft).exists()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_editors_publishing_at_once_make_one_run(editor):
    require_postgresql(" (SQLite serializes writers)")
    second_editor = factories.user("erin.editor", *editor_roles(editor))
    for n in range(5):
        # Submitted by a third editor, so that either of the two may publish it.
        draft = factories.submit(factories.draft_version(factories.policy(number=f"RACE.{n}"), version_label="V1"))

        def publish(user, pk=draft.pk):
            try:
                return policy_version_publish(version_id=pk, user=user).pk
            except InvalidTransition:
                return "refused"

        results = at_once(partial(publish, editor), partial(publish, second_editor))
        assert sorted(map(str, results)) == sorted([str(draft.pk), "refused"])
        assert RetroRun.objects.filter(trigger=RetroTrigger.PUBLISH, policy_version_id=draft.pk).count() == 1


def editor_roles(editor):
    from casemgmt.kernel.roles import user_roles

    return sorted(user_roles(editor))
