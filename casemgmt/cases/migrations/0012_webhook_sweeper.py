"""The webhook deliveries' sweeper in django-celery-beat's database schedule (editable, or
disabled, in the admin under Periodic tasks)."""

from __future__ import annotations

from django.db import migrations

SWEEPER = "webhooks: sweeper"


def create(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=1, period="minutes")
    PeriodicTask.objects.get_or_create(
        name=SWEEPER,
        defaults={
            "task": "casemgmt.tasks.webhook_sweep_task",
            "interval": every_minute,
            "description": "Queue again the pending webhook deliveries that are due and whose message "
            "was lost (a broker that kept nothing, a worker killed mid-delivery).",
        },
    )


def remove(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name=SWEEPER).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("casemgmt", "0011_webhook_delivery_schedule"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create, remove)]
