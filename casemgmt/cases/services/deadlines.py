"""Which deadline rule a request falls under, and when its answer is due."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from casemgmt.cases.models import (
    DeadlineRule,
)
from casemgmt.cases.selectors import (
    deadline_rule_candidates,
)
from casemgmt.kernel.errors import (
    DomainError,
)


class ConfigurationError(DomainError):
    status_code = 503


# --- deadlines ------------------------------------------------------------------------------


def _most_specific(
    rules: Iterable[DeadlineRule], *, urgency: str, line_of_business: str, review_type: str
) -> DeadlineRule:
    """The most specific rule wins; a blank urgency, line of business or appealed review type
    matches any."""
    best = max(
        rules, key=lambda r: (r.urgency != "", r.line_of_business != "", r.appealed_review_type != ""), default=None
    )
    if best is None:
        raise ConfigurationError(
            f"no deadline rule covers a {urgency} {review_type} request for {line_of_business}; "
            "a manager must add one before such requests can be accepted"
        )
    return best


def deadline_for(
    *, received_at: datetime, urgency: str, line_of_business: str, review_type: str, appealed_review_type: str = ""
) -> tuple[datetime, DeadlineRule]:
    best = _most_specific(
        deadline_rule_candidates(
            urgency=urgency,
            line_of_business=line_of_business,
            review_type=review_type,
            appealed_review_type=appealed_review_type,
        ),
        urgency=urgency,
        line_of_business=line_of_business,
        review_type=review_type,
    )
    return received_at + timedelta(hours=best.hours), best
