"""What the reviewers' pages tell someone without a reviewer's role, and the case a page is about."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.http import Http404

from casemgmt.cases import selectors
from casemgmt.cases.models import Case

QUEUE_REFUSAL = "Only reviewers and managers may use the work queue."
CASE_REFUSAL = "Only reviewers and managers may open cases."


def case_or_404(user: User, case_number: str) -> Case:
    """The case as `user` may see it, or 404."""
    case = selectors.case_get_for(user, case_number)
    if case is None:
        raise Http404("No such case.")
    return case
