"""The authorizations' nightly expiry in django-celery-beat's database schedule (editable, or
disabled, in the admin under Periodic tasks)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import migrations

EXPIRY = "authorizations: expiry"


def create(apps: Any, schema_editor: Any) -> None:
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    # Shortly after midnight, in the project's time zone: the first run of the day after an
    # authorization's last valid day.
    nightly, _ = CrontabSchedule.objects.get_or_create(
        minute="10", hour="0", day_of_week="*", day_of_month="*", month_of_year="*", timezone=settings.TIME_ZONE
    )
    PeriodicTask.objects.get_or_create(
        name=EXPIRY,
        defaults={
            "task": "casemgmt.tasks.authorizations_expire_task",
            "crontab": nightly,
            "description": "Mark active authorizations whose validity period has ended as expired. "
            "A claims lookup shows them as expired from the day after their end even before this runs.",
        },
    )


def remove(apps: Any, schema_editor: Any) -> None:
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name=EXPIRY).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("casemgmt", "0014_seed_review_cycle"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create, remove)]
