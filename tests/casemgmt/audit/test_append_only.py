"""The audit log is append-only: the database itself refuses to change (or, on PostgreSQL, delete) a row."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import DatabaseError, connection, transaction

from casemgmt.audit.models import AuditAction, AuditObject
from casemgmt.audit.services import audit_record
from tests.casemgmt.audit.conftest import web

pytestmark = pytest.mark.django_db


def a_row():
    return audit_record(action=AuditAction.VIEW, object_type=AuditObject.CASE, object_id="PA-TEST0001")


def test_raw_sql_update_is_refused():
    row = a_row()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditevent SET actor_username = 'someone else' WHERE id = %s", [row.pk])
    row.refresh_from_db()
    assert row.actor_username == "system"


def test_orm_update_is_refused():
    row = a_row()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        type(row).objects.filter(pk=row.pk).update(action=AuditAction.LIST)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite keeps DELETE open for the test runner's flush")
def test_raw_sql_delete_is_refused_on_postgresql():
    row = a_row()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE id = %s", [row.pk])
    assert type(row).objects.filter(pk=row.pk).exists()


def test_deleting_an_account_keeps_its_history(integration_client, nurse):
    from tests import factories

    case = factories.case(integration_client)
    assert web(nurse).get(f"/cases/{case.case_number}/").status_code == 200
    nurse_id = nurse.pk
    get_user_model().objects.filter(pk=nurse_id).delete()
    from casemgmt.audit.models import AuditEvent

    viewed = AuditEvent.objects.get(action=AuditAction.VIEW, case_number=case.case_number)
    assert (viewed.actor_id, viewed.actor_username, viewed.roles) == (nurse_id, "nina.nurse", "nurse_reviewer")
