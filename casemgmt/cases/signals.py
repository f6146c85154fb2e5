"""What the cases announce. Entry packages react in receivers of their own, so the cases import
none of them."""

from __future__ import annotations

from django.dispatch import Signal

# Sent inside the transaction that records a case's status events (the STATUS_EVENTS of
# services/events.py), with `case` (Case) and `events` (the CaseEvents, in order). Receivers run
# in that transaction: one that raises rolls the change back; what must wait for the commit goes
# to the task outbox.
case_events_recorded = Signal()
