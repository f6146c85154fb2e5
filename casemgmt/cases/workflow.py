"""The case workflow: for each status, the actions it allows and the status each one leads to.

This table is the one place the status rules of a case live. The services enforce it (an action
the case's status does not allow is an InvalidTransition, see casemgmt.cases.services.locking)
and the pages ask it what to offer (`allowed(case.status, Action.REFER)`). Who may take an action
is a separate question, answered by the roles (casemgmt.kernel.roles).

A new status is a member of CaseStatus (casemgmt.cases.models) and its row in TRANSITIONS.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from casemgmt.cases.models import CaseStatus


class Action(StrEnum):
    CLAIM = "claim"
    REASSIGN = "reassign"
    REFER = "refer"  # to a physician reviewer
    PEND = "pend"  # for more information from the requester
    DECIDE = "decide"  # a decision on every line
    DECIDE_PENDED = "decide_pended"  # a decision that pends a line: the case waits for information
    # A decision that refers a line to a physician: the lines it decides take effect, the case
    # goes to physician review (not pended), and the physician's decision restates them.
    DECIDE_REFERRED = "decide_referred"
    ADD_INFORMATION = "add_information"  # the requester sends more clinical information
    ATTACH = "attach"
    NOTE = "note"
    PEER_TO_PEER = "peer_to_peer"  # record a discussion with the requesting physician
    REFLAG = "reflag"  # the policy engine evaluates the case again
    RECORD_FACT = "record_fact"  # a reviewer records a fact found in the documentation
    CLOSE = "close"
    CANCEL = "cancel"
    CORRECT = "correct"  # a new decision supersedes the decision of record (retrospective review)
    APPEAL = "appeal"  # a member or provider appeals the decision: a new appeal case opens
    REOPEN = "reopen"  # a decided case returns to review (a clerical error, new and material information)
    FORWARD_TO_IRE = "forward_to_ire"  # an upheld Medicare Advantage appeal goes to the IRE
    # Intake's triage found that no line needs authorization: the request is answered and closed.
    ANSWER_AT_INTAKE = "answer_at_intake"


def _open(status: CaseStatus) -> dict[Action, CaseStatus]:
    """What every open status allows: the work that leaves it where it is, and the ways out."""
    work = (
        Action.CLAIM,
        Action.REASSIGN,
        Action.ADD_INFORMATION,
        Action.ATTACH,
        Action.NOTE,
        Action.PEER_TO_PEER,
        Action.REFLAG,
        Action.RECORD_FACT,
    )
    return {
        **dict.fromkeys(work, status),
        Action.DECIDE: CaseStatus.DECIDED,
        Action.DECIDE_PENDED: CaseStatus.PENDED,
        Action.DECIDE_REFERRED: CaseStatus.PHYSICIAN_REVIEW,
        Action.CANCEL: CaseStatus.CANCELLED,
    }


# status -> {action it allows: the status the case is in afterwards}. What is not here is refused.
TRANSITIONS: Mapping[CaseStatus, Mapping[Action, CaseStatus]] = {
    CaseStatus.RECEIVED: {
        **_open(CaseStatus.RECEIVED),
        # Whoever takes a received case starts reviewing it.
        Action.CLAIM: CaseStatus.IN_REVIEW,
        Action.REASSIGN: CaseStatus.IN_REVIEW,
        Action.PEND: CaseStatus.PENDED,
        Action.REFER: CaseStatus.PHYSICIAN_REVIEW,
        Action.ANSWER_AT_INTAKE: CaseStatus.CLOSED,
    },
    CaseStatus.IN_REVIEW: {
        **_open(CaseStatus.IN_REVIEW),
        Action.PEND: CaseStatus.PENDED,
        Action.REFER: CaseStatus.PHYSICIAN_REVIEW,
    },
    CaseStatus.PENDED: {
        **_open(CaseStatus.PENDED),
        # The information asked for has come: back into review.
        Action.ADD_INFORMATION: CaseStatus.IN_REVIEW,
        Action.REFER: CaseStatus.PHYSICIAN_REVIEW,
    },
    CaseStatus.PHYSICIAN_REVIEW: {
        **_open(CaseStatus.PHYSICIAN_REVIEW),
        Action.PEND: CaseStatus.PENDED,
    },
    # An appeal is a case of its own: the appealed case keeps its status. A reopened case
    # returns to review and its new decision supersedes the old one.
    CaseStatus.DECIDED: {
        Action.CLOSE: CaseStatus.CLOSED,
        Action.CORRECT: CaseStatus.DECIDED,
        Action.NOTE: CaseStatus.DECIDED,
        Action.PEER_TO_PEER: CaseStatus.DECIDED,
        Action.APPEAL: CaseStatus.DECIDED,
        Action.REOPEN: CaseStatus.IN_REVIEW,
        Action.FORWARD_TO_IRE: CaseStatus.FORWARDED_TO_IRE,
    },
    # A retrospective correction supersedes the decision without reopening the case.
    CaseStatus.CLOSED: {
        Action.CORRECT: CaseStatus.CLOSED,
        Action.NOTE: CaseStatus.CLOSED,
        Action.APPEAL: CaseStatus.CLOSED,
        Action.REOPEN: CaseStatus.IN_REVIEW,
    },
    # The Independent Review Entity decides now; the plan records what it hears.
    CaseStatus.FORWARDED_TO_IRE: {
        Action.NOTE: CaseStatus.FORWARDED_TO_IRE,
        Action.ATTACH: CaseStatus.FORWARDED_TO_IRE,
    },
    CaseStatus.CANCELLED: {
        Action.NOTE: CaseStatus.CANCELLED,
    },
}

# What a refusal says after "case PA-… is <status>; ".
REFUSALS: Mapping[Action, str] = {
    Action.CLAIM: "it can no longer be claimed",
    Action.REASSIGN: "it can no longer be reassigned",
    Action.REFER: "it cannot move to physician review",
    Action.PEND: "it cannot be pended for information",
    Action.DECIDE: "no decision can be recorded",
    Action.DECIDE_PENDED: "no decision can be recorded",
    Action.DECIDE_REFERRED: "no decision can be recorded",
    Action.RECORD_FACT: "no clinical fact can be recorded",
    Action.ADD_INFORMATION: "it takes no more information",
    Action.ATTACH: "it takes no more attachments",
    Action.NOTE: "no note can be added",
    Action.PEER_TO_PEER: "no discussion can be recorded",
    Action.REFLAG: "its flags are no longer evaluated",
    Action.CLOSE: "it cannot move to closed",
    Action.CANCEL: "it cannot move to cancelled",
    Action.CORRECT: "only a decided case can be corrected",
    Action.APPEAL: "only a decided case can be appealed",
    Action.REOPEN: "only a decided or closed case can be reopened",
    Action.FORWARD_TO_IRE: "only a decided appeal can be forwarded to the Independent Review Entity",
    Action.ANSWER_AT_INTAKE: "only a request just received can be answered at intake",
}


def allowed(status: str, action: Action) -> bool:
    """Whether a case in `status` allows `action`."""
    return action in TRANSITIONS.get(CaseStatus(status), {})


def target(status: str, action: Action) -> CaseStatus:
    """The status `action` leads to from `status`; only for an action `allowed` admits."""
    return TRANSITIONS[CaseStatus(status)][action]


def statuses_allowing(action: Action) -> tuple[CaseStatus, ...]:
    """The statuses from which `action` may be taken, in CaseStatus's order."""
    return tuple(status for status in CaseStatus if action in TRANSITIONS.get(status, {}))
