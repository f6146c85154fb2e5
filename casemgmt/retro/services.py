"""Writes for retrospective review: starting, planning, processing, sweeping and cancelling runs,
and working the review items a run opens.

Delivery is at least once (late acknowledgement, redelivery after a lost worker, the sweeper's
re-sends), so every step is written to be repeated: a run is planned once (its row lock and
status), a chunk is processed once (its row lock and status, with the results, the review items,
the chunk's status and the run's counters in one transaction), a run completes once.

Every change is recorded in the audit log inside the transaction that makes it
(casemgmt.audit.services): a run asked for, its status moves (planned, completed, failed,
cancelled), a chunk given up by the sweeper, the results and review items a chunk writes (as the
system, in bulk with the rows themselves), the nightly settings, and each reviewer's action on a
review item. Chunk leases and the sweeper's re-sends are delivery bookkeeping: they change no
record anyone reads, and are not recorded.
"""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from casemgmt.audit.models import AuditAction, AuditEvent, AuditObject
from casemgmt.audit.services import audit_event_build, audit_record, changes_between
from casemgmt.cases.models import Case, Citation, Decision, DecisionLine, ServiceLine
from casemgmt.cases.services import decisions as decisions_services
from casemgmt.cases.validation import Problems
from casemgmt.kernel.errors import InvalidTransition, NotFoundError, PermissionDeniedError, ValidationFailed
from casemgmt.kernel.guarded import GuardedRows
from casemgmt.kernel.roles import Role, has_role, require_role, reviewer_role
from casemgmt.outbox.services import task_enqueue_on_commit, tasks_enqueue_on_commit
from casemgmt.retro import selectors
from casemgmt.retro.discrepancy import (
    CitedVersion,
    DecidedLine,
    LineFinding,
    compare,
    findings_rules,
    lines_detail,
    new_citations,
)
from casemgmt.retro.models import (
    FINISHED_RUN_STATUSES,
    OPEN_ITEM_STATUSES,
    REVIEW_DUE_DAYS,
    RetroChunk,
    RetroChunkStatus,
    RetroItemStatus,
    RetroOrigin,
    RetroOutcome,
    RetroResolution,
    RetroResult,
    RetroReviewItem,
    RetroRun,
    RetroRunStatus,
    RetroSchedule,
    RetroTrigger,
)
from policies_app.engine import LineRequest, RequestData, evaluate_request
from policies_app.models import LineOfBusiness, Policy, PolicyVersion
from policies_app.selectors import engine_index

logger = logging.getLogger(__name__)

NOTE_MAX = 4000
OLDEST_DATE = date(1990, 1, 1)


def _new_seed() -> int:
    return secrets.randbits(62)


# --- the nightly settings -------------------------------------------------------------------


def retro_schedule_update(
    *, user: User, sample_percent: Decimal, first_run_days: int, enabled: bool = True
) -> RetroSchedule:
    """A manager sets the nightly run's sample and look-back."""
    require_role(user, Role.MANAGER, action="change the nightly retrospective review")
    problems = Problems()
    percent = _percent(problems, "sample_percent", sample_percent, allow_zero=True)
    if not 1 <= first_run_days <= 366:
        problems.add("first_run_days", "must be between 1 and 366 days")
    if problems or percent is None:
        raise ValidationFailed(problems.errors)
    with transaction.atomic():
        before = RetroSchedule.objects.select_for_update().filter(pk=1).first()
        row, created = RetroSchedule.objects.update_or_create(
            pk=1,
            defaults={
                "sample_percent": percent,
                "first_run_days": first_run_days,
                "enabled": enabled,
                "updated_at": timezone.now(),
                "updated_by": user,
            },
        )
        audit_record(
            action=AuditAction.CREATE if created else AuditAction.CHANGE,
            object_type=AuditObject.RETRO_SCHEDULE,
            object_id=row.pk,
            user=user,
            changes=changes_between(_schedule_values(before), _schedule_values(row)),
        )
    return row


def _schedule_values(row: RetroSchedule | None) -> dict[str, Any]:
    if row is None:
        return {}
    return {"enabled": row.enabled, "sample_percent": row.sample_percent, "first_run_days": row.first_run_days}


def _percent(problems: Problems, path: str, raw: Any, *, allow_zero: bool) -> Decimal | None:
    try:
        value = Decimal(str(raw))
    except (InvalidOperation, ValueError):
        problems.add(path, f"{raw!r} is not a number")
        return None
    if not value.is_finite() or value < 0 or value > 100 or (value == 0 and not allow_zero):
        lowest = "0" if allow_zero else "more than 0"
        problems.add(path, f"must be a percentage from {lowest} to 100; got {raw}")
        return None
    if value != value.quantize(Decimal("0.01")):
        problems.add(path, "at most two decimal places")
        return None
    return value.quantize(Decimal("0.01"))


# --- starting runs --------------------------------------------------------------------------


@dataclass(frozen=True)
class RunRequest:
    policy_id: int
    date_from: date
    date_to: date
    line_of_business: str = ""
    sample_percent: Decimal | None = None


# The names casemgmt.retro.tasks registers these tasks under.
RETRO_RUN_PLAN_TASK = "casemgmt.retro.tasks.retro_run_plan_task"
RETRO_CHUNK_PROCESS_TASK = "casemgmt.retro.tasks.retro_chunk_process_task"


def _enqueue_plan(run: RetroRun) -> None:
    # In the outbox with the run: a broker outage delays the planning, never loses it.
    task_enqueue_on_commit(RETRO_RUN_PLAN_TASK, run.pk)


