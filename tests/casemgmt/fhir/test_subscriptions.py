"""PAS subscriptions (R4 Subscriptions Backport): create with a handshake, read, turn off,
`$status`, one per client, refusals naming the element, and each client seeing only its own."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from rest_framework.test import APIClient

from casemgmt.cases.services.webhooks import webhook_signature
from casemgmt.fhir.codes import PAS_SUBSCRIPTION_TOPIC, SCOPE_CLAIM_WRITE, Ext, System
from casemgmt.fhir.models import FhirClient, FhirNotification, FhirSubscription
from casemgmt.fhir.parsing import resource_parse
from tests.casemgmt.cases.test_webhooks import Receiver
from tests.casemgmt.fhir.conftest import api_for

SUBSCRIPTION = "/fhir/r4/Subscription"


@pytest.fixture
def subscriber(settings: Any) -> Iterator[Receiver]:
    """The EHR's notification endpoint, on this machine (allowed as webhooks are in tests)."""
    settings.WEBHOOK_ALLOW_HTTP = True
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    receiver = Receiver()
    yield receiver
    receiver.close()


def subscription_body(endpoint: str, **overrides: Any) -> dict[str, Any]:
    """A PAS Subscription as the guide's example has it, with the backport's payload content."""
    body: dict[str, Any] = {
        "resourceType": "Subscription",
        "status": "requested",
        "reason": "Receive notifications about claim responses for my organization.",
        "criteria": PAS_SUBSCRIPTION_TOPIC,
        "channel": {
            "type": "rest-hook",
            "endpoint": endpoint,
            "payload": "application/fhir+json",
            "_payload": {"extension": [{"url": Ext.BACKPORT_PAYLOAD_CONTENT, "valueCode": "full-resource"}]},
            "header": ["Authorization: Bearer subscriber-token"],
        },
    }
    body.update(overrides)
    return body


def subscribe(api: APIClient, body: dict[str, Any], capture: Any) -> Any:
    """POST the subscription, running what its commit sends (the handshake)."""
    with capture(execute=True):
        return api.post(SUBSCRIPTION, body, format="json")


def signing_secret(created: dict[str, Any]) -> str:
    return next(e["valueString"] for e in created["channel"]["extension"] if e["url"] == Ext.SIGNING_SECRET)


def test_a_subscription_is_created_and_its_handshake_makes_it_active(
    db, fhir_api, subscriber, django_capture_on_commit_callbacks
):
    response = subscribe(fhir_api, subscription_body(subscriber.url), django_capture_on_commit_callbacks)
    assert response.status_code == 201, response.json()
    created = response.json()
    assert (created["resourceType"], created["criteria"]) == ("Subscription", PAS_SUBSCRIPTION_TOPIC)
    assert response["Location"].endswith(f"/fhir/r4/Subscription/{created['id']}")
    [(headers, body)] = subscriber.received
    handshake = resource_parse(json.loads(body), Bundle)
    assert handshake.type == "history"
    status = {p.name: p for p in handshake.entry[0].resource.parameter}
    assert (status["type"].valueCode, status["events-since-subscription-start"].valueString) == ("handshake", "0")
    assert status["subscription"].valueReference.reference.endswith(f"/Subscription/{created['id']}")
    assert headers["Authorization"] == "Bearer subscriber-token"
    assert headers["Content-Type"] == "application/fhir+json"
    timestamp, signature = (part.split("=", 1)[1] for part in headers["X-Casemgmt-Signature"].split(","))
    assert signature == webhook_signature(signing_secret(created), timestamp, body)
    assert fhir_api.get(f"{SUBSCRIPTION}/{created['id']}").json()["status"] == "active"


def test_a_subscription_is_read_back_without_its_header_values_or_secret(
    db, fhir_api, subscriber, django_capture_on_commit_callbacks
):
    created = subscribe(fhir_api, subscription_body(subscriber.url), django_capture_on_commit_callbacks).json()
    read = fhir_api.get(f"{SUBSCRIPTION}/{created['id']}")
    assert read.status_code == 200
    channel = read.json()["channel"]
    assert (channel["endpoint"], channel["header"]) == (subscriber.url, ["Authorization: ***"])
    assert "extension" not in channel
    assert "subscriber-token" not in json.dumps(read.json())


