from __future__ import annotations

from django.apps import AppConfig

from policies_app.signals import policy_version_published


class RetroConfig(AppConfig):
    name = "casemgmt.retro"
    label = "retro"
    verbose_name = "Retrospective review"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Here, not at the top: both import the models, which exist only once the apps are loaded.
        # Importing the tasks registers them in every process, so services can send them by name.
        from casemgmt.retro import receivers, tasks  # noqa: F401

        policy_version_published.connect(receivers.retro_run_on_publish, dispatch_uid="retro_run_on_publish")
