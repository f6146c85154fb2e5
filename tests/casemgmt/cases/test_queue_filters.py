"""Saved work-list filters (casemgmt.cases.services.queue_filters): saving, replacing and
deleting one each write an audit row naming the filter and what changed."""

from __future__ import annotations

import pytest

from casemgmt.audit.models import AuditAction, AuditEvent, AuditObject
from casemgmt.cases.services.queue_filters import saved_queue_filter_delete, saved_queue_filter_save
from casemgmt.kernel.errors import NotFoundError, ValidationFailed

pytestmark = pytest.mark.django_db


def filter_rows() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(object_type=AuditObject.SAVED_QUEUE_FILTER).order_by("id"))


def test_saving_a_filter_is_recorded_as_created(nurse):
    saved = saved_queue_filter_save(user=nurse, name="Urgent", query="urgency=expedited")
    [row] = filter_rows()
    assert (row.action, row.object_id, row.actor_id) == (AuditAction.CREATE, str(saved.pk), nurse.pk)
    assert row.changes == {
        "name": {"old": None, "new": "Urgent"},
        "query": {"old": None, "new": "urgency=expedited"},
    }


def test_replacing_a_filter_is_recorded_as_a_change_of_its_query(nurse):
    saved = saved_queue_filter_save(user=nurse, name="Urgent", query="urgency=expedited")
    saved_queue_filter_save(user=nurse, name="Urgent", query="urgency=expedited&sort=-received")
    row = filter_rows()[-1]
    assert (row.action, row.object_id) == (AuditAction.CHANGE, str(saved.pk))
    assert row.changes == {"query": {"old": "urgency=expedited", "new": "urgency=expedited&sort=-received"}}


def test_deleting_a_filter_is_recorded_with_what_it_held(nurse):
    saved = saved_queue_filter_save(user=nurse, name="Urgent", query="urgency=expedited")
    saved_queue_filter_delete(user=nurse, filter_id=saved.pk)
    row = filter_rows()[-1]
    assert (row.action, row.object_id, row.actor_id) == (AuditAction.DELETE, str(saved.pk), nurse.pk)
    assert row.changes == {
        "name": {"old": "Urgent", "new": None},
        "query": {"old": "urgency=expedited", "new": None},
    }


def test_a_refused_save_records_nothing(nurse):
    with pytest.raises(ValidationFailed):
        saved_queue_filter_save(user=nurse, name="Ada", query="q=M-100")
    assert filter_rows() == []


def test_deleting_another_users_filter_records_nothing(nurse, physician):
    saved = saved_queue_filter_save(user=nurse, name="Urgent", query="urgency=expedited")
    with pytest.raises(NotFoundError):
        saved_queue_filter_delete(user=physician, filter_id=saved.pk)
    assert [row.action for row in filter_rows()] == [AuditAction.CREATE]
