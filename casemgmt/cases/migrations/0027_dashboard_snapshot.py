"""The manager dashboard's stored snapshot, and beat's refresh of this year's in
django-celery-beat's database schedule (editable, or disabled, in the admin under Periodic tasks)."""

from __future__ import annotations

from typing import Any

from django.db import migrations, models

REFRESH = "dashboard: snapshot"


def create(apps: Any, schema_editor: Any) -> None:
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    # Well inside DASHBOARD_MAX_AGE_SECONDS (60 by default), so a page rarely computes.
    every_30s, _ = IntervalSchedule.objects.get_or_create(every=30, period="seconds")
    PeriodicTask.objects.get_or_create(
        name=REFRESH,
        defaults={
            "task": "casemgmt.tasks.dashboard_snapshots_refresh_task",
            "interval": every_30s,
            "description": "Compute the manager dashboard's figures for this year again when a case or the "
            "policy library changed, or when they are half DASHBOARD_MAX_AGE_SECONDS old; forget other "
            "periods' figures after a day.",
        },
    )


def remove(apps: Any, schema_editor: Any) -> None:
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name=REFRESH).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("casemgmt", "0026_fep_line_of_business"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.CreateModel(
            name="DashboardSnapshot",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("period_start", models.DateField()),
                ("period_end", models.DateField()),
                ("figures", models.JSONField()),
                ("stamp", models.CharField(max_length=200)),
                ("computed_at", models.DateTimeField()),
                ("refresh_requested_at", models.DateTimeField(blank=True, null=True)),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("period_start", "period_end"), name="dashboardsnapshot_unique_period"
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("period_end__gt", models.F("period_start"))),
                        name="dashboardsnapshot_period_ends_after_start",
                    ),
                ],
            },
        ),
        migrations.RunPython(create, remove),
    ]
