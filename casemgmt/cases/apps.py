from __future__ import annotations

from django.apps import AppConfig

from policies_app.signals import policy_version_published


class CasesConfig(AppConfig):
    name = "casemgmt.cases"
    # The label the tables, migrations and permissions were created under.
    label = "casemgmt"
    verbose_name = "Prior authorization cases"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Here, not at the top: both import the models, which exist only once the apps are loaded.
        # Importing the tasks registers them in every process, so services can send them by name.
        from casemgmt.cases import receivers, tasks  # noqa: F401

        policy_version_published.connect(receivers.reflag_open_cases_on_publish, dispatch_uid="cases_reflag_on_publish")
