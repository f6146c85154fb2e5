from __future__ import annotations

from typing import Any

from django.db import migrations

from casemgmt.kernel.db_triggers import install_append_only

ROLES = ["nurse_reviewer", "physician_reviewer", "policy_editor", "manager", "integration_client"]

# ../shared/DOMAIN.md, "Deadlines". Hours from receipt; the most specific rule wins.
DEADLINES = [
    ("prospective", "expedited", "", 72, "CMS-0057-F; ERISA urgent care (29 CFR 2560.503-1)"),
    ("prospective", "standard", "", 15 * 24, "ERISA pre-service, 29 CFR 2560.503-1"),
    ("prospective", "standard", "medicare_advantage", 7 * 24, "CMS-0057-F"),
    ("prospective", "standard", "medicaid", 7 * 24, "CMS-0057-F"),
    ("prospective", "standard", "chip", 7 * 24, "CMS-0057-F"),
    ("retrospective", "", "", 30 * 24, "29 CFR 2560.503-1; NCQA UM 5"),
]


def forwards(apps: Any, schema_editor: Any) -> None:
    Group = apps.get_model("auth", "Group")
    for name in ROLES:
        Group.objects.get_or_create(name=name)
    Rule = apps.get_model("casemgmt", "DeadlineRule")
    for review_type, urgency, lob, hours, source in DEADLINES:
        Rule.objects.get_or_create(
            review_type=review_type, urgency=urgency, line_of_business=lob, defaults={"hours": hours, "source": source}
        )
    install_append_only(schema_editor, ["casemgmt_decision", "casemgmt_decisionline", "casemgmt_citation"])


class Migration(migrations.Migration):
    dependencies = [("casemgmt", "0001_initial"), ("auth", "0012_alter_user_first_name_max_length")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
