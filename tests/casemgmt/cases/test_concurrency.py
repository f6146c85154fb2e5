"""Races the API must win: identical submissions at once make one case; two deciders, one decision;
two reviewers claiming one case, one owner.

Each request runs in its own thread with its own database connection, released together at a
barrier, so the two really overlap in PostgreSQL. SQLite serializes every writer and would
prove nothing: these tests skip there with the reason, and fail under CI=true, where a missing
PostgreSQL must not pass for green. Run them with DATABASE_URL=postgres://...
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from rest_framework.test import APIClient

from casemgmt.cases.models import Case, CaseEvent, CaseEventKind, Decision, IdempotencyRecord
from casemgmt.cases.services.assignment import case_claim
from casemgmt.kernel.errors import ConflictError
from casemgmt.kernel.roles import Role
from casemgmt.security.services import api_token_create
from tests import factories
from tests.services_fixtures import require_postgresql

ROUNDS = 5  # each race is run several times: one lucky interleaving proves little
TIMEOUT = 30.0

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.fixture(autouse=True)
def postgresql_only() -> None:
    require_postgresql(" (SQLite serializes writers)")


def token_client(user: User) -> APIClient:
    _, raw = api_token_create(user=user)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return api


def at_once(*calls: Callable[[], Any]) -> list[Any]:
    """Run the calls in threads released together; each thread closes its own connection."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)
    errors: list[BaseException] = []

    def run(i: int, call: Callable[[], Any]) -> None:
        try:
            barrier.wait(timeout=TIMEOUT)
            results[i] = call()
        except BaseException as exc:  # reported in the test's thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
    assert not any(thread.is_alive() for thread in threads), "a request hung (a lock never released?)"
    if errors:
        raise errors[0]
    return results


def test_two_submissions_with_the_same_external_id_make_one_case(integration_client: User) -> None:
    apis = [token_client(integration_client), token_client(integration_client)]
    for n in range(ROUNDS):
        body = factories.api_case_body(external_id=f"EHR-RACE-{n}")
        responses = at_once(*(lambda api=api: api.post("/api/v1/cases", body, format="json") for api in apis))

        statuses = sorted(r.status_code for r in responses)
        assert statuses == [201, 409], [r.content for r in responses]
        created = next(r for r in responses if r.status_code == 201).json()
        refused = next(r for r in responses if r.status_code == 409).json()
        assert refused["case_number"] == created["case_number"]
        assert Case.objects.filter(submitted_by=integration_client, external_id=f"EHR-RACE-{n}").count() == 1


def test_two_submissions_with_the_same_idempotency_key_make_one_case(integration_client: User) -> None:
    # No external_id: only the Idempotency-Key stands between the two requests and two cases.
    apis = [token_client(integration_client), token_client(integration_client)]
    body = factories.api_case_body(external_id="")
    for n in range(ROUNDS):
        key = f"race-key-{n}"
        before = Case.objects.count()
        responses = at_once(
            *(lambda api=api: api.post("/api/v1/cases", body, format="json", HTTP_IDEMPOTENCY_KEY=key) for api in apis)
        )

        assert Case.objects.count() == before + 1
        first, second = sorted(responses, key=lambda r: (r.status_code, r.get("Idempotent-Replayed", "")))
        assert first.status_code == 201 and not first.get("Idempotent-Replayed")
        # The other either waited for the first and got its answer replayed, or arrived while it ran.
        if second.status_code == 201:
            assert second["Idempotent-Replayed"] == "true"
            assert second.json() == first.json()
        else:
            assert second.status_code == 409, second.content
            assert "Idempotency-Key" in second.json()["detail"]
        record = IdempotencyRecord.objects.get(client=integration_client, key=key)
        assert record.status == "completed"


def test_two_physicians_deciding_one_case_record_one_decision(integration_client: User, editor: User) -> None:
    version = factories.publish(factories.draft_version(), editor)
    physicians = [factories.user(f"dr.race.{i}", Role.PHYSICIAN) for i in range(2)]
    apis = [token_client(user) for user in physicians]
    for n in range(ROUNDS):
        case = factories.case(integration_client, external_id=f"EHR-DECIDE-{n}")
        bodies = [
            {"lines": [{"service_line": 1, "outcome": "approved"}], "rationale": "Meets the policy."},
            {
                "lines": [{"service_line": 1, "outcome": "denied", "reason": "Investigational."}],
                "citations": [{"policy_version_id": version.pk, "criterion": "The procedure is investigational."}],
            },
        ]
        url = f"/api/v1/cases/{case.case_number}/decisions"
        responses = at_once(
            *(lambda api=api, body=body: api.post(url, body, format="json") for api, body in zip(apis, bodies))
        )

        statuses = sorted(r.status_code for r in responses)
        assert statuses == [201, 409], [r.content for r in responses]
        refused = next(r for r in responses if r.status_code == 409).json()
        assert refused["current_status"] == "decided"
        assert Decision.objects.filter(case=case).count() == 1
        case.refresh_from_db()
        assert case.status == "decided"


def test_two_reviewers_claiming_one_case_at_once_one_wins_and_the_other_learns_who(integration_client: User) -> None:
    nurses = [factories.user(f"nurse.claim.{i}", Role.NURSE) for i in range(2)]
    for n in range(ROUNDS):
        case = factories.case(integration_client, external_id=f"EHR-CLAIM-{n}")

        def claim(user: User, case: Case = case) -> str:
            try:
                case_claim(case_id=case.pk, user=user)
            except ConflictError as exc:
                return exc.message
            return "won"

        results = at_once(*(lambda user=user: claim(user) for user in nurses))

        assert results.count("won") == 1, results
        case.refresh_from_db()
        refused = next(r for r in results if r != "won")
        assert refused == f"{case.case_number} is already claimed by {case.assignee.get_username()}."
        assert case.status == "in_review"
        assert CaseEvent.objects.filter(case=case, kind=CaseEventKind.CLAIMED).count() == 1