# What the audit row of a new run records: everything that decides which cases it reviews.
_RUN_AUDIT_FIELDS = (
    "trigger",
    "requested_via",
    "status",
    "policy_id",
    "policy_version_id",
    "date_from",
    "date_to",
    "line_of_business",
    "sample_percent",
    "seed",
)


def _run_created_recorded(run: RetroRun, user: User | None, **detail: Any) -> None:
    """The audit row of a new run, with its parameters; `user` None for the system (the nightly
    schedule, an operator's command)."""
    audit_record(
        action=AuditAction.CREATE,
        object_type=AuditObject.RETRO_RUN,
        object_id=run.pk,
        user=user,
        changes={name.removesuffix("_id"): (None, getattr(run, name)) for name in _RUN_AUDIT_FIELDS},
        detail=detail,
    )


def _run_change_recorded(
    run_id: int, changes: dict[str, tuple[Any, Any]], *, user: User | None = None, **detail: Any
) -> None:
    """A run's status or counts changed: by a manager, or (user None) by a task or the sweeper."""
    audit_record(
        action=AuditAction.CHANGE,
        object_type=AuditObject.RETRO_RUN,
        object_id=run_id,
        user=user,
        changes=changes,
        detail=detail,
    )


def retro_run_request(*, user: User | None, request: RunRequest, origin: str = RetroOrigin.API) -> RetroRun:
    """Start an on-demand run over one policy's decided cases dated in a window.

    `user` is the manager asking; None only from `manage.py retro_review`, run by an operator
    with shell access to the server.
    """
    if user is not None:
        require_role(user, Role.MANAGER, action="start a retrospective review")
    elif origin != RetroOrigin.COMMAND:
        raise PermissionDeniedError("A retrospective review is started by a manager.")
    problems = retro_run_request_problems(request)
    if problems:
        raise ValidationFailed(problems.errors)
    policy = Policy.objects.get(pk=request.policy_id)
    percent = None if request.sample_percent is None else Decimal(request.sample_percent).quantize(Decimal("0.01"))
    with transaction.atomic():
        run = RetroRun.objects.create(
            trigger=RetroTrigger.ON_DEMAND,
            requested_via=origin,
            policy=policy,
            date_from=request.date_from,
            date_to=request.date_to,
            line_of_business=request.line_of_business,
            sample_percent=percent,
            seed=_new_seed(),
            started_by=user,
            created_at=timezone.now(),
        )
        _run_created_recorded(run, user)
        _enqueue_plan(run)
    return run


def retro_run_request_problems(request: RunRequest) -> Problems:
    """What is wrong with an on-demand run's parameters, by field (empty when nothing is)."""
    problems = Problems()
    if not Policy.objects.filter(pk=request.policy_id).exists():
        problems.add("policy", f"there is no policy {request.policy_id}")
    for path, day in (("date_from", request.date_from), ("date_to", request.date_to)):
        if day < OLDEST_DATE:
            problems.add(path, f"must not be before {OLDEST_DATE.isoformat()}")
    if request.date_to < request.date_from:
        problems.add("date_to", "must not be before date_from")
    if request.line_of_business and request.line_of_business not in LineOfBusiness.values:
        problems.add(
            "line_of_business", f"{request.line_of_business!r} is not one of {', '.join(LineOfBusiness.values)}"
        )
    if request.sample_percent is not None:
        _percent(problems, "sample_percent", request.sample_percent, allow_zero=False)
    return problems


def retro_run_again(*, run_id: int, user: User, origin: str = RetroOrigin.ADMIN) -> RetroRun:
    """Start a new on-demand run with a finished run's parameters and sample seed.

    It selects as the old run did (a publish run's version window, a nightly run's window), so
    re-running after a fix repeats the same review; each run keeps its own results.
    """
    require_role(user, Role.MANAGER, action="start a retrospective review")
    old = RetroRun.objects.filter(pk=run_id).first()
    if old is None:
        raise NotFoundError(f"no retrospective run {run_id}")
    if not old.is_finished:
        raise InvalidTransition(f"run {old.pk} is still {old.status}; cancel it or let it finish first")
    with transaction.atomic():
        run = RetroRun.objects.create(
            trigger=RetroTrigger.ON_DEMAND,
            requested_via=origin,
            policy_id=old.policy_id,
            policy_version_id=old.policy_version_id,
            date_from=old.date_from,
            date_to=old.date_to,
            line_of_business=old.line_of_business,
            sample_percent=old.sample_percent,
            seed=old.seed,
            started_by=user,
            created_at=timezone.now(),
        )
        _run_created_recorded(run, user, repeats=old.pk)
        _enqueue_plan(run)
    return run


def retro_run_for_publish(*, version_id: int, user: User | None) -> RetroRun:
    """Queue the run a newly published version calls for; call inside the publish transaction.

    Exactly one per version: the named unique constraint settles a race, and a second call
    returns the first run.
    """
    version = PolicyVersion.objects.get(pk=version_id)
    existing = RetroRun.objects.filter(trigger=RetroTrigger.PUBLISH, policy_version=version).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            run = RetroRun.objects.create(
                trigger=RetroTrigger.PUBLISH,
                requested_via=RetroOrigin.PUBLISH,
                policy_id=version.policy_id,
                policy_version=version,
                date_from=version.effective_start,
                date_to=version.effective_end,
                seed=_new_seed(),
                started_by=user,
                created_at=timezone.now(),
            )
            _run_created_recorded(run, user)
    except IntegrityError:
        return RetroRun.objects.get(trigger=RetroTrigger.PUBLISH, policy_version=version)
    _enqueue_plan(run)
    return run


