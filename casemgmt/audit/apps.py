from __future__ import annotations

from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "casemgmt.audit"
    label = "audit"
    verbose_name = "Audit log"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Connects the sign-in and task receivers.
        from casemgmt.audit import receivers  # noqa: F401
