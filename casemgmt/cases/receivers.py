"""How the cases react to what other apps announce: one call each, no rules.

Connected in CasesConfig.ready().
"""

from __future__ import annotations

from typing import Any

from casemgmt.cases.tasks import policy_version_reflag_open_cases_task
from casemgmt.outbox.services import task_enqueue_on_commit


def reflag_open_cases_on_publish(sender: Any, *, version_id: int, **kwargs: Any) -> None:
    """Re-flag the open cases a newly published version may govern, once the publish commits.

    The task is written to the outbox in the publish's transaction: a broker outage delays the
    re-flag, never loses it.
    """
    task_enqueue_on_commit(policy_version_reflag_open_cases_task.name, version_id)