def nightly_window(today: date, last_to: date | None, first_run_days: int) -> tuple[date, date] | None:
    """The days a nightly run covers: from the day after the last run's window (or
    `first_run_days` back, and never further back than that) to yesterday."""
    end = today - timedelta(days=1)
    earliest = today - timedelta(days=first_run_days)
    start = earliest if last_to is None else max(last_to + timedelta(days=1), earliest)
    return None if start > end else (start, end)


def retro_run_nightly(*, today: date | None = None) -> RetroRun | None:
    """Queue tonight's run; idempotent (one scheduled run per window end)."""
    config = selectors.schedule()
    if not config.enabled:
        return None
    today = today or timezone.localdate()
    last = selectors.last_scheduled_run()
    window = nightly_window(today, last.date_to if last else None, config.first_run_days)
    if window is None:
        return last
    try:
        with transaction.atomic():
            run = RetroRun.objects.create(
                trigger=RetroTrigger.SCHEDULED,
                requested_via=RetroOrigin.SCHEDULE,
                date_from=window[0],
                date_to=window[1],
                sample_percent=config.sample_percent,
                seed=_new_seed(),
                created_at=timezone.now(),
            )
            _run_created_recorded(run, None)
            _enqueue_plan(run)
    except IntegrityError:
        return RetroRun.objects.get(trigger=RetroTrigger.SCHEDULED, date_to=window[1])
    return run


# --- planning -------------------------------------------------------------------------------

_SELECTIONS = {
    RetroTrigger.SCHEDULED: selectors.select_nightly,
    RetroTrigger.PUBLISH: selectors.select_for_publish,
    RetroTrigger.ON_DEMAND: selectors.select_on_demand,
}


def _enqueue_chunks(chunk_ids: list[int]) -> None:
    # In the outbox with the chunks; a message lost after that (a worker killed mid-chunk) leaves
    # its chunk queued, and the sweeper sends it again.
    tasks_enqueue_on_commit(RETRO_CHUNK_PROCESS_TASK, [(chunk_id,) for chunk_id in chunk_ids])


def retro_run_plan(*, run_id: int) -> int:
    """Select a queued run's cases and split them into chunks; returns the number selected.

    Idempotent: a run that is no longer queued is left alone.
    """
    with transaction.atomic():
        run = RetroRun.objects.select_for_update().filter(pk=run_id).first()
        if run is None or run.status != RetroRunStatus.QUEUED:
            return 0
        now = timezone.now()
        try:
            ids = sorted(_SELECTIONS[RetroTrigger(run.trigger)](run))
        except Exception as exc:  # a selection that cannot run must not leave the run queued forever
            logger.exception("retrospective run %s: selection failed", run.pk)
            RetroRun.objects.filter(pk=run.pk, status=RetroRunStatus.QUEUED).update(
                status=RetroRunStatus.FAILED, started_at=now, finished_at=now, error=type(exc).__name__
            )
            _run_change_recorded(
                run.pk, {"status": (run.status, RetroRunStatus.FAILED), "error": ("", type(exc).__name__)}
            )
            return 0
        size: int = settings.RETRO_CHUNK_SIZE
        chunks = RetroChunk.objects.bulk_create(
            RetroChunk(run=run, sequence=n, case_ids=ids[i : i + size], size=len(ids[i : i + size]), enqueued_at=now)
            for n, i in enumerate(range(0, len(ids), size), start=1)
        )
        planned = RetroRunStatus.RUNNING if chunks else RetroRunStatus.COMPLETED
        RetroRun.objects.filter(pk=run.pk).update(
            status=planned,
            selected=len(ids),
            chunk_count=len(chunks),
            started_at=now,
            finished_at=None if chunks else now,
        )
        _run_change_recorded(
            run.pk,
            changes_between(
                {"status": run.status, "selected": run.selected, "chunk_count": run.chunk_count},
                {"status": planned, "selected": len(ids), "chunk_count": len(chunks)},
            ),
        )
        if chunks:
            # bulk_create sets primary keys on PostgreSQL and SQLite alike; read them back anyway
            # so the task ids never depend on that.
            _enqueue_chunks(list(RetroChunk.objects.filter(run=run).order_by("sequence").values_list("pk", flat=True)))
        return len(ids)


# --- processing one chunk -------------------------------------------------------------------


class _RunStopped(Exception):
    """The run was cancelled while the chunk was being evaluated: its work is discarded."""


@dataclass
class _ChunkData:
    cases: dict[int, tuple[Any, ...]]
    lines: dict[int, list[tuple[Any, ...]]]
    decisions: dict[int, int]  # case id -> current decision id
    outcomes: dict[int, dict[int, str]]  # decision id -> service line id -> outcome
    citations: dict[int, list[tuple[Any, ...]]]  # decision id -> citation rows


_CITATION_COLUMNS = (
    "policy_version_id",
    "policy_id",
    "policy_number",
    "policy_title",
    "payer",
    "version",
    "effective_start",
    "effective_end",
    "coverage_position",
    "criterion",
    "content_sha256",
)


