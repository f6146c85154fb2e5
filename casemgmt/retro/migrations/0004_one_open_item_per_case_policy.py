"""At most one open review item per case and policy (apart from 0003's data, which folds the
duplicates first: PostgreSQL will not build an index on a table with pending trigger events)."""

from __future__ import annotations

from django.db import migrations, models
from django.db.models.functions import Coalesce


class Migration(migrations.Migration):
    dependencies = [("retro", "0003_item_policy_and_findings")]

    operations = [
        migrations.AddConstraint(
            model_name="retroreviewitem",
            constraint=models.UniqueConstraint(
                models.F("case"),
                Coalesce(models.F("policy"), models.Value(0)),
                condition=models.Q(status__in=["open", "in_review", "referred"]),
                name="retroitem_one_open_per_case_policy",
            ),
        ),
    ]
