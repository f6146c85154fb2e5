from __future__ import annotations

from typing import Any

from django.db import migrations

# How long a pend for information may add to the clock, per seeded deadline rule (0002).
# (review_type, urgency, line_of_business) -> (hours, source)
PEND_EXTENSIONS = {
    # ERISA pre-service: the period is tolled from the notice until the response, and the
    # claimant has at least 45 days to respond (29 CFR 2560.503-1(f)(2)(iii)).
    ("prospective", "standard", ""): 45 * 24,
    # ERISA urgent care: at least 48 hours to provide the information (29 CFR 2560.503-1(f)(2)(i)).
    ("prospective", "expedited", ""): 48,
    # Medicare Advantage (and the Medicaid/CHIP rules built on it): up to 14 calendar days
    # (42 CFR 422.568(b)(1)).
    ("prospective", "standard", "medicare_advantage"): 14 * 24,
    ("prospective", "standard", "medicaid"): 14 * 24,
    ("prospective", "standard", "chip"): 14 * 24,
    # Post-service: one 15-day extension (29 CFR 2560.503-1(f)(2)(iii)(B)).
    ("retrospective", "", ""): 15 * 24,
}


def forwards(apps: Any, schema_editor: Any) -> None:
    Rule = apps.get_model("casemgmt", "DeadlineRule")
    for (review_type, urgency, lob), hours in PEND_EXTENSIONS.items():
        # A rule a manager has since removed stays removed; other rules keep 0 (no extension).
        Rule.objects.filter(review_type=review_type, urgency=urgency, line_of_business=lob).update(
            pend_extension_hours=hours
        )


def backwards(apps: Any, schema_editor: Any) -> None:
    apps.get_model("casemgmt", "DeadlineRule").objects.update(pend_extension_hours=0)


class Migration(migrations.Migration):
    dependencies = [("casemgmt", "0005_attachments_pend_extension")]
    operations = [migrations.RunPython(forwards, backwards)]