def _chunk_data(case_ids: list[int]) -> _ChunkData:
    """A chunk's cases, lines, current decisions, decision lines and citations in five queries."""
    cases = {
        row[0]: row
        for row in Case.objects.filter(pk__in=case_ids).values_list(
            "id",
            "line_of_business",
            "diagnosis_codes",
            "clinical_facts",
            "member_birth_date",
            "clinical_notes",
            "case_number",  # for the audit rows
        )
    }
    lines: dict[int, list[tuple[Any, ...]]] = {}
    for row in (
        ServiceLine.objects.filter(case_id__in=case_ids)
        .order_by("case_id", "sequence")
        .values_list("id", "case_id", "sequence", "code_system", "code", "date_of_service", "description")
    ):
        lines.setdefault(row[1], []).append(row)
    decisions: dict[int, int] = {}
    # The decision of record is the one nothing supersedes; ordered so the latest wins a tie.
    for decision_id, case_id in (
        Decision.objects.filter(case_id__in=case_ids, superseded_by__isnull=True)
        .order_by("decided_at", "id")
        .values_list("id", "case_id")
    ):
        decisions[case_id] = decision_id
    decision_ids = list(decisions.values())
    outcomes: dict[int, dict[int, str]] = {}
    for decision_id, line_id, outcome in DecisionLine.objects.filter(decision_id__in=decision_ids).values_list(
        "decision_id", "service_line_id", "outcome"
    ):
        outcomes.setdefault(decision_id, {})[line_id] = outcome
    citations: dict[int, list[tuple[Any, ...]]] = {}
    for cited in (
        Citation.objects.filter(decision_id__in=decision_ids)
        .order_by("id")
        .values_list(
            "decision_id",
            "policy_version_id",
            "policy_version__policy_id",
            "policy_number",
            "policy_title",
            "payer",
            "version_label",
            "effective_start",
            "effective_end",
            "coverage_position",
            "criterion",
            "content_sha256",
        )
    ):
        citations.setdefault(cited[0], []).append(cited[1:])
    return _ChunkData(cases, lines, decisions, outcomes, citations)


def _citation_snapshot(row: tuple[Any, ...]) -> dict[str, Any]:
    out = dict(zip(_CITATION_COLUMNS, row, strict=True))
    for key in ("effective_start", "effective_end"):
        out[key] = out[key].isoformat() if out[key] else None
    return out


@dataclass
class _Evaluated:
    results: list[RetroResult]
    items: dict[int, RetroReviewItem]  # case id -> item (result set once results are stored)
    case_numbers: dict[int, str]  # case id -> case number, for the audit rows
    evaluated: int = 0
    discrepancies: int = 0
    failed: int = 0


def _item_policy(run_policy: int | None, findings: list[LineFinding], cited: list[CitedVersion]) -> int | None:
    """The policy a review item is about: the run's; for a nightly run, the first policy the
    re-evaluation flags a discrepant line under, else the first the decision cited."""
    if run_policy is not None:
        return run_policy
    for finding in findings:
        if finding.rules:
            for flag in finding.flags:
                if flag.version is not None:
                    return flag.version.policy_id
    return cited[0].policy_id if cited else None


def _evaluate_chunk(run_id: int, run_policy: int | None, case_ids: list[int], now: datetime) -> _Evaluated:
    data = _chunk_data(case_ids)
    index = engine_index()
    out = _Evaluated([], {}, {case_id: row[6] for case_id, row in data.cases.items()})
    due = now + timedelta(days=REVIEW_DUE_DAYS)
    for case_id in case_ids:
        case = data.cases.get(case_id)
        decision_id = data.decisions.get(case_id)
        if case is None or decision_id is None:
            out.failed += 1
            reason = "the case no longer exists" if case is None else "the case has no decision of record"
            if case is not None:
                out.results.append(
                    RetroResult(
                        run_id=run_id,
                        case_id=case_id,
                        outcome=RetroOutcome.FAILED,
                        detail={"error": reason},
                        evaluated_at=now,
                    )
                )
            continue
        try:
            rows = data.lines.get(case_id, [])
            _, lob, diagnoses, facts, born, notes, _number = case
            request = RequestData(
                line_of_business=lob,
                lines=tuple(LineRequest(r[2], r[3], r[4], r[5], r[6]) for r in rows),
                diagnosis_codes=tuple(diagnoses or ()),
                facts=facts or {},
                member_birth_date=born,
                notes=notes,
            )
            flags = evaluate_request(index, request)
            decided_outcomes = data.outcomes.get(decision_id, {})
            decided = [
                DecidedLine(r[2], r[3], r[4], r[5], decided_outcomes[r[0]]) for r in rows if r[0] in decided_outcomes
            ]
            cited_rows = data.citations.get(decision_id, [])
            cited = [CitedVersion(row[0], row[1]) for row in cited_rows]
            findings = compare(index, decided, flags, cited)
            rules = findings_rules(findings)
        except Exception as exc:  # one unreadable case must not stop the other few thousand
            logger.exception("retrospective run %s: case %s could not be evaluated", run_id, case_id)
            out.failed += 1
            out.results.append(
                RetroResult(
                    run_id=run_id,
                    case_id=case_id,
                    decision_id=decision_id,
                    outcome=RetroOutcome.FAILED,
                    detail={"error": type(exc).__name__},
                    evaluated_at=now,
                )
            )
            continue
        out.evaluated += 1
        if not rules:
            out.results.append(
                RetroResult(
                    run_id=run_id,
                    case_id=case_id,
                    decision_id=decision_id,
                    outcome=RetroOutcome.AGREES,
                    evaluated_at=now,
                )
            )
            continue
        out.discrepancies += 1
        detail = lines_detail(findings)
        out.results.append(
            RetroResult(
                run_id=run_id,
                case_id=case_id,
                decision_id=decision_id,
                outcome=RetroOutcome.DISCREPANCY,
                rules=rules,
                # The per-line comparison is kept once, on the review item.
                evaluated_at=now,
            )
        )
        out.items[case_id] = RetroReviewItem(
            run_id=run_id,
            case_id=case_id,
            decision_id=decision_id,
            policy_id=_item_policy(run_policy, findings, cited),
            rules=rules,
            findings=[{"run": run_id, "rules": rules, "evaluated_at": now.isoformat()}],
            lines=detail,
            original_citations=[_citation_snapshot(row) for row in cited_rows],
            new_citations=new_citations(findings),
            opened_at=now,
            due_at=due,
        )
    return out


