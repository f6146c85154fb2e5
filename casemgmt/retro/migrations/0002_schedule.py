"""The nightly review and the sweeper in django-celery-beat's database schedule, and the
nightly settings row. Both periodic tasks can be edited (or disabled) in the admin."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import migrations

NIGHTLY = "retro: nightly review"
SWEEPER = "retro: sweeper"


def create(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    RetroSchedule = apps.get_model("retro", "RetroSchedule")
    RetroSchedule.objects.get_or_create(pk=1, defaults={"sample_percent": Decimal("5.00"), "first_run_days": 7})
    nightly, _ = CrontabSchedule.objects.get_or_create(
        minute="30", hour="2", day_of_week="*", day_of_month="*", month_of_year="*", timezone=settings.TIME_ZONE
    )
    PeriodicTask.objects.get_or_create(
        name=NIGHTLY,
        defaults={
            "task": "casemgmt.retro.tasks.retro_nightly_task",
            "crontab": nightly,
            "description": "Re-evaluate the cases decided or rendered since the last night's run "
            "(retrospective-review policies in full, the others sampled; see the nightly settings).",
        },
    )
    every_five, _ = IntervalSchedule.objects.get_or_create(every=5, period="minutes")
    PeriodicTask.objects.get_or_create(
        name=SWEEPER,
        defaults={
            "task": "casemgmt.retro.tasks.retro_sweep_task",
            "interval": every_five,
            "description": "Send again retrospective-review chunks and runs whose messages were lost.",
        },
    )


def remove(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name__in=[NIGHTLY, SWEEPER]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("retro", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create, remove)]
