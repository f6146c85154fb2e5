"""`manage.py audit_export`: a period of the audit log as CSV, for archiving; the export is recorded."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from casemgmt.audit.models import AuditAction, AuditEvent
from casemgmt.audit.services import audit_record
from tests.casemgmt.audit.conftest import only

pytestmark = pytest.mark.django_db


def test_exports_the_period_to_a_new_file_and_records_the_export(tmp_path):
    today = timezone.localdate()
    old = AuditEvent.objects.create(
        at=timezone.now() - timedelta(days=40), actor_username="x", channel="web", action="view", object_type="case"
    )
    recent = audit_record(action=AuditAction.VIEW, object_type="case", object_id="PA-1")
    target = tmp_path / "audit.csv"
    call_command("audit_export", "--from", (today - timedelta(days=1)).isoformat(), "--output", str(target))
    rows = list(csv.DictReader(io.StringIO(target.read_text())))
    assert [int(r["id"]) for r in rows] == [recent.pk]
    assert old.pk not in [int(r["id"]) for r in rows]
    event = only(action=AuditAction.EXPORT)
    assert (event.channel, event.actor_username, event.detail["rows"], event.detail["command"]) == (
        "command",
        "system",
        1,
        "audit_export",
    )


def test_an_existing_file_is_never_overwritten(tmp_path):
    target = tmp_path / "audit.csv"
    target.write_text("keep me")
    with pytest.raises(CommandError, match="--output"):
        call_command("audit_export", "--output", str(target))
    assert target.read_text() == "keep me"


def test_a_bad_date_is_a_command_error_naming_the_option():
    with pytest.raises(CommandError, match="--from: '2025-02-30' is not a date"):
        call_command("audit_export", "--from", "2025-02-30")
