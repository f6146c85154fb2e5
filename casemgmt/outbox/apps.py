from __future__ import annotations

from django.apps import AppConfig


class OutboxConfig(AppConfig):
    name = "casemgmt.outbox"
    label = "outbox"
    verbose_name = "Task outbox"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Here, not at the top: the receivers import the models, which exist only once the apps are loaded.
        from celery.signals import task_prerun

        from casemgmt.outbox import receivers

        task_prerun.connect(receivers.mark_sent_on_task_prerun, weak=False, dispatch_uid="outbox_mark_sent_on_prerun")