def _store(run_id: int, sequence: int, evaluated: _Evaluated) -> None:
    RetroResult.objects.bulk_create(evaluated.results, batch_size=2000, ignore_conflicts=True)
    item_ids: dict[int, int] = {}
    added: dict[int, _Added] = {}
    if evaluated.items:
        result_ids = dict(
            RetroResult.objects.filter(run_id=run_id, case_id__in=list(evaluated.items)).values_list("case_id", "id")
        )
        for case_id, item in evaluated.items.items():
            item.result_id = result_ids[case_id]
            item.findings[0]["result"] = result_ids[case_id]
        # A case and policy with an open item already: the finding goes to that item.
        added = _add_to_open_items(evaluated.items)
        fresh = {case_id: item for case_id, item in evaluated.items.items() if case_id not in added}
        RetroReviewItem.objects.bulk_create(fresh.values(), batch_size=500, ignore_conflicts=True)
        # Read back: bulk_create sets no primary keys when it may skip conflicts.
        item_ids = dict(
            RetroReviewItem.objects.filter(run_id=run_id, case_id__in=list(fresh)).values_list("case_id", "id")
        )
        # Skipped: a chunk of another run opened the item of the same case and policy and
        # committed while this one ran (the unique index waited for it). Add to that item.
        raced = {case_id: item for case_id, item in fresh.items() if case_id not in item_ids}
        if raced:
            late = _add_to_open_items(raced)
            if set(late) != set(raced):
                # Nothing may be lost: roll the chunk back, its task runs it again.
                raise RuntimeError("a review item was neither opened nor found open")
            added |= late
    AuditEvent.objects.bulk_create(_chunk_audit_rows(run_id, sequence, evaluated, item_ids, added), batch_size=500)


@dataclass(frozen=True)
class _Added:
    """A finding added to an open item: the item and its rules before and after."""

    item_id: int
    rules_before: list[str]
    rules_after: list[str]
    findings: int


def _add_to_open_items(items: dict[int, RetroReviewItem]) -> dict[int, _Added]:
    """Add each new finding to the open item of its case and policy, when there is one.

    The open items are locked; each gets the run's finding, the union of the rules, and the
    latest evaluation's lines, decision and citations (what a reviewer must look at now). Its
    row version moves on, so a reviewer acting on the page as it was is asked to reload.
    """
    open_items = RetroReviewItem.objects.select_for_update().filter(
        case_id__in=list(items), status__in=OPEN_ITEM_STATUSES
    )
    by_key = {(item.case_id, item.policy_id): item for item in open_items}
    changed: list[RetroReviewItem] = []
    added: dict[int, _Added] = {}
    for case_id, new in items.items():
        item = by_key.get((case_id, new.policy_id))
        if item is None:
            continue
        before = list(item.rules)
        item.rules = list(dict.fromkeys([*item.rules, *new.rules]))
        item.findings = [*item.findings, *new.findings]
        item.decision_id = new.decision_id
        item.lines = new.lines
        item.original_citations = new.original_citations
        item.new_citations = new.new_citations
        item.row_version += 1
        changed.append(item)
        added[case_id] = _Added(item.pk, before, item.rules, len(item.findings))
    RetroReviewItem.objects.bulk_update(
        changed,
        ["rules", "findings", "decision", "lines", "original_citations", "new_citations", "row_version"],
        batch_size=500,
    )
    return added


def _chunk_audit_rows(
    run_id: int, sequence: int, evaluated: _Evaluated, item_ids: dict[int, int], added: dict[int, _Added]
) -> list[AuditEvent]:
    """The audit rows of a chunk's writes, made by the system: one for its results (the cases it
    re-evaluated, listed so a case's search finds them) and one per review item it opened.

    Built with audit_event_build and inserted in bulk with the results: a row-by-row save would
    cost a round trip per item on the chunk's hot path.
    """
    numbers = evaluated.case_numbers
    rows: list[AuditEvent] = []
    if evaluated.results:
        rows.append(
            audit_event_build(
                action=AuditAction.CREATE,
                object_type=AuditObject.RETRO_RESULT,
                object_id=run_id,
                user=None,
                object_ids=[numbers[result.case_id] for result in evaluated.results],
                detail={
                    "chunk": sequence,
                    "evaluated": evaluated.evaluated,
                    "discrepancies": evaluated.discrepancies,
                    "failed": evaluated.failed,
                    "review_items": len(item_ids),
                    "findings_added_to_open_items": len(added),
                },
            )
        )
    for case_id, finding in added.items():
        rows.append(
            audit_event_build(
                action=AuditAction.CHANGE,
                object_type=AuditObject.RETRO_REVIEW,
                object_id=finding.item_id,
                case_number=numbers[case_id],
                user=None,
                changes={
                    "rules": (finding.rules_before, finding.rules_after),
                    "findings": (finding.findings - 1, finding.findings),
                    "decision": (None, evaluated.items[case_id].decision_id),
                },
                detail={"run": run_id},
            )
        )
    for case_id, item in evaluated.items.items():
        if case_id in added:
            continue
        rows.append(
            audit_event_build(
                action=AuditAction.CREATE,
                object_type=AuditObject.RETRO_REVIEW,
                object_id=item_ids[case_id],
                case_number=numbers[case_id],
                user=None,
                changes={
                    "status": (None, item.status),
                    "run": (None, run_id),
                    "decision": (None, item.decision_id),
                    "rules": (None, item.rules),
                    "due_at": (None, item.due_at),
                },
            )
        )
    return rows


