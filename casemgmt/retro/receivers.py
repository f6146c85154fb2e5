"""How retrospective review reacts to what other apps announce: one service call each, no rules.

Connected in RetroConfig.ready().
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User

from casemgmt.retro.services import retro_run_for_publish


def retro_run_on_publish(sender: Any, *, version_id: int, user: User | None, **kwargs: Any) -> None:
    """Plan the run over the decided cases a newly published version may change.

    In the publish transaction, so the run exists exactly when the publish commits.
    """
    retro_run_for_publish(version_id=version_id, user=user)
