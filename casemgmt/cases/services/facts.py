"""A clinical fact a reviewer finds in the documentation, recorded on the case and read by the
criteria at once.

The requester sends facts at intake and with more information (`case_information_add`); the
documentation often says what the request did not (weeks of therapy in a physical therapy note,
an imaging finding). A reviewer records it here under the fact catalogue's key, or, for a
documented-review criterion (text no catalogued fact expresses), yes or no under the key the
engine derives from the criterion's words (`policies_app.engine.documented_fact_key`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from casemgmt.cases.models import Case, CaseEventKind, FlagKind
from casemgmt.cases.selectors import case_request_data
from casemgmt.cases.services.events import case_change_audit, case_event_add
from casemgmt.cases.services.flags import case_flags_refresh
from casemgmt.cases.services.locking import case_lock, case_write
from casemgmt.cases.workflow import Action
from casemgmt.kernel.errors import ValidationFailed
from casemgmt.kernel.roles import Role, require_role
from policies_app.engine import DOCUMENTED_FACT_PREFIX, CriterionNode, evaluate_request
from policies_app.fact_values import typed_value
from policies_app.models import CriterionNodeType, FactDefinition, FactType
from policies_app.selectors import engine_index

SOURCE_MAX = 500

# The flags whose version's criteria the engine evaluated for a line: those versions govern it.
CRITERIA_FLAG_KINDS = frozenset({FlagKind.CRITERIA_MET, FlagKind.CRITERIA_NOT_MET, FlagKind.CRITERIA_INCOMPLETE})


def case_fact_record(
    *,
    case_id: int,
    user: User,
    key: str,
    value: Any,
    source: str = "",
    expected_row_version: int | None = None,
) -> Case:
    """Record (or, with None or "", clear) the clinical fact `key` of an open case, as a reviewer
    read it in the documentation (`source` says where), and evaluate the case's flags again.

    `key` is a fact of the catalogue that is not derived from the request, or the documented-review
    key of a criterion of a version governing one of the case's lines (a yes/no). `value` is read
    as the fact's type (a form's text is accepted: "14", "yes", "2026-03-01", "M54.5, M51.26") and
    must be one of the fact's allowed values when it has some. A value equal to the one recorded
    changes nothing. The change is an event on the timeline and an audit row with the old and new
    value, guarded like every change to a case.
    """
    require_role(user, Role.NURSE, Role.PHYSICIAN, Role.MANAGER, action="record a clinical fact")
    key = key.strip() if isinstance(key, str) else ""
    source = source.strip() if isinstance(source, str) else ""
    if len(source) > SOURCE_MAX:
        raise ValidationFailed({"source": [f"at most {SOURCE_MAX} characters"]})
    with transaction.atomic():
        case = case_lock(case_id, action=Action.RECORD_FACT, expected_row_version=expected_row_version)
        label, value_type, allowed = _fact_of(case, key)
        new = _value_read(value, value_type, allowed, label)
        facts = dict(case.clinical_facts or {})
        old = facts.get(key)
        if new == old:
            return case
        if new is None:
            facts.pop(key, None)
        else:
            facts[key] = new
        now = timezone.now()
        case_write(case, now=now, clinical_facts=facts)
        case_event_add(
            case,
            CaseEventKind.FACT_RECORDED,
            user,
            now,
            key=key,
            label=label,
            value=new,
            previous=old,
            source=source,
        )
        case_change_audit(
            case,
            user,
            changes={f"clinical_facts.{key}": (old, new)},
            detail={"event": CaseEventKind.FACT_RECORDED},
        )
        # The same re-evaluation a published policy version triggers: the new flags (and the
        # checklists they carry) are written in this transaction, with their own event.
        case_flags_refresh(case_id=case.pk)
        case.refresh_from_db()
        return case


def _fact_of(case: Case, key: str) -> tuple[str, str, list[Any]]:
    """What `key` names on this case: (label, value type, allowed values); ValidationFailed on
    `key` when a reviewer cannot record it."""
    if not key:
        raise ValidationFailed({"key": ["name the fact to record"]})
    if key.startswith(DOCUMENTED_FACT_PREFIX):
        criterion = documented_criteria(case).get(key)
        if criterion is None:
            raise ValidationFailed(
                {"key": ["is not a documented-review criterion of a policy version governing a line of this case"]}
            )
        return criterion, FactType.BOOLEAN, []
    definition = FactDefinition.objects.filter(key=key).first()
    if definition is None:
        raise ValidationFailed({"key": [f"{key!r} is not a clinical fact of the catalogue"]})
    if definition.derived:
        raise ValidationFailed(
            {"key": [f"{definition.label} is worked out from the request itself; it is not recorded by hand"]}
        )
    return definition.label, definition.value_type, list(definition.allowed_values or [])


def documented_criteria(case: Case) -> dict[str, str]:
    """The documented-review criteria of the versions whose criteria govern the case's lines now,
    as {fact key: criterion text}: what the engine evaluates, from its in-memory index."""
    found: dict[str, str] = {}
    seen: set[int] = set()
    for flag in evaluate_request(engine_index(), case_request_data(case)):
        version = flag.version
        if flag.kind not in CRITERIA_FLAG_KINDS or version is None or version.version_id in seen:
            continue
        seen.add(version.version_id)
        for node in _nodes(version.criteria):
            if node.node_type == CriterionNodeType.DOCUMENTED:
                found.setdefault(node.fact, node.label)
    return found


def _nodes(node: CriterionNode | None) -> Iterator[CriterionNode]:
    if node is None:
        return
    yield node
    for child in node.children:
        yield from _nodes(child)


def _value_read(value: Any, value_type: str, allowed: list[Any], label: str) -> Any:
    """`value` as the fact's type, stored as JSON; None to clear. ValidationFailed on `value`."""
    if value is None or (isinstance(value, str) and not value.strip()) or (isinstance(value, list) and not value):
        return None
    try:
        read = typed_value(value, value_type)
    except ValueError as exc:
        raise ValidationFailed({"value": [f"{label}: {exc}"]}) from None
    if allowed:
        options = []
        for option in allowed:
            raw = option.get("value") if isinstance(option, dict) else option
            try:
                options.append(typed_value(raw, value_type))
            except ValueError:
                continue
        given = read if value_type == FactType.CODE_LIST else [read]
        flat = [o for option in options for o in (option if isinstance(option, list) else [option])]
        outside = [v for v in given if v not in flat]
        if outside:
            words = ", ".join(
                str(option.get("label") or option.get("value")) if isinstance(option, dict) else str(option)
                for option in allowed
            )
            raise ValidationFailed({"value": [f"{label}: must be one of {words}"]})
    return read