def _chunk_lease(chunk_id: int) -> bool:
    """Record that a worker starts the chunk, committed at once so the sweeper can see it.

    False when the chunk is already finished (or another delivery holds it and then finishes it).
    """
    return bool(
        RetroChunk.objects.filter(pk=chunk_id, status=RetroChunkStatus.QUEUED).update(
            leased_at=timezone.now(), attempts=F("attempts") + 1
        )
    )


def retro_chunk_process(*, chunk_id: int) -> str:
    """Evaluate one chunk's cases and record the outcome, exactly once however often delivered.

    One transaction holds the chunk's row lock; a chunk found finished is left alone. Results
    (unique per run and case), review items, the chunk's status and the run's counters commit
    together, so a worker killed half-way leaves nothing and the chunk is done again later.
    """
    if not _chunk_lease(chunk_id):
        return "already finished"
    with transaction.atomic():
        chunk = RetroChunk.objects.select_for_update().filter(pk=chunk_id).first()
        if chunk is None or chunk.status != RetroChunkStatus.QUEUED:
            return "already finished"
        now = timezone.now()
        run = RetroRun.objects.filter(pk=chunk.run_id).values_list("status", "policy_id", "policy_version__policy_id")
        run_status, run_policy, version_policy = run.first() or ("", None, None)
        if run_status != RetroRunStatus.RUNNING:
            _chunk_finish(chunk, RetroChunkStatus.SKIPPED, now)
            return "skipped"
        evaluated = _evaluate_chunk(chunk.run_id, run_policy or version_policy, list(chunk.case_ids), now)
        try:
            with transaction.atomic():
                _store(chunk.run_id, chunk.sequence, evaluated)
                pause: int = settings.RETRO_CHUNK_PAUSE_SECONDS
                if pause:
                    time.sleep(pause)
                # The run row is locked last and briefly: chunks of one run evaluate in parallel.
                counted = RetroRun.objects.filter(pk=chunk.run_id, status=RetroRunStatus.RUNNING).update(
                    evaluated=F("evaluated") + evaluated.evaluated,
                    discrepancies=F("discrepancies") + evaluated.discrepancies,
                    failed=F("failed") + evaluated.failed,
                    chunks_done=F("chunks_done") + 1,
                )
                if not counted:
                    raise _RunStopped
        except _RunStopped:
            _chunk_finish(chunk, RetroChunkStatus.SKIPPED, now)
            return "skipped"
        _chunk_finish(chunk, RetroChunkStatus.DONE, now)
        _run_complete_if_done(chunk.run_id, now)
        return "done"


def _chunk_finish(chunk: RetroChunk, status: str, now: datetime) -> None:
    RetroChunk.objects.filter(pk=chunk.pk, status=RetroChunkStatus.QUEUED).update(status=status, done_at=now)


def _run_complete_if_done(run_id: int, now: datetime) -> bool:
    """Finish a running run once every chunk is done; only the first caller to see that does."""
    finished = RetroRun.objects.filter(pk=run_id, status=RetroRunStatus.RUNNING, chunks_done=F("chunk_count"))
    if RetroChunk.objects.filter(run_id=run_id, status=RetroChunkStatus.FAILED).exists():
        error = "some chunks could not be processed; see failed"
        if not finished.update(status=RetroRunStatus.FAILED, finished_at=now, error=error):
            return False
        _run_change_recorded(run_id, {"status": (RetroRunStatus.RUNNING, RetroRunStatus.FAILED), "error": ("", error)})
        return True
    if not finished.update(status=RetroRunStatus.COMPLETED, finished_at=now):
        return False
    _run_change_recorded(run_id, {"status": (RetroRunStatus.RUNNING, RetroRunStatus.COMPLETED)})
    return True


# --- cancelling -----------------------------------------------------------------------------


def retro_run_cancel(*, run_id: int, user: User) -> RetroRun:
    """Stop a queued or running run. Chunks not yet processed are skipped when their task runs;
    a chunk that commits first is counted, one that commits later is discarded."""
    require_role(user, Role.MANAGER, action="cancel a retrospective review")
    with transaction.atomic():
        run = RetroRun.objects.select_for_update().filter(pk=run_id).first()
        if run is None:
            raise NotFoundError(f"no retrospective run {run_id}")
        if run.status in FINISHED_RUN_STATUSES:
            raise InvalidTransition(
                f"run {run.pk} is {run.get_status_display().lower()}; only a queued or running run can be cancelled",
                current_status=run.status,
            )
        now = timezone.now()
        RetroRun.objects.filter(pk=run.pk, status=run.status).update(
            status=RetroRunStatus.CANCELLED, cancelled_by=user, finished_at=now, started_at=run.started_at or now
        )
        _run_change_recorded(
            run.pk,
            {
                "status": (run.status, RetroRunStatus.CANCELLED),
                "cancelled_by": (None, user.get_username()),
                "finished_at": (None, now),
            },
            user=user,
        )
        run.refresh_from_db()
        return run


