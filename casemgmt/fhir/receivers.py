"""How the FHIR door reacts to what the cases announce: one service call each, no rules.

Connected in FhirConfig.ready().
"""

from __future__ import annotations

from typing import Any

from casemgmt.cases.models import Case, CaseEvent
from casemgmt.fhir.subscriptions import fhir_notifications_queue


def notify_pas_subscribers(sender: Any, *, case: Case, events: list[CaseEvent], **kwargs: Any) -> None:
    """Notify the subscriptions of the client whose PAS request changed state.

    In the change's transaction, so a notification exists exactly when the change commits."""
    fhir_notifications_queue(case=case, events=events)
