"""The plan's review decision reason codes (X12 list 886) as a decision gives them: each line's
code must be one the plan keeps, in use, and given on an adverse line only."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from casemgmt.cases.models import ADVERSE_OUTCOMES, ReviewReasonCode
from casemgmt.cases.validation import Problems


class CodedLine(Protocol):
    """A decision line as given (decisions.DecisionLineInput)."""

    @property
    def service_line(self) -> int: ...
    @property
    def outcome(self) -> str: ...
    @property
    def reason_code(self) -> str: ...


def review_reason_codes_read(lines: Sequence[CodedLine], problems: Problems) -> dict[int, ReviewReasonCode]:
    """The reason code of each line that gives one, by the line's sequence; each problem added
    under `lines[i].reason_code`."""
    wanted = {line.reason_code.strip() for line in lines if line.reason_code.strip()}
    if not wanted:
        return {}
    known = {row.code: row for row in ReviewReasonCode.objects.filter(code__in=wanted)}
    found: dict[int, ReviewReasonCode] = {}
    for i, line in enumerate(lines):
        code = line.reason_code.strip()
        if not code:
            continue
        path = f"lines[{i}].reason_code"
        row = known.get(code)
        if row is None:
            problems.add(path, f"{code!r} is not one of the plan's review decision reason codes")
        elif not row.active:
            problems.add(path, f"{code!r} ({row.display}) is no longer in use")
        elif line.outcome not in ADVERSE_OUTCOMES:
            problems.add(path, "a reason code is given on a denial, partial approval or modification only")
        else:
            found[line.service_line] = row
    return found