def test_a_handshake_never_delivered_leaves_the_subscription_requested_and_retried(
    db, fhir_api, subscriber, django_capture_on_commit_callbacks
):
    subscriber.status = 503
    created = subscribe(fhir_api, subscription_body(subscriber.url), django_capture_on_commit_callbacks).json()
    handshake = FhirNotification.objects.get()
    assert (handshake.status, handshake.attempts, handshake.last_error) == ("pending", 1, "HTTP 503")
    assert fhir_api.get(f"{SUBSCRIPTION}/{created['id']}").json()["status"] == "requested"


def test_a_deleted_subscription_is_off(db, fhir_api, subscriber, django_capture_on_commit_callbacks):
    created = subscribe(fhir_api, subscription_body(subscriber.url), django_capture_on_commit_callbacks).json()
    deleted = fhir_api.delete(f"{SUBSCRIPTION}/{created['id']}")
    assert (deleted.status_code, deleted.json()["status"]) == (200, "off")
    assert FhirSubscription.objects.get().status == "off"


def test_status_answers_the_backport_subscription_status(db, fhir_api, subscriber, django_capture_on_commit_callbacks):
    created = subscribe(fhir_api, subscription_body(subscriber.url), django_capture_on_commit_callbacks).json()
    response = fhir_api.get(f"{SUBSCRIPTION}/{created['id']}/$status")
    assert response.status_code == 200
    bundle = resource_parse(response.json(), Bundle)
    assert bundle.type == "searchset"
    status = {p.name: p for p in bundle.entry[0].resource.parameter}
    assert status["status"].valueCode == "active"
    assert status["type"].valueCode == "query-status"
    assert status["topic"].valueCanonical == PAS_SUBSCRIPTION_TOPIC
    assert status["events-since-subscription-start"].valueString == "0"


def test_a_second_subscription_of_the_same_client_is_refused_until_the_first_is_off(
    db, fhir_api, subscriber, django_capture_on_commit_callbacks
):
    first = subscribe(fhir_api, subscription_body(subscriber.url), django_capture_on_commit_callbacks).json()
    second = subscribe(fhir_api, subscription_body(subscriber.url), django_capture_on_commit_callbacks)
    assert second.status_code == 409
    assert f"Subscription/{first['id']}" in second.json()["issue"][0]["diagnostics"]
    fhir_api.delete(f"{SUBSCRIPTION}/{first['id']}")
    again = subscribe(fhir_api, subscription_body(subscriber.url), django_capture_on_commit_callbacks)
    assert again.status_code == 201
    assert FhirSubscription.objects.filter(status__in=("requested", "active")).count() == 1


def with_channel(url: str, **channel: Any) -> dict[str, Any]:
    body = subscription_body(url)
    body["channel"].update(channel)
    return body


@pytest.mark.parametrize(
    ("change", "path"),
    [
        (lambda url: with_channel(url, type="websocket"), "Subscription.channel.type"),
        (lambda url: with_channel(url, endpoint="ftp://example.org/hook"), "Subscription.channel.endpoint"),
        (lambda url: with_channel(url, endpoint=None), "Subscription.channel.endpoint"),
        (lambda url: with_channel(url, payload="application/json"), "Subscription.channel.payload"),
        (
            lambda url: with_channel(
                url, _payload={"extension": [{"url": Ext.BACKPORT_PAYLOAD_CONTENT, "valueCode": "empty"}]}
            ),
            "Subscription.channel.payload.extension[0].valueCode",
        ),
        (lambda url: with_channel(url, header=["X-Casemgmt-Signature: forged"]), "Subscription.channel.header[0]"),
        (lambda url: {k: v for k, v in subscription_body(url).items() if k != "criteria"}, "Subscription.criteria"),
        (lambda url: subscription_body(url, criteria="ClaimResponse?status=active"), "Subscription.criteria"),
        (
            lambda url: subscription_body(
                url,
                _criteria={"extension": [{"url": Ext.BACKPORT_FILTER_CRITERIA, "valueString": "patient=Patient/1"}]},
            ),
            "Subscription.criteria.extension[0].valueString",
        ),
        (lambda url: subscription_body(url, end="2001-01-01T00:00:00Z"), "Subscription.end"),
    ],
)
def test_a_subscription_that_cannot_be_served_is_refused_naming_the_element(
    db, fhir_api, subscriber, django_capture_on_commit_callbacks, change, path
):
    response = subscribe(fhir_api, change(subscriber.url), django_capture_on_commit_callbacks)
    assert response.status_code == 400, response.json()
    assert path in [issue["expression"][0] for issue in response.json()["issue"]]
    assert not FhirSubscription.objects.exists() and not subscriber.received


