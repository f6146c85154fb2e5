"""A case changes under guard: locked, checked against the workflow, written with a new row_version."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from casemgmt.cases import workflow
from casemgmt.cases.models import Case
from casemgmt.cases.workflow import Action
from casemgmt.kernel.guarded import GuardedRows

CASES = GuardedRows(Case, missing="no such case", name=lambda case: f"case {case.case_number}")


def case_lock(case_id: int, *, action: Action | None = None, expected_row_version: int | None = None) -> Case:
    """Lock a case for a change: it must exist, be as the caller last saw it (when
    `expected_row_version` is given) and, when `action` is given, be in a status that allows it."""
    if action is None:
        return CASES.lock(case_id, expected_row_version=expected_row_version)
    return CASES.lock(
        case_id,
        expected_row_version=expected_row_version,
        allowed=workflow.statuses_allowing(action),
        refusal=workflow.REFUSALS[action],
    )


def case_action_check(case: Case, action: Action) -> None:
    """Refuse `action` on a case whose status does not allow it."""
    if not workflow.allowed(case.status, action):
        raise CASES.refused(case, workflow.REFUSALS[action])


def case_write(case: Case, *, now: datetime, **values: Any) -> None:
    """Write a change to a case `case_lock` returned."""
    CASES.update(case, updated_at=now, **values)
