"""PAS subscriptions beyond create and delete: `PUT` to change one (endpoint, headers, status off or
requested), `id-only` payload content, and heartbeats to a subscription idle for its period."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from fhir.resources.R4B.bundle import Bundle
from rest_framework.test import APIClient

from casemgmt.audit.models import AuditEvent
from casemgmt.fhir.codes import SCOPE_CLAIM_WRITE, Ext
from casemgmt.fhir.models import FhirClient, FhirNotification, FhirSubscription
from casemgmt.fhir.parsing import resource_parse
from casemgmt.fhir.subscriptions import NOTIFICATION_DELIVER_TASK, fhir_heartbeats_queue
from casemgmt.outbox.models import OutboxTask
from tests.casemgmt.cases.test_webhooks import Receiver
from tests.casemgmt.fhir.conftest import api_for
from tests.casemgmt.fhir.test_notifications import approve, pended_pas_case
from tests.casemgmt.fhir.test_subscriptions import SUBSCRIPTION, subscription_body

pytestmark = pytest.mark.django_db


@pytest.fixture
def subscriber(settings: Any) -> Iterator[Receiver]:
    settings.WEBHOOK_ALLOW_HTTP = True
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    receiver = Receiver()
    yield receiver
    receiver.close()


@pytest.fixture
def another_endpoint(subscriber: Receiver) -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.close()


def body_with(endpoint: str, *, content: str = "full-resource", heartbeat: int | None = None) -> dict[str, Any]:
    body = subscription_body(endpoint)
    body["channel"]["_payload"] = {"extension": [{"url": Ext.BACKPORT_PAYLOAD_CONTENT, "valueCode": content}]}
    if heartbeat is not None:
        body["channel"]["extension"] = [{"url": Ext.BACKPORT_HEARTBEAT_PERIOD, "valueUnsignedInt": heartbeat}]
    return body


def create(api: APIClient, body: dict[str, Any], capture: Any) -> dict[str, Any]:
    """The subscription created, its handshake delivered."""
    with capture(execute=True):
        response = api.post(SUBSCRIPTION, body, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def put(api: APIClient, subscription_id: str, body: dict[str, Any], capture: Any) -> Any:
    with capture(execute=True):
        return api.put(f"{SUBSCRIPTION}/{subscription_id}", body, format="json")


def as_read(api: APIClient, subscription_id: str) -> dict[str, Any]:
    """The subscription as a GET shows it (header values masked), ready to be sent back."""
    return api.get(f"{SUBSCRIPTION}/{subscription_id}").json()


@pytest.fixture
def subscribed(fhir_api: APIClient, subscriber: Receiver, django_capture_on_commit_callbacks) -> dict[str, Any]:
    created = create(fhir_api, subscription_body(subscriber.url), django_capture_on_commit_callbacks)
    subscriber.received.clear()
    return created


def kinds(receiver: Receiver) -> list[str]:
    found = []
    for _headers, body in receiver.received:
        status = resource_parse(json.loads(body), Bundle).entry[0].resource
        found.append(next(p.valueCode for p in status.parameter if p.name == "type"))
    return found


# --- PUT ------------------------------------------------------------------------------------------------


def test_an_update_to_a_new_endpoint_asks_for_it_again_with_a_handshake_there(
    fhir_api, subscribed, subscriber, another_endpoint, django_capture_on_commit_callbacks
):
    body = as_read(fhir_api, subscribed["id"])
    body["channel"]["endpoint"] = another_endpoint.url
    response = put(fhir_api, subscribed["id"], body, django_capture_on_commit_callbacks)
    assert response.status_code == 200, response.json()
    assert kinds(another_endpoint) == ["handshake"] and not subscriber.received
    assert FhirSubscription.objects.get().status == "active"
    assert FhirSubscription.objects.get().endpoint == another_endpoint.url


def test_a_masked_header_sent_back_keeps_the_value_held(fhir_api, subscribed, django_capture_on_commit_callbacks):
    body = as_read(fhir_api, subscribed["id"])
    assert body["channel"]["header"] == ["Authorization: ***"]
    body["channel"]["header"].append("X-Tenant: north")
    assert put(fhir_api, subscribed["id"], body, django_capture_on_commit_callbacks).status_code == 200
    assert FhirSubscription.objects.get().headers == ["Authorization: Bearer subscriber-token", "X-Tenant: north"]


def test_a_masked_header_with_no_value_held_is_refused(fhir_api, subscribed, django_capture_on_commit_callbacks):
    body = as_read(fhir_api, subscribed["id"])
    body["channel"]["header"] = ["X-Other: ***"]
    response = put(fhir_api, subscribed["id"], body, django_capture_on_commit_callbacks)
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == ["Subscription.channel.header[0]"]
    assert FhirSubscription.objects.get().headers == ["Authorization: Bearer subscriber-token"]


def test_an_update_to_off_turns_it_off(fhir_api, subscribed, django_capture_on_commit_callbacks):
    body = {**as_read(fhir_api, subscribed["id"]), "status": "off"}
    response = put(fhir_api, subscribed["id"], body, django_capture_on_commit_callbacks)
    assert (response.status_code, response.json()["status"]) == (200, "off")


def test_an_update_to_requested_asks_for_an_off_subscription_again(
    fhir_api, subscribed, subscriber, django_capture_on_commit_callbacks
):
    fhir_api.delete(f"{SUBSCRIPTION}/{subscribed['id']}")
    body = {**as_read(fhir_api, subscribed["id"]), "status": "requested"}
    assert put(fhir_api, subscribed["id"], body, django_capture_on_commit_callbacks).status_code == 200
    assert kinds(subscriber) == ["handshake"]
    assert FhirSubscription.objects.get().status == "active"


def test_asking_again_while_another_is_live_is_a_conflict(
    fhir_api, subscribed, subscriber, django_capture_on_commit_callbacks
):
    fhir_api.delete(f"{SUBSCRIPTION}/{subscribed['id']}")
    newer = create(fhir_api, subscription_body(subscriber.url), django_capture_on_commit_callbacks)
    body = {**as_read(fhir_api, subscribed["id"]), "status": "requested"}
    response = put(fhir_api, subscribed["id"], body, django_capture_on_commit_callbacks)
    assert response.status_code == 409
    assert f"Subscription/{newer['id']}" in response.json()["issue"][0]["diagnostics"]
    assert FhirSubscription.objects.get(pk=subscribed["id"]).status == "off"


def test_a_client_cannot_set_a_status_the_server_sets(fhir_api, subscribed, django_capture_on_commit_callbacks):
    fhir_api.delete(f"{SUBSCRIPTION}/{subscribed['id']}")
    body = {**as_read(fhir_api, subscribed["id"]), "status": "active"}
    response = put(fhir_api, subscribed["id"], body, django_capture_on_commit_callbacks)
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == ["Subscription.status"]


def test_an_update_naming_another_id_is_refused(fhir_api, subscribed, django_capture_on_commit_callbacks):
    body = {**as_read(fhir_api, subscribed["id"]), "id": "999"}
    response = put(fhir_api, subscribed["id"], body, django_capture_on_commit_callbacks)
    assert (response.status_code, response.json()["issue"][0]["expression"]) == (400, ["Subscription.id"])


def test_another_clients_subscription_is_not_found(
    fhir_api, other_fhir_api, subscribed, django_capture_on_commit_callbacks
):
    body = as_read(fhir_api, subscribed["id"])
    assert put(other_fhir_api, subscribed["id"], body, django_capture_on_commit_callbacks).status_code == 404


def test_an_update_needs_the_write_scope(ehr: FhirClient, fhir_api, subscribed, django_capture_on_commit_callbacks):
    body = as_read(fhir_api, subscribed["id"])
    reader = api_for(ehr, frozenset({"system/Subscription.read", SCOPE_CLAIM_WRITE}))
    assert put(reader, subscribed["id"], body, django_capture_on_commit_callbacks).status_code == 403


def test_an_update_is_audited_with_what_changed(fhir_api, subscribed, django_capture_on_commit_callbacks):
    body = {**as_read(fhir_api, subscribed["id"]), "reason": "Only the urgent ones."}
    put(fhir_api, subscribed["id"], body, django_capture_on_commit_callbacks)
    row = AuditEvent.objects.filter(action="change", object_id=f"Subscription/{subscribed['id']}").get()
    assert set(row.changes) == {"reason"}


def test_the_capability_statement_names_the_update(client) -> None:
    body = client.get("/fhir/r4/metadata").json()
    subscription = next(r for r in body["rest"][0]["resource"] if r["type"] == "Subscription")
    assert "update" in {i["code"] for i in subscription["interaction"]}


# --- id-only ----------------------------------------------------------------------------------------------


def test_an_id_only_notification_carries_the_claim_response_reference_not_the_bundle(
    fhir_api, subscriber, nurse, django_capture_on_commit_callbacks
):
    create(fhir_api, body_with(subscriber.url, content="id-only"), django_capture_on_commit_callbacks)
    subscriber.received.clear()
    case = pended_pas_case(fhir_api, django_capture_on_commit_callbacks)
    approve(case, nurse, django_capture_on_commit_callbacks)
    [(_headers, body)] = subscriber.received
    bundle = resource_parse(json.loads(body), Bundle)
    [status, focus] = bundle.entry or []
    assert focus.resource is None
    assert focus.fullUrl.endswith(f"/fhir/r4/ClaimResponse/{case.case_number}-{case.fhir_submissions.get().pk}")
    event = next(p for p in status.resource.parameter if p.name == "notification-event")
    assert next(part.valueReference.reference for part in event.part if part.name == "focus") == focus.fullUrl


def test_an_id_only_notification_is_not_recorded_as_a_view_of_the_request(
    fhir_api, subscriber, nurse, django_capture_on_commit_callbacks
):
    create(fhir_api, body_with(subscriber.url, content="id-only"), django_capture_on_commit_callbacks)
    case = pended_pas_case(fhir_api, django_capture_on_commit_callbacks)
    approve(case, nurse, django_capture_on_commit_callbacks)
    assert FhirNotification.objects.get(kind="event-notification").status == "delivered"
    assert not AuditEvent.objects.filter(action="view", case_number=case.case_number, channel="task").exists()


def test_a_read_shows_the_payload_content_and_heartbeat_asked_for(
    fhir_api, subscriber, django_capture_on_commit_callbacks
):
    created = create(
        fhir_api, body_with(subscriber.url, content="id-only", heartbeat=300), django_capture_on_commit_callbacks
    )
    channel = as_read(fhir_api, created["id"])["channel"]
    assert channel["_payload"]["extension"][0]["valueCode"] == "id-only"
    assert {"url": Ext.BACKPORT_HEARTBEAT_PERIOD, "valueUnsignedInt": 300} in channel["extension"]


# --- heartbeats --------------------------------------------------------------------------------------------


@pytest.fixture
def beating(fhir_api: APIClient, subscriber: Receiver, django_capture_on_commit_callbacks) -> FhirSubscription:
    """An active subscription asking for a heartbeat every 5 minutes (its handshake set aside)."""
    create(fhir_api, body_with(subscriber.url, heartbeat=300), django_capture_on_commit_callbacks)
    subscriber.received.clear()
    return FhirSubscription.objects.get()


def test_a_heartbeat_period_under_a_minute_is_refused(fhir_api, subscriber, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = fhir_api.post(SUBSCRIPTION, body_with(subscriber.url, heartbeat=10), format="json")
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == ["Subscription.channel.extension[0].valueUnsignedInt"]


def idle_for(subscription: FhirSubscription, seconds: int) -> None:
    """As if its last notification had been sent `seconds` ago."""
    FhirSubscription.objects.filter(pk=subscription.pk).update(
        last_notified_at=timezone.now() - timedelta(seconds=seconds)
    )


def test_a_subscription_idle_for_its_period_gets_a_heartbeat(beating, subscriber, django_capture_on_commit_callbacks):
    idle_for(beating, 301)
    with django_capture_on_commit_callbacks(execute=True):
        assert fhir_heartbeats_queue() == 1
    assert kinds(subscriber) == ["heartbeat"]
    [(_headers, body)] = subscriber.received
    bundle = resource_parse(json.loads(body), Bundle)
    assert len(bundle.entry or []) == 1
    assert FhirNotification.objects.get(kind="heartbeat").status == "delivered"


def test_a_subscription_sent_something_within_its_period_gets_no_heartbeat(beating) -> None:
    assert fhir_heartbeats_queue(now=timezone.now() + timedelta(seconds=200)) == 0


def test_a_heartbeat_counts_from_the_last_notification(beating) -> None:
    later = timezone.now() + timedelta(seconds=250)
    FhirSubscription.objects.filter(pk=beating.pk).update(last_notified_at=later)
    assert fhir_heartbeats_queue(now=later + timedelta(seconds=200)) == 0
    assert fhir_heartbeats_queue(now=later + timedelta(seconds=300)) == 1


def test_a_heartbeat_still_on_its_way_is_not_sent_again(beating) -> None:
    first = timezone.now() + timedelta(seconds=301)
    assert fhir_heartbeats_queue(now=first) == 1  # its message not sent: still pending
    assert fhir_heartbeats_queue(now=first + timedelta(seconds=301)) == 0
    assert FhirNotification.objects.filter(kind="heartbeat").count() == 1


def test_a_heartbeat_is_delivered_through_the_outbox(beating, django_capture_on_commit_callbacks) -> None:
    with django_capture_on_commit_callbacks(execute=False):
        fhir_heartbeats_queue(now=timezone.now() + timedelta(seconds=301))
    heartbeat = FhirNotification.objects.get(kind="heartbeat")
    assert OutboxTask.objects.filter(name=NOTIFICATION_DELIVER_TASK, args=[heartbeat.pk]).exists()


def test_a_subscription_without_a_heartbeat_period_gets_none(subscribed) -> None:
    assert fhir_heartbeats_queue(now=timezone.now() + timedelta(days=30)) == 0


def test_a_subscription_turned_off_gets_no_heartbeat(beating, fhir_api) -> None:
    fhir_api.delete(f"{SUBSCRIPTION}/{beating.pk}")
    assert fhir_heartbeats_queue(now=timezone.now() + timedelta(seconds=301)) == 0