def test_a_private_endpoint_is_refused_as_a_webhook_is(db, fhir_api, settings, django_capture_on_commit_callbacks):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    response = subscribe(fhir_api, subscription_body("https://127.0.0.1/hook"), django_capture_on_commit_callbacks)
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == ["Subscription.channel.endpoint"]
    assert "private network" in response.json()["issue"][0]["diagnostics"]


def test_an_org_identifier_filter_is_kept_and_shown(db, fhir_api, subscriber, django_capture_on_commit_callbacks):
    criteria = f"orgIdentifier={System.NPI}|1234567893"
    body = subscription_body(
        subscriber.url, _criteria={"extension": [{"url": Ext.BACKPORT_FILTER_CRITERIA, "valueString": criteria}]}
    )
    created = subscribe(fhir_api, body, django_capture_on_commit_callbacks)
    assert created.status_code == 201, created.json()
    assert FhirSubscription.objects.get().org_npi == "1234567893"
    assert created.json()["_criteria"]["extension"][0]["valueString"] == criteria


def test_a_topic_canonical_with_a_version_is_the_pas_topic(
    db, fhir_api, subscriber, django_capture_on_commit_callbacks
):
    body = subscription_body(subscriber.url, criteria=f"{PAS_SUBSCRIPTION_TOPIC}|2.1.0")
    assert subscribe(fhir_api, body, django_capture_on_commit_callbacks).status_code == 201


def test_another_clients_subscription_is_not_found(
    db, fhir_api, other_fhir_api, subscriber, django_capture_on_commit_callbacks
):
    created = subscribe(fhir_api, subscription_body(subscriber.url), django_capture_on_commit_callbacks).json()
    for answer in (
        other_fhir_api.get(f"{SUBSCRIPTION}/{created['id']}"),
        other_fhir_api.get(f"{SUBSCRIPTION}/{created['id']}/$status"),
        other_fhir_api.delete(f"{SUBSCRIPTION}/{created['id']}"),
    ):
        assert answer.status_code == 404
    assert FhirSubscription.objects.get().status == "active"


def test_a_token_without_the_subscription_scope_cannot_subscribe(
    db, ehr: FhirClient, subscriber, django_capture_on_commit_callbacks
):
    api = api_for(ehr, frozenset({SCOPE_CLAIM_WRITE}))
    response = subscribe(api, subscription_body(subscriber.url), django_capture_on_commit_callbacks)
    assert response.status_code == 403
    assert not FhirSubscription.objects.exists()


def test_a_read_only_token_cannot_turn_a_subscription_off(
    db, ehr: FhirClient, fhir_api, subscriber, django_capture_on_commit_callbacks
):
    created = subscribe(fhir_api, subscription_body(subscriber.url), django_capture_on_commit_callbacks).json()
    reader = api_for(ehr, frozenset({"system/Subscription.read"}))
    assert reader.get(f"{SUBSCRIPTION}/{created['id']}").status_code == 200
    assert reader.delete(f"{SUBSCRIPTION}/{created['id']}").status_code == 403
    assert FhirSubscription.objects.get().status == "active"
