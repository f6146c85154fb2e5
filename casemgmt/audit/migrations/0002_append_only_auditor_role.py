from __future__ import annotations

from typing import Any

from django.db import migrations

from casemgmt.kernel.db_triggers import install_append_only


def forwards(apps: Any, schema_editor: Any) -> None:
    # The auditor role, like the others, is a group (casemgmt.kernel.roles.Role.AUDITOR).
    Group = apps.get_model("auth", "Group")
    Group.objects.get_or_create(name="auditor")
    install_append_only(schema_editor, ["audit_auditevent"], what="audit log rows")


def backwards(apps: Any, schema_editor: Any) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute("DROP TRIGGER IF EXISTS audit_auditevent_append_only ON audit_auditevent")
        schema_editor.execute("DROP FUNCTION IF EXISTS audit_auditevent_append_only()")
    else:
        schema_editor.execute("DROP TRIGGER IF EXISTS audit_auditevent_append_only")


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial"), ("auth", "0012_alter_user_first_name_max_length")]
    operations = [migrations.RunPython(forwards, backwards)]