# --- the sweeper ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepReport:
    chunks_resent: int
    chunks_given_up: int
    runs_resent: int
    runs_finished: int


def retro_sweep(*, now: datetime | None = None) -> SweepReport:
    """Send again what a lost message or a dead worker left behind.

    - a queued chunk of a running run whose task was sent, or last started, longer ago than
      RETRO_STALL_SECONDS is sent again; after RETRO_CHUNK_MAX_ATTEMPTS starts it is given up
      and its cases count as failed;
    - a run still queued that long after it was asked for has its planning task sent again;
    - a running run whose chunks are all finished but which was not closed is closed.
    Rows locked by a worker are skipped, so the sweeper never waits on one.
    """
    now = now or timezone.now()
    stalled_before = now - timedelta(seconds=settings.RETRO_STALL_SECONDS)
    max_attempts: int = settings.RETRO_CHUNK_MAX_ATTEMPTS
    resent: list[int] = []
    given_up = 0
    with transaction.atomic():
        stale = (
            RetroChunk.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(status=RetroChunkStatus.QUEUED, run__status=RetroRunStatus.RUNNING)
            .filter(Q(leased_at__lt=stalled_before) | Q(leased_at__isnull=True, enqueued_at__lt=stalled_before))
            .order_by("pk")
        )
        for chunk in stale:
            if chunk.attempts >= max_attempts:
                given_up += _chunk_give_up(chunk, now)
            else:
                resent.append(chunk.pk)
        if resent:
            RetroChunk.objects.filter(pk__in=resent).update(enqueued_at=now, leased_at=None)
            _enqueue_chunks(resent)
        runs = list(
            RetroRun.objects.select_for_update(skip_locked=True)
            .filter(status=RetroRunStatus.QUEUED, created_at__lt=stalled_before)
            .values_list("pk", flat=True)
        )
        for run_id in runs:
            _enqueue_plan(RetroRun(pk=run_id))
        finished = 0
        for run_id in RetroRun.objects.filter(status=RetroRunStatus.RUNNING, chunks_done=F("chunk_count")).values_list(
            "pk", flat=True
        ):
            finished += _run_complete_if_done(run_id, now)
    return SweepReport(len(resent), given_up, len(runs), finished)


def _chunk_give_up(chunk: RetroChunk, now: datetime) -> int:
    """A chunk that keeps killing its worker: count its cases failed so the run can end."""
    updated = RetroRun.objects.filter(pk=chunk.run_id, status=RetroRunStatus.RUNNING).update(
        failed=F("failed") + chunk.size, chunks_done=F("chunks_done") + 1
    )
    if not updated:
        return 0
    RetroChunk.objects.filter(pk=chunk.pk, status=RetroChunkStatus.QUEUED).update(
        status=RetroChunkStatus.FAILED, done_at=now
    )
    # Read after the update, which holds the run's row until commit: these are this change's values.
    failed, done = RetroRun.objects.filter(pk=chunk.run_id).values_list("failed", "chunks_done").get()
    audit_record(
        action=AuditAction.CHANGE,
        object_type=AuditObject.RETRO_RUN,
        object_id=chunk.run_id,
        user=None,
        changes={"failed": (failed - chunk.size, failed), "chunks_done": (done - 1, done)},
        # Its cases get no result in this run: the row names them, so a search for a case finds why.
        object_ids=list(
            Case.objects.filter(pk__in=chunk.case_ids).order_by("pk").values_list("case_number", flat=True)
        ),
        detail={"event": "chunk_given_up", "chunk": chunk.sequence, "attempts": chunk.attempts},
    )
    logger.error("retrospective run %s: chunk %s given up after %s attempts", chunk.run_id, chunk.pk, chunk.attempts)
    _run_complete_if_done(chunk.run_id, now)
    return 1


# --- review items ---------------------------------------------------------------------------


ITEMS = GuardedRows(
    RetroReviewItem, missing="no such retrospective review item", name=lambda item: f"review item {item.pk}"
)


def _note(path: str, text: str, what: str) -> str:
    text = text.strip()
    if not text:
        raise ValidationFailed({path: [what]})
    if len(text) > NOTE_MAX:
        raise ValidationFailed({path: [f"at most {NOTE_MAX} characters"]})
    return text


def _claim_check(item: RetroReviewItem, user: User) -> None:
    if item.assignee_id is not None and item.assignee_id != user.pk:
        raise InvalidTransition(
            f"review item {item.pk} is claimed by another reviewer", current_status=item.status, field="item"
        )


def _item_change_recorded(
    item: RetroReviewItem, user: User, before: dict[str, Any], after: dict[str, Any], event: str
) -> None:
    """A reviewer's change to a review item, with the case it concerns (its access history shows it)."""
    audit_record(
        action=AuditAction.CHANGE,
        object_type=AuditObject.RETRO_REVIEW,
        object_id=item.pk,
        case_number=Case.objects.filter(pk=item.case_id).values_list("case_number", flat=True).get(),
        user=user,
        changes=changes_between(before, after),
        detail={"event": event},
    )


def _username(user: User | None) -> str | None:
    return user.get_username() if user is not None else None


