from django.conf import settings
from django.db import migrations, models

OPEN = models.Q(("status__in", ("received", "in_review", "pended", "physician_review")))


class Migration(migrations.Migration):
    dependencies = [
        ("casemgmt", "0027_dashboard_snapshot"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        # The due-time index again, carrying the columns the work list filters on.
        migrations.RemoveIndex(model_name="case", name="case_open_due_idx"),
        migrations.AddIndex(
            model_name="case",
            index=models.Index(
                condition=OPEN,
                fields=["due_at", "id"],
                include=["status", "urgency", "line_of_business", "review_type", "assignee"],
                name="case_open_due_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="case",
            index=models.Index(condition=OPEN, fields=["urgency", "due_at", "id"], name="case_open_urgency_due_idx"),
        ),
        migrations.AddIndex(
            model_name="case",
            index=models.Index(
                condition=OPEN,
                fields=["status", "urgency", "line_of_business", "due_at", "id"],
                name="case_open_filter_due_idx",
            ),
        ),
    ]
