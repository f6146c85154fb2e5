from __future__ import annotations

from django.apps import AppConfig

from casemgmt.cases.signals import case_events_recorded


class FhirConfig(AppConfig):
    name = "casemgmt.fhir"
    label = "fhir"
    verbose_name = "FHIR (Da Vinci PAS, CRD, DTR)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The models' first import builds their validators (about a second); paying it at start-up
        # keeps it out of the first request's answer time.
        from casemgmt.fhir import parsing

        parsing.models_warm()
        # Here, not at the top: both import the models, which exist only once the apps are loaded.
        # Importing the tasks registers them in every process, so services can send them by name.
        from casemgmt.fhir import receivers, tasks  # noqa: F401

        case_events_recorded.connect(receivers.notify_pas_subscribers, dispatch_uid="fhir_notify_pas_subscribers")
