"""The whole API fuzzed (schemathesis), and after every call: no 5xx, and nothing half-written.

tests/casemgmt/api/test_schemathesis.py checks that each answer matches the schema. This file
asks the other question: whatever a caller sends, is the database still whole? Every operation
in /api/schema/ is called with generated valid and invalid inputs, by an integration client, a
second client, a nurse, a physician and a manager in turn (so refusals are fuzzed too), a share
of them steered past the domain's first checks into the code that writes. After each call:

- every case has its service lines (numbered 1..n), its "received" event, and a status its
  decisions and events agree with;
- every decision covers each line of its case exactly once, an adverse one cites a policy,
  and decided cases have exactly one decision of record;
- no Idempotency-Key record is left "in progress", and a completed one kept its answer;
- every attachment row has its file, of its size, and no file lies in storage without a row;
- every flag belongs to a line of its own case.

Reproducible: Hypothesis is derandomized (the examples depend only on the test's name), so a
failure recurs on the next run, and its falsifying example is printed. Bounded: the fuzzing phase
only, MAX_EXAMPLES per operation, a deadline per example; the figures (requests by status and by
persona) are printed at the end of the module.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
import schemathesis
from django.db.models import Count, F, Q
from django.test import override_settings
from django.urls import Resolver404, resolve
from django.utils import timezone
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from casemgmt.cases.models import (
    ADVERSE_OUTCOMES,
    Attachment,
    Case,
    CaseEventKind,
    CaseStatus,
    Decision,
    Flag,
    IdempotencyRecord,
    IdempotencyStatus,
)
from casemgmt.security.services import api_token_create
from casemgmt.wsgi import application
from tests import factories

MAX_EXAMPLES = 20
PERSONAS = ("integration_client", "other_client", "nurse", "physician", "manager")
FIGURES: dict[str, Counter[Any]] = {"status": Counter(), "persona": Counter()}


def _load_schema() -> schemathesis.BaseSchema:
    with override_settings(ALLOWED_HOSTS=["localhost"]):
        loaded = schemathesis.openapi.from_wsgi("/api/schema/", application)
    loaded.config.generation.update(
        modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
        max_examples=MAX_EXAMPLES,
        database="none",
        with_security_parameters=False,
    )
    loaded.config.phases.coverage.enabled = False
    return loaded


schema = _load_schema()
FUZZ = settings(
    deadline=timedelta(seconds=10),
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)


pytestmark = pytest.mark.usefixtures("api_over_wsgi")  # tests/conftest.py


@pytest.fixture(scope="module", autouse=True)
def print_figures(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if not FIGURES["status"] or reporter is None or capture is None:
        return
    by_status = ", ".join(f"{status}: {n}" for status, n in sorted(FIGURES["status"].items()))
    by_persona = ", ".join(f"{persona}: {n}" for persona, n in sorted(FIGURES["persona"].items()))
    with capture.global_and_fixture_disabled():
        reporter.write_line("")
        reporter.write_line(
            f"API fuzz: {sum(FIGURES['status'].values())} requests, nothing half-written; "
            f"by status {by_status}; by persona {by_persona}"
        )
    # pytest-randomly may run the module's tests in two stretches: each prints its own figures.
    for figures in FIGURES.values():
        figures.clear()


@pytest.fixture
def world(request: pytest.FixtureRequest, integration_client: Any, other_client: Any, editor: Any) -> dict[str, Any]:
    version = factories.publish(factories.draft_version(), editor)
    own = [factories.case(integration_client, external_id=f"FUZZ-{i}") for i in range(4)]
    theirs = factories.case(other_client, external_id="FUZZ-THEIRS")
    every = [c.case_number for c in [*own, theirs]]
    people: dict[str, Any] = {}
    for name in PERSONAS:
        user = request.getfixturevalue(name)
        cases = {"integration_client": [c.case_number for c in own], "other_client": [theirs.case_number]}
        people[name] = {"user": user, "cases": cases.get(name, every), "token": api_token_create(user=user)[1]}
    return {"version_id": version.pk, "people": people, "calls": 0}


def _steer(case: schemathesis.Case, who: dict[str, Any], world: dict[str, Any], n: int) -> None:
    """Make some generated requests valid enough to reach the writes (by a call counter, not chance)."""
    path_parameters = case.path_parameters or {}
    if isinstance(path_parameters.get("case_number"), str) and n % 3:
        case.path_parameters = {**path_parameters, "case_number": who["cases"][n % len(who["cases"])]}
    body = case.body
    if not isinstance(body, dict) or (n // 3) % 2:
        return
    body = dict(body)
    if (case.method, case.path) == ("POST", "/api/v1/cases"):
        dos = (timezone.localdate() + timedelta(days=10)).isoformat()
        body["member"] = {"member_id": "M9", "first_name": "Ada", "last_name": "Case", "birth_date": "1960-05-01"}
        body["requesting_provider"] = {"npi": factories.VALID_NPI, "name": "Spine Clinic"}
        body.pop("servicing_provider", None)
        body["diagnosis_codes"] = ["M48.062"]
        body["clinical_facts"] = {}
        lines = body.get("service_lines") if isinstance(body.get("service_lines"), list) else [{}]
        body["service_lines"] = [
            {"code_system": "CPT", "code": "62330", "units": 1, "date_of_service": dos} for _ in lines[:3] or [{}]
        ]
        body["external_id"] = f"FUZZ-NEW-{uuid.uuid4().hex[:10]}"
    elif case.path.endswith("/decisions") and isinstance(body.get("lines"), list):
        outcome = "denied" if n % 2 else "approved"
        body["lines"] = [{"service_line": 1, "outcome": outcome, "reason": "Per the cited policy."}]
        body["citations"] = [{"policy_version_id": world["version_id"], "criterion": "Investigational."}]
    elif case.path.endswith("/information"):
        body["clinical_facts"] = {}
    case.body = body


def _half_written(media_root: Path) -> list[str]:
    """Everything that would show a write that stopped half-way; empty when the database is whole."""
    problems: list[str] = []

    def found(what: str, queryset: Any) -> None:
        rows = list(queryset[:5])
        if rows:
            problems.append(f"{what}: {rows}")

    lines = Case.objects.annotate(n=Count("lines", distinct=True))
    found("cases without service lines", lines.filter(n=0).values_list("case_number", flat=True))
    for case in Case.objects.prefetch_related("lines"):
        sequences = sorted(line.sequence for line in case.lines.all())
        if sequences != list(range(1, len(sequences) + 1)):
            problems.append(f"{case.case_number}: service lines numbered {sequences}")
    found(
        "cases without their received event",
        Case.objects.exclude(events__kind=CaseEventKind.RECEIVED).values_list("case_number", flat=True),
    )
    found(
        "decided cases without a decision",
        Case.objects.filter(status=CaseStatus.DECIDED, decisions__isnull=True).values_list("case_number", flat=True),
    )
    found(
        "decided cases without their decided event",
        Case.objects.filter(status=CaseStatus.DECIDED)
        .exclude(events__kind=CaseEventKind.DECIDED)
        .values_list("case_number", flat=True),
    )
    found(
        "cases with more than one decision of record",
        Case.objects.annotate(current=Count("decisions", filter=Q(decisions__superseded_by__isnull=True)))
        .filter(current__gt=1)
        .values_list("case_number", flat=True),
    )
    found(
        "cancelled cases with a decision",
        Case.objects.filter(status=CaseStatus.CANCELLED, decisions__isnull=False).values_list("case_number", flat=True),
    )
    decisions = Decision.objects.annotate(
        covered=Count("lines", distinct=True), needed=Count("case__lines", distinct=True)
    )
    found("decisions not covering each line once", decisions.exclude(covered=F("needed")).values_list("pk", flat=True))
    found(
        "adverse decisions without a citation",
        Decision.objects.filter(lines__outcome__in=ADVERSE_OUTCOMES, citations__isnull=True).values_list(
            "pk", flat=True
        ),
    )
    found(
        "flags on another case's line",
        Flag.objects.exclude(service_line__case=F("case")).values_list("pk", flat=True),
    )
    found(
        "Idempotency-Key records left in progress",
        IdempotencyRecord.objects.filter(status=IdempotencyStatus.IN_PROGRESS).values_list("key", flat=True),
    )
    found(
        "completed Idempotency-Key records without their answer",
        IdempotencyRecord.objects.filter(status=IdempotencyStatus.COMPLETED, response_status__isnull=True).values_list(
            "key", flat=True
        ),
    )
    stored: set[str] = set()
    for attachment in Attachment.objects.all():
        storage, name = attachment.file.storage, attachment.file.name or ""
        if not name or not storage.exists(name) or storage.size(name) != attachment.size:
            problems.append(f"attachment {attachment.pk}: its file is missing or of another size")
            continue
        stored.add(str(Path(storage.path(name)).resolve()))
    if media_root.exists():
        loose = [str(p) for p in media_root.rglob("*") if p.is_file() and str(p.resolve()) not in stored]
        if loose:
            problems.append(f"files in storage without an attachment row: {loose[:5]}")
    return problems


def call(case: schemathesis.Case, world: dict[str, Any]) -> None:
    world["calls"] += 1
    n = world["calls"]
    persona = PERSONAS[n % len(PERSONAS)]
    who = world["people"][persona]
    _steer(case, who, world, n)
    headers = {"Authorization": f"Bearer {who['token']}"}
    if n % 4 == 0 and case.method == "POST":
        headers["Idempotency-Key"] = f"fuzz-{n % 8}"  # some keys reused, with other bodies
    try:
        resolve(unquote(case.formatted_path))
    except Resolver404:
        response = case.call_and_validate(headers=headers, checks=[not_a_server_error])
        assert response.status_code == 404
    else:
        response = case.call_and_validate(headers=headers, checks=[not_a_server_error])
    FIGURES["status"][response.status_code] += 1
    FIGURES["persona"][persona] += 1
    from django.conf import settings as django_settings

    problems = _half_written(Path(django_settings.MEDIA_ROOT))
    assert not problems, f"after {case.method} {case.formatted_path}: " + "; ".join(problems)


@schema.parametrize()
@FUZZ
def test_no_call_leaves_anything_half_written(case: schemathesis.Case, world: dict[str, Any]) -> None:
    call(case, world)


@pytest.mark.django_db
def test_the_invariants_hold_for_the_fixture_and_catch_a_broken_case(
    world: dict[str, Any], settings: Any, tmp_path: Path
) -> None:
    """The checker itself: clean on the starting data, and it sees a case stripped of its lines."""
    assert _half_written(Path(settings.MEDIA_ROOT)) == []
    case = Case.objects.filter(decisions__isnull=True).first()
    assert case is not None
    Flag.objects.filter(case=case).delete()
    case.lines.all().delete()
    assert any("without service lines" in p for p in _half_written(Path(settings.MEDIA_ROOT)))
