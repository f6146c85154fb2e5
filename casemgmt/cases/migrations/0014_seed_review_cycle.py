from __future__ import annotations

from typing import Any

from django.db import migrations

from casemgmt.kernel.db_triggers import install_append_only, install_ended_once

DAY = 24

# ../shared/DOMAIN.md, "After the decision". (review_type, appealed_review_type, urgency,
# line_of_business, hours, pend_extension_hours, source); the most specific rule wins.
DEADLINES = [
    # Medicare Advantage reconsiderations (42 CFR 422.590): a service 30 days, a payment 60
    # days, expedited 72 hours; a service may be extended up to 14 days (422.590(f)).
    ("appeal", "prospective", "standard", "medicare_advantage", 30 * DAY, 14 * DAY, "42 CFR 422.590(a)"),
    ("appeal", "retrospective", "standard", "medicare_advantage", 60 * DAY, 0, "42 CFR 422.590(b)"),
    ("appeal", "", "expedited", "medicare_advantage", 72, 14 * DAY, "42 CFR 422.590(e)"),
    # Medicaid and CHIP managed care appeals (42 CFR 438.408(b); CHIP by 457.1260).
    ("appeal", "", "standard", "medicaid", 30 * DAY, 14 * DAY, "42 CFR 438.408(b)(2)"),
    ("appeal", "", "expedited", "medicaid", 72, 14 * DAY, "42 CFR 438.408(b)(3)"),
    ("appeal", "", "standard", "chip", 30 * DAY, 14 * DAY, "42 CFR 438.408(b)(2); 42 CFR 457.1260"),
    ("appeal", "", "expedited", "chip", 72, 14 * DAY, "42 CFR 438.408(b)(3); 42 CFR 457.1260"),
    # Commercial (ERISA) and, through 45 CFR 147.136, exchange plans: pre-service 30 days,
    # post-service 60 days, urgent care 72 hours (29 CFR 2560.503-1(i)).
    ("appeal", "prospective", "standard", "", 30 * DAY, 0, "29 CFR 2560.503-1(i)(2)(ii)"),
    ("appeal", "retrospective", "standard", "", 60 * DAY, 0, "29 CFR 2560.503-1(i)(2)(iii)"),
    ("appeal", "", "expedited", "", 72, 0, "29 CFR 2560.503-1(i)(2)(i)"),
    # An extension is a new pre-service request for more units or time, on the same clocks.
    ("extension", "", "expedited", "", 72, 48, "CMS-0057-F; ERISA urgent care (29 CFR 2560.503-1)"),
    ("extension", "", "standard", "", 15 * DAY, 45 * DAY, "ERISA pre-service, 29 CFR 2560.503-1"),
    ("extension", "", "standard", "medicare_advantage", 7 * DAY, 14 * DAY, "CMS-0057-F; 42 CFR 422.568"),
    ("extension", "", "standard", "medicaid", 7 * DAY, 14 * DAY, "CMS-0057-F"),
    ("extension", "", "standard", "chip", 7 * DAY, 14 * DAY, "CMS-0057-F"),
]

# Days from the decision within which an appeal may be filed.
APPEAL_WINDOWS = [
    ("commercial", 180, "29 CFR 2560.503-1(h)(3)(i)"),
    ("exchange", 180, "45 CFR 147.136(b)(2); 29 CFR 2560.503-1(h)(3)(i)"),
    ("medicare_advantage", 65, "42 CFR 422.582(b)"),
    ("medicaid", 60, "42 CFR 438.402(c)(2)(ii)"),
    ("chip", 60, "42 CFR 438.402(c)(2)(ii); 42 CFR 457.1260"),
]

AUTHORIZATION_FROZEN_COLUMNS = [
    "authorization_number",
    "case_id",
    "decision_id",
    "decision_line_id",
    "service_line_id",
    "origin_line_id",
    "client_id",
    "member_id",
    "member_first_name",
    "member_last_name",
    "member_birth_date",
    "line_of_business",
    "plan_id",
    "requesting_provider_npi",
    "requesting_provider_name",
    "servicing_provider_npi",
    "servicing_provider_name",
    "code_system",
    "code",
    "modifiers",
    "approved_units",
    "valid_from",
    "valid_to",
    "validity_rule_id",
    "validity_basis",
    "issued_at",
    "supersedes_id",
]


def forwards(apps: Any, schema_editor: Any) -> None:
    Rule = apps.get_model("casemgmt", "DeadlineRule")
    for review_type, appealed, urgency, lob, hours, pend_hours, source in DEADLINES:
        Rule.objects.get_or_create(
            review_type=review_type,
            appealed_review_type=appealed,
            urgency=urgency,
            line_of_business=lob,
            defaults={"hours": hours, "pend_extension_hours": pend_hours, "source": source},
        )
    Window = apps.get_model("casemgmt", "AppealWindow")
    for lob, days, source in APPEAL_WINDOWS:
        Window.objects.get_or_create(line_of_business=lob, defaults={"days": days, "source": source})
    apps.get_model("auth", "Group").objects.get_or_create(name="claims_system")
    # SQLite rebuilds a table to change its constraints, which drops its triggers.
    install_append_only(schema_editor, ["casemgmt_decision", "casemgmt_decisionline", "casemgmt_citation"])
    install_ended_once(
        schema_editor,
        table="casemgmt_authorization",
        frozen_columns=AUTHORIZATION_FROZEN_COLUMNS,
        what="authorizations",
    )


class Migration(migrations.Migration):
    dependencies = [("casemgmt", "0013_review_cycle")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
