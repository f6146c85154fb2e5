"""The nightly gold-card evaluation in django-celery-beat's database schedule (editable, or
disabled, in the admin under Periodic tasks)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import migrations

EVALUATION = "gold cards: evaluation"


def create(apps: Any, schema_editor: Any) -> None:
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    # At night, in the project's time zone, after the day's decisions and away from the
    # authorizations' expiry at 00:10.
    nightly, _ = CrontabSchedule.objects.get_or_create(
        minute="30", hour="2", day_of_week="*", day_of_month="*", month_of_year="*", timezone=settings.TIME_ZONE
    )
    PeriodicTask.objects.get_or_create(
        name=EVALUATION,
        defaults={
            "task": "casemgmt.tasks.gold_cards_evaluate_task",
            "crontab": nightly,
            "description": "Evaluate every active gold-card programme: providers who meet it get an exemption "
            "with its evidence, evaluated exemptions whose provider no longer meets it end.",
        },
    )


def remove(apps: Any, schema_editor: Any) -> None:
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name=EVALUATION).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("casemgmt", "0018_triage_gold_cards"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create, remove)]
