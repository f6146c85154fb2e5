"""An Idempotency-Key's claim: held by a live request, taken over from a dead one, never run twice."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from casemgmt.api import idempotency
from casemgmt.api.idempotency import idempotent, request_fingerprint
from casemgmt.cases.models import IdempotencyRecord, IdempotencyStatus
from casemgmt.kernel.errors import ConflictError
from tests.services_fixtures import require_postgresql

PATH = "/api/v1/cases"
BODY = {"external_id": "EHR-1"}


def _claim_left_behind(client, *, age: timedelta = timedelta(0)) -> IdempotencyRecord:
    """The claim a request leaves when it dies before it could release it."""
    return IdempotencyRecord.objects.create(
        client=client,
        key="key-1",
        method="POST",
        path=PATH,
        request_sha256=request_fingerprint("POST", PATH, BODY),
        status=IdempotencyStatus.IN_PROGRESS,
        started_at=timezone.now() - age,
    )


def _run(client, calls: list[int]):
    def operation():
        calls.append(1)
        return 201, {"case_number": "PA-NEW"}

    return idempotent(client=client, key="key-1", method="POST", path=PATH, body=BODY, operation=operation)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_claim_whose_request_died_is_taken_over_at_once(integration_client):
    require_postgresql(" (a lock refused without waiting)")
    _claim_left_behind(integration_client)
    calls: list[int] = []

    assert _run(integration_client, calls) == (201, {"case_number": "PA-NEW"}, False)
    assert calls == [1]
    record = IdempotencyRecord.objects.get(key="key-1")
    assert (record.status, record.response_status) == (IdempotencyStatus.COMPLETED, 201)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_claim_its_live_request_holds_answers_409(integration_client):
    require_postgresql(" (a lock refused without waiting)")
    claim = _claim_left_behind(integration_client)
    locked, release = threading.Event(), threading.Event()

    def live_request() -> None:
        try:
            with transaction.atomic():
                IdempotencyRecord.objects.select_for_update().filter(pk=claim.pk).exists()
                locked.set()
                release.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=live_request)
    thread.start()
    try:
        assert locked.wait(10)
        calls: list[int] = []
        with pytest.raises(ConflictError, match="still being processed"):
            _run(integration_client, calls)
        assert calls == []
    finally:
        release.set()
        thread.join(10)


@pytest.mark.django_db
def test_without_a_lock_refused_at_once_a_fresh_claim_answers_409(integration_client, monkeypatch):
    monkeypatch.setattr(connection.features, "has_select_for_update_nowait", False)
    _claim_left_behind(integration_client)
    calls: list[int] = []

    with pytest.raises(ConflictError):
        _run(integration_client, calls)
    assert calls == []


@pytest.mark.django_db
def test_without_a_lock_refused_at_once_a_stale_claim_is_taken_over(integration_client, monkeypatch):
    monkeypatch.setattr(connection.features, "has_select_for_update_nowait", False)
    _claim_left_behind(integration_client, age=idempotency.STALE_AFTER + timedelta(seconds=1))
    calls: list[int] = []

    assert _run(integration_client, calls)[0] == 201
    assert calls == [1]


@pytest.mark.django_db
def test_a_request_whose_claim_was_taken_over_answers_as_the_new_owner_did(integration_client, monkeypatch):
    record = _claim_left_behind(integration_client)
    IdempotencyRecord.objects.filter(pk=record.pk).update(
        status=IdempotencyStatus.COMPLETED, response_status=201, response_body={"case_number": "PA-FIRST"}
    )
    # This request claimed the key a moment before a retry took it over and finished.
    monkeypatch.setattr(idempotency, "_claim", lambda *args: record.started_at - timedelta(seconds=1))
    calls: list[int] = []

    assert _run(integration_client, calls) == (201, {"case_number": "PA-FIRST"}, True)
    assert calls == []