def retro_item_claim(*, item_id: int, user: User) -> RetroReviewItem:
    """A nurse or physician reviewer takes an open item; one owner at a time."""
    require_role(user, Role.NURSE, Role.PHYSICIAN, action="claim a retrospective review item")
    with transaction.atomic():
        item = ITEMS.lock(
            item_id, allowed=(RetroItemStatus.OPEN, RetroItemStatus.REFERRED), refusal="it cannot be claimed"
        )
        if item.assignee_id == user.pk:
            return item
        if item.status == RetroItemStatus.OPEN and item.assignee_id is not None:
            _claim_check(item, user)
        if item.status == RetroItemStatus.REFERRED and not has_role(user, Role.PHYSICIAN):
            raise PermissionDeniedError("A referred item is for a physician reviewer.")
        now = timezone.now()
        status = RetroItemStatus.IN_REVIEW if item.status == RetroItemStatus.OPEN else item.status
        ITEMS.update(item, assignee=user, claimed_at=now, status=status)
        _item_change_recorded(
            item,
            user,
            {"status": item.status, "assignee": _username(item.assignee)},
            {"status": status, "assignee": user.get_username()},
            "claimed",
        )
        item.refresh_from_db()
        return item


def retro_item_resolve(*, item_id: int, user: User, note: str) -> RetroReviewItem:
    """Close an item: the decision of record stands, for the reason given."""
    if reviewer_role(user) is None:
        raise PermissionDeniedError("Only a nurse or physician reviewer may resolve a retrospective review item.")
    text = _note("note", note, "say why the decision stands")
    with transaction.atomic():
        item = ITEMS.lock(
            item_id,
            allowed=(RetroItemStatus.OPEN, RetroItemStatus.IN_REVIEW, RetroItemStatus.REFERRED),
            refusal="it is already closed",
        )
        _claim_check(item, user)
        if item.status == RetroItemStatus.REFERRED and not has_role(user, Role.PHYSICIAN):
            raise PermissionDeniedError("A referred item is closed by a physician reviewer.")
        now = timezone.now()
        ITEMS.update(
            item,
            status=RetroItemStatus.CLOSED,
            resolution=RetroResolution.DECISION_STANDS,
            resolution_note=text,
            resolved_by=user,
            resolved_at=now,
            assignee=item.assignee or user,
        )
        _item_change_recorded(
            item,
            user,
            {
                "status": item.status,
                "resolution": item.resolution,
                "resolution_note": item.resolution_note,
                "assignee": _username(item.assignee),
            },
            {
                "status": RetroItemStatus.CLOSED,
                "resolution": RetroResolution.DECISION_STANDS,
                "resolution_note": text,
                "assignee": _username(item.assignee or user),
            },
            "resolved",
        )
        item.refresh_from_db()
        return item


def retro_item_refer(*, item_id: int, user: User, note: str) -> RetroReviewItem:
    """Send an item to a physician reviewer for a corrected decision."""
    require_role(user, Role.NURSE, Role.PHYSICIAN, action="refer a retrospective review item")
    text = _note("note", note, "say what the physician should correct")
    with transaction.atomic():
        item = ITEMS.lock(
            item_id, allowed=(RetroItemStatus.OPEN, RetroItemStatus.IN_REVIEW), refusal="it cannot be referred"
        )
        _claim_check(item, user)
        now = timezone.now()
        ITEMS.update(
            item,
            status=RetroItemStatus.REFERRED,
            referred_by=user,
            referred_at=now,
            referral_note=text,
            assignee=None,
            claimed_at=None,
        )
        _item_change_recorded(
            item,
            user,
            {"status": item.status, "assignee": _username(item.assignee), "referral_note": item.referral_note},
            {"status": RetroItemStatus.REFERRED, "assignee": None, "referral_note": text},
            "referred",
        )
        item.refresh_from_db()
        return item


def retro_item_correct(
    *,
    item_id: int,
    user: User,
    lines: list[decisions_services.DecisionLineInput],
    citations: list[decisions_services.CitationInput],
    rationale: str,
) -> RetroReviewItem:
    """Record the corrected decision a referred item calls for and close the item.

    The correction is a new decision that supersedes the one of record (decision_record with
    correction=True); nothing recorded before is changed. Physician reviewers only: a correction
    after the fact is a determination a nurse may not make alone.
    """
    require_role(user, Role.PHYSICIAN, action="record a corrected decision")
    text = _note("rationale", rationale, "explain the correction")
    with transaction.atomic():
        item = ITEMS.lock(item_id, allowed=(RetroItemStatus.REFERRED,), refusal="only a referred item is corrected")
        _claim_check(item, user)
        decision = decisions_services.decision_record(
            case_id=item.case_id, user=user, lines=lines, citations=citations, rationale=text, correction=True
        )
        now = timezone.now()
        ITEMS.update(
            item,
            status=RetroItemStatus.CLOSED,
            resolution=RetroResolution.CORRECTED,
            resolution_note=text,
            corrected_decision=decision,
            resolved_by=user,
            resolved_at=now,
            assignee=user,
        )
        # decision_record has recorded the new decision itself; this row is the item's own change.
        _item_change_recorded(
            item,
            user,
            {
                "status": item.status,
                "resolution": item.resolution,
                "resolution_note": item.resolution_note,
                "corrected_decision": None,
                "assignee": _username(item.assignee),
            },
            {
                "status": RetroItemStatus.CLOSED,
                "resolution": RetroResolution.CORRECTED,
                "resolution_note": text,
                "corrected_decision": decision.pk,
                "assignee": user.get_username(),
            },
            "corrected",
        )
        item.refresh_from_db()
        return item
