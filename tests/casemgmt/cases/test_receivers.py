"""The cases react to a published policy version by re-flagging their open cases after the commit."""

from __future__ import annotations

import pytest
from celery import Task
from django.db import transaction

from casemgmt.cases.tasks import policy_version_reflag_open_cases_task
from tests import factories

pytestmark = pytest.mark.django_db

REFLAG = policy_version_reflag_open_cases_task.name


@pytest.fixture
def sent(monkeypatch) -> list[tuple[str, tuple]]:
    messages: list[tuple[str, tuple]] = []
    original = Task.apply_async

    def recording(self, args=None, kwargs=None, *rest, **options):
        messages.append((self.name, tuple(args or ())))
        return original(self, args, kwargs, *rest, **options)

    monkeypatch.setattr(Task, "apply_async", recording)
    return messages


def test_publishing_sends_the_reflag_of_open_cases_once_the_publish_commits(
    editor, sent, django_capture_on_commit_callbacks
):
    draft = factories.draft_version()
    with django_capture_on_commit_callbacks() as callbacks:
        version = factories.publish(draft, editor)
    assert [args for name, args in sent if name == REFLAG] == []
    for callback in callbacks:
        callback()
    assert [args for name, args in sent if name == REFLAG] == [(version.pk,)]


def test_a_publish_that_rolls_back_sends_no_reflag(editor, sent, django_capture_on_commit_callbacks):
    draft = factories.draft_version()
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        factories.publish(draft, editor)
        raise RuntimeError("the caller's transaction failed after the publish")
    assert callbacks == []
    assert [name for name, _args in sent if name == REFLAG] == []
