"""Locking a case row for a guarded change."""

from __future__ import annotations

from collections.abc import Collection

from casemgmt.cases.models import (
    Case,
)
from casemgmt.kernel.errors import (
    ConflictError,
    InvalidTransition,
    NotFoundError,
)


def _lock_case(
    case_id: int,
    *,
    expected_row_version: int | None = None,
    allowed: Collection[str] | None = None,
    refusal: str = "",
) -> Case:
    """Lock a case row for a guarded change: it must exist, be as the caller last saw it,
    and (when `allowed` is given) be in one of those statuses."""
    case = Case.objects.select_for_update().filter(pk=case_id).first()
    if case is None:
        raise NotFoundError("no such case")
    _row_version_check(case, expected_row_version)
    if allowed is not None and case.status not in allowed:
        raise InvalidTransition(
            f"case {case.case_number} is {case.get_status_display().lower()}; {refusal}",
            current_status=case.status,
        )
    return case


def _row_version_check(case: Case, expected_row_version: int | None) -> None:
    """Refuse an action taken on a page that no longer shows the case as it is."""
    if expected_row_version is not None and case.row_version != expected_row_version:
        raise ConflictError(
            f"case {case.case_number} changed since you opened it; reload it and review again",
            current_status=case.status,
        )
